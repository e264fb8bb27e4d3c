//! What every relay shares: the session's context and how it ends (close codes, the
//! watch for shutdown, expiry and revocation, the closing handshake), and the
//! WebSocket built on an upgraded connection.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_std::net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::error::ProtocolError;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_lite::{FutureExt as _, StreamExt as _};

use crate::log::{Log, Value};
use crate::scope::Scopes;
use crate::shutdown::Stop;
use crate::store::{Status, StoreView};

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
    /// A kind of message the backend cannot take (text to a byte stream).
    pub const UNSUPPORTED: u16 = 1003;
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

/// Why the daemon ends a session that neither side closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The daemon is shutting down.
    Shutdown,
    /// The session's credential expired.
    Expired,
    /// The session's token was revoked (or removed from the store).
    Revoked,
    /// The client sent data without the `write` scope.
    NotPermitted,
}

impl Ending {
    /// The close code sent to the client.
    pub fn code(self) -> u16 {
        match self {
            Ending::Shutdown => code::GOING_AWAY,
            Ending::Expired | Ending::Revoked | Ending::NotPermitted => code::POLICY,
        }
    }

    /// The close reason sent to the client.
    pub fn reason(self) -> &'static str {
        match self {
            Ending::Shutdown => "server shutting down",
            Ending::Expired => "token expired",
            Ending::Revoked => "token revoked",
            Ending::NotPermitted => "sending not permitted",
        }
    }
}

/// A session's managed token, for noticing its revocation.
#[derive(Clone, Debug)]
pub struct Revocation {
    /// The daemon's view of the token store.
    pub view: std::sync::Arc<StoreView>,
    /// The token's id.
    pub id: String,
}

impl<'a> Watch<'a> {
    /// A session's watch for its end: the daemon stopping, `expires` passing, or its
    /// managed token being revoked. It registers one listener and one timer for the
    /// session's whole life rather than one per message.
    pub fn new(
        stop: &'a Stop,
        expires: Option<SystemTime>,
        revocation: Option<Revocation>,
    ) -> Watch<'a> {
        let shutdown = async {
            stop.wait().await;
            Ending::Shutdown
        };
        let expiry = async move {
            match expires {
                Some(at) => {
                    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
                    async_std::task::sleep(left).await;
                    Ending::Expired
                }
                None => std::future::pending().await,
            }
        };
        let revoked = async move {
            let Some(Revocation { view, id }) = revocation else {
                return std::future::pending().await;
            };
            loop {
                let changed = view.listen();
                match view.status(&id, crate::date::now()) {
                    Status::Active => changed.await,
                    Status::Expired => return Ending::Expired,
                    Status::Revoked => return Ending::Revoked,
                }
            }
        };
        Watch {
            wait: Box::pin(shutdown.or(expiry).or(revoked)),
            ended: None,
        }
    }
}

/// One session's watch for its end; see [`Watch::new`].
pub struct Watch<'a> {
    wait: Pin<Box<dyn Future<Output = Ending> + Send + 'a>>,
    ended: Option<Ending>,
}

impl Watch<'_> {
    /// Completes when the session must end (at once if it already had to).
    pub async fn ended(&mut self) -> Ending {
        if let Some(ending) = self.ended {
            return ending;
        }
        let ending = self.wait.as_mut().await;
        self.ended = Some(ending);
        ending
    }
}

/// Runs `fut` unless the session must end first.
pub async fn unless_ended<T>(
    watch: &mut Watch<'_>,
    fut: impl Future<Output = T>,
) -> Result<T, Ending> {
    async { Ok(fut.await) }
        .or(async { Err(watch.ended().await) })
        .await
}

/// What a session needs from the daemon.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The connection id, for log lines.
    pub conn: u64,
    /// The client's address, for log lines.
    pub peer: &'a str,
    /// The listener's mode, for log lines.
    pub mode: &'static str,
    /// Why the session was accepted, for log lines.
    pub reason: &'static str,
    /// The audit log.
    pub log: &'a Log,
    /// Set when the daemon shuts down.
    pub stop: &'a Stop,
    /// When the session's credential expires.
    pub expires: Option<SystemTime>,
    /// What the session may do.
    pub scopes: Scopes,
    /// Its managed token, in `store` mode.
    pub revocation: Option<&'a Revocation>,
    /// How many bytes a client that did not finish the closing handshake is drained
    /// of, so it reads our last frame rather than a reset.
    pub drain: usize,
}

impl<'a> Context<'a> {
    /// The fields every log line about this session starts with.
    pub fn fields(&self) -> [(&'static str, Value<'a>); 4] {
        session_fields(self.conn, self.peer, self.mode, self.reason)
    }
}

