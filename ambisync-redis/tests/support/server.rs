//! A real `redis-server` on a loopback port, in a temporary directory, owned
//! by the test (never a system service). Also used by the example and the
//! benchmark through `#[path]`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the server keeps across a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// `save ""`, `appendonly no`: a restart loses everything.
    None,
    /// `appendonly yes`, `appendfsync always`.
    AofAlways,
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Options {
    pub persistence: Persistence,
    /// `requirepass` (the password of the `default` user).
    pub password: Option<String>,
    /// Extra `user ...` ACL lines, e.g. `user app on >pw ~app:* &app:* +@all`.
    pub acl_users: Vec<String>,
    /// Serve TLS only (`rediss://`), with a throwaway CA made by openssl.
    pub tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            persistence: Persistence::None,
            password: None,
            acl_users: Vec::new(),
            tls: false,
        }
    }
}

/// A running (or killed) `redis-server` of this test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    options: Options,
}

/// The `redis-server` binary: `$REDIS_SERVER`, else the one on `PATH`.
/// Panics, saying how to install it, when there is none: a test that needs
/// Redis fails, it never skips.
pub fn redis_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("redis-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "redis-server not found on PATH: these tests start their own Redis. Install it \
         (Debian/Ubuntu: `apt-get update && apt-get install -y redis-server`) or set \
         REDIS_SERVER to its path"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

impl RedisServer {
    /// The Redis of an example or benchmark: `REDIS_URL` when it is set,
    /// else a server of its own (which lives as long as the returned value).
    pub fn from_env_or_start() -> (Option<RedisServer>, String) {
        match std::env::var("REDIS_URL") {
            Ok(url) => (None, url),
            Err(_) => {
                let server = RedisServer::start();
                let url = server.url();
                (Some(server), url)
            }
        }
    }

    /// Runs a benchmark: `bench(url)` on a 2-worker tokio runtime against
    /// [`from_env_or_start`](Self::from_env_or_start)'s Redis.
    pub fn run_bench<F: std::future::Future<Output = ()>>(bench: impl FnOnce(String) -> F) {
        let (_server, url) = Self::from_env_or_start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("benchmark runtime");
        runtime.block_on(bench(url));
    }

    /// A server without persistence or auth.
    pub fn start() -> RedisServer {
        Self::with(Options::default())
    }

    pub fn with(options: Options) -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("ambisync-redis-")
            .tempdir()
            .expect("temporary directory");
        if options.tls {
            make_certificates(dir.path());
        }
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            options,
        };
        // A port picked free may be taken before redis binds it: try a few.
        for _ in 0..5 {
            server.port = free_port();
            if server.launch().is_ok() {
                return server;
            }
        }
        panic!(
            "redis-server did not start: see {}",
            server.log_path().display()
        );
    }

    fn conf(&self) -> String {
        let dir = self.dir.path().display();
        let mut conf = String::new();
        conf += "bind 127.0.0.1\nprotected-mode no\ndaemonize no\n";
        conf += &format!("dir {dir}\nlogfile {dir}/redis.log\n");
        conf += "save \"\"\n";
        match self.options.persistence {
            Persistence::None => conf += "appendonly no\n",
            Persistence::AofAlways => conf += "appendonly yes\nappendfsync always\n",
        }
        if self.options.tls {
            conf += &format!(
                "port 0\ntls-port {}\ntls-cert-file {dir}/server.pem\ntls-key-file {dir}/server.key\n\
                 tls-ca-cert-file {dir}/ca.pem\ntls-auth-clients no\n",
                self.port
            );
        } else {
            conf += &format!("port {}\n", self.port);
        }
        if let Some(password) = &self.options.password {
            conf += &format!("requirepass {password}\n");
        }
        for user in &self.options.acl_users {
            conf += user;
            conf += "\n";
        }
        conf
    }

    fn launch(&mut self) -> Result<(), String> {
        let conf_path = self.dir.path().join("redis.conf");
        std::fs::write(&conf_path, self.conf()).expect("write redis.conf");
        let _ = std::fs::remove_file(self.log_path());
        let child = Command::new(redis_server_binary())
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if log.contains("Ready to accept connections") {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().ok().flatten() {
                self.child = None;
                return Err(format!("redis-server exited: {status}"));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("redis-server not ready within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `redis://127.0.0.1:PORT/` (or `rediss://`), with the default user's
    /// password if one was set.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "rediss" } else { "redis" };
        match &self.options.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/", self.port),
            None => format!("{scheme}://127.0.0.1:{}/", self.port),
        }
    }

    /// The URL for an ACL user.
    pub fn url_for(&self, user: &str, password: &str) -> String {
        let scheme = if self.options.tls { "rediss" } else { "redis" };
        format!("{scheme}://{user}:{password}@127.0.0.1:{}/", self.port)
    }

    /// The throwaway CA of a TLS server (PEM).
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("ca.pem")).expect("ca.pem")
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port with the same directory and options (an
    /// AOF server reloads its data).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again on a running server");
        let mut last = String::new();
        // The port may linger briefly after a kill.
        for _ in 0..50 {
            match self.launch() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "redis-server did not start again on port {}: {last}",
            self.port
        );
    }

    /// SIGKILL then start again.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// SIGSTOP: the server freezes (connections stay open, nothing answers).
    pub fn pause(&self) {
        signal(self.pid().expect("running server"), libc::SIGSTOP);
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) {
        signal(self.pid().expect("running server"), libc::SIGCONT);
    }

    /// Runs one command over a fresh plain-TCP connection (no TLS) as the
    /// default user and returns the raw RESP reply, e.g. `"+OK\r\n"`.
    pub fn command(&self, args: &[&str]) -> String {
        assert!(!self.options.tls, "command() speaks plain TCP");
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the test redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = Vec::new();
        let mut push = |args: &[&str]| {
            request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
        };
        if let Some(password) = &self.options.password {
            push(&["AUTH", password]);
        }
        push(args);
        stream.write_all(&request).unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        let skip_auth = self.options.password.is_some();
        loop {
            let n = stream.read(&mut buf).expect("read redis reply");
            assert!(n > 0, "redis closed the connection");
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply).into_owned();
            let text = if skip_auth {
                match text.strip_prefix("+OK\r\n") {
                    Some(rest) => rest.to_owned(),
                    None => continue,
                }
            } else {
                text
            };
            if resp_complete(text.as_bytes()) {
                return text;
            }
        }
    }

    /// An integer reply of [`command`](Self::command).
    pub fn int(&self, args: &[&str]) -> i64 {
        let reply = self.command(args);
        reply
            .strip_prefix(':')
            .and_then(|r| r.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("{args:?} gave {reply:?}, not an integer"))
    }
}

