//! A program per connection, websocketd's model: messages from the client go to the
//! program's stdin, its stdout comes back as messages, its stderr goes to the log.
//!
//! - Text mode: each client message is written followed by `\n`; each line of stdout
//!   (without `\n` or `\r\n`) is one text message, or a binary one when it is not
//!   UTF-8. A line longer than `--max-message-size` is sent in pieces of that size.
//! - `--binary`: bytes both ways, each stdout read one binary message.
//!
//! The two directions run concurrently and each waits for its writer, so a slow client
//! or a slow program makes the other side wait and nothing buffers without bound.
//! The client is pinged every [`HEARTBEAT`], so a client that went away is noticed
//! even when the program says and reads nothing.
//!
//! The program runs in a process group of its own, and the whole group ends with the
//! session. When the program exits its remaining output is delivered (for at most
//! [`OUTPUT_GRACE`] if something it started still holds its stdout), then the socket
//! closes with 1000 (status 0) or 1011. When the client goes away the program's stdin
//! is closed; the group gets SIGTERM [`TERM_AFTER`] later and SIGKILL [`KILL_AFTER`]
//! after that. The program is always reaped, and a [`Program`] that is dropped early
//! (a cancelled handshake, a panic) kills its group.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use async_std::net::TcpStream;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_lite::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use futures_lite::{AsyncRead, FutureExt as _, StreamExt as _};
use rustix::process::{Pid, Signal};

use super::{
    Context, Ending, Outcome, Socket, Watch, close, code, error_code, peer_code, unless_ended,
};
use crate::auth::{Grants, TokenRef};
use crate::bearer;
use crate::log::{Log, Value};
use crate::request::Upgrade;
use crate::token::{self, Secret, contains};

/// How long a program may run after its stdin is closed before SIGTERM.
pub const TERM_AFTER: Duration = Duration::from_secs(2);
/// How long after SIGTERM before SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(1);
/// How long output is still relayed after the program exited, when something it
/// started keeps its stdout open.
pub const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// How often a silent program's client is pinged.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Longest stderr line logged; longer lines are logged in pieces.
const STDERR_LINE: usize = 4096;
/// Read buffer for a program's stdout.
const STDOUT_BUFFER: usize = 4096;

/// How a program's output is framed.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    /// Raw bytes (`--binary`) instead of lines.
    pub binary: bool,
    /// Largest message sent to the client.
    pub max_message: usize,
    /// What the session may do: without `write` a data message ends it, without
    /// `read` the program's output is read and dropped.
    pub grants: Grants,
}

/// The process groups of every running program, so that a daemon that has to exit
/// before its sessions end can still end them.
#[derive(Debug, Default)]
pub struct Programs(Mutex<HashSet<i32>>);

impl Programs {
    /// SIGKILLs every group still registered.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = self
            .0
            .lock()
            .map(|g| g.iter().copied().collect())
            .unwrap_or_default();
        for group in groups {
            kill_group(group, Signal::KILL);
        }
    }

    fn add(&self, group: i32) {
        if let Ok(mut groups) = self.0.lock() {
            groups.insert(group);
        }
    }

    fn remove(&self, group: i32) {
        if let Ok(mut groups) = self.0.lock() {
            groups.remove(&group);
        }
    }
}

fn kill_group(group: i32, signal: Signal) -> bool {
    Pid::from_raw(group).is_some_and(|pid| rustix::process::kill_process_group(pid, signal).is_ok())
}

fn group_alive(group: i32) -> bool {
    Pid::from_raw(group).is_some_and(|pid| rustix::process::test_kill_process_group(pid).is_ok())
}

/// A started program, the leader of its own process group. Dropping it kills the
/// group; [`relay`] ends it gracefully first.
pub struct Program {
    child: Child,
    group: i32,
    registry: Arc<Programs>,
    /// The leader's exit status has been collected. Until then its zombie keeps the
    /// group's id reserved, so signalling the group cannot reach a stranger; after,
    /// the id may be reused and wsgate no longer signals it.
    reaped: bool,
}

