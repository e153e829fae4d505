#!/usr/bin/env python3
"""The producer/consumer pipeline of examples/producer_consumer.rs, in Python.

This is the program ambisync's example is a port of: the classic pipeline of
the Python threading tutorials, written with the standard library only, so
BENCHMARKS.md can compare a ported program with its original.

Producers read bursts of "network messages" and put them on a bounded queue;
consumers take them off and "store" them in a set, which would show a message
stored twice. When the run time is up, an Event tells the producers to stop;
``join()`` then proves that every message put was processed, the consumers
are ended, and the summary checks that nothing was lost or stored twice.

The same pipeline runs twice, in the Rust example's order:

1. ``asyncio`` tasks with ``asyncio.Queue`` and ``asyncio.Event``
   (the Rust example: async tasks on a 2-worker tokio runtime);
2. ``threading`` threads with ``queue.Queue``, ``threading.Event`` and
   ``threading.Lock`` (the Rust example: OS threads using the ``_blocking``
   forms of the same ambisync types).

Run it from the repository root (Python 3.11 or later, nothing to install)::

    python3 benches/python/producer_consumer.py
    python3 benches/python/producer_consumer.py --producers 3 --consumers 2 --queue-size 10 --run-ms 500
    python3 benches/python/producer_consumer.py --pause-ms 0 --store-us 0 --run-ms 1000   # throughput

The options, their names and their defaults are the Rust example's:
``--producers 2 --consumers 2 --queue-size 10 --run-ms 400 --burst 5
--pause-ms 2 --store-us 200``. Each mode prints its log lines, then one
summary line, ``== <mode>: produced N, consumed N, lost N, duplicates N,
N items/s``, where items/s is messages stored divided by the time from the
start of the run until the last consumer has finished (as in Rust). The exit
status is 1 if a message was lost or stored twice in either mode.

How the pieces map to the Rust example:

======================================  =====================================
Rust (ambisync)                         Python
======================================  =====================================
``Queue::bounded(n)``                   ``asyncio.Queue(n)`` / ``queue.Queue(n)``
``put(..).await`` / ``put_blocking``    ``await q.put(..)`` / ``q.put(..)``
``get().await`` / ``get_blocking``      ``await q.get()`` / ``q.get()``
``task_done()``, ``join()``             ``task_done()``, ``join()``
``Event``: ``is_set``, ``set``          ``asyncio.Event`` / ``threading.Event``
``stop.wait_timeout_blocking(pause)``   ``stop.wait(pause)`` (pause + stop check)
``tokio::time::sleep``                  ``asyncio.sleep``
``std::thread::sleep``                  ``time.sleep``
``Lock<HashSet<(usize, u64)>>``         a ``set`` of ``(producer, seq)``, behind a
                                        ``threading.Lock`` in thread mode; the
                                        asyncio mode needs no lock (one thread,
                                        no ``await`` while storing)
``AtomicU64`` produced count            each producer returns / records its count
``queue.shutdown()`` after ``join()``   see below
======================================  =====================================

Ending the consumers after ``join()``: on Python 3.13 and later, where
``Queue.shutdown()`` exists, both modes shut the queue down exactly as the
Rust example does, and a consumer's ``get()`` raises ``ShutDown`` /
``QueueShutDown`` once the queue is empty. Before 3.13 (3.11 on the benchmark
machine) each mode uses its own library's idiom: the thread mode puts one
``None`` sentinel per consumer, and the asyncio mode cancels the consumer
tasks, as the ``asyncio.Queue`` documentation's example does. Either way this
happens after ``join()`` has returned, so the queue is already empty and the
choice does not affect the counts or, measurably, the rate.

Zero durations: ``--pause-ms 0 --store-us 0`` turns the simulated I/O off,
and then this script does not call a sleep at all. That is what the Rust thread
mode does (``std::thread::sleep(Duration::ZERO)`` returns without a system
call), whereas ``time.sleep(0)`` would release the GIL through a system call
(about 6 times fewer items/s in thread mode) and ``asyncio.sleep(0)`` would
yield to the event loop (about half the items/s). The Rust async mode calls
``tokio::time::sleep(Duration::ZERO)``, which waits for tokio's next 1 ms timer
tick; BENCHMARKS.md explains what that does to its numbers. The producers'
stop check (``stop.is_set()`` / ``stop.wait(0)``) stays, as in Rust.

Differences that remain: asyncio runs every task on one thread (tokio runs
them on 2 workers), and the GIL lets only one Python thread run at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

# Python 3.13 added Queue.shutdown() and the ShutDown exceptions.
HAS_SHUTDOWN = hasattr(queue.Queue, "shutdown") and hasattr(asyncio.Queue, "shutdown")
if HAS_SHUTDOWN:
    ThreadQueueShutDown = queue.ShutDown
    AsyncQueueShutDown = asyncio.QueueShutDown
else:

    class ThreadQueueShutDown(Exception):
        """Never raised: before 3.13 a sentinel ends each consumer thread."""

    class AsyncQueueShutDown(Exception):
        """Never raised: before 3.13 the consumer tasks are cancelled."""


@dataclass(frozen=True)
class Settings:
    """Command-line settings, with defaults that finish in about a second."""

    producers: int = 2
    consumers: int = 2
    queue_size: int = 10
    run_ms: int = 400  # how long producers keep reading before the stop event is set
    burst: int = 5  # messages per burst read from the "network"
    pause_ms: int = 2  # the "network" latency between bursts
    store_us: int = 200  # how long storing one message takes

    @property
    def run(self) -> float:
        return self.run_ms / 1e3

    @property
    def pause(self) -> float:
        return self.pause_ms / 1e3

    @property
    def store(self) -> float:
        return self.store_us / 1e6

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> Settings:
        def whole_number(text: str) -> int:
            if not (text.isascii() and text.isdecimal()):
                raise argparse.ArgumentTypeError(f"`{text}` is not a whole number")
            return int(text)

        parser = argparse.ArgumentParser(
            description="The producer/consumer pipeline of examples/producer_consumer.rs, "
            "with asyncio.Queue and queue.Queue."
        )
        defaults = cls()
        for name, unit in [
            ("producers", "N"),
            ("consumers", "N"),
            ("queue_size", "N"),
            ("run_ms", "MS"),
            ("burst", "N"),
            ("pause_ms", "MS"),
            ("store_us", "US"),
        ]:
            parser.add_argument(
                "--" + name.replace("_", "-"),
                type=whole_number,
                default=getattr(defaults, name),
                metavar=unit,
                help="default: %(default)s",
            )
        args = parser.parse_args(argv)
        for name in ["producers", "consumers", "queue_size", "burst"]:
            if getattr(args, name) == 0:
                # 0 would make the Python queues unbounded: refuse it, as Rust does.
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
        return cls(**vars(args))


class Message(NamedTuple):
    """A message as read from the network."""

    producer: int
    seq: int
    body: str

    @classmethod
    def new(cls, producer: int, seq: int) -> Message:
        return cls(producer, seq, f"reading #{seq} from sensor {producer}")


class Log:
    """Timestamped tutorial-style logging."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def line(self, who: str, what: object) -> None:
        print(f"{time.perf_counter() - self.start:8.3f}s  {who:<12} {what}")


