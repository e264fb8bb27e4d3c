//! One connection, up to its session: read the request head (bounded in size and
//! time), let the pure [`Gate`] decide, answer, and open the backend for an accepted
//! upgrade. Reserved paths are answered here too (health, the credential check, the
//! console page; the pairing endpoint in [`super::pairing`]).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use async_std::future::timeout;
use async_std::net::TcpStream;
use futures_lite::FutureExt as _;
use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::accept::Counted;
use super::pairing::{self, Asked};
use super::{Shared, session};
use crate::auth::Decision;
use crate::backend::{Opening, Revocation, Session, linger};
use crate::gate::Verdict;
use crate::log::{Event, Owned, Value};
use crate::outcome::Reason;
use crate::redact::{self, Secrets};
use crate::request::{self, Head, MAX_HEAD, Request};
use crate::response;
use crate::scope::Scopes;

/// How long a client has to send its whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing a response may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Buffer a head is first read into; it grows up to [`MAX_HEAD`].
const HEAD_BUFFER: usize = 1024;

enum HeadError {
    /// The client closed before sending anything.
    Closed,
    /// Answer with this reason.
    Reject(Reason),
}

/// Reads until the buffer holds a complete head; returns its length and how many
/// bytes were read in all (the rest belong to the WebSocket).
///
/// The head is parsed after the first read (so garbage is refused at once) and then
/// only when new bytes may end it, so a client sending a byte at a time does not make
/// us parse the growing head again and again.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(usize, usize), HeadError> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Err(HeadError::Reject(Reason::HeadTooLarge));
            }
            buf.resize((buf.len() * 2).min(MAX_HEAD), 0);
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(match filled {
                0 => HeadError::Closed,
                _ => HeadError::Reject(Reason::MalformedRequest),
            });
        }
        let first = filled == 0;
        filled += n;
        if !first && !request::may_end_head(&buf[..filled], n) {
            continue;
        }
        let mut storage = request::header_storage();
        match request::parse(&buf[..filled], &mut storage) {
            Ok(Head::Partial) => {}
            Ok(Head::Complete { len, .. }) => return Ok((len, filled)),
            Err(reason) => return Err(HeadError::Reject(reason)),
        }
    }
}

/// One connection: the handshake, then the session. Each runs in its own boxed future,
/// so an idle session holds only the session's state, not the handshake's.
pub async fn connection(shared: &Shared, stream: TcpStream, peer: SocketAddr, conn: u64) {
    let handshaking = Counted(&shared.handshakes);
    // Shutdown drops a handshake in progress: its socket closes, its program (if one
    // was started) is killed.
    let accepted = Box::pin(handshake(shared, stream, peer, conn))
        .or(async {
            shared.stop.wait().await;
            None
        })
        .await;
    drop(handshaking);
    if let Some(accepted) = accepted {
        Box::pin(session::session(shared, accepted, peer, conn)).await;
    }
}

/// A connection whose upgrade was accepted and answered with 101.
pub struct Accepted<'a> {
    pub stream: TcpStream,
    /// Bytes that followed the head: the start of the WebSocket stream.
    pub leftover: Vec<u8>,
    /// The backend, opened for it.
    pub session: Box<dyn Session + 'a>,
    /// Why it was accepted.
    pub reason: Reason,
    /// When its credential expires; the session is closed then.
    pub expires: Option<SystemTime>,
    /// What it may do.
    pub scopes: Scopes,
    /// Its managed token, watched for revocation.
    pub revocation: Option<Revocation>,
    /// What the backend says of it in the `accept` line, for the `close` line too.
    pub fields: Vec<(&'static str, Owned)>,
    /// Its place among `--max-connections` sessions.
    pub _slot: Counted<'a>,
}

