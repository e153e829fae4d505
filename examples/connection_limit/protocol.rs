// ---------------------------------------------------------------------------
// The protocol
// ---------------------------------------------------------------------------

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

/// The longest request line the server accepts, without its line ending.
pub const MAX_LINE: usize = 4096;
/// The longest `WORK` a request may ask for, in milliseconds.
pub const MAX_WORK_MS: u64 = 10_000;
/// A reply that cannot be written for this long means the client stopped
/// reading; the connection is closed so that it cannot stall a drain.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection closed for a too-long line discards input, so that
/// its last reply is not destroyed by a reset...
pub(crate) const LINGER: Duration = Duration::from_secs(1);
/// ...and how many bytes at most.
const LINGER_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 1024;

/// A request that needs a permit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Reply with the text.
    Echo(String),
    /// Hold the permit this long (simulated I/O-bound work).
    Work(Duration),
}

/// One line from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ECHO` or `WORK`: gated.
    Request(Request),
    /// Report the counters.
    Stats,
    /// Close this connection.
    Quit,
    /// Stop the server gracefully.
    Shutdown,
}

impl Command {
    /// Parses a line (verbs are case-insensitive); `Err` is the reason, sent
    /// back after `ERR `.
    pub fn parse(line: &str) -> Result<Command, String> {
        let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
        let is = |name: &str| verb.eq_ignore_ascii_case(name);
        let no_argument = |command: Command| {
            if argument.trim().is_empty() {
                Ok(command)
            } else {
                Err(format!("{} takes no argument", verb.to_ascii_uppercase()))
            }
        };
        if is("ECHO") {
            Ok(Command::Request(Request::Echo(argument.to_owned())))
        } else if is("WORK") {
            argument
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|&ms| ms <= MAX_WORK_MS)
                .map(|ms| Command::Request(Request::Work(Duration::from_millis(ms))))
                .ok_or_else(|| format!("WORK takes whole milliseconds from 0 to {MAX_WORK_MS}"))
        } else if is("STATS") {
            no_argument(Command::Stats)
        } else if is("QUIT") {
            no_argument(Command::Quit)
        } else if is("SHUTDOWN") {
            no_argument(Command::Shutdown)
        } else if verb.is_empty() {
            Err("empty request (try ECHO text, WORK ms, STATS, QUIT, SHUTDOWN)".to_owned())
        } else {
            Err("unknown command (try ECHO text, WORK ms, STATS, QUIT, SHUTDOWN)".to_owned())
        }
    }
}

impl Request {
    /// Does the work and returns the reply.
    pub(crate) async fn execute(self) -> String {
        match self {
            Request::Echo(text) if text.is_empty() => "OK".to_owned(),
            Request::Echo(text) => format!("OK {text}"),
            Request::Work(duration) => {
                tokio::time::sleep(duration).await;
                format!("OK worked {} ms", duration.as_millis())
            }
        }
    }
}

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its line ending.
    Text(String),
    /// A line longer than the reader's limit.
    TooLong,
    /// A complete line that is not UTF-8.
    NotUtf8,
    /// The peer closed the connection (or it failed) before a complete line.
    Closed,
}

/// Reads `\n`-terminated lines (dropping a `\r` before the `\n`) with a
/// length limit.
///
/// Cancel safe: the only await is tokio's `read_buf`, which reads nothing when
/// it is cancelled, and whatever was read stays in `buffer`. So `next_line`
/// and `hung_up` can lose a `select!` without losing a byte.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    buffer: Vec<u8>,
    max_line: usize,
    /// The peer closed its side or the connection failed: no more bytes.
    closed: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader that rejects lines longer than `max_line` bytes.
    pub fn new(reader: R, max_line: usize) -> LineReader<R> {
        LineReader {
            reader,
            buffer: Vec::with_capacity(READ_CHUNK),
            max_line,
            closed: false,
        }
    }

    /// The next line.
    pub async fn next_line(&mut self) -> Line {
        loop {
            if let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > self.max_line {
                    return Line::TooLong;
                }
                return String::from_utf8(line).map_or(Line::NotUtf8, Line::Text);
            }
            // No line end yet; the +1 leaves room for the `\r` of a line of
            // exactly `max_line` bytes.
            if self.buffer.len() > self.max_line + 1 {
                return Line::TooLong;
            }
            if !self.read_more().await {
                return Line::Closed;
            }
        }
    }

    /// Completes when the peer hangs up. Until then it reads ahead, keeping
    /// pipelined requests for `next_line`, but only about one line's worth:
    /// then it stops reading and never completes, so a client that floods
    /// cannot make the server buffer without bound.
    pub async fn hung_up(&mut self) {
        while self.buffer.len() <= self.max_line + 1 {
            if !self.read_more().await {
                return;
            }
        }
        std::future::pending().await
    }

    /// Reads and drops input until the peer closes (or, at most, `LINGER_BYTES`).
    pub async fn discard_input(&mut self) {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            discarded += self.buffer.len();
            self.buffer.clear();
            if !self.read_more().await {
                return;
            }
        }
    }

    /// Appends what the socket has; `false` once no more bytes will come.
    async fn read_more(&mut self) -> bool {
        if self.closed {
            return false;
        }
        self.buffer.reserve(READ_CHUNK);
        match self.reader.read_buf(&mut self.buffer).await {
            Ok(0) | Err(_) => {
                self.closed = true;
                false
            }
            Ok(_) => true,
        }
    }
}

/// Writes `reply` and a line end, giving up after [`WRITE_TIMEOUT`].
pub(crate) async fn write_line(writer: &mut OwnedWriteHalf, reply: &str) -> io::Result<()> {
    let mut line = String::with_capacity(reply.len() + 1);
    line.push_str(reply);
    line.push('\n');
    tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(line.as_bytes()))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))?
}
