//! The relay for a WebSocket upstream, after both 101s: bytes move as they arrive,
//! never re-encoded (so extensions such as `permessage-deflate` work end to end), and
//! a [`Tracker`] per direction reads the frame headers for what wsgate must still
//! enforce: `--max-message-size` on client messages (1009), the scopes (without
//! `write` a client data frame ends the session and reaches no one; without `read` the
//! upstream's data frames are dropped, its control frames pass), and the daemon's own
//! endings (shutdown, expiry, revocation), which close the client with the ending's
//! code and the upstream with 1001, each at a frame boundary.
//!
//! Each direction is a pump: it waits until its source is readable holding no buffer
//! (an idle session costs its two sockets and this state), then reads into a buffer of
//! [`BUFFER`] bytes and writes it all before reading again, so a reader that stops
//! reading stops its writer: memory per direction is bounded by one buffer.
//!
//! How a session ends:
//! - a close frame from either side reaches the other with its code and reason; the
//!   end of either TCP stream is passed on as the end of the other (half-close);
//! - a side whose stream ends without a close frame: the other side gets one (1011 to
//!   a client whose upstream vanished, 1001 to an upstream whose client did);
//! - a stream that is not WebSocket frames: 1002 to whoever sent it, the other side
//!   closed as above;
//! - once a direction has stopped, the other has [`CLOSE_TIMEOUT`] to finish, then
//!   both sockets are drained briefly (so the last frames are read, not reset) and
//!   closed.

use std::future::Future as _;
use std::io;
use std::net::Shutdown;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Poll, Waker};

use async_io::Timer;

use super::conn::{Buffer, Conn};
use crate::backend::race::Race;
use crate::backend::session::{CLOSE_TIMEOUT, Context, Ending, Outcome, Pulse, Watch, code};
use crate::frames::{self, Step, Tracker};
use crate::scope::Scopes;

/// Bytes read and dropped from a side that is being closed.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Why the session ends, when it is not a close frame passing through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// The daemon ends it (shutdown, expiry, revocation, a data frame without `write`).
    Daemon(Ending),
    /// A client message over `--max-message-size`.
    TooBig,
    /// The client's bytes are not WebSocket frames.
    ClientInvalid,
    /// The upstream's bytes are not WebSocket frames.
    UpstreamInvalid,
    /// The client's stream ended without a close frame.
    ClientGone,
    /// The upstream's stream ended without a close frame, or cannot be written.
    UpstreamGone,
}

impl Why {
    /// The close frame the client gets, if it is still there.
    fn to_client(self) -> Option<(u16, &'static str)> {
        match self {
            Why::Daemon(ending) => Some((ending.code(), ending.reason())),
            Why::TooBig => Some((code::TOO_BIG, "message too big")),
            Why::ClientInvalid => Some((code::PROTOCOL, "protocol error")),
            Why::UpstreamInvalid | Why::UpstreamGone => Some((code::INTERNAL, "upstream failed")),
            Why::ClientGone => None,
        }
    }

    /// The close frame the upstream gets, if it is still there.
    fn to_upstream(self) -> Option<(u16, &'static str)> {
        match self {
            Why::Daemon(Ending::Shutdown) => Some((code::GOING_AWAY, "server shutting down")),
            Why::UpstreamInvalid => Some((code::PROTOCOL, "protocol error")),
            Why::UpstreamGone => None,
            Why::ClientGone => Some((code::GOING_AWAY, "client gone")),
            Why::Daemon(_) | Why::TooBig | Why::ClientInvalid => {
                Some((code::GOING_AWAY, "session ended"))
            }
        }
    }
}

impl Why {
    /// Every value, each once, for [`Why::to_u8`].
    const ALL: [Why; 11] = [
        Why::Daemon(Ending::Shutdown),
        Why::Daemon(Ending::Expired),
        Why::Daemon(Ending::Revoked),
        Why::Daemon(Ending::NotPermitted),
        Why::Daemon(Ending::PingTimeout),
        Why::Daemon(Ending::IdleTimeout),
        Why::TooBig,
        Why::ClientInvalid,
        Why::UpstreamInvalid,
        Why::ClientGone,
        Why::UpstreamGone,
    ];