impl Drop for Program {
    fn drop(&mut self) {
        if !self.reaped {
            kill_group(self.group, Signal::KILL);
        }
        self.registry.remove(self.group);
    }
}

/// Finds a program once, at startup, the way a shell would: a name with a `/` is used
/// as it is; a bare name is looked up in `path`, in its absolute entries only (an
/// empty or relative entry would name whatever the working directory holds), taking
/// the first regular file this user may execute. Besides failing early and clearly, a
/// resolved path lets the standard library start each program with `posix_spawn`
/// instead of `fork`: with a cleared environment and a bare name it must fork, and
/// forking a busy daemon costs a copy of its page tables every time.
pub fn resolve(program: &OsStr, path: Option<OsString>) -> Result<PathBuf, String> {
    if program.as_encoded_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let dirs = path.unwrap_or_default();
    for dir in std::env::split_paths(&dirs).filter(|d| d.is_absolute()) {
        let candidate = dir.join(program);
        let executable = std::fs::metadata(&candidate).is_ok_and(|m| m.is_file())
            && rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK).is_ok();
        if executable {
            return Ok(candidate);
        }
    }
    Err(format!(
        "program {:?} not found in PATH (absolute entries only)",
        program.to_string_lossy()
    ))
}

/// Starts the program with exactly `env` as its environment, pipes for stdio, in a new
/// process group.
pub fn spawn(
    program: &OsStr,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
    registry: &Arc<Programs>,
) -> io::Result<Program> {
    let mut command = std::process::Command::new(program);
    command.args(args).env_clear().envs(env).process_group(0);
    let child = Command::from(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let group = i32::try_from(child.id()).unwrap_or(0);
    registry.add(group);
    Ok(Program {
        child,
        group,
        registry: registry.clone(),
        reaped: false,
    })
}

/// The daemon's environment as every program inherits it: without any `WSGATE_*`
/// variable (the token may be one) and without any variable whose value contains one
/// of the daemon's secrets.
pub fn base_environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
    secrets: &[Secret],
) -> Vec<(OsString, OsString)> {
    vars.filter(|(name, value)| {
        !name.as_encoded_bytes().starts_with(b"WSGATE_")
            && !holds_secret(value.as_encoded_bytes(), secrets)
    })
    .collect()
}

/// Whether `value` holds a secret as it is or once percent-decoded.
fn holds_secret(value: &[u8], secrets: &[Secret]) -> bool {
    if secrets.is_empty() {
        return false;
    }
    let decoded = token::decode_lossy(value);
    secrets
        .iter()
        .any(|s| contains(value, s.expose()) || contains(&decoded, s.expose()))
}

/// What the program is told about its connection.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The accepted upgrade.
    pub upgrade: &'a Upgrade<'a>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The port the daemon listens on.
    pub server_port: u16,
    /// The connection id.
    pub conn: u64,
    /// Who the credential names, when it names someone (a JWT's `sub`).
    pub subject: Option<&'a str>,
    /// The managed token, in `store` mode.
    pub token: Option<&'a TokenRef>,
    /// What the connection may do.
    pub grants: Grants,
    /// The subprotocol the 101 selected, if any.
    pub protocol: Option<&'a str>,
}

/// Headers never passed on: credentials, the handshake key, and `Proxy` (which would
/// become `HTTP_PROXY`, "httpoxy").
const HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "sec-websocket-key",
    "proxy",
];