class Pipeline:
    """What both modes share: the store and the counts (each mode adds its queue and event)."""

    def __init__(self) -> None:
        # Every message stored, by (producer, seq): a duplicate would show here.
        self.stored: set[tuple[int, int]] = set()
        self.duplicates = 0
        self.produced = 0
        self.log = Log()

    def store(self, message: Message) -> None:
        """'Stores' a message (a short piece of work) and records it."""
        key = (message.producer, message.seq)
        if key in self.stored:
            self.duplicates += 1
        else:
            self.stored.add(key)

    def summary(self, mode: str, elapsed: float) -> bool:
        stored = len(self.stored)
        lost = self.produced - min(stored, self.produced)
        rate = stored / elapsed
        print(
            f"== {mode}: produced {self.produced}, consumed {stored}, lost {lost}, "
            f"duplicates {self.duplicates}, {rate:.0f} items/s\n"
        )
        return lost == 0 and self.duplicates == 0


async def run_asyncio(settings: Settings) -> bool:
    pipeline = Pipeline()
    log = pipeline.log
    log.line("main", f"asyncio mode: {settings}")
    q: asyncio.Queue[Message] = asyncio.Queue(settings.queue_size)
    stop = asyncio.Event()

    async def producer(id: int) -> int:
        who = f"producer {id}"
        seq = 0
        while not stop.is_set():
            if settings.pause:
                await asyncio.sleep(settings.pause)  # waiting for the network
            for _ in range(settings.burst):
                seq += 1
                await q.put(Message.new(id, seq))
            if seq == settings.burst:
                log.line(who, f"first burst of {settings.burst} sent")
        log.line(who, f"stop event seen, sent {seq} messages")
        return seq

    async def consumer(id: int) -> int:
        who = f"consumer {id}"
        count = 0
        try:
            while True:
                message = await q.get()
                if settings.store:
                    await asyncio.sleep(settings.store)  # writing to storage
                pipeline.store(message)  # no await in between: no lock needed
                q.task_done()
                count += 1
        except AsyncQueueShutDown:
            log.line(who, f"queue shut down and drained, stored {count}")
        except asyncio.CancelledError:
            log.line(who, f"cancelled after join(), stored {count}")
            raise
        return count

    producers = [asyncio.create_task(producer(id)) for id in range(1, settings.producers + 1)]
    consumers = [asyncio.create_task(consumer(id)) for id in range(1, settings.consumers + 1)]

    started = time.perf_counter()
    for _ in range(4):
        await asyncio.sleep(settings.run / 4)
        log.line("main", f"queue holds {q.qsize()} messages")
    log.line("main", "time is up: setting the stop event")
    stop.set()
    pipeline.produced = sum(await asyncio.gather(*producers))
    await q.join()
    log.line("main", "join() returned: every message put was processed")
    if HAS_SHUTDOWN:
        q.shutdown()
    else:
        for task in consumers:
            task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    return pipeline.summary("asyncio tasks + asyncio.Queue", time.perf_counter() - started)