impl RedisServer {
    /// Subscribers of `channel` (`PUBSUB NUMSUB`).
    pub fn numsub(&self, channel: &str) -> i64 {
        let reply = self.command(&["PUBSUB", "NUMSUB", channel]);
        reply
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .next_back()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("PUBSUB NUMSUB gave {reply:?}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // A paused server would not die of SIGKILL before SIGCONT on
            // some systems; wake it first.
            try_signal(pid, libc::SIGCONT);
        }
        self.kill();
    }
}

/// Sends `sig` to `pid`; panics if that fails.
pub fn signal(pid: u32, sig: libc::c_int) {
    assert!(try_signal(pid, sig), "kill({pid}, {sig}) failed");
}

/// Sends `sig` to `pid`; whether it was delivered.
pub fn try_signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory effects; a stale pid only gets an error.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Whether `data` holds one whole RESP2 reply.
fn resp_complete(data: &[u8]) -> bool {
    fn line(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = data[at..].windows(2).position(|w| w == b"\r\n")?;
        Some((&data[at..at + end], at + end + 2))
    }
    fn value(data: &[u8], at: usize) -> Option<usize> {
        let (head, next) = line(data, at)?;
        let (kind, rest) = head.split_first()?;
        let n: i64 = std::str::from_utf8(rest).ok()?.parse().unwrap_or(0);
        match kind {
            b'$' if n < 0 => Some(next),
            b'$' => (data.len() >= next + n as usize + 2).then_some(next + n as usize + 2),
            b'*' => {
                let mut at = next;
                for _ in 0..n.max(0) {
                    at = value(data, at)?;
                }
                Some(at)
            }
            _ => Some(next),
        }
    }
    value(data, 0).is_some()
}

/// A throwaway CA and a server certificate for 127.0.0.1/localhost, by the
/// openssl command line tool.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("openssl not runnable ({e}): install it (apt-get install -y openssl)")
            });
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ambisync test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}
