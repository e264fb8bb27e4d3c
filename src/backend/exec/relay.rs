//! The relay between a client and its program: messages to stdin, stdout back as
//! messages, stderr to the log; both directions at once, each waiting for its writer.

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

use async_process::{ChildStderr, ChildStdin, ChildStdout};
use async_std::net::TcpStream;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_lite::io::AsyncWriteExt as _;
use futures_lite::{FutureExt as _, StreamExt as _};

use super::lines::Lines;
use super::process::{Program, end_program};
use crate::backend::race::Race;
use crate::backend::session::{
    Context, Ending, Outcome, Pulse, Socket, Watch, close, close_for, code, error_code, peer_code,
    session_fields, unless_ended,
};
use crate::log::{Event, Log, Value};
use crate::redact::{Screen, Secrets};
use crate::scope::Scopes;

/// How long output is still relayed after the program exited, when something it
/// started keeps its stdout open.
pub const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// Longest stderr line logged; longer lines are logged in pieces.
const STDERR_LINE: usize = 4096;
/// Read buffer for a program's stdout.
pub const STDOUT_BUFFER: usize = 4096;

/// How a program's output is framed.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    /// Raw bytes (`--binary`) instead of lines.
    pub binary: bool,
    /// Largest message sent to the client.
    pub max_message: usize,
    /// What the session may do: without `write` a data message ends it, without
    /// `read` the program's output is read and dropped.
    pub scopes: Scopes,
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
/// `hidden` is what the program's stderr lines must not show: the daemon's secrets and
/// the credentials this connection presented.
pub async fn relay(
    ws: Socket,
    mut program: Program,
    framing: Framing,
    hidden: Secrets,
    cx: Context<'_>,
) -> Outcome {
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
        async_std::task::spawn(forward_stderr(stderr, cx.log.clone(), who, hidden));
    }
    let (mut tx, mut rx) = ws.split();
    let mut out = Outcome {
        code: code::ABNORMAL,
        ..Outcome::default()
    };
    let mut peer_close = None;
    let mut exited = None;
    let pulse = Pulse::new(cx.liveness);
    let mut watch = Watch::new(cx.stop, cx.expires, cx.revocation.cloned(), &pulse);
    let ended = {
        let child = &mut program.child;
        let client = to_program(
            &mut rx,
            stdin,
            framing,
            &mut watch,
            &pulse,
            &mut out.bytes_in,
            &mut peer_close,
        );
        let output = from_program(&mut tx, stdout, framing, &pulse, &mut out.bytes_out);
        // The program's exit ends its output too, after a grace period for what is
        // still in the pipe (something it started may hold the pipe open forever).
        let exit = async {
            exited = child.status().await.ok();
            async_io::Timer::after(OUTPUT_GRACE).await;
            Ended::Program(FromProgram::Eof)
        };
        // Each direction is polled only when its own descriptor is ready.
        Race::new(vec![
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
            out.ended = Some(ending);
            let closing = close_for(&mut ws, ending);
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
    cx.log.event(Event::ChildExit, &fields);
}

async fn to_program(
    rx: &mut WebSocketReceiver<TcpStream>,
    mut stdin: Option<ChildStdin>,
    framing: Framing,
    watch: &mut Watch<'_>,
    pulse: &Pulse,
    bytes_in: &mut u64,
    peer_close: &mut Option<u16>,
) -> FromClient {
    let mut data = Vec::new();
    loop {
        let next = match unless_ended(watch, rx.next()).await {
            Ok(next) => next,
            Err(ending) => return FromClient::Ended(ending),
        };
        if let Some(Ok(msg)) = &next {
            pulse.heard(matches!(msg, Message::Text(_) | Message::Binary(_)));
        }
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
        if !framing.scopes.contains(Scopes::WRITE) {
            return FromClient::Ended(Ending::NotPermitted);
        }
        *bytes_in += msg.len() as u64;
        let Some(pipe) = stdin.as_mut() else {
            // The program closed its stdin; its output may still be coming.
            continue;
        };
        let payload = msg.into_data();
        let written = if framing.binary {
            unless_ended(watch, pulse.holding(pipe.write_all(&payload))).await
        } else {
            // The line and its end in one write; a line end the client sent is not
            // doubled.
            data.clear();
            data.extend_from_slice(super::lines::without_line_end(&payload));
            data.push(b'\n');
            unless_ended(watch, pulse.holding(pipe.write_all(&data))).await
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
    pulse: &Pulse,
    bytes_out: &mut u64,
) -> FromProgram {
    let Some(stdout) = stdout else {
        return FromProgram::Eof;
    };
    let mut output = Output::new(stdout, framing);
    loop {
        // A program that never stops writing must not keep its client from being
        // pinged.
        if pulse.ping_now() && tx.send(Message::Ping(Default::default())).await.is_err() {
            return FromProgram::ClientGone;
        }
        // Reading is cancel-safe: a ping in between loses no output.
        let next = async { Some(output.next().await) }
            .or(async {
                pulse.ping_due().await;
                None
            })
            .await;
        let msg = match next {
            Some(Some(_)) if !framing.scopes.contains(Scopes::READ) => continue,
            Some(Some(msg)) => msg,
            Some(None) => return FromProgram::Eof,
            None => Message::Ping(Default::default()),
        };
        let data = matches!(msg, Message::Text(_) | Message::Binary(_));
        if data {
            *bytes_out += msg.len() as u64;
        }
        if tx.send(msg).await.is_err() {
            return FromProgram::ClientGone;
        }
        if data {
            pulse.moved();
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

/// Logs each line of the program's stderr, a long one in pieces, through a
/// [`Screen`] for `hidden`'s secrets (the log itself hides the daemon's own): a line
/// that holds one, even across pieces, is logged as `REDACTED`.
async fn forward_stderr(stderr: ChildStderr, log: Log, who: Who, hidden: Secrets) {
    let mut lines = Lines::new(stderr, 1024);
    let mut screen = Screen::new(hidden);
    let log_line = |line: &[u8]| {
        let line = String::from_utf8_lossy(line);
        let [conn, peer, mode, reason] = session_fields(who.conn, &who.peer, who.mode, who.reason);
        let fields = [conn, peer, mode, reason, ("line", Value::Str(&line))];
        log.event(Event::ChildStderr, &fields);
    };
    while let Ok(Some(piece)) = lines.next(STDERR_LINE).await {
        for piece in screen.push(piece, !lines.was_cut()) {
            log_line(&piece);
        }
    }
    for piece in screen.finish() {
        log_line(&piece);
    }
}

/// The connection a program belongs to, for lines logged after its task moved on.
struct Who {
    conn: u64,
    peer: String,
    mode: &'static str,
    reason: &'static str,
}
