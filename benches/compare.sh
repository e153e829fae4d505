#!/usr/bin/env bash
# Runs ambisync's side-by-side benchmarks and prints one markdown table of
# ratios ambisync / peer per case (< 1: ambisync is faster), the issue's
# targets with their status, and the primitives' sizes.
#
#   benches/compare.sh            # run everything, print the tables
#   benches/compare.sh --write    # ... and put them into BENCHMARKS.md
#   benches/compare.sh --no-run   # only rebuild the tables from target/criterion
#
# Environment (defaults in brackets):
#   BENCHES         bench targets to run       [lock semaphore queue event_barrier rwlock]
#   WARM_UP         criterion warm-up, seconds [1]
#   MEASURE         criterion measurement, s   [2]
#   CRITERION_ARGS  more criterion arguments, e.g. "--sample-size 50" or a
#                   filter such as "lock_contended"                       []
#   BENCH_LABEL     a line written above the tables (e.g. "Smoke run ...") []
#   BENCH_STAT      criterion estimate to use: mean, median or slope      [mean]
#   RUNS            how many times to run the benches; with more than one,
#                   every ratio is the median of the per-run ratios with
#                   their range, and a target whose range straddles its
#                   limit is reported as inside the noise                 [1]
#
# Needs only cargo and python3 (standard library).
set -euo pipefail

cd "$(dirname "$0")/.."

write=0
run=1
for arg in "$@"; do
  case "${arg}" in
    --write) write=1 ;;
    --no-run) run=0 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "compare.sh: unknown argument '${arg}' (try --help)" >&2
      exit 2
      ;;
  esac
done

BENCHES="${BENCHES:-lock semaphore queue event_barrier rwlock}"
WARM_UP="${WARM_UP:-1}"
MEASURE="${MEASURE:-2}"
CRITERION_ARGS="${CRITERION_ARGS:-}"
BENCH_LABEL="${BENCH_LABEL:-}"
BENCH_STAT="${BENCH_STAT:-mean}"
RUNS="${RUNS:-1}"
if ! [[ "${RUNS}" =~ ^[1-9][0-9]*$ ]]; then
  echo "compare.sh: RUNS must be a positive number, not '${RUNS}'" >&2
  exit 2
fi

if [[ -n "${CRITERION_HOME:-}" ]]; then
  criterion_dir="${CRITERION_HOME}"
else
  criterion_dir="${CARGO_TARGET_DIR:-target}/criterion"
fi
mkdir -p "${criterion_dir}"
# The bench binaries run in benches/ (their package's folder): an absolute
# CRITERION_HOME makes them write where this script reads.
criterion_dir=$(cd "${criterion_dir}" && pwd)
export CRITERION_HOME="${criterion_dir}"

# Results older than this run are flagged as stale in the table.
since=0
if ((run)); then
  since=$(date +%s)
  bench_flags=()
  for bench in ${BENCHES}; do
    bench_flags+=(--bench "${bench}")
  done
  rm -f "${criterion_dir}"/compare-run-*.json
  for ((run_no = 1; run_no <= RUNS; run_no++)); do
    if ((RUNS > 1)); then
      echo "compare.sh: run ${run_no} of ${RUNS}" >&2
    fi
    run_start=$(date +%s)
    # Criterion's progress goes to stderr so that stdout is only the tables.
    # shellcheck disable=SC2086 # CRITERION_ARGS is split on purpose
    cargo bench -p ambisync-benches "${bench_flags[@]}" -- \
      --warm-up-time "${WARM_UP}" --measurement-time "${MEASURE}" ${CRITERION_ARGS} >&2
    # Keep this run's estimates: the next run overwrites criterion's files.
    CRITERION_DIR="${criterion_dir}" SINCE="${run_start}" python3 - \
      >"${criterion_dir}/compare-run-${run_no}.json" <<'PY'
import json
import os
from pathlib import Path