/// A program's environment: `base` plus CGI-style variables as websocketd gives them,
/// with the credential removed from the query and from `Sec-WebSocket-Protocol`, and
/// every header that could carry it left out; plus `WSGATE_CONN_ID`, `WSGATE_SCOPES`,
/// and, when there is one, `WSGATE_SUBJECT`, `WSGATE_TOKEN_ID`, `WSGATE_TOKEN_NAME` and
/// `WSGATE_PROTOCOL` (the selected subprotocol).
pub fn environment(
    base: &[(OsString, OsString)],
    req: &Request<'_>,
    secrets: &[Secret],
) -> Vec<(OsString, OsString)> {
    let target = req.upgrade.target();
    // A path holding a secret is not passed on at all; a query loses the credential
    // pair and any pair holding a secret.
    let path = Some(token::path_of(target)).filter(|p| !holds_secret(p.as_bytes(), secrets));
    let stripped = token::strip_credential(token::query_of(target));
    let query = stripped
        .split('&')
        .filter(|pair| !pair.is_empty() && !holds_secret(pair.as_bytes(), secrets))
        .collect::<Vec<_>>()
        .join("&");
    let mut env: Vec<(OsString, OsString)> = base.to_vec();
    let mut set = |name: &str, value: Vec<u8>| {
        env.retain(|(n, _)| n != name);
        env.push((name.into(), OsString::from_vec(value)));
    };
    set("GATEWAY_INTERFACE", b"websocketd-CGI/0.1".to_vec());
    set(
        "SERVER_SOFTWARE",
        format!("wsgate/{}", crate::VERSION).into_bytes(),
    );
    set("SERVER_PROTOCOL", b"HTTP/1.1".to_vec());
    set("SERVER_PORT", req.server_port.to_string().into_bytes());
    set("REMOTE_ADDR", req.peer.ip().to_string().into_bytes());
    set("REMOTE_PORT", req.peer.port().to_string().into_bytes());
    set("REQUEST_METHOD", b"GET".to_vec());
    if let Some(path) = path {
        let uri = match query.is_empty() {
            true => path.to_owned(),
            false => format!("{path}?{query}"),
        };
        set("PATH_INFO", path.as_bytes().to_vec());
        set("REQUEST_URI", uri.into_bytes());
    }
    set("QUERY_STRING", query.into_bytes());
    set("WSGATE_CONN_ID", req.conn.to_string().into_bytes());
    // An environment variable cannot hold a NUL; such a subject is left out.
    if let Some(subject) = req.subject.filter(|s| !s.contains('\0')) {
        set("WSGATE_SUBJECT", subject.as_bytes().to_vec());
    }
    if let Some(token) = req.token {
        set("WSGATE_TOKEN_ID", token.id.as_bytes().to_vec());
        set("WSGATE_TOKEN_NAME", token.name.as_bytes().to_vec());
    }
    set("WSGATE_SCOPES", req.grants.to_string().into_bytes());
    if let Some(protocol) = req.protocol {
        set("WSGATE_PROTOCOL", protocol.as_bytes().to_vec());
    }

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for h in req.upgrade.common.headers {
        let lower = h.name.to_ascii_lowercase();
        if HIDDEN_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        let value = match lower.as_str() {
            // A page URL may carry a token of its own.
            "referer" => match std::str::from_utf8(h.value) {
                Ok(v) => token::redact(v).into_bytes(),
                Err(_) => continue,
            },
            "sec-websocket-protocol" => bearer::without_credential(h.value),
            _ => h.value.to_vec(),
        };
        if value.is_empty() || holds_secret(&value, secrets) {
            continue;
        }
        let name: String = h
            .name
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(&value);
            }
            None => headers.push((name, value)),
        }
    }
    for (name, value) in headers {
        set(&format!("HTTP_{name}"), value);
    }
    env
}

enum Ended {
    /// The client side finished first.
    Client(FromClient),
    /// The program's output ended (or the client could not be written to).
    Program(FromProgram),
}

enum FromClient {
    Gone,
    Ended(Ending),
    Error(WsError),
}

enum FromProgram {
    Eof,
    ClientGone,
}

