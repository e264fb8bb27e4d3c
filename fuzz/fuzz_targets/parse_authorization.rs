//! Any bytes as credential header values for the header modes (`bearer`, `jwt`).
//!
//! The input is `AUTHORIZATION \0 SEC-WEBSOCKET-PROTOCOL` (either part may be absent).
//! Properties: the same input gives the same answer; a bearer token is non-empty,
//! holds no whitespace or control bytes and ends the header value; a subprotocol token
//! is non-empty and its base64url form appears in the header after the prefix (in any
//! case); both forms at once are never accepted; what a backend is shown of the
//! subprotocol header holds no wsgate entry in any case; a selected subprotocol is one
//! of wsgate's own names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::bearer::{self, SUBPROTOCOL_PREFIX};
use wsgate::internal::request::Header;

fuzz_target!(|data: &[u8]| {
    let (authorization, protocol) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };

    let parsed = bearer::parse_authorization(authorization);
    assert_eq!(parsed, bearer::parse_authorization(authorization));
    if let Ok(Some(token)) = parsed {
        assert!(!token.is_empty());
        assert!(
            !token
                .iter()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        );
        assert!(authorization.ends_with(token));
        assert!(authorization[..6].eq_ignore_ascii_case(b"bearer"));
    }

    if let Some(protocol) = protocol {
        let found = bearer::parse_subprotocols(std::iter::once(protocol));
        assert_eq!(found, bearer::parse_subprotocols(std::iter::once(protocol)));
        if let Ok(Some(token)) = &found {
            assert!(!token.is_empty());
            let entry = bearer::subprotocol_for(token);
            let prefix = SUBPROTOCOL_PREFIX.len();
            assert!(protocol.windows(entry.len()).any(|w| {
                w[..prefix].eq_ignore_ascii_case(&entry.as_bytes()[..prefix])
                    && w[prefix..] == entry.as_bytes()[prefix..]
            }));
        }
        let shown = bearer::without_credential(protocol);
        let mut entries = shown.split(|&b| b == b',').map(|e| e.trim_ascii());
        assert!(!entries.any(bearer::is_credential_entry));

        let headers = [
            Header {
                name: "Authorization",
                value: authorization,
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: protocol,
            },
        ];
        if matches!((&parsed, &found), (Ok(Some(_)), Ok(Some(_)))) {
            assert!(bearer::credential(&headers).is_err(), "both forms accepted");
        }
        let spoken = ["chat".to_owned()];
        if let Some(selected) = bearer::select(&headers, &spoken) {
            assert!(
                selected == "chat" || selected == bearer::MARKER,
                "{selected}"
            );
        }
    }
});
