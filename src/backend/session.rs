//! What every relay shares: the session's context and how it ends (close codes, the
//! watch for shutdown, expiry and revocation, the closing handshake), and the
//! WebSocket built on an upgraded connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

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
    /// The client answered no ping: nothing came from it for `--ping-interval`, then
    /// for `--ping-timeout` after a ping.
    PingTimeout,
    /// No data message either way for `--idle-timeout`.
    IdleTimeout,
}

impl Ending {
    /// The close code sent to the client.
    pub fn code(self) -> u16 {
        match self {
            Ending::Shutdown | Ending::PingTimeout | Ending::IdleTimeout => code::GOING_AWAY,
            Ending::Expired | Ending::Revoked | Ending::NotPermitted => code::POLICY,
        }
    }

    /// Its word in the `close` line (`ended=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Shutdown => "shutdown",
            Ending::Expired => "expired",
            Ending::Revoked => "revoked",
            Ending::NotPermitted => "not-permitted",
            Ending::PingTimeout => "ping-timeout",
            Ending::IdleTimeout => "idle-timeout",
        }
    }

    /// The close reason sent to the client.
    pub fn reason(self) -> &'static str {
        match self {
            Ending::Shutdown => "server shutting down",
            Ending::Expired => "token expired",
            Ending::Revoked => "token revoked",
            Ending::NotPermitted => "sending not permitted",
            Ending::PingTimeout => "ping timeout",
            Ending::IdleTimeout => "idle timeout",
        }
    }
}

/// `--ping-interval`, `--ping-timeout` and `--idle-timeout`: when a session is pinged,
/// and when it is ended for silence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// Silence from the client after which it is pinged.
    pub interval: Duration,
    /// How long a ping may go unanswered (by a pong or anything else).
    pub timeout: Duration,
    /// No data message either way for this long ends the session.
    pub idle: Option<Duration>,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(20),
            idle: None,
        }
    }
}

/// One session's heartbeat, as times: when the client was last heard from, when data
/// last moved, and when it was pinged (if it has not been heard from since). Pure: the
/// relays tell it what happened and ask it what is due.
#[derive(Clone, Copy, Debug)]
pub struct Beat {
    rules: Liveness,
    heard: Instant,
    data: Instant,
    pinged: Option<Instant>,
    /// Writes to the backend in progress: while the backend holds the relay back, the
    /// client is not read, so its silence proves nothing.
    held: u32,
}

impl Beat {
    /// A session that starts at `now`.
    pub fn new(rules: Liveness, now: Instant) -> Beat {
        Beat {
            rules,
            heard: now,
            data: now,
            pinged: None,
            held: 0,
        }
    }

    /// A write to the backend starts: the client is not read until it ends.
    pub fn hold(&mut self) {
        self.held += 1;
    }

    /// A write to the backend ended at `now`: the client is read again, and is given
    /// a whole interval from now.
    pub fn release(&mut self, now: Instant) {
        self.held = self.held.saturating_sub(1);
        if self.held == 0 {
            self.heard(now);
        }
    }

    /// Something (any frame) came from the client.
    pub fn heard(&mut self, now: Instant) {
        self.heard = self.heard.max(now);
        self.pinged = None;
    }

    /// A data message moved, either way.
    pub fn data(&mut self, now: Instant) {
        self.data = self.data.max(now);
    }

    /// When the client is to be pinged, unless a ping is out.
    pub fn ping_at(&self) -> Option<Instant> {
        self.pinged
            .is_none()
            .then(|| self.heard + self.rules.interval)
    }

    /// When the session ends unless something happens first: a ping unanswered for
    /// `timeout` (or, where no ping could be sent, as long after it was due), or no
    /// data for `idle`.
    pub fn end_at(&self) -> Instant {
        let pinged = self.pinged.unwrap_or(self.heard + self.rules.interval);
        let dead = match self.held {
            // Looked at again then, in case the hold ended unnoticed.
            0 => pinged + self.rules.timeout,
            _ => self.heard.max(pinged) + self.rules.interval + self.rules.timeout,
        };
        match self.rules.idle {
            Some(idle) => dead.min(self.data + idle),
            None => dead,
        }
    }