    /// A byte for it, never 0.
    fn to_u8(self) -> u8 {
        Why::ALL
            .iter()
            .position(|w| *w == self)
            .map_or(1, |i| i as u8 + 1)
    }

    fn from_u8(b: u8) -> Option<Why> {
        Why::ALL.get(usize::from(b).checked_sub(1)?).copied()
    }
}

/// What the two directions share: why the session ends, once it must, and whether a
/// direction has stopped (which starts the deadline for the rest). Both pumps run in
/// one future and look at it whenever they are polled; whoever changes it makes sure
/// they are polled again.
#[derive(Default)]
struct Shared {
    /// [`Why::to_u8`], or 0 while the session goes on.
    why: AtomicU8,
    stopped: AtomicBool,
    /// The deadline's waker, woken when either changes.
    deadline: Mutex<Option<Waker>>,
}

impl Shared {
    /// Sets why the session ends, unless something already did.
    fn set(&self, why: Why) {
        let _ = self
            .why
            .compare_exchange(0, why.to_u8(), Ordering::SeqCst, Ordering::SeqCst);
        self.wake_deadline();
    }

    fn why(&self) -> Option<Why> {
        Why::from_u8(self.why.load(Ordering::SeqCst))
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake_deadline();
    }

    fn wake_deadline(&self) {
        let waker = self.deadline.lock().ok().and_then(|mut w| w.take());
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn settling(&self) -> bool {
        self.why().is_some() || self.stopped.load(Ordering::SeqCst)
    }

    /// Completes when the session must end or a direction has stopped.
    async fn settled(&self) {
        std::future::poll_fn(|cx| {
            if self.settling() {
                return Poll::Ready(());
            }
            if let Ok(mut slot) = self.deadline.lock() {
                *slot = Some(cx.waker().clone());
            }
            // Set between the look and the registration: not missed.
            if self.settling() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// What a branch of the relay's race reports.
enum Event {
    /// Both directions are done.
    Done,
    /// The daemon ends the session.
    Ending(Ending),
    /// A direction stopped [`CLOSE_TIMEOUT`] ago and the other is not done.
    Deadline,
}

/// Which way a pump moves bytes, and what it enforces.
#[derive(Clone, Copy, Debug)]
struct Policy {
    /// From the client (frames are checked against `write` and the size limit).
    from_client: bool,
    /// The session's scopes.
    scopes: Scopes,
    /// `--max-message-size`.
    max_message: u64,
}

/// One direction's state, kept outside its pump so the epilogue can read it.
struct Direction {
    tracker: Tracker,
    /// Bytes read before the relay started (after a head), moved first.
    pending: Vec<u8>,
    /// Payload bytes of data frames moved.
    payload: u64,
    /// The current frame is being dropped (a data frame without `read`).
    dropping: bool,
    /// The source's stream ended.
    ended: bool,
    /// The close code wsgate wrote to the destination, if it did.
    injected: Option<u16>,
    /// The pump stopped on a header it read but did not pass on.
    held_back: bool,
    /// The destination's writing side is shut down.
    shut: bool,
}

impl Direction {
    fn new(pending: Vec<u8>) -> Direction {
        Direction {
            tracker: Tracker::new(),
            pending,
            payload: 0,
            dropping: false,
            ended: false,
            injected: None,
            held_back: false,
            shut: false,
        }
    }

    /// Whether what was written to the destination ends between frames, so a frame of
    /// wsgate's may follow. The source's position may differ: a header read but not
    /// passed on (the pump stopped there, or the frame is dropped), or one only partly
    /// read, was not written.
    fn written_whole(&self) -> bool {
        self.held_back || self.dropping || self.tracker.owed() == 0
    }
}

/// Why a pump stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Its source's stream ended (or was reset).
    Ended,
    /// Its destination cannot be written.
    Unwritable,
    /// The session must end; the pump is at a frame boundary.
    Why(Why),
}

/// Relays between the client and the upstream until both are done, then closes them.
/// `client_leftover` and `upstream_leftover` are bytes each sent right after its
/// head.
pub async fn relay(
    client: Conn,
    client_leftover: Vec<u8>,
    upstream: Conn,
    upstream_leftover: Vec<u8>,
    max_message: usize,
    cx: Context<'_>,
) -> Outcome {
    let shared = Shared::default();
    let mut up = Direction::new(client_leftover);
    let mut down = Direction::new(upstream_leftover);
    let max_message = max_message as u64;
    let pulse = Pulse::new(cx.liveness);
    let watch = Watch::new(cx.stop, cx.expires, cx.revocation.cloned(), &pulse);
    {
        let to_upstream = async {
            let policy = Policy {
                from_client: true,
                scopes: cx.scopes,
                max_message,
            };
            let stop = pump(&client, &upstream, &mut up, policy, &shared, &pulse).await;
            let why = conclude(stop, &mut up, policy, &shared);
            // Polled again at once, both directions, so the other sees the change.
            futures_lite::future::yield_now().await;
            let unwritable = stop == Stop::Unwritable;
            Box::pin(epilogue(why, unwritable, &upstream, &mut up, policy)).await;
        };
        let to_client = async {
            let policy = Policy {
                from_client: false,
                scopes: cx.scopes,
                max_message,
            };
            let stop = pump(&upstream, &client, &mut down, policy, &shared, &pulse).await;
            let why = conclude(stop, &mut down, policy, &shared);
            futures_lite::future::yield_now().await;
            let unwritable = stop == Stop::Unwritable;
            Box::pin(epilogue(why, unwritable, &client, &mut down, policy)).await;
        };
        let shared = &shared;
        // The watch and the deadline are polled only when their own wakers fire, not
        // with every message.
        let mut race = Race::new(vec![
            Box::pin(async {
                futures_lite::future::zip(to_upstream, to_client).await;
                Event::Done
            }),
            Box::pin(async move {
                let mut watch = watch;
                Event::Ending(watch.ended().await)
            }),
            Box::pin(async move {
                shared.settled().await;
                Timer::after(CLOSE_TIMEOUT).await;
                Event::Deadline
            }),
        ]);
        while let Some(Event::Ending(ending)) = race.next().await {
            shared.set(Why::Daemon(ending));
            race.wake_all();
        }
    }
    // Read what is still coming, so the last frames are not lost to a reset; not from
    // a client that answered no ping, which is taken to be gone.
    let gone = shared.why() == Some(Why::Daemon(Ending::PingTimeout));
    Box::pin(futures_lite::future::zip(
        drain(&client, up.ended || gone, down.shut),
        drain(&upstream, down.ended, up.shut),
    ))
    .await;

    let client_code = up.tracker.close_code();
    let upstream_code = down.tracker.close_code();
    Outcome {
        code: down
            .injected
            .or(upstream_code)
            .or(client_code)
            .unwrap_or(code::ABNORMAL),
        bytes_in: up.payload,
        bytes_out: down.payload,
        clean: true,
        client_code,
        upstream_code,
        ended: match shared.why() {
            Some(Why::Daemon(ending)) => Some(ending),
            _ => None,
        },
    }
}

/// Ends a side before it is closed: when its stream has not ended, reads what is still
/// coming (bounded), so the last frames written to it are read rather than reset.
/// `shut`: its writing side is shut down already.
async fn drain(conn: &Conn, ended: bool, shut: bool) {
    if !ended {
        conn.linger(DRAIN_LIMIT, CLOSE_TIMEOUT).await;
    } else if !shut {
        conn.shutdown(Shutdown::Write);
    }
}

/// What a stopped pump means for the session, decided (and shared) at once, before
/// the other pump is polled again: `None` when its end only passes on (a close frame
/// went through, or its destination is gone), else why the destination gets a close.
fn conclude(stop: Stop, dir: &mut Direction, policy: Policy, shared: &Shared) -> Option<Why> {
    shared.stop();
    let gone = if policy.from_client {
        Why::ClientGone
    } else {
        Why::UpstreamGone
    };
    match stop {
        Stop::Ended => {
            dir.ended = true;
            if dir.tracker.closed() {
                return None;
            }
            shared.set(gone);
            // Unless the session was already ending for another reason, the other side
            // learns of the vanished one from a close frame.
            Some(shared.why().unwrap_or(gone))
        }
        Stop::Unwritable => {
            shared.set(if policy.from_client {
                Why::UpstreamGone
            } else {
                Why::ClientGone
            });
            None
        }
        Stop::Why(_) => Some(shared.why().unwrap_or(gone)),
    }
}

/// After a pump stopped: passes the end on to its destination, with a close frame
/// when `why` calls for one and the destination is between frames and has not had a
/// close frame from its peer already (it gets no second one).
async fn epilogue(
    why: Option<Why>,
    unwritable: bool,
    dst: &Conn,
    dir: &mut Direction,
    policy: Policy,
) {
    if unwritable {
        return;
    }
    let frame = match why {
        _ if dir.tracker.closed() => None,
        None => None,
        Some(why) if policy.from_client => why
            .to_upstream()
            .map(|(c, reason)| (frames::close_frame(c, reason, Some(mask_key())), c)),
        Some(why) => why
            .to_client()
            .map(|(c, reason)| (frames::close_frame(c, reason, None), c)),
    };
    if let Some((frame, c)) = frame
        && dir.written_whole()
        && dst.write_all(&frame).await.is_ok()
    {
        dir.injected = Some(c);
    }
    dst.shutdown(Shutdown::Write);
    dir.shut = true;
}

/// An empty ping, as a server sends it (unmasked).
const PING: [u8; 2] = [0x89, 0x00];

/// A masking key for a frame wsgate writes to an upstream (RFC 6455 §5.3).
fn mask_key() -> [u8; 4] {
    let mut key = [0u8; 4];
    if getrandom::fill(&mut key).is_err() {
        // Masking is for intermediaries' caches, not secrecy: any key is a valid
        // frame.
        key = [0x5a, 0xa5, 0x3c, 0xc3];
    }
    key
}

/// Moves bytes from `src` to `dst` until `src` ends, `dst` fails, or the session must
/// end (noticed at a frame boundary). Bytes from the client tell `pulse` it is there;
/// towards the client, a ping goes between frames when one is due.
async fn pump(
    src: &Conn,
    dst: &Conn,
    dir: &mut Direction,
    policy: Policy,
    shared: &Shared,
    pulse: &Pulse,
) -> Stop {
    let pending = std::mem::take(&mut dir.pending);
    if !pending.is_empty()
        && let Some(stop) = Box::pin(forward(&pending, dst, dir, policy, shared, pulse)).await
    {
        return stop;
    }
    drop(pending);
    loop {
        if dir.written_whole() {
            if let Some(why) = shared.why() {
                return Stop::Why(why);
            }
            // Between frames: a ping due now goes first (an upstream that never
            // stops writing must not keep the client from being pinged).
            if !policy.from_client && pulse.ping_now() && dst.write_all(&PING).await.is_err() {
                return Stop::Unwritable;
            }
            let mut readable = std::pin::pin!(src.readable());
            let mut ping = std::pin::pin!(async {
                match policy.from_client {
                    true => std::future::pending().await,
                    false => pulse.ping_due().await,
                }
            });
            let ready = std::future::poll_fn(|cx| {
                if let Some(why) = shared.why() {
                    return Poll::Ready(Err(why));
                }
                if ping.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(None));
                }
                readable.as_mut().poll(cx).map(|r| Ok(Some(r)))
            })
            .await;
            match ready {
                Err(why) => return Stop::Why(why),
                Ok(None) => {
                    if dst.write_all(&PING).await.is_err() {
                        return Stop::Unwritable;
                    }
                    continue;
                }
                Ok(Some(Err(_))) => return Stop::Ended,
                Ok(Some(Ok(()))) => {}
            }
        } else if src.readable().await.is_err() {
            return Stop::Ended;
        }
        let mut buf = Buffer::take();
        loop {
            let bytes = buf.bytes();
            let n = match src.try_read(bytes) {
                Ok(0) => return Stop::Ended,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Stop::Ended,
            };
            let full = n == bytes.len();
            // Boxed: the state of a write in progress is held only while there is one,
            // so an idle session's future stays small.
            let forwarding = forward(&bytes[..n], dst, dir, policy, shared, pulse);
            // Towards the upstream, a write it holds back is not the client's silence;
            // the hold's end counts as hearing the client, who was just read.
            let stop = match policy.from_client {
                true => pulse.holding(Box::pin(forwarding)).await,
                false => Box::pin(forwarding).await,
            };
            if let Some(stop) = stop {
                return stop;
            }
            if !full {
                // Most likely all there was: wait for more without the buffer.
                break;
            }
        }
    }
}

/// What to do with a frame.
enum Verdict {
    Forward,
    Drop,
    Stop(Why),
}

fn judge(head: &frames::Head, tracker: &Tracker, policy: Policy) -> Verdict {
    if !head.is_data() {
        return Verdict::Forward;
    }
    if policy.from_client {
        if !policy.scopes.contains(Scopes::WRITE) {
            return Verdict::Stop(Why::Daemon(Ending::NotPermitted));
        }
        if tracker.message_len() > policy.max_message {
            return Verdict::Stop(Why::TooBig);
        }
        Verdict::Forward
    } else if policy.scopes.contains(Scopes::READ) {
        Verdict::Forward
    } else {
        Verdict::Drop
    }
}

/// Writes what of `chunk` passes to `dst`. `Some` when the pump must stop.
async fn forward(
    chunk: &[u8],
    dst: &Conn,
    dir: &mut Direction,
    policy: Policy,
    shared: &Shared,
    pulse: &Pulse,
) -> Option<Stop> {
    // `chunk[run..at]` is passed on and not written yet.
    let mut run = 0;
    let mut at = 0;
    while at < chunk.len() {
        let (n, step) = match dir.tracker.step(&chunk[at..]) {
            Ok(step) => step,
            Err(_) => {
                let why = if policy.from_client {
                    Why::ClientInvalid
                } else {
                    Why::UpstreamInvalid
                };
                shared.set(why);
                dir.held_back = true;
                return Some(flush(dst, &chunk[run..at]).await.unwrap_or(Stop::Why(why)));
            }
        };
        match step {
            Step::Partial => {
                if let Some(stop) = flush(dst, &chunk[run..at]).await {
                    return Some(stop);
                }
                run = at + n;
            }
            Step::Head { head, whole } => {
                // A frame boundary: the frame is not passed on if the session ends.
                let verdict = match shared.why() {
                    Some(why) => Verdict::Stop(why),
                    None => judge(&head, &dir.tracker, policy),
                };
                match verdict {
                    Verdict::Stop(why) => {
                        shared.set(why);
                        dir.held_back = true;
                        return Some(flush(dst, &chunk[run..at]).await.unwrap_or(Stop::Why(why)));
                    }
                    Verdict::Drop => {
                        dir.dropping = true;
                        if let Some(stop) = flush(dst, &chunk[run..at]).await {
                            return Some(stop);
                        }
                        run = at + n;
                    }
                    Verdict::Forward => {
                        dir.dropping = false;
                        if head.is_data() {
                            dir.payload += head.len;
                            pulse.moved();
                        }
                        if !whole {
                            if let Some(stop) = flush(dst, &chunk[run..at]).await {
                                return Some(stop);
                            }
                            if dst.write_all(dir.tracker.head_bytes()).await.is_err() {
                                return Some(Stop::Unwritable);
                            }
                            run = at + n;
                        }
                    }
                }
            }
            Step::Payload => {
                if dir.dropping {
                    if let Some(stop) = flush(dst, &chunk[run..at]).await {
                        return Some(stop);
                    }
                    run = at + n;
                }
            }
        }
        at += n;
    }
    flush(dst, &chunk[run..]).await
}

async fn flush(dst: &Conn, bytes: &[u8]) -> Option<Stop> {
    if bytes.is_empty() {
        return None;
    }
    dst.write_all(bytes).await.err().map(|_| Stop::Unwritable)
}
