//! Backends: what an accepted WebSocket is relayed to. Each is a relay between the
//! socket and something else, bounded both ways, that ends with a close code.
//!
//! - [`echo`]: every message back to its sender.
//! - [`exec`]: a program per connection over stdin/stdout (websocketd's model).

pub mod echo;
pub mod exec;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_std::net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use event_listener::Event;
use futures_lite::{FutureExt as _, StreamExt as _};

use crate::log::Log;

/// The WebSocket a backend relays.
pub type Socket = WebSocketStream<TcpStream>;

/// How long a closing handshake may take before the socket is dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Close codes wsgate sends (RFC 6455 §7.4.1).
pub mod code {
    /// Normal closure: the program exited with status 0.
    pub const NORMAL: u16 = 1000;
    /// Going away: the daemon is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// No status code was present in the peer's close frame.
    pub const NO_STATUS: u16 = 1005;
    /// The connection ended without a close frame.
    pub const ABNORMAL: u16 = 1006;
    /// A text message that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation (a token that expired, was revoked, or lacks a scope).
    pub const POLICY: u16 = 1008;
    /// A message over `--max-message-size`.
    pub const TOO_BIG: u16 = 1009;
    /// The program failed (non-zero exit, or killed).
    pub const INTERNAL: u16 = 1011;
}

/// A one-shot stop signal shared by every session: set once, on SIGINT or SIGTERM.
#[derive(Debug, Default)]
pub struct Stop {
    set: AtomicBool,
    event: Event,
}

impl Stop {
    /// Signals every waiter, now and later.
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    /// Whether the signal was given.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Completes once the signal is given.
    pub async fn wait(&self) {
        loop {
            if self.is_set() {
                return;
            }
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}

impl Stop {
    /// A session's view of the signal. It registers one listener for the session's
    /// whole life, rather than one per message.
    pub fn watch(&self) -> StopWatch<'_> {
        StopWatch {
            wait: Box::pin(self.wait()),
            done: false,
        }
    }
}

/// One session's listener for the stop signal; see [`Stop::watch`].
pub struct StopWatch<'a> {
    wait: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    done: bool,
}

impl StopWatch<'_> {
    /// Completes once the signal is given (at once if it was seen before).
    pub async fn stopped(&mut self) {
        if !self.done {
            self.wait.as_mut().await;
            self.done = true;
        }
    }
}

/// Runs `fut` unless the stop signal comes first (then `None`).
pub async fn unless_stopped<T>(
    stop: &mut StopWatch<'_>,
    fut: impl Future<Output = T>,
) -> Option<T> {
    async { Some(fut.await) }
        .or(async {
            stop.stopped().await;
            None
        })
        .await
}

/// What a session needs from the daemon.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The connection id, for log lines.
    pub conn: u64,
    /// The audit log.
    pub log: &'a Log,
    /// Set when the daemon shuts down.
    pub stop: &'a Stop,
}

/// How a session ended, for the `close` log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The close code sent or received.
    pub code: u16,
    /// Payload bytes from the client to the backend.
    pub bytes_in: u64,
    /// Payload bytes from the backend to the client.
    pub bytes_out: u64,
}

/// The close code for an error reading from the client, if one should be sent.
pub fn error_code(err: &WsError) -> Option<u16> {
    match err {
        WsError::Capacity(_) => Some(code::TOO_BIG),
        WsError::Protocol(_) => Some(code::PROTOCOL),
        WsError::Utf8(_) => Some(code::INVALID_DATA),
        _ => None,
    }
}

/// Closes with 1001 because the daemon is stopping.
pub async fn going_away(ws: &mut Socket, mut out: Outcome) -> Outcome {
    out.code = code::GOING_AWAY;
    close(ws, code::GOING_AWAY, "server shutting down").await;
    out
}

/// Closes with the code an error calls for, if any.
pub async fn failed(ws: &mut Socket, err: &WsError, mut out: Outcome) -> Outcome {
    if let Some(c) = error_code(err) {
        out.code = c;
        close(ws, c, "").await;
    }
    out
}

/// The code of a close frame the client sent.
pub fn peer_code(frame: &Option<CloseFrame>) -> u16 {
    frame.as_ref().map_or(code::NO_STATUS, |f| f.code.into())
}

/// Starts the closing handshake with `code` and waits (bounded) for the client's
/// answer, discarding anything else it sends meanwhile.
pub async fn close(ws: &mut Socket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let handshake = async {
        if ws.send(Message::Close(Some(frame))).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    };
    handshake.or(async_std::task::sleep(CLOSE_TIMEOUT)).await;
}