    /// Why the session must end at `now`, if it must.
    pub fn ended(&self, now: Instant) -> Option<Ending> {
        if let Some(idle) = self.rules.idle
            && now >= self.data + idle
        {
            return Some(Ending::IdleTimeout);
        }
        let pinged = self.pinged.unwrap_or(self.heard + self.rules.interval);
        (self.held == 0 && now >= pinged + self.rules.timeout).then_some(Ending::PingTimeout)
    }

    /// Whether a ping is due at `now`; if so, it counts as sent.
    pub fn ping(&mut self, now: Instant) -> bool {
        let due = self.ping_at().is_some_and(|at| now >= at);
        if due {
            self.pinged = Some(now);
        }
        due
    }
}

/// A session's [`Beat`], shared by the halves of its relay.
#[derive(Debug)]
pub struct Pulse {
    beat: Mutex<Beat>,
    /// `--idle-timeout` is set: only then does moving data count for anything.
    idle: bool,
}

impl Pulse {
    /// A session starting now.
    pub fn new(rules: Liveness) -> Pulse {
        Pulse {
            beat: Mutex::new(Beat::new(rules, Instant::now())),
            idle: rules.idle.is_some(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Beat) -> T) -> T {
        let mut beat = self.beat.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut beat)
    }

    /// Something came from the client; `data` when it was a data message.
    pub fn heard(&self, data: bool) {
        let now = Instant::now();
        self.with(|b| {
            b.heard(now);
            if data {
                b.data(now);
            }
        });
    }