/// Relays between the client and the program until either ends, then closes the
/// other and ends the program's process group.
pub async fn relay(ws: Socket, mut program: Program, framing: Framing, cx: Context<'_>) -> Outcome {
    let pid = program.child.id();
    let stdin = program.child.stdin.take();
    let stdout = program.child.stdout.take();
    if let Some(stderr) = program.child.stderr.take() {
        let who = Who {
            conn: cx.conn,
            peer: cx.peer.to_owned(),
            mode: cx.mode,
            reason: cx.reason,
        };
        async_std::task::spawn(forward_stderr(stderr, cx.log.clone(), who));
    }
    let (mut tx, mut rx) = ws.split();
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let mut peer_close = None;
    let mut exited = None;
    let mut watch = cx.stop.watch(cx.expires, cx.revocation.cloned());
    let ended = {
        let child = &mut program.child;
        let client = to_program(
            &mut rx,
            stdin,
            framing,
            &mut watch,
            &mut out.bytes_in,
            &mut peer_close,
        );
        let output = from_program(&mut tx, stdout, framing, &mut out.bytes_out);
        // The program's exit ends its output too, after a grace period for what is
        // still in the pipe (something it started may hold the pipe open forever).
        let exit = async {
            exited = child.status().await.ok();
            async_io::Timer::after(OUTPUT_GRACE).await;
            Ended::Program(FromProgram::Eof)
        };
        // Each direction is polled only when its own descriptor is ready.
        super::race::Race::new(vec![
            Box::pin(async { Ended::Client(client.await) }),
            Box::pin(async { Ended::Program(output.await) }),
            Box::pin(exit),
        ])
        .await
    };
    // Both directions are dropped here: the program's stdin and stdout are closed.
    let Ok(mut ws) = WebSocketStream::reunite(tx, rx) else {
        // Only halves of two different sockets fail to reunite.
        let status = end_program(&mut program, exited).await;
        log_exit(cx, pid, status);
        return out;
    };
    let status = match ended {
        Ended::Program(FromProgram::Eof) => {
            let status = end_program(&mut program, exited).await;
            let (c, reason) = match status {
                Some(s) if s.success() => (code::NORMAL, "program exited"),
                _ => (code::INTERNAL, "program failed"),
            };
            out.code = c;
            out.clean = close(&mut ws, c, reason).await;
            status
        }
        Ended::Program(FromProgram::ClientGone) | Ended::Client(FromClient::Gone) => {
            out.code = peer_close.unwrap_or(code::ABNORMAL);
            out.clean = peer_close.is_some();
            end_program(&mut program, exited).await
        }
        Ended::Client(FromClient::Error(err)) => {
            let ending = end_program(&mut program, exited);
            match error_code(&err) {
                Some(c) => {
                    out.code = c;
                    futures_lite::future::zip(close(&mut ws, c, ""), ending)
                        .await
                        .1
                }
                None => ending.await,
            }
        }
        Ended::Client(FromClient::Ended(ending)) => {
            out.code = ending.code();
            let closing = close(&mut ws, ending.code(), ending.reason());
            let (clean, status) =
                futures_lite::future::zip(closing, end_program(&mut program, exited)).await;
            out.clean = clean;
            status
        }
    };
    log_exit(cx, pid, status);
    out
}

fn log_exit(cx: Context<'_>, pid: u32, status: Option<ExitStatus>) {
    let (key, value) = match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => ("status", c.to_string()),
            (None, Some(sig)) => ("signal", sig.to_string()),
            _ => ("status", "unknown".into()),
        },
        None => ("status", "unknown".into()),
    };
    let mut fields = cx.fields().to_vec();
    fields.push(("pid", u64::from(pid).into()));
    fields.push((key, Value::Str(&value)));
    cx.log.event("child-exit", &fields);
}

/// Ends the program and everything in its group, gently first: its stdin is already
/// closed; after [`TERM_AFTER`] the group gets SIGTERM, after [`KILL_AFTER`] more,
/// SIGKILL. Returns the program's exit status (`exited`, if it was already seen).
async fn end_program(program: &mut Program, exited: Option<ExitStatus>) -> Option<ExitStatus> {
    let status = stop_group(program, exited).await;
    if status.is_some() {
        program.reaped = true;
        program.registry.remove(program.group);
    }
    status
}

