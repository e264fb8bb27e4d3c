//! The pairing endpoint, `/_wsgate/pair`: the page, the CORS preflight, and the
//! exchange of a code for a stored token; and the codes shown to the operator as they
//! change. What a code is and how it is judged is [`crate::pairing`].

use std::net::SocketAddr;
use std::time::Duration;

use async_std::future::timeout;
use async_std::net::TcpStream;
use futures_lite::FutureExt as _;

use super::Shared;
use super::connection::{HEAD_TIMEOUT, LINGER_BYTES, answer_and_close, read_body, reject};
use crate::log::{Event, Value};
use crate::outcome::Reason;
use crate::pairing::Attempt;
use crate::pairing::answer;
use crate::request::PairRequest;

/// A request to the pairing endpoint, owning what it needs of its head.
pub struct Asked {
    /// What it asks for.
    pub kind: PairRequest,
    /// Bytes that came after the head: the start of the body.
    pub leftover: Vec<u8>,
    /// Its `Origin`, which the policy accepted.
    pub origin: Option<Vec<u8>>,
    /// Its `User-Agent`, to name a paired token by.
    pub agent: Option<Vec<u8>>,
}

/// Answers `/_wsgate/pair`: the page, the CORS preflight, or the exchange of a code
/// for a token. Without `--pairing` the path does not exist.
pub async fn pair(
    shared: &Shared,
    mut stream: TcpStream,
    asked: Asked,
    peer: SocketAddr,
    conn: u64,
) {
    let managed = shared.managed.as_deref();
    let Some((managed, desk)) = managed.and_then(|m| Some((m, m.pairing.as_ref()?))) else {
        return reject(shared, stream, peer, conn, Reason::NotFound, None).await;
    };
    let cors = answer::cors(asked.origin.as_deref());
    let length = match asked.kind {
        PairRequest::Page => {
            return answer_and_close(stream, &desk.page.answer(), LINGER_BYTES).await;
        }
        PairRequest::Preflight => {
            return answer_and_close(stream, &answer::preflight(&cors), LINGER_BYTES).await;
        }
        PairRequest::Exchange { length } => length,
    };
    let body = match timeout(HEAD_TIMEOUT, read_body(&mut stream, asked.leftover, length)).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            return reject(shared, stream, peer, conn, Reason::MalformedRequest, None).await;
        }
        Err(_) => return reject(shared, stream, peer, conn, Reason::HandshakeTimeout, None).await,
    };
    let peer_text = peer.to_string();
    let mode = shared.gate.authority.mode().as_str();
    let refused = |reason: Reason, retry: Option<u64>| {
        let fields = [
            ("conn", conn.into()),
            ("peer", Value::Str(&peer_text)),
            ("mode", mode.into()),
            ("status", reason.status().code().into()),
            ("reason", reason.as_str().into()),
        ];
        shared.log.event(Event::Reject, &fields);
        answer::refused(reason, retry, &cors)
    };
    // A body without a code is no guess at one: 400, and the attempts are not counted.
    let Some(code) = crate::pairing::code_from_body(&body) else {
        let answer = refused(Reason::MalformedRequest, None);
        return answer_and_close(stream, &answer, LINGER_BYTES).await;
    };
    // A page to hand the token to is checked before the code: a page the operator did
    // not allow gets nothing, and the code is not used up by asking.
    let return_to = match crate::pairing::return_from_body(&body) {
        Ok(return_to) => return_to,
        Err(()) => {
            let answer = refused(Reason::MalformedRequest, None);
            return answer_and_close(stream, &answer, LINGER_BYTES).await;
        }
    };
    if let Some(url) = &return_to {
        if !crate::pairing::return_allowed(url, &shared.gate.policy) {
            let answer = refused(Reason::ReturnDenied, None);
            return answer_and_close(stream, &answer, LINGER_BYTES).await;
        }
    }
    let attempt = match desk.attempt(&code) {
        Ok(attempt) => attempt,
        Err(message) => {
            shared
                .log
                .event(Event::PairingError, &[("message", Value::Str(&message))]);
            let answer = refused(Reason::StoreFailed, None);
            return answer_and_close(stream, &answer, LINGER_BYTES).await;
        }
    };
    let answer = match attempt {
        Attempt::Paused(left) => refused(Reason::RateLimited, Some(left.as_secs().max(1))),
        Attempt::Refused { rotated } => {
            if rotated {
                announce_code(shared).await;
            }
            refused(Reason::InvalidCode, None)
        }
        Attempt::Accepted => {
            announce_code(shared).await;
            match managed.store_paired(desk, asked.agent.as_deref()).await {
                Ok((token, secret, expires)) => {
                    let mut fields = vec![
                        ("conn", conn.into()),
                        ("peer", Value::Str(&peer_text)),
                        ("mode", mode.into()),
                        ("reason", "paired".into()),
                        ("token_id", Value::Str(&token.id)),
                        ("token_name", Value::Str(&token.name)),
                    ];
                    // Where the page hands the token: an allowed origin, never the URL.
                    let origin = return_to.as_deref().and_then(crate::pairing::return_origin);
                    if let Some(origin) = &origin {
                        fields.push(("return_origin", Value::Str(origin)));
                    }
                    shared.log.event(Event::Pair, &fields);
                    let back = return_to.as_deref();
                    answer::paired(&secret, &token.id, desk.scopes, expires, back, &cors)
                }
                Err(message) => {
                    shared
                        .log
                        .event(Event::StoreError, &[("message", Value::Str(&message))]);
                    refused(Reason::StoreFailed, None)
                }
            }
        }
    };
    answer_and_close(stream, &answer, LINGER_BYTES).await;
}

/// Shows the operator the current pairing code, off the executor's threads (the
/// runtime file is flushed to disk).
async fn announce_code(shared: &Shared) {
    let Some(managed) = shared.managed.clone() else {
        return;
    };
    let (announcer, log) = (shared.announcer.clone(), shared.log.clone());
    async_std::task::spawn_blocking(move || {
        if let Some(desk) = &managed.pairing {
            announcer.code(desk, &log);
        }
    })
    .await;
}

/// Replaces each pairing code when it expires, and shows the new one.
pub async fn renew_codes(shared: &Shared) {
    let Some(desk) = shared.managed.as_ref().and_then(|m| m.pairing.as_ref()) else {
        return;
    };
    loop {
        let wait = desk.remaining() + Duration::from_millis(5);
        let stopped = async {
            shared.stop.wait().await;
            true
        };
        let slept = async {
            async_std::task::sleep(wait).await;
            false
        };
        if slept.or(stopped).await {
            return;
        }
        match desk.refresh() {
            Ok(true) => announce_code(shared).await,
            Ok(false) => {}
            Err(message) => shared
                .log
                .event(Event::PairingError, &[("message", Value::Str(&message))]),
        }
    }
}