    /// Holds off the ping timeout while `write` (to the backend) runs: meanwhile the
    /// client is not read, so its silence proves nothing.
    pub async fn holding<T>(&self, write: impl Future<Output = T>) -> T {
        /// Releases the hold however the write ends, dropped unfinished included.
        struct Held<'p>(&'p Pulse);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                let now = Instant::now();
                self.0.with(|b| b.release(now));
            }
        }
        self.with(Beat::hold);
        let _held = Held(self);
        write.await
    }

    /// A data message moved (either way).
    pub fn moved(&self) {
        // Off the relay's path when nothing looks at it.
        if self.idle {
            let now = Instant::now();
            self.with(|b| b.data(now));
        }
    }

    /// Whether a ping is due now; if so, it counts as sent. For a relay that may be
    /// too busy to wait for [`Pulse::ping_due`].
    pub fn ping_now(&self) -> bool {
        self.with(|b| b.ping(Instant::now()))
    }

    /// Completes when a ping is due (and counts it as sent).
    pub async fn ping_due(&self) {
        loop {
            let at = match self.with(|b| b.ping_at()) {
                Some(at) => at,
                // A ping is out: look again when it is answered or the session ends,
                // which is the watch's business once that time has passed.
                None => match self.with(|b| b.end_at()) {
                    end if end > Instant::now() => end,
                    _ => std::future::pending().await,
                },
            };
            async_io::Timer::at(at).await;
            if self.with(|b| b.ping(Instant::now())) {
                return;
            }
        }
    }

    /// Completes when the session must end for silence.
    pub async fn ended(&self) -> Ending {
        loop {
            async_io::Timer::at(self.with(|b| b.end_at())).await;
            if let Some(ending) = self.with(|b| b.ended(Instant::now())) {
                return ending;
            }
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
    /// A session's watch for its end: the daemon stopping, `expires` passing, its
    /// managed token being revoked, or the client's silence (`pulse`). It registers one listener and one timer for the
    /// session's whole life rather than one per message.
    pub fn new(
        stop: &'a Stop,
        expires: Option<SystemTime>,
        revocation: Option<Revocation>,
        pulse: &'a Pulse,
    ) -> Watch<'a> {
        let silence = pulse.ended();
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
            wait: Box::pin(shutdown.or(expiry).or(revoked).or(silence)),
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
    /// When the client is pinged, and when silence ends the session.
    pub liveness: Liveness,
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
    /// Why the daemon ended the session, if it did.
    pub ended: Option<Ending>,
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
    out.ended = Some(ending);
    out.clean = close_for(ws, ending).await;
    out
}

/// Closes for `ending` (see [`close`]); a client that answers no ping is taken to be
/// gone: it is sent the close frame (briefly) and not waited for. Returns whether the
/// socket can simply be closed.
pub async fn close_for(ws: &mut Socket, ending: Ending) -> bool {
    if ending != Ending::PingTimeout {
        return close(ws, ending.code(), ending.reason()).await;
    }
    let frame = CloseFrame {
        code: CloseCode::from(ending.code()),
        reason: ending.reason().into(),
    };
    let send = ws.send(Message::Close(Some(frame)));
    let _ = async_std::future::timeout(GONE_CLOSE, send).await;
    true
}

/// How long the close frame to a client that answered no ping may take to send.
const GONE_CLOSE: Duration = Duration::from_millis(250);

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
    // Bounded: a client that does not read may have filled the socket's buffer.
    let sent = async_std::future::timeout(CLOSE_TIMEOUT, ws.send(Message::Close(Some(frame))));
    if !matches!(sent.await, Ok(Ok(()))) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn rules(idle: Option<u64>) -> Liveness {
        Liveness {
            interval: 100 * MS,
            timeout: 50 * MS,
            idle: idle.map(Duration::from_millis),
        }
    }

    #[test]
    fn a_silent_client_is_pinged_then_ended() {
        let t0 = Instant::now();
        let mut b = Beat::new(rules(None), t0);
        assert_eq!(b.ping_at(), Some(t0 + 100 * MS));
        assert!(!b.ping(t0 + 99 * MS));
        assert_eq!(b.ended(t0 + 149 * MS), None);
        // Pinged late (the relay was busy): the answer is due `timeout` after it.
        assert!(b.ping(t0 + 120 * MS));
        assert_eq!(b.ping_at(), None);
        assert!(!b.ping(t0 + 121 * MS), "one ping at a time");
        assert_eq!(b.end_at(), t0 + 170 * MS);
        assert_eq!(b.ended(t0 + 169 * MS), None);
        assert_eq!(b.ended(t0 + 170 * MS), Some(Ending::PingTimeout));
    }

    #[test]
    fn anything_from_the_client_answers() {
        let t0 = Instant::now();
        let mut b = Beat::new(rules(None), t0);
        assert!(b.ping(t0 + 100 * MS));
        b.heard(t0 + 130 * MS);
        assert_eq!(b.ended(t0 + 200 * MS), None);
        assert_eq!(b.ping_at(), Some(t0 + 230 * MS));
        // Never pinged (a relay that could not send): ended as if pinged when due.
        assert_eq!(b.end_at(), t0 + 280 * MS);
        assert_eq!(b.ended(t0 + 280 * MS), Some(Ending::PingTimeout));
        // A late report of something earlier changes nothing.
        b.heard(t0);
        assert_eq!(b.ping_at(), Some(t0 + 230 * MS));
    }

    #[test]
    fn a_backend_that_holds_the_relay_back_is_not_the_clients_silence() {
        let t0 = Instant::now();
        let mut b = Beat::new(rules(None), t0);
        b.hold();
        assert!(b.ping(t0 + 100 * MS));
        assert_eq!(b.ended(t0 + 10_000 * MS), None);
        assert!(b.end_at() > t0 + 150 * MS);
        b.release(t0 + 10_000 * MS);
        assert_eq!(b.ended(t0 + 10_100 * MS), None);
        assert_eq!(b.ended(t0 + 10_150 * MS), Some(Ending::PingTimeout));
    }

    #[test]
    fn idle_counts_data_only() {
        let t0 = Instant::now();
        let mut b = Beat::new(rules(Some(300)), t0);
        for step in 1..10u32 {
            b.heard(t0 + step * 40 * MS);
        }
        assert_eq!(b.end_at(), t0 + 300 * MS);
        assert_eq!(b.ended(t0 + 300 * MS), Some(Ending::IdleTimeout));
        b.data(t0 + 290 * MS);
        assert_eq!(b.ended(t0 + 300 * MS), None);
        // Now the ping deadline comes first: heard at 360, pinged at 460, due at 510.
        assert_eq!(b.end_at(), t0 + 510 * MS);
        assert_eq!(b.ended(t0 + 510 * MS), Some(Ending::PingTimeout));
    }
}