/// The fields every log line about a session starts with.
pub fn session_fields<'a>(
    conn: u64,
    peer: &'a str,
    mode: &'static str,
    reason: &'static str,
) -> [(&'static str, Value<'a>); 4] {
    [
        ("conn", conn.into()),
        ("peer", Value::Str(peer)),
        ("mode", mode.into()),
        ("reason", reason.into()),
    ]
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
    /// Whether the closing handshake completed: both close frames were exchanged, so
    /// nothing more is coming from the client and the socket can simply be closed.
    pub clean: bool,
    /// For a proxied WebSocket: the code of the client's close frame, if it sent one.
    pub client_code: Option<u16>,
    /// For a proxied WebSocket: the code of the upstream's close frame, if it sent one.
    pub upstream_code: Option<u16>,
}

/// The close code for an error reading from the client, if one should be sent.
pub fn error_code(err: &WsError) -> Option<u16> {
    match err {
        // The client vanished without a close frame: there is no one to tell.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Capacity(_) => Some(code::TOO_BIG),
        WsError::Protocol(_) => Some(code::PROTOCOL),
        WsError::Utf8(_) => Some(code::INVALID_DATA),
        _ => None,
    }
}

/// Closes because the daemon ends the session.
pub async fn end(ws: &mut Socket, ending: Ending, mut out: Outcome) -> Outcome {
    out.code = ending.code();
    out.clean = close(ws, ending.code(), ending.reason()).await;
    out
}

/// Closes with the code an error calls for, if any.
pub async fn failed(ws: &mut Socket, err: &WsError, mut out: Outcome) -> Outcome {
    if let Some(c) = error_code(err) {
        out.code = c;
        // The client may still be sending (a message too big): never clean.
        close(ws, c, "").await;
    }
    out
}

/// The code of a close frame the client sent.
pub fn peer_code(frame: &Option<CloseFrame>) -> u16 {
    frame.as_ref().map_or(code::NO_STATUS, |f| f.code.into())
}

/// Starts the closing handshake with `code` and waits (bounded) for the client's
/// answer, discarding anything else it sends meanwhile. Returns whether the answer
/// came.
pub async fn close(ws: &mut Socket, code: u16, reason: &'static str) -> bool {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    if ws.send(Message::Close(Some(frame))).await.is_err() {
        return false;
    }
    closing(ws).await
}

/// Reads (and discards) until the client's side of a closing handshake ends, for at
/// most [`CLOSE_TIMEOUT`]; the reply to a close the client sent goes out with the first
/// read. Returns whether the handshake completed.
pub async fn closing(ws: &mut Socket) -> bool {
    let rest = async {
        loop {
            match ws.next().await {
                Some(Ok(_)) => continue,
                None => return true,
                Some(Err(_)) => return false,
            }
        }
    };
    rest.or(async {
        async_std::task::sleep(CLOSE_TIMEOUT).await;
        false
    })
    .await
}

/// tungstenite's read buffer per connection (its default is 128 KiB).
const READ_BUFFER: usize = 2048;
/// Room in a connection's write buffer beyond one largest message.
const WRITE_SLACK: usize = 64 * 1024;

/// How long a closed connection is drained so the client reads our last bytes
/// instead of a reset.
pub const LINGER: Duration = Duration::from_secs(2);

/// Closes our side and reads (for a bounded time and amount) until the client closes
/// its own, so our last bytes are read rather than lost to a reset.
pub async fn linger(stream: &TcpStream, limit: usize) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let mut sink = vec![0u8; 4096];
    let mut stream = stream;
    let drain = async {
        let mut total = 0usize;
        while total < limit {
            match futures_lite::io::AsyncReadExt::read(&mut stream, &mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = async_std::future::timeout(LINGER, drain).await;
}

/// A connection the server answered with 101.
pub struct Upgraded {
    /// The client's socket.
    pub stream: TcpStream,
    /// Bytes that followed the request head: the start of the WebSocket stream.
    pub leftover: Vec<u8>,
}

impl Upgraded {
    /// Relays messages over the WebSocket on it (see [`Upgraded::websocket`]) with
    /// `relay`; then, unless the closing handshake completed or the daemon is stopping,
    /// drains the client (see [`linger`]).
    pub async fn relay_messages<F, R>(
        self,
        max_message: usize,
        cx: &Context<'_>,
        relay: F,
    ) -> Outcome
    where
        F: FnOnce(Socket) -> R,
        R: Future<Output = Outcome>,
    {
        let raw = self.stream.clone();
        let out = relay(self.websocket(max_message).await).await;
        if !out.clean && !cx.stop.is_set() {
            linger(&raw, cx.drain).await;
        }
        out
    }

    /// The WebSocket on it, for a relay of messages: messages and frames over
    /// `max_message` bytes close it (1009), and what it queues for a client that sends
    /// but never reads (pongs, close frames) is bounded by one largest message and some.
    pub async fn websocket(self, max_message: usize) -> Socket {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_write_buffer_size(max_message.saturating_add(WRITE_SLACK))
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        WebSocketStream::from_partially_read(self.stream, self.leftover, Role::Server, Some(config))
            .await
    }
}
