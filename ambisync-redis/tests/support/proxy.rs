//! A small loopback TCP proxy in front of a test Redis, to cut or hold
//! traffic without `tc netem`: forward, hold the server's replies (requests
//! still arrive), drop everything (a partition), or reset every connection.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Pass both directions.
    Forward = 0,
    /// Pass requests to Redis; keep its replies until the mode changes back
    /// to `Forward` (then they flow, in order).
    HoldReplies = 1,
    /// Pass nothing either way (bytes wait, as in a partition).
    Blackhole = 2,
}

struct Shared {
    mode: AtomicU8,
    closed: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
}

/// A proxy listening on a loopback port; stops when dropped.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Forward as u8),
            closed: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
        });
        let accept = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut streams = accept.streams.lock().unwrap();
                    streams.push(client.try_clone().unwrap());
                    streams.push(server.try_clone().unwrap());
                }
                pump(
                    accept.clone(),
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    false,
                );
                pump(accept.clone(), server, client, true);
            }
        });
        Proxy { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/` through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Closes every proxied connection (both sides see a reset/EOF); new
    /// connections are still accepted.
    pub fn reset_all(&self) {
        for stream in self.shared.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.reset_all();
        // Unblock the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` on a thread of its own, obeying the mode.
fn pump(shared: Arc<Shared>, mut from: TcpStream, mut to: TcpStream, is_reply: bool) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            // Wait while this direction is held.
            loop {
                let mode = shared.mode.load(Ordering::SeqCst);
                let held =
                    mode == Mode::Blackhole as u8 || (is_reply && mode == Mode::HoldReplies as u8);
                if !held || shared.closed.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Bytes read just before the mode changed wait here too.
            loop {
                let mode = shared.mode.load(Ordering::SeqCst);
                let held =
                    mode == Mode::Blackhole as u8 || (is_reply && mode == Mode::HoldReplies as u8);
                if !held || shared.closed.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
