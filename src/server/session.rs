//! One upgraded connection: the backend relays it, then the `close` line is logged.

use std::net::SocketAddr;
use std::time::Instant;

use super::Shared;
use super::connection::Accepted;
use crate::backend::{Context, Upgraded};
use crate::log::Event;

/// Relays an upgraded connection to the backend until either side ends it.
pub async fn session(shared: &Shared, accepted: Accepted<'_>, peer: SocketAddr, conn: u64) {
    let started = Instant::now();
    let Accepted {
        stream,
        leftover,
        session,
        reason,
        expires,
        scopes,
        revocation,
        fields: extra,
        _slot,
    } = accepted;
    let peer = peer.to_string();
    let cx = Context {
        conn,
        peer: &peer,
        mode: shared.gate.authority.mode().as_str(),
        reason: reason.as_str(),
        log: &shared.log,
        stop: &shared.stop,
        expires,
        scopes,
        revocation: revocation.as_ref(),
        // After a completed closing handshake nothing more is coming: the backend
        // closes at once (RFC 6455 §7.1.1 has the server close first). Otherwise the
        // client may still be sending, and our last frame must not be lost to a reset.
        drain: shared.max_message_size.saturating_mul(2),
        liveness: shared.liveness,
    };
    let out = session.relay(Upgraded { stream, leftover }, cx).await;
    let mut fields = cx.fields().to_vec();
    fields.extend([
        ("code", out.code.into()),
        ("duration_ms", (started.elapsed().as_millis() as u64).into()),
        ("bytes_in", out.bytes_in.into()),
        ("bytes_out", out.bytes_out.into()),
    ]);
    fields.extend(extra.iter().map(|(k, v)| (*k, v.value())));
    if let Some(c) = out.client_code {
        fields.push(("client_code", c.into()));
    }
    if let Some(c) = out.upstream_code {
        fields.push(("upstream_code", c.into()));
    }
    if let Some(ending) = out.ended {
        fields.push(("ended", ending.as_str().into()));
    }
    shared.log.event(Event::Close, &fields);
}
