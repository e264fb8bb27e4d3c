//! The bytes of every response wsgate writes before a WebSocket starts: the 101, the
//! health answer, and each rejection.
//!
//! No response echoes any part of the request but an `Origin` the policy accepted
//! (in the pairing endpoint's CORS headers): bodies are built only from the fixed
//! vocabulary in [`crate::outcome`] and the daemon's own configuration.

use async_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::outcome::{Mode, Reason, Status};

/// `101 Switching Protocols` for a request with this `Sec-WebSocket-Key`
/// (RFC 6455 §4.2.2). `protocol` is the subprotocol the backend chose, and
/// `extensions` the extensions it agreed on, if any.
pub fn switching_protocols(
    key: &[u8],
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Vec<u8> {
    switching_protocols_with(&derive_accept_key(key), protocol, extensions)
}

/// [`switching_protocols`] with its `Sec-WebSocket-Accept` value computed already (a
/// WebSocket upstream's, checked against the key).
pub fn switching_protocols_with(
    accept: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    if let Some(extensions) = extensions {
        out.extend_from_slice(b"\r\nSec-WebSocket-Extensions: ");
        out.extend_from_slice(extensions.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// The answer to a rejected request: its status, the headers that status requires,
/// `Connection: close`, and `{"error":…,"reason":…}` (`{"reason":"missing-token"}`
/// when no credential was sent: see [`error_member`]).
pub fn reject(reason: Reason, mode: Mode) -> Vec<u8> {
    let body = format!(
        "{{{}\"reason\":\"{}\"}}",
        error_member(reason),
        reason.as_str()
    );
    answer(reason.status(), &headers_for(reason, mode), &body)
}

/// `"error":"…",` for a rejection's body, or nothing when the request sent no
/// credential. For the credential reasons the code is RFC 6750's (§3.1), as in the
/// `WWW-Authenticate` challenge, and §3.1 says a request that lacks any authentication
/// information gets no error code: the challenge carries none, so neither does the
/// body, of an upgrade or of `/_wsgate/auth/check`. `reason` is always there.
fn error_member(reason: Reason) -> String {
    match reason {
        Reason::MissingToken => String::new(),
        _ => format!("\"error\":\"{}\",", reason.error_code()),
    }
}

/// The answer of `/_wsgate/auth/check` for a request that would be accepted (`Ok`) or
/// rejected for a reason: 200 `{"valid":true}` (with `"token_required":false` when
/// credentials are not checked), or the rejection's status with
/// `{"valid":false,"error":…,"reason":…}` and the same headers an upgrade would get
/// (without `error` when no credential was sent, like the upgrade's answer).
pub fn check(outcome: Result<(), Reason>, mode: Mode, enforced: bool) -> Vec<u8> {
    match outcome {
        Ok(()) if enforced => answer(Status::Ok, "", "{\"valid\":true}"),
        Ok(()) => answer(Status::Ok, "", "{\"valid\":true,\"token_required\":false}"),
        Err(reason) => {
            let body = format!(
                "{{\"valid\":false,{}\"reason\":\"{}\"}}",
                error_member(reason),
                reason.as_str()
            );
            answer(reason.status(), &headers_for(reason, mode), &body)
        }
    }
}

/// Headers a rejection's status requires; in header modes, RFC 6750's challenge.
fn headers_for(reason: Reason, mode: Mode) -> String {
    let mut extra = String::new();
    match reason {
        Reason::MethodNotAllowed => extra.push_str("Allow: GET\r\n"),
        Reason::NotWebsocket => {
            extra.push_str("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")
        }
        Reason::UnsupportedVersion => extra.push_str("Sec-WebSocket-Version: 13\r\n"),
        Reason::TooManyConnections => extra.push_str("Retry-After: 1\r\n"),
        _ => {}
    }
    if mode.uses_headers() {
        // RFC 6750 §3: no error code when no credential was sent; the reason word is
        // a description of ours, never of the presented value.
        match (reason, reason.status()) {
            (Reason::MissingToken, _) => {
                extra.push_str("WWW-Authenticate: Bearer realm=\"wsgate\"\r\n");
            }
            (_, Status::Unauthorized) => extra.push_str(&format!(
                "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"{}\"\r\n",
                reason.as_str()
            )),
            (Reason::MalformedCredential, _) => extra.push_str(
                "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_request\"\r\n",
            ),
            (Reason::InsufficientScope, _) => extra.push_str(
                "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"insufficient_scope\"\r\n",
            ),
            _ => {}
        }
    }
    extra
}

/// The health endpoint's answer. It names the mode and whether it is enforced, never a
/// secret.
pub fn health(mode: Mode, token_check: bool, backend: &'static str) -> Vec<u8> {
    let body = format!(
        "{{\"status\":\"ok\",\"auth\":\"{}\",\"token_check\":{},\"backend\":\"{}\",\"version\":\"{}\"}}",
        mode.as_str(),
        token_check,
        backend,
        crate::VERSION
    );
    answer(Status::Ok, "", &body)
}

/// A JSON answer with this status, extra header lines and body.
pub fn answer(status: Status, extra_headers: &str, body: &str) -> Vec<u8> {
    respond(status, "application/json", extra_headers, body)
}

/// An answer with this status, content type, extra header lines and body, closing
/// the connection.
pub fn respond(status: Status, content_type: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\n{}Connection: close\r\nContent-Type: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\n\r\n{}",
        status.code(),
        status.phrase(),
        extra_headers,
        content_type,
        body.len(),
        body
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_sample_key() {
        // RFC 6455 §1.3: the sample nonce and the accept value derived from it.
        let out = switching_protocols(b"dGhlIHNhbXBsZSBub25jZQ==", None, None);
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }

    #[test]
    fn subprotocol_when_chosen() {
        let out = String::from_utf8(switching_protocols(
            b"dGhlIHNhbXBsZSBub25jZQ==",
            Some("chat"),
            None,
        ))
        .unwrap();
        assert!(out.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
    }

    #[test]
    fn unauthorized_bytes() {
        let out = String::from_utf8(reject(Reason::InvalidToken, Mode::QueryToken)).unwrap();
        let body = "{\"error\":\"invalid_token\",\"reason\":\"invalid-token\"}";
        assert_eq!(
            out,
            format!(
                "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: application/json\r\n\
                 Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );
    }

    #[test]
    fn required_headers() {
        let text = |r| String::from_utf8(reject(r, Mode::QueryToken)).unwrap();
        assert!(
            text(Reason::MethodNotAllowed)
                .starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n")
        );
        assert!(text(Reason::UnsupportedVersion).contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text(Reason::NotWebsocket).starts_with("HTTP/1.1 426 "));
        assert!(text(Reason::TooManyConnections).contains("\r\nRetry-After: 1\r\n"));
        assert!(text(Reason::HeadTooLarge).starts_with("HTTP/1.1 431 "));
        assert!(text(Reason::HandshakeTimeout).starts_with("HTTP/1.1 408 "));
        assert!(text(Reason::HostDenied).contains("\"reason\":\"host-denied\""));
        assert!(text(Reason::BackendFailed).starts_with("HTTP/1.1 502 "));
    }

    #[test]
    fn every_rejection_closes_and_has_a_sized_body() {
        let rejections = Reason::ALL.iter().filter(|r| r.status().code() >= 400);
        for (&reason, mode) in rejections.flat_map(|r| [(r, Mode::QueryToken), (r, Mode::Bearer)]) {
            let text = String::from_utf8(reject(reason, mode)).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let head = format!("{head}\r\n");
            assert!(head.contains("\r\nConnection: close\r\n"), "{reason}");
            assert!(
                head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
                "{reason}"
            );
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", reason.status().code())));
            assert!(body.contains(reason.as_str()), "{reason}");
        }
    }

    /// No credential, no error code (RFC 6750 §3.1): the upgrade's body, the
    /// challenge and `/_wsgate/auth/check` agree, in every mode.
    #[test]
    fn missing_credential_has_no_error_code() {
        for mode in Mode::ALL {
            let upgrade = String::from_utf8(reject(Reason::MissingToken, mode)).unwrap();
            assert!(upgrade.starts_with("HTTP/1.1 401 "), "{upgrade}");
            assert!(
                upgrade.ends_with("\r\n\r\n{\"reason\":\"missing-token\"}"),
                "{upgrade}"
            );
            let checked = String::from_utf8(check(Err(Reason::MissingToken), mode, true)).unwrap();
            assert!(
                checked.ends_with("\r\n\r\n{\"valid\":false,\"reason\":\"missing-token\"}"),
                "{checked}"
            );
            for text in [&upgrade, &checked] {
                assert!(!text.contains("error"), "{text}");
            }
        }
    }

    #[test]
    fn bearer_challenges() {
        let text = |r| String::from_utf8(reject(r, Mode::Bearer)).unwrap();
        assert!(
            text(Reason::MissingToken)
                .contains("\r\nWWW-Authenticate: Bearer realm=\"wsgate\"\r\n")
        );
        assert!(text(Reason::ExpiredToken).contains(
            "\r\nWWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"expired-token\"\r\n"
        ));
        let malformed = text(Reason::MalformedCredential);
        assert!(malformed.starts_with("HTTP/1.1 400 "));
        assert!(malformed.contains("error=\"invalid_request\""));
        assert!(!text(Reason::HostDenied).contains("WWW-Authenticate"));
        let query = String::from_utf8(reject(Reason::InvalidToken, Mode::QueryToken)).unwrap();
        assert!(!query.contains("WWW-Authenticate"));
    }

    #[test]
    fn check_bodies() {
        use crate::auth::{Decision, Grant};
        let body = |out: Vec<u8>| String::from_utf8(out).unwrap();
        let grant = Decision::Accept(Grant {
            reason: Reason::ValidToken,
            scopes: crate::scope::Scopes::ALL,
            subject: None,
            expires: None,
            token: None,
        });
        let ok = body(check(grant.outcome(), Mode::Bearer, true));
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\n{\"valid\":true}"));
        let open = body(check(grant.outcome(), Mode::Bearer, false));
        assert!(open.ends_with("{\"valid\":true,\"token_required\":false}"));
        let bad = body(check(
            Decision::Reject(Reason::InvalidSignature).outcome(),
            Mode::Jwt,
            true,
        ));
        assert!(bad.starts_with("HTTP/1.1 401 "));
        assert!(bad.ends_with(
            "{\"valid\":false,\"error\":\"invalid_token\",\"reason\":\"invalid-signature\"}"
        ));
        assert!(bad.contains("error_description=\"invalid-signature\""));
        let malformed = body(check(
            Decision::Reject(Reason::MalformedCredential).outcome(),
            Mode::Jwt,
            true,
        ));
        assert!(malformed.ends_with(
            "{\"valid\":false,\"error\":\"invalid_request\",\"reason\":\"malformed-credential\"}"
        ));
        let missing = body(check(
            Decision::Reject(Reason::MissingToken).outcome(),
            Mode::Bearer,
            true,
        ));
        assert!(missing.starts_with("HTTP/1.1 401 "));
        assert!(missing.contains("\r\nWWW-Authenticate: Bearer realm=\"wsgate\"\r\n"));
        assert!(missing.ends_with("\r\n\r\n{\"valid\":false,\"reason\":\"missing-token\"}"));
    }

    #[test]
    fn health_body() {
        let text = String::from_utf8(health(Mode::QueryToken, true, "echo")).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with(&format!(
            "{{\"status\":\"ok\",\"auth\":\"query-token\",\"token_check\":true,\"backend\":\"echo\",\"version\":\"{}\"}}",
            crate::VERSION
        )));
    }
}