root = Path(os.environ["CRITERION_DIR"])
since = float(os.environ["SINCE"])
runs = {}
for path in root.glob("*/*/new/estimates.json"):
    if path.stat().st_mtime < since:
        continue
    group, function = path.parts[-4], path.parts[-3]
    estimates = json.loads(path.read_text())
    runs.setdefault(group, {})[function] = {
        k: v["point_estimate"] for k, v in estimates.items() if v and "point_estimate" in v
    }
print(json.dumps(runs))
PY
  done
  cargo bench -p ambisync-benches --bench sizes | grep -E '^(size|future) ' >"${criterion_dir}/sizes.txt"
  {
    echo "warm_up=${WARM_UP}"
    echo "measure=${MEASURE}"
    echo "criterion_args=${CRITERION_ARGS}"
    echo "runs=${RUNS}"
  } >"${criterion_dir}/compare-settings.txt"
elif [[ ! -f "${criterion_dir}/sizes.txt" ]]; then
  cargo bench -p ambisync-benches --bench sizes | grep -E '^(size|future) ' >"${criterion_dir}/sizes.txt"
fi

export CRITERION_DIR="${criterion_dir}" SINCE="${since}" WRITE="${write}" \
  BENCH_LABEL BENCH_STAT
python3 - <<'PY'
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

root = Path(os.environ["CRITERION_DIR"])
since = float(os.environ["SINCE"])
stat = os.environ["BENCH_STAT"]
label = os.environ["BENCH_LABEL"].strip()

# The cases in reading order, with what one iteration is; any other group
# found under target/criterion comes after them.
CASES = {
    "lock_uncontended_async": "lock + unlock, one task, current-thread runtime",
    "lock_uncontended_blocking": "lock + unlock on one thread (`lock_blocking`)",
    "lock_contended_async": "one increment; 8 tasks, 2-worker runtime",
    "lock_contended_blocking": "one increment; 4 threads (`lock_blocking`)",
    "semaphore_uncontended_async": "acquire + release, one task",
    "semaphore_contended_async": "acquire, yield, release; 32 tasks, 4 permits, 2 workers",
    "semaphore_many_contended_async": "acquire_many(1..=4), yield, release; 16 tasks, 8 permits, 2 workers",
    "queue_1to1_async": "one item, capacity 128; 1 → 1 tasks, 2 workers",
    "queue_4to4_async": "one item, capacity 128; 4 → 4 tasks (tokio mpsc: 4 → 1)",
    "queue_4to1_async": "one item, capacity 128; 4 → 1 tasks, 2 workers",
    "queue_1to1_blocking": "one item, capacity 128; 1 → 1 threads",
    "queue_4to4_blocking": "one item, capacity 128; 4 → 4 threads",
    "priority_queue_1to1_async": "one item, `PriorityQueue` vs Mutex<BinaryHeap> + Notify",
    "lifo_queue_1to1_async": "one item, `LifoQueue` vs Mutex<Vec> + Notify",
    "event_wake_all_100_futures": "100 waiter futures in one task registered, woken, done",
    "event_wake_all_100_futures_spawned": "the same in a spawned task (the task's waker instead of `block_on`'s)",
    "event_wake_all_100_tasks": "100 tasks spawned, registered, woken, joined; 2 workers",
    "barrier_round_trip_async": "one round of 4 tasks, 2 workers",
    "barrier_round_trip_blocking": "one round of 4 threads",
    "barrier_2_threads_blocking": "one round of a Barrier(2), 2 threads",
    "rwlock_read_mostly_async": "one read (15 in 16) or write; 8 tasks, 2 workers",
}
PEER_ORDER = [
    "tokio", "async_lock", "async_channel", "flume", "crossbeam", "event_listener",
    "std", "parking_lot", "baseline",
]
# Peers that are a reference point rather than an alternative (a synchronous
# mutex taken inside an async task).
REFERENCE = {("lock_uncontended_async", "parking_lot"), ("lock_uncontended_async", "std")}