/// Reads and decides the request head and answers it. Returns the connection only
/// when it was upgraded.
async fn handshake(
    shared: &Shared,
    mut stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
) -> Option<Accepted<'_>> {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; HEAD_BUFFER];
    let (len, filled) = match timeout(HEAD_TIMEOUT, read_head(&mut stream, &mut buf)).await {
        Ok(Ok(read)) => read,
        Ok(Err(HeadError::Closed)) => return None,
        Ok(Err(HeadError::Reject(reason))) => {
            reject(shared, stream, peer, conn, reason, None).await;
            return None;
        }
        Err(_) => {
            reject(shared, stream, peer, conn, Reason::HandshakeTimeout, None).await;
            return None;
        }
    };
    let mut storage = request::header_storage();
    let Ok(Head::Complete { request, .. }) = request::parse(&buf[..filled], &mut storage) else {
        // `read_head` saw this very buffer parse.
        reject(shared, stream, peer, conn, Reason::MalformedRequest, None).await;
        return None;
    };
    let seen = shared.managed.as_ref().map(|m| m.view.generation());
    let decided = Instant::now();
    let mut verdict = shared.gate.decide(&request, SystemTime::now());
    // A token unknown to the store may be one created a moment ago, before the store
    // was last looked at: look again (shared and bounded), then decide again.
    if let (Some(managed), Some(seen)) = (&shared.managed, seen) {
        if missed(&verdict) && managed.look_again(seen, decided, &shared.log).await {
            verdict = shared.gate.decide(&request, SystemTime::now());
        }
    }
    let (upgrade, grant) = match verdict {
        Verdict::Health => {
            let authority = &shared.gate.authority;
            let answer = response::health(
                authority.mode(),
                authority.enforced(),
                shared.backend.kind(),
            );
            let peer = peer.to_string();
            let fields = [
                ("conn", conn.into()),
                ("peer", Value::Str(&peer)),
                ("mode", authority.mode().as_str().into()),
                ("reason", Reason::Served.as_str().into()),
            ];
            shared.log.event(Event::Health, &fields);
            answer_and_close(stream, &answer, LINGER_BYTES).await;
            return None;
        }
        Verdict::Check(decision) => {
            let target = redact::target(request.target, &hidden(shared, &request));
            let authority = &shared.gate.authority;
            let answer =
                response::check(decision.outcome(), authority.mode(), authority.enforced());
            let peer = peer.to_string();
            let mut fields = vec![
                ("conn", conn.into()),
                ("peer", Value::Str(&peer)),
                ("mode", authority.mode().as_str().into()),
            ];
            let (status, reason) = match &decision {
                Decision::Accept(grant) => (200, grant.reason),
                Decision::Reject(reason) => (reason.status().code(), *reason),
            };
            fields.push(("status", status.into()));
            fields.push(("reason", reason.as_str().into()));
            if let Some(target) = &target {
                fields.push(("target", Value::Str(target)));
            }
            shared.log.event(Event::Check, &fields);
            answer_and_close(stream, &answer, LINGER_BYTES).await;
            return None;
        }
        Verdict::Reject(reason) => {
            let secrets = hidden(shared, &request);
            let target = redact::target(request.target, &secrets);
            // What was refused, so the operator sees what `--allow-origin` or
            // `--allow-host` would take; never a secret smuggled in it.
            let refused = match reason {
                Reason::OriginDenied => Some("origin"),
                Reason::HostDenied => Some("host"),
                _ => None,
            }
            .and_then(|name| {
                let header =
                    (request.headers.iter()).find(|h| h.name.eq_ignore_ascii_case(name))?;
                Some((name, redact::shown(header.value, &secrets)))
            });
            let extra: Vec<_> = refused.iter().map(|(k, v)| (*k, Value::Str(v))).collect();
            reject_with(shared, stream, peer, conn, reason, target, &extra).await;
            return None;
        }
        Verdict::Console => {
            let Some(page) = &shared.console else {
                // The gate says the console is on only when it is built.
                let target = redact::target(request.target, &hidden(shared, &request));
                reject(shared, stream, peer, conn, Reason::NotFound, target).await;
                return None;
            };
            let peer = peer.to_string();
            let fields = [
                ("conn", conn.into()),
                ("peer", Value::Str(&peer)),
                ("mode", shared.gate.authority.mode().as_str().into()),
                ("reason", Reason::Served.as_str().into()),
            ];
            shared.log.event(Event::Console, &fields);
            answer_and_close(stream, page, LINGER_BYTES).await;
            return None;
        }
        Verdict::Pair(kind, common) => {
            let origin = common.origin.map(<[u8]>::to_vec);
            let agent = common
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("user-agent"))
                .map(|h| h.value.to_vec());
            let leftover = buf[len..filled].to_vec();
            drop(buf);
            let asked = Asked {
                kind,
                leftover,
                origin,
                agent,
            };
            pairing::pair(shared, stream, asked, peer, conn).await;
            return None;
        }
        Verdict::Accept { upgrade, grant } => (upgrade, grant),
    };
    // What this connection's log lines and backend must not show: the daemon's
    // secrets and every credential the request presented, in any mode (in store and
    // jwt modes the daemon holds no secret that would hide a credential where it
    // appears a second time: another parameter, the path).
    let secrets = hidden(shared, &request);
    let target = redact::target(upgrade.target(), &secrets).unwrap_or_default();
    if shared.sessions.fetch_add(1, Ordering::SeqCst) >= shared.max_connections {
        shared.sessions.fetch_sub(1, Ordering::SeqCst);
        let reason = Reason::TooManyConnections;
        reject(shared, stream, peer, conn, reason, Some(target)).await;
        return None;
    }
    let slot = Counted(&shared.sessions);
    let opening = Opening {
        upgrade: &upgrade,
        grant: &grant,
        peer,
        local: shared.local,
        conn,
        secrets: &secrets,
    };
    let session = match shared.backend.open(opening).await {
        Ok(session) => session,
        Err(failed) => {
            let mut fields = vec![("conn", conn.into()), ("error", Value::Str(&failed.error))];
            let extra: Vec<_> = failed.fields.iter().map(|(k, v)| (*k, v.value())).collect();
            fields.extend(extra.iter().copied());
            shared.log.event(Event::BackendError, &fields);
            reject_with(
                shared,
                stream,
                peer,
                conn,
                failed.reason,
                Some(target),
                &extra,
            )
            .await;
            return None;
        }
    };
    let selected = session.selected();
    let switching = match selected.accept {
        Some(accept) => {
            response::switching_protocols_with(accept, selected.protocol, selected.extensions)
        }
        None => response::switching_protocols(upgrade.key, selected.protocol, selected.extensions),
    };
    let leftover = buf[len..filled].to_vec();
    drop(buf);
    let written = timeout(WRITE_TIMEOUT, stream.write_all(&switching)).await;
    if !matches!(written, Ok(Ok(()))) {
        // The backend's session ends as it drops (a program is killed and reaped).
        return None;
    }
    let peer = peer.to_string();
    let mut fields = vec![
        ("conn", conn.into()),
        ("peer", Value::Str(&peer)),
        ("mode", shared.gate.authority.mode().as_str().into()),
        ("reason", grant.reason.as_str().into()),
        ("target", Value::Str(&target)),
    ];
    let scopes = grant.scopes.to_string();
    if let Some(token) = &grant.token {
        fields.push(("token_id", Value::Str(&token.id)));
        fields.push(("token_name", Value::Str(&token.name)));
        fields.push(("scopes", Value::Str(&scopes)));
    }
    if let Some(protocol) = selected.protocol {
        // One of wsgate's own names (`--protocol` or the marker), or an upstream's
        // choice among the client's offer.
        fields.push(("protocol", Value::Str(protocol)));
    }
    let extra = session.fields();
    fields.extend(extra.iter().map(|(k, v)| (*k, v.value())));
    // The use is noted before it is logged: once the `accept` line is out, a shutdown
    // that follows writes it down.
    let revocation = match (&grant.token, &shared.managed) {
        (Some(token), Some(managed)) => {
            managed.record_use(&token.id);
            Some(Revocation {
                view: managed.view.clone(),
                id: token.id.clone(),
            })
        }
        _ => None,
    };
    shared.log.event(Event::Accept, &fields);
    Some(Accepted {
        stream,
        leftover,
        session,
        reason: grant.reason,
        expires: grant.expires,
        scopes: grant.scopes,
        revocation,
        fields: extra,
        _slot: slot,
    })
}

