//! The bytes of every response wsgate writes before a WebSocket starts: the 101, the
//! health answer, and each rejection.
//!
//! No response echoes any part of the request: bodies are built only from the fixed
//! vocabulary in [`crate::outcome`] and the daemon's own configuration.

use async_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::auth::Mode;
use crate::outcome::{Reason, Status};

/// `101 Switching Protocols` for a request with this `Sec-WebSocket-Key`
/// (RFC 6455 §4.2.2). `protocol` is the subprotocol the backend chose, if any.
pub fn switching_protocols(key: &[u8], protocol: Option<&str>) -> Vec<u8> {
    let accept = derive_accept_key(key);
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// The answer to a rejected request: its status, the headers that status requires,
/// `Connection: close`, and `{"error":…,"reason":…}`.
pub fn reject(reason: Reason) -> Vec<u8> {
    let body = format!(
        "{{\"error\":\"{}\",\"reason\":\"{}\"}}",
        reason.error_code(),
        reason.as_str()
    );
    let extra: &str = match reason {
        Reason::MethodNotAllowed => "Allow: GET\r\n",
        Reason::NotWebsocket => "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
        Reason::UnsupportedVersion => "Sec-WebSocket-Version: 13\r\n",
        Reason::TooManyConnections => "Retry-After: 1\r\n",
        _ => "",
    };
    answer(reason.status(), extra, &body)
}

/// The health endpoint's answer. It names the mode and whether it is enforced, never a
/// secret.
pub fn health(mode: Mode, token_check: bool) -> Vec<u8> {
    let body = format!(
        "{{\"status\":\"ok\",\"auth\":\"{}\",\"token_check\":{},\"version\":\"{}\"}}",
        mode.as_str(),
        token_check,
        crate::VERSION
    );
    answer(Status::Ok, "", &body)
}

fn answer(status: Status, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\n{}Connection: close\r\nContent-Type: application/json\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\n\r\n{}",
        status.code(),
        status.phrase(),
        extra_headers,
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
        let out = switching_protocols(b"dGhlIHNhbXBsZSBub25jZQ==", None);
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
        ))
        .unwrap();
        assert!(out.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
    }

    #[test]
    fn unauthorized_bytes() {
        let out = String::from_utf8(reject(Reason::MissingToken)).unwrap();
        let body = "{\"error\":\"invalid_token\",\"reason\":\"missing-token\"}";
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
        let text = |r| String::from_utf8(reject(r)).unwrap();
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
        use Reason::*;
        for reason in [
            MissingToken,
            InvalidToken,
            DuplicateToken,
            MalformedRequest,
            MethodNotAllowed,
            NotWebsocket,
            UnsupportedVersion,
            HeadTooLarge,
            HandshakeTimeout,
            HostDenied,
            OriginDenied,
            NotFound,
            TooManyConnections,
            BackendFailed,
        ] {
            let text = String::from_utf8(reject(reason)).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let head = format!("{head}\r\n");
            assert!(head.contains("\r\nConnection: close\r\n"), "{reason}");
            assert!(
                head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
                "{reason}"
            );
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", reason.status().code())));
        }
    }

    #[test]
    fn health_body() {
        let text = String::from_utf8(health(Mode::QueryToken, true)).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with(&format!(
            "{{\"status\":\"ok\",\"auth\":\"query-token\",\"token_check\":true,\"version\":\"{}\"}}",
            crate::VERSION
        )));
    }
}