# The issue's targets: (case, peer, max ratio ambisync/peer, wording).
TARGETS = [
    ("lock_uncontended_async", "async_lock", 0.6, "uncontended async lock+unlock ≤ 0.6× async-lock's time"),
    ("lock_uncontended_async", "parking_lot", 1.5, "uncontended async lock+unlock ≤ 1.5× parking_lot's time"),
    ("lock_contended_async", "async_lock", 1.0, "contended lock (8 tasks, 2 workers) ≥ async-lock's throughput"),
    ("semaphore_contended_async", "tokio", 1.0, "semaphore, 32 tasks / 4 permits ≥ tokio's throughput"),
    ("queue_1to1_async", "async_channel", 0.83, "Queue 1 → 1 ≥ 1.2× async-channel's throughput (issue 15)"),
    ("queue_4to4_async", "async_channel", 0.83, "Queue 4 → 4 ≥ 1.2× async-channel's throughput (issue 15)"),
    ("queue_4to1_async", "async_channel", 0.83, "Queue 4 → 1 tasks ≥ 1.2× async-channel's throughput (issue 15)"),
    ("queue_1to1_blocking", "crossbeam", 2.0, "Queue 1 → 1 threads ≥ 0.5× crossbeam-channel's throughput (issue 15)"),
    ("queue_1to1_blocking", "flume", 0.83, "Queue 1 → 1 threads ≥ 1.2× flume's throughput (issue 15)"),
    ("queue_1to1_blocking", "async_channel", 0.83, "Queue 1 → 1 threads ≥ 1.2× async-channel's blocking throughput (issue 15)"),
    ("queue_4to4_blocking", "crossbeam", 2.0, "Queue 4 → 4 threads ≥ 0.5× crossbeam-channel's throughput (issue 15)"),
    ("queue_4to4_blocking", "flume", 0.83, "Queue 4 → 4 threads ≥ 1.2× flume's throughput (issue 15)"),
    ("queue_4to4_blocking", "async_channel", 0.83, "Queue 4 → 4 threads ≥ 1.2× async-channel's blocking throughput (issue 15)"),
    ("event_wake_all_100_futures", "tokio", 1.0, "wake-all of 100 waiters (futures) no slower than tokio Notify"),
    ("event_wake_all_100_tasks", "tokio", 1.0, "wake-all of 100 waiters (tasks) no slower than tokio Notify"),
    ("barrier_round_trip_async", "tokio", 1.0, "Barrier round trip ≥ tokio's"),
    ("rwlock_read_mostly_async", "async_lock", 1.0, "RwLock read-mostly (8 tasks, 2 workers) ≥ async-lock's throughput"),
    ("semaphore_many_contended_async", "tokio", 1.0, "acquire_many contended ≥ tokio's throughput"),
    # Issue 15, the lock and barrier threads' side.
    ("lock_uncontended_blocking", "parking_lot", 1.2, "uncontended lock_blocking ≤ 1.2× parking_lot's time (issue 15)"),
    ("lock_contended_blocking", "parking_lot", 1.0, "contended lock_blocking, 4 threads ≤ 1.0× parking_lot's time (issue 15)"),
    ("barrier_2_threads_blocking", "std", 1.0, "Barrier(2), 2 threads ≥ std::sync::Barrier's throughput (issue 15)"),
    ("barrier_round_trip_blocking", "std", 1.0, "Barrier(4), 4 threads ≥ std::sync::Barrier's throughput (issue 15)"),
    ("lock_contended_async", "async_lock", 0.83, "contended async Lock (8 tasks, 2 workers) ≥ 1.2× async-lock's throughput (issue 15)"),
]
SIZE_TARGETS = {"ambisync::Lock<()>": 16, "ambisync::Event": 16, "ambisync::Semaphore": 16}
# Issue 15, async margins: time ratios (≤ 0.83 is ≥ 1.2× the throughput).
TARGETS += [
    ("semaphore_contended_async", "tokio", 0.83, "issue 15: semaphore, 32 tasks / 4 permits ≥ 1.2× tokio's throughput"),
    ("event_wake_all_100_futures", "tokio", 0.8, "issue 15: wake-all of 100 waiters (futures) ≤ 0.8× tokio Notify's time"),
    ("event_wake_all_100_tasks", "tokio", 0.8, "issue 15: wake-all of 100 waiters (tasks) ≤ 0.8× tokio Notify's time"),
    ("event_wake_all_100_futures_spawned", "tokio", 0.8, "issue 15: wake-all of 100 futures of a spawned task ≤ 0.8× tokio Notify's time (added in the sixth session)"),
]
# Issue 15: every returned future no larger than tokio's equivalent (the
# `future` lines of benches/sizes.rs). Rows named here are a reference only:
# tokio has no condition variable, so a condition wait (which holds the
# guard and the relock) is shown next to a bare Notify wait.
FUTURE_REFERENCE = {"condition_wait"}