/// Waits for the leader, then makes sure the whole group is gone: TERM, then KILL.
async fn stop_group(program: &mut Program, exited: Option<ExitStatus>) -> Option<ExitStatus> {
    let group = program.group;
    let child = &mut program.child;
    let mut status = exited;
    if status.is_none() {
        if let Ok(Ok(s)) = async_std::future::timeout(TERM_AFTER, child.status()).await {
            status = Some(s);
        }
    }
    // The group's id stays reserved while any member lives, so signalling it never
    // reaches a stranger.
    if status.is_some() && !group_alive(group) {
        return status;
    }
    kill_group(group, Signal::TERM);
    let waited = async_std::future::timeout(KILL_AFTER, async {
        let s = child.status().await.ok();
        while group_alive(group) {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
        s
    })
    .await;
    match waited {
        Ok(s) => status.or(s),
        Err(_) => {
            kill_group(group, Signal::KILL);
            let s = child.status().await.ok();
            status.or(s)
        }
    }
}

async fn to_program(
    rx: &mut WebSocketReceiver<TcpStream>,
    mut stdin: Option<ChildStdin>,
    framing: Framing,
    watch: &mut Watch<'_>,
    bytes_in: &mut u64,
    peer_close: &mut Option<u16>,
) -> FromClient {
    let mut data = Vec::new();
    loop {
        let next = match unless_ended(watch, rx.next()).await {
            Ok(next) => next,
            Err(ending) => return FromClient::Ended(ending),
        };
        let msg = match next {
            None => return FromClient::Gone,
            Some(Err(err)) => return FromClient::Error(err),
            Some(Ok(Message::Close(frame))) => {
                *peer_close = Some(peer_code(&frame));
                continue;
            }
            Some(Ok(msg @ (Message::Text(_) | Message::Binary(_)))) => msg,
            Some(Ok(_)) => continue,
        };
        if !framing.grants.contains(Grants::WRITE) {
            return FromClient::Ended(Ending::NotPermitted);
        }
        *bytes_in += msg.len() as u64;
        let Some(pipe) = stdin.as_mut() else {
            // The program closed its stdin; its output may still be coming.
            continue;
        };
        let payload = msg.into_data();
        let written = if framing.binary {
            unless_ended(watch, pipe.write_all(&payload)).await
        } else {
            // The line and its end in one write.
            data.clear();
            data.extend_from_slice(&payload);
            data.push(b'\n');
            unless_ended(watch, pipe.write_all(&data)).await
        };
        match written {
            Err(ending) => return FromClient::Ended(ending),
            Ok(Ok(())) => {}
            Ok(Err(_)) => stdin = None,
        }
        if data.capacity() > STDOUT_BUFFER {
            data = Vec::new();
        }
    }
}

async fn from_program(
    tx: &mut WebSocketSender<TcpStream>,
    stdout: Option<ChildStdout>,
    framing: Framing,
    bytes_out: &mut u64,
) -> FromProgram {
    let Some(stdout) = stdout else {
        return FromProgram::Eof;
    };
    let mut heartbeat = async_io::Timer::interval(HEARTBEAT);
    let mut output = Output::new(stdout, framing);
    loop {
        // Reading is cancel-safe: a heartbeat in between loses no output.
        let next = async { Some(output.next().await) }
            .or(async {
                heartbeat.next().await;
                None
            })
            .await;
        let msg = match next {
            Some(Some(_)) if !framing.grants.contains(Grants::READ) => continue,
            Some(Some(msg)) => msg,
            Some(None) => return FromProgram::Eof,
            None => Message::Ping(Default::default()),
        };
        if let Message::Text(_) | Message::Binary(_) = &msg {
            *bytes_out += msg.len() as u64;
        }
        if tx.send(msg).await.is_err() {
            return FromProgram::ClientGone;
        }
    }
}

/// A program's stdout as messages.
struct Output {
    lines: Lines<ChildStdout>,
    framing: Framing,
}

impl Output {
    fn new(stdout: ChildStdout, framing: Framing) -> Output {
        Output {
            lines: Lines::new(stdout, STDOUT_BUFFER),
            framing,
        }
    }

    /// The next message, `None` at the end. Cancel-safe.
    async fn next(&mut self) -> Option<Message> {
        if self.framing.binary {
            let chunk = self.lines.chunk(self.framing.max_message).await.ok()?;
            return (!chunk.is_empty()).then(|| Message::binary(chunk));
        }
        let line = self.lines.next(self.framing.max_message).await.ok()??;
        Some(match String::from_utf8(line) {
            Ok(text) => Message::text(text),
            Err(e) => Message::binary(e.into_bytes()),
        })
    }
}

async fn forward_stderr(stderr: ChildStderr, log: Log, who: Who) {
    let mut lines = Lines::new(stderr, 1024);
    while let Ok(Some(line)) = lines.next(STDERR_LINE).await {
        let line = String::from_utf8_lossy(&line);
        let [conn, peer, mode, reason] =
            super::session_fields(who.conn, &who.peer, who.mode, who.reason);
        let fields = [conn, peer, mode, reason, ("line", Value::Str(&line))];
        log.event("child-stderr", &fields);
    }
}

/// The connection a program belongs to, for lines logged after its task moved on.
struct Who {
    conn: u64,
    peer: String,
    mode: &'static str,
    reason: &'static str,
}

/// Lines of a byte stream, each at most `max` bytes: a longer line comes in pieces.
/// Cancel-safe: a partly read line stays here until it is complete.
struct Lines<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    /// The last line was cut at `max`: a `\n` right after it ends it, not a new one.
    cut: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(inner: R, capacity: usize) -> Self {
        Lines {
            reader: BufReader::with_capacity(capacity, inner),
            line: Vec::new(),
            cut: false,
        }
    }

    /// The next line without its `\n` (or `\r\n`), a piece of `max` bytes of a longer
    /// one, or the unterminated rest at the end; `None` at the end.
    async fn next(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        loop {
            let avail = self.reader.fill_buf().await?;
            if avail.is_empty() {
                let rest = std::mem::take(&mut self.line);
                return Ok((!rest.is_empty()).then_some(rest));
            }
            if std::mem::take(&mut self.cut) && avail[0] == b'\n' {
                self.reader.consume(1);
                continue;
            }
            let room = max - self.line.len();
            let newline = avail
                .iter()
                .position(|&b| b == b'\n')
                .filter(|&i| i <= room);
            let take = newline.unwrap_or(avail.len().min(room));
            self.line.extend_from_slice(&avail[..take]);
            self.reader.consume(take + usize::from(newline.is_some()));
            if newline.is_some() {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.line.len() == max {
                self.cut = true;
                return Ok(Some(std::mem::take(&mut self.line)));
            }
        }
    }

    /// Whatever is available, at most `max` bytes; empty at the end. Cancel-safe.
    async fn chunk(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let avail = self.reader.fill_buf().await?;
        let chunk = avail[..avail.len().min(max)].to_vec();
        self.reader.consume(chunk.len());
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Common, Header};

    fn lines(input: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(input, 3);
        let mut out = Vec::new();
        futures_lite::future::block_on(async {
            while let Some(line) = lines.next(max).await.unwrap() {
                out.push(line);
            }
        });
        out
    }

    #[test]
    fn line_splitting() {
        let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(lines(b"a\nbb\r\n\nccc", 100), v(&["a", "bb", "", "ccc"]));
        assert_eq!(lines(b"abcdefg\nh\n", 3), v(&["abc", "def", "g", "h"]));
        assert_eq!(lines(b"abc\ndef", 3), v(&["abc", "def"]));
        assert_eq!(lines(b"abc\n\nd", 3), v(&["abc", "", "d"]));
        assert_eq!(lines(b"abcdef\n", 3), v(&["abc", "def"]));
        assert_eq!(lines(b"", 3), Vec::<Vec<u8>>::new());
        assert_eq!(lines(b"\xff\xfe\n", 10), vec![vec![0xff, 0xfe]]);
    }

    #[test]
    fn programs_resolved_once() {
        let path = Some(OsString::from("/nonexistent:/bin:/usr/bin"));
        let sh = resolve(OsStr::new("sh"), path.clone()).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        assert_eq!(
            resolve(OsStr::new("./x/y"), None).unwrap(),
            PathBuf::from("./x/y")
        );
        let missing = resolve(OsStr::new("wsgate-no-such-program"), path).unwrap_err();
        assert!(
            missing.contains("wsgate-no-such-program") && missing.contains("PATH"),
            "{missing}"
        );
        assert!(resolve(OsStr::new("sh"), None).is_err());
        // Relative entries are skipped (tests run in the crate's directory, where
        // bench/run is executable), and so are files this user may not execute.
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let bench = root.join("bench");
        assert!(resolve(OsStr::new("run"), Some("bench".into())).is_err());
        assert!(resolve(OsStr::new("run"), Some(":.:bench".into())).is_err());
        assert_eq!(
            resolve(OsStr::new("run"), Some(bench.clone().into_os_string())),
            Ok(bench.join("run"))
        );
        assert!(resolve(OsStr::new("Cargo.toml"), Some(root.into_os_string())).is_err());
    }

    #[test]
    fn secret_in_the_path_is_not_passed_on() {
        let upgrade = Upgrade {
            common: Common {
                target: "/s3cret-s3cret-s3cret/x?a=1",
                query: "a=1",
                host: b"localhost",
                origin: None,
                headers: &[],
            },
            key: b"dGhlIHNhbXBsZSBub25jZQ==",
        };
        let request = Request {
            upgrade: &upgrade,
            peer: "127.0.0.1:1".parse().unwrap(),
            server_port: 2,
            conn: 3,
            subject: None,
            token: None,
            grants: Grants::ALL,
            protocol: None,
        };
        let env = environment(&[], &request, &[Secret::new("s3cret-s3cret-s3cret")]);
        let names: Vec<_> = env.iter().map(|(n, _)| n.to_str().unwrap()).collect();
        assert!(
            !names.contains(&"PATH_INFO") && !names.contains(&"REQUEST_URI"),
            "{names:?}"
        );
        assert!(env.iter().any(|(n, v)| n == "QUERY_STRING" && v == "a=1"));
    }

    #[test]
    fn environment_hides_credentials() {
        let secret = b"s3cret-s3cret-s3cret";
        let headers = [
            Header {
                name: "Host",
                value: b"localhost:7331",
            },
            Header {
                name: "Authorization",
                value: b"Bearer s3cret-s3cret-s3cret",
            },
            Header {
                name: "Cookie",
                value: b"a=b",
            },
            Header {
                name: "Sec-WebSocket-Key",
                value: b"dGhlIHNhbXBsZSBub25jZQ==",
            },
            Header {
                name: "Proxy",
                value: b"http://evil:1",
            },
            Header {
                name: "Referer",
                value: b"http://localhost/page?token=s3cret-s3cret-s3cret&x=1",
            },
            Header {
                name: "X-Copy",
                value: b"prefix s3cret-s3cret-s3cret",
            },
            Header {
                name: "X-Multi",
                value: b"1",
            },
            Header {
                name: "x-multi",
                value: b"2",
            },
            Header {
                name: "User-Agent",
                value: b"test/1",
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"chat, wsgate.bearer.czNjcmV0, v2",
            },
            Header {
                name: "X-Encoded",
                value: b"s3cret%2Ds3cret%2Ds3cret",
            },
        ];
        let upgrade = Upgrade {
            common: Common {
                target: "/app/ws?a=1&token=s3cret-s3cret-s3cret&b=%20&next=%2F%3Ftoken%3Ds3cret%2Ds3cret-s3cret",
                query: "a=1&token=s3cret-s3cret-s3cret&b=%20&next=%2F%3Ftoken%3Ds3cret%2Ds3cret-s3cret",
                host: b"localhost:7331",
                origin: None,
                headers: &headers,
            },
            key: b"dGhlIHNhbXBsZSBub25jZQ==",
        };
        let secrets = [Secret::new(secret.to_vec())];
        let base = base_environment(
            [
                ("PATH".into(), "/bin".into()),
                ("WSGATE_AUTH_TOKEN".into(), "s3cret-s3cret-s3cret".into()),
                ("WSGATE_OTHER".into(), "x".into()),
                ("COPY".into(), "s3cret-s3cret-s3cret".into()),
                ("QUERY_STRING".into(), "stale".into()),
            ]
            .into_iter(),
            &secrets,
        );
        let env = environment(
            &base,
            &Request {
                upgrade: &upgrade,
                peer: "127.0.0.1:5555".parse().unwrap(),
                server_port: 7331,
                conn: 42,
                subject: Some("alice"),
                token: Some(&TokenRef {
                    id: "0000000a".into(),
                    name: "laptop".into(),
                }),
                grants: Grants::READ,
                protocol: Some("chat"),
            },
            &secrets,
        );
        let get = |k: &str| {
            let all: Vec<_> = env.iter().filter(|(n, _)| n == k).collect();
            assert!(all.len() <= 1, "{k} set twice");
            all.first().map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        for (name, value) in &env {
            let value = value.as_encoded_bytes();
            assert!(!contains(value, secret), "{name:?} carries the secret");
        }
        assert_eq!(get("PATH").as_deref(), Some("/bin"));
        assert_eq!(get("WSGATE_AUTH_TOKEN"), None);
        assert_eq!(get("WSGATE_OTHER"), None);
        assert_eq!(get("COPY"), None);
        assert_eq!(get("QUERY_STRING").as_deref(), Some("a=1&b=%20"));
        assert_eq!(get("REQUEST_URI").as_deref(), Some("/app/ws?a=1&b=%20"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/app/ws"));
        assert_eq!(get("REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
        assert_eq!(get("REMOTE_PORT").as_deref(), Some("5555"));
        assert_eq!(get("SERVER_PORT").as_deref(), Some("7331"));
        assert_eq!(get("REQUEST_METHOD").as_deref(), Some("GET"));
        assert_eq!(get("WSGATE_CONN_ID").as_deref(), Some("42"));
        assert_eq!(get("WSGATE_SUBJECT").as_deref(), Some("alice"));
        assert_eq!(get("WSGATE_TOKEN_ID").as_deref(), Some("0000000a"));
        assert_eq!(get("WSGATE_TOKEN_NAME").as_deref(), Some("laptop"));
        assert_eq!(get("WSGATE_SCOPES").as_deref(), Some("read"));
        assert_eq!(get("WSGATE_PROTOCOL").as_deref(), Some("chat"));
        assert_eq!(
            get("HTTP_SEC_WEBSOCKET_PROTOCOL").as_deref(),
            Some("chat, v2")
        );
        assert_eq!(get("HTTP_HOST").as_deref(), Some("localhost:7331"));
        assert_eq!(get("HTTP_USER_AGENT").as_deref(), Some("test/1"));
        assert_eq!(get("HTTP_X_MULTI").as_deref(), Some("1, 2"));
        assert_eq!(
            get("HTTP_REFERER").as_deref(),
            Some("http://localhost/page?token=REDACTED&x=1")
        );
        for hidden in [
            "HTTP_X_ENCODED",
            "HTTP_AUTHORIZATION",
            "HTTP_COOKIE",
            "HTTP_SEC_WEBSOCKET_KEY",
            "HTTP_PROXY",
            "HTTP_X_COPY",
        ] {
            assert_eq!(get(hidden), None, "{hidden}");
        }
    }
}