/// Whether a verdict refuses a credential that is not in the token store, for the
/// upgrade or the credential check: the refusal a store that changed could turn.
fn missed(verdict: &Verdict<'_>) -> bool {
    matches!(
        verdict,
        Verdict::Reject(Reason::InvalidToken)
            | Verdict::Check(Decision::Reject(Reason::InvalidToken))
    )
}

/// Everything a request's log lines and backend must not show: the daemon's secrets
/// and every credential the request presented.
fn hidden(shared: &Shared, request: &Request<'_>) -> Secrets {
    shared
        .secrets
        .with(&redact::presented(request.target, request.headers))
}

/// Reads a request body of exactly `length` bytes, the first of which may have come
/// with the head. Whatever follows it, in the same read or later, is not read as part
/// of it (the connection is closed after the answer). `None` if the client closes
/// first.
pub async fn read_body(
    stream: &mut TcpStream,
    mut body: Vec<u8>,
    length: usize,
) -> Option<Vec<u8>> {
    body.truncate(length);
    let mut chunk = [0u8; 512];
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        match stream.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(body)
}

/// Bytes drained after an error answer before giving up on a graceful close.
pub const LINGER_BYTES: usize = 64 * 1024;

/// Answers with `reason`'s rejection and closes, logging it (with the target as it
/// may be printed, when it is known).
pub async fn reject(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
    reason: Reason,
    target: Option<String>,
) {
    reject_with(shared, stream, peer, conn, reason, target, &[]).await;
}

/// [`reject`], with more fields for the log line.
async fn reject_with(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
    reason: Reason,
    target: Option<String>,
    extra: &[(&'static str, Value<'_>)],
) {
    let peer = peer.to_string();
    let mut fields = vec![
        ("conn", conn.into()),
        ("peer", Value::Str(&peer)),
        ("mode", shared.gate.authority.mode().as_str().into()),
        ("status", reason.status().code().into()),
        ("reason", reason.as_str().into()),
    ];
    if let Some(target) = &target {
        fields.push(("target", Value::Str(target)));
    }
    fields.extend(extra.iter().copied());
    shared.log.event(Event::Reject, &fields);
    let answer = response::reject(reason, shared.gate.authority.mode());
    answer_and_close(stream, &answer, LINGER_BYTES).await;
}

/// Writes `answer` and closes, draining up to `drain` bytes meanwhile.
pub async fn answer_and_close(mut stream: TcpStream, answer: &[u8], drain: usize) {
    if let Ok(Ok(())) = timeout(WRITE_TIMEOUT, stream.write_all(answer)).await {
        linger(&stream, drain).await;
    }
}