def fmt_time(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def load(group, function):
    """(time in ns, stale?) or None."""
    path = root / group / function / "new" / "estimates.json"
    if not path.is_file():
        return None
    estimates = json.loads(path.read_text())
    estimate = estimates.get(stat) or estimates["mean"]
    return estimate["point_estimate"], path.stat().st_mtime < since


groups = [g for g in CASES if (root / g).is_dir()]
groups += sorted(
    p.name for p in root.iterdir()
    if p.is_dir() and p.name not in CASES and (p / "ambisync" / "new").is_dir()
) if root.is_dir() else []

# RUNS > 1: each run's estimates, kept by the shell loop (compare-run-N.json).
run_files = sorted(
    root.glob("compare-run-*.json"), key=lambda p: int(p.stem.rsplit("-", 1)[1])
) if root.is_dir() else []
runs = [json.loads(p.read_text()) for p in run_files]
multi = len(runs) > 1


def run_value(entry):
    return entry.get(stat) or entry["mean"]


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


results = {}
if multi:
    seen = {g for run in runs for g in run}
    groups = [g for g in CASES if g in seen] + sorted(seen - set(CASES))
    for group in groups:
        functions = {f for run in runs for f in run.get(group, {})}
        # (median time over the runs, stale = False)
        results[group] = {
            f: (median([run_value(run[group][f]) for run in runs if f in run.get(group, {})]), False)
            for f in functions
        }
else:
    for group in groups:
        functions = [
            p.name for p in (root / group).iterdir()
            if p.is_dir() and (p / "new" / "estimates.json").is_file()
        ]
        results[group] = {f: load(group, f) for f in functions}


def ratios(group, peer):
    """ambisync / peer, one per run that measured both."""
    if multi:
        return [
            run_value(run[group]["ambisync"]) / run_value(run[group][peer])
            for run in runs
            if "ambisync" in run.get(group, {}) and peer in run.get(group, {})
        ]
    ours = results.get(group, {}).get("ambisync")
    theirs = results.get(group, {}).get(peer)
    return [] if ours is None or theirs is None else [ours[0] / theirs[0]]


def fmt_ratio(values):
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"


def status(values, limit):
    """Met or missed at the median; inside the noise when the range of the
    runs straddles the limit."""
    if median(values) <= limit:
        return "met" if max(values) <= limit else "met at the median, inside the noise"
    return "**missed**" if min(values) > limit else "**missed** at the median, inside the noise"

lines = []
out = lines.append
stale_seen = False


def cell(result):
    global stale_seen
    time_ns, stale = result
    if stale:
        stale_seen = True
    return fmt_time(time_ns) + (" (stale)" if stale else "")


if label:
    out(f"**{label}**")
    out("")

cpu = "unknown"
try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
try:
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
except OSError:
    rustc = "rustc (unknown)"
settings = {}
settings_file = root / "compare-settings.txt"
if settings_file.is_file():
    for line in settings_file.read_text().splitlines():
        key, _, value = line.partition("=")
        settings[key] = value
# The run's time is when compare.sh last ran the benches, not when it printed.
run_time = time.localtime(settings_file.stat().st_mtime) if settings_file.is_file() else None
out(
    f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
    f"{rustc}; run {time.strftime('%Y-%m-%d %H:%M %Z', run_time) if run_time else '?'}; "
    f"criterion `{stat}` estimate, "
    f"warm-up {settings.get('warm_up', '?')} s, measurement {settings.get('measure', '?')} s"
    + (f"; {len(runs)} runs: times are medians over the runs, ratios the median of the "
       "per-run ratios with their range" if multi else "")
    + (f", `{settings['criterion_args']}`" if settings.get("criterion_args") else "")
    + "."
)
out("")
out("Time per iteration (see the case); ratio = ambisync / peer, **< 1 means ambisync is faster**.")
out("")
out("| case | iteration | peer | ambisync | peer time | ratio |")
out("| --- | --- | --- | ---: | ---: | ---: |")
for group in groups:
    functions = results[group]
    ours = functions.get("ambisync")
    peers = sorted(
        (f for f in functions if f != "ambisync"),
        key=lambda f: (PEER_ORDER.index(f) if f in PEER_ORDER else len(PEER_ORDER), f),
    )
    if ours is None:
        out(f"| `{group}` | {CASES.get(group, '')} | — | (no ambisync result) | | |")
        continue
    for i, peer in enumerate(peers):
        theirs = functions[peer]
        ratio = fmt_ratio(ratios(group, peer))
        name = f"{peer} (reference)" if (group, peer) in REFERENCE else peer
        first = i == 0
        out(
            f"| {'`' + group + '`' if first else ''} | {CASES.get(group, '') if first else ''} "
            f"| {name} | {cell(ours) if first else ''} | {cell(theirs)} | {ratio} |"
        )

out("")
out("Targets of the issue:")
out("")
out("| target | ratio | limit | status |")
out("| --- | ---: | ---: | --- |")
for group, peer, limit, wording in TARGETS:
    values = ratios(group, peer)
    if not values:
        out(f"| {wording} | — | ≤ {limit:.2f} | not measured |")
        continue
    out(f"| {wording} | {fmt_ratio(values)} | ≤ {limit:.2f} | {status(values, limit)} |")

sizes_file = root / "sizes.txt"
sizes = []
if sizes_file.is_file():
    for line in sizes_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "size":
            sizes.append((parts[1], int(parts[2])))
for name, limit in SIZE_TARGETS.items():
    size = dict(sizes).get(name)
    if size is None:
        out(f"| size_of {name} | — | ≤ {limit} B | not measured |")
    else:
        out(f"| size_of `{name}` | {size} B | ≤ {limit} B | {'met' if size <= limit else '**missed**'} |")

futures = []
if sizes_file.is_file():
    for line in sizes_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "future":
            futures.append((parts[1], int(parts[2]), parts[3], int(parts[4])))
for name, ours, peer, theirs in futures:
    if name in FUTURE_REFERENCE:
        continue
    out(
        f"| size_of_val `{name}` future vs `{peer}` | {ours} B | ≤ {theirs} B | "
        f"{'met' if ours <= theirs else '**missed**'} |"
    )

if sizes:
    out("")
    out("Sizes (`cargo bench -p ambisync-benches --bench sizes`, bytes): " + ", ".join(f"`{n}` {s}" for n, s in sizes) + ".")
if futures:
    out("")
    out(
        "Future sizes (`size_of_val`, bytes, ambisync vs tokio): "
        + ", ".join(
            f"`{n}` {o} vs `{p}` {t}" + (" (reference)" if n in FUTURE_REFERENCE else "")
            for n, o, p, t in futures
        )
        + "."
    )
if stale_seen:
    out("")
    out("(stale): a result left by an earlier run, not measured by this one.")

table = "\n".join(lines)
print(table)

if os.environ["WRITE"] == "1":
    start, end = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
    doc = Path("BENCHMARKS.md")
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    block = f"{start}\n{table}\n{end}"
    if start in text and end in text and text.index(start) < text.index(end):
        before = text[: text.index(start)]
        after = text[text.index(end) + len(end):]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)
    print(f"\ncompare.sh: wrote the tables into {doc}", file=sys.stderr)
PY