def run_threads(settings: Settings) -> bool:
    pipeline = Pipeline()
    log = pipeline.log
    log.line("main", f"thread mode: {settings}")
    q: queue.Queue[Message | None] = queue.Queue(settings.queue_size)
    stop = threading.Event()
    lock = threading.Lock()  # guards pipeline.stored, .duplicates and .produced

    def producer(id: int) -> None:
        who = f"producer {id}"
        seq = 0
        # `wait` doubles as the network pause and the stop check: it returns
        # True as soon as the event is set.
        while not stop.wait(settings.pause):
            for _ in range(settings.burst):
                seq += 1
                q.put(Message.new(id, seq))
            if seq == settings.burst:
                log.line(who, f"first burst of {settings.burst} sent")
        with lock:
            pipeline.produced += seq
        log.line(who, f"stop event seen, sent {seq} messages")

    def consumer(id: int) -> None:
        who = f"consumer {id}"
        count = 0
        while True:
            try:
                message = q.get()
            except ThreadQueueShutDown:
                log.line(who, f"queue shut down and drained, stored {count}")
                return
            if message is None:  # the sentinel, before Python 3.13
                q.task_done()
                log.line(who, f"sentinel received after join(), stored {count}")
                return
            if settings.store:
                time.sleep(settings.store)  # writing to storage
            with lock:
                pipeline.store(message)
            q.task_done()
            count += 1

    producers = [
        threading.Thread(target=producer, args=(id,), name=f"producer {id}")
        for id in range(1, settings.producers + 1)
    ]
    consumers = [
        threading.Thread(target=consumer, args=(id,), name=f"consumer {id}")
        for id in range(1, settings.consumers + 1)
    ]
    for thread in producers + consumers:
        thread.start()

    started = time.perf_counter()
    for _ in range(4):
        time.sleep(settings.run / 4)
        log.line("main", f"queue holds {q.qsize()} messages")
    log.line("main", "time is up: setting the stop event")
    stop.set()
    for thread in producers:
        thread.join()
    q.join()
    log.line("main", "join() returned: every message put was processed")
    if HAS_SHUTDOWN:
        q.shutdown()
    else:
        for _ in consumers:
            q.put(None)
    for thread in consumers:
        thread.join()
    return pipeline.summary("threading + queue.Queue", time.perf_counter() - started)


def main() -> None:
    settings = Settings.from_args()
    asyncio_ok = asyncio.run(run_asyncio(settings))
    threads_ok = run_threads(settings)
    if not (asyncio_ok and threads_ok):
        print("error: messages were lost or stored twice", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
