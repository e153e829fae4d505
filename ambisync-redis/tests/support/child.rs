//! Child processes made by re-executing the test binary with a role.
//!
//! A test file has one `#[test] fn child_role()` that calls [`run_role`]; in
//! a normal run it returns at once (no role set). [`Child::spawn`] starts the
//! same binary with `--exact child_role` and the role in
//! `AMBISYNC_REDIS_ROLE`; the child talks to the parent with lines starting
//! with `@@ ` on stdout and reads commands from stdin.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const ROLE: &str = "AMBISYNC_REDIS_ROLE";
const PREFIX: &str = "@@ ";

/// In the child: runs `dispatch(role)` when a role is set, then exits the
/// process with status 0 (so libtest's own output does not matter).
pub fn run_role(dispatch: impl FnOnce(&str)) {
    if let Ok(role) = std::env::var(ROLE) {
        dispatch(&role);
        std::process::exit(0);
    }
}

/// In the child: the runtime that runs its role (2 workers, as a test's).
pub fn child_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime")
}

/// In the child: a setting the parent passed in the environment.
pub fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("child needs {key}"))
}

/// In the child: a numeric setting from the environment.
pub fn env_u64(key: &str) -> u64 {
    env(key)
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number"))
}

/// In the child: one protocol line to the parent.
pub fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{PREFIX}{}", line.as_ref());
    let _ = out.flush();
}

/// In the child: the next command line from the parent (`None` at EOF).
pub fn hear() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_owned()),
    }
}

/// A child process with a role; killed when dropped.
pub struct Child {
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    role: String,
}

impl Child {
    /// Re-executes this test binary as `role`, with `env` added.
    pub fn spawn(role: &str, env: &[(&str, String)]) -> Child {
        let exe = std::env::current_exe().expect("current test binary");
        let mut command = Command::new(exe);
        command
            .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn the test binary as a child");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        let tag = format!("[{role} {}]", child.id());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints "test child_role ... " without a newline
                // before the test's own output: look inside the line.
                if let Some(at) = line.find(PREFIX) {
                    if sender.send(line[at + PREFIX.len()..].to_owned()).is_err() {
                        break;
                    }
                } else if !line.is_empty()
                    && !line.starts_with("running ")
                    && !line.starts_with("test ")
                {
                    eprintln!("{tag} {line}");
                }
            }
        });
        Child {
            stdin: child.stdin.take(),
            child,
            lines,
            role: role.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next protocol line, within `timeout`; panics with a clear message
    /// otherwise.
    pub fn next_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("child {} said nothing within {timeout:?}", self.role)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "child {} ended without a line (status {status:?})",
                    self.role
                )
            }
        }
    }

    /// Waits for a line starting with `prefix` (skipping others) and returns
    /// the rest of it.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left);
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// The next line if one comes within `timeout`.
    pub fn try_line(&mut self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Sends a command line to the child.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to child");
        stdin.flush().unwrap();
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGSTOP.
    pub fn stop(&self) {
        super::server::signal(self.pid(), libc::SIGSTOP);
    }

    /// SIGCONT.
    pub fn cont(&self) {
        super::server::signal(self.pid(), libc::SIGCONT);
    }

    /// Waits for the child to exit by itself within `timeout`; panics
    /// otherwise. Returns whether it succeeded.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("child {} did not exit within {timeout:?}", self.role);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = super::server::try_signal(self.child.id(), libc::SIGCONT);
        self.kill();
    }
}
