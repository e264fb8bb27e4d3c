//! Bearer credentials in headers, for the header modes (`bearer`, `jwt`).
//!
//! Two forms carry the same credential:
//!
//! - `Authorization: Bearer <token>` (RFC 6750 §2.1): the scheme compared
//!   case-insensitively, then one or more spaces and exactly one token with no
//!   whitespace or control bytes in it.
//! - For browsers, which cannot set `Authorization` on a WebSocket: an entry
//!   `wsgate.bearer.<token as base64url without padding>` in `Sec-WebSocket-Protocol`
//!   (subprotocol values must be HTTP tokens, and base64url is one), offered next to
//!   the application's real subprotocols. That entry is never echoed back. The prefix
//!   is matched without regard to case, so no spelling of it reaches a backend.
//!
//! Browsers fail a connection whose 101 selects none of the subprotocols they
//! offered, so the 101 selects one: the first entry of the client's offer that the
//! backend speaks (`--protocol`), or the marker `wsgate`, which a client offers when
//! its application has no subprotocol of its own. See [`select`].
//!
//! A request carrying both forms, two `Authorization` headers, two wsgate entries, a
//! `Bearer` scheme without exactly one token, or an entry that is not base64url is
//! malformed: it is refused rather than read one way or the other. Other
//! `Authorization` schemes are not ours and count as no credential.

use crate::secret::{Credential, Secret};
use httparse::Header;

/// The prefix of the subprotocol entry that carries a credential.
pub const SUBPROTOCOL_PREFIX: &str = "wsgate.bearer.";

/// A subprotocol that carries nothing: offered next to a credential entry by a client
/// whose application has no subprotocol, so that the 101 has one to select.
pub const MARKER: &str = "wsgate";

/// Whether a `Sec-WebSocket-Protocol` entry is a credential entry.
pub fn is_credential_entry(entry: &[u8]) -> bool {
    let prefix = SUBPROTOCOL_PREFIX.as_bytes();
    entry.len() >= prefix.len() && entry[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The entries of a list header (`Sec-WebSocket-Protocol`, `Connection`, …), in order:
/// comma-separated across every value given, trimmed, empty ones skipped.
pub fn entries<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    values
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|e| !e.is_empty())
}

/// A credential header that cannot be read one single way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Reads one `Authorization` value: `Ok(None)` for another scheme, the token for
/// `Bearer`.
pub fn parse_authorization(value: &[u8]) -> Result<Option<&[u8]>, Malformed> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = rest.trim_ascii_start();
    if token.is_empty()
        || token
            .iter()
            .any(|&b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(Malformed);
    }
    Ok(Some(token))
}

/// Finds the wsgate entry among `Sec-WebSocket-Protocol` values (the header may be
/// repeated) and decodes its token.
pub fn parse_subprotocols<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<Vec<u8>>, Malformed> {
    let mut found = None;
    for entry in entries(values).filter(|e| is_credential_entry(e)) {
        let encoded = &entry[SUBPROTOCOL_PREFIX.len()..];
        let token = data_encoding::BASE64URL_NOPAD
            .decode(encoded)
            .map_err(|_| Malformed)?;
        if token.is_empty() || found.replace(token).is_some() {
            return Err(Malformed);
        }
    }
    Ok(found)
}

/// The credential a header mode finds in a request's headers, if any.
pub fn credential<'a>(headers: &[Header<'a>]) -> Result<Option<Credential<'a>>, Malformed> {
    let mut authorization = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("authorization"))
    {
        if authorization.replace(h.value).is_some() {
            return Err(Malformed);
        }
    }
    let from_header = match authorization {
        Some(value) => parse_authorization(value)?,
        None => None,
    };
    let from_subprotocol = parse_subprotocols(
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-protocol"))
            .map(|h| h.value),
    )?;
    match (from_header, from_subprotocol) {
        (Some(_), Some(_)) => Err(Malformed),
        (Some(token), None) => Ok(Some(Credential::Raw(token))),
        (None, Some(token)) => Ok(Some(Credential::Decoded(Secret::new(token)))),
        (None, None) => Ok(None),
    }
}

/// Every bearer token a request's headers present, in either form, well-formed or
/// not quite (several, say): to be kept out of logs and programs.
pub fn presented(headers: &[Header<'_>]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for h in headers {
        if h.name.eq_ignore_ascii_case("authorization") {
            match parse_authorization(h.value) {
                Ok(Some(token)) => found.push(token.to_vec()),
                Ok(None) => {}
                // `Bearer a b`: each piece may be (part of) a secret.
                Err(Malformed) => found.extend(
                    h.value
                        .split(|b| b.is_ascii_whitespace())
                        .skip(1)
                        .map(<[u8]>::to_vec),
                ),
            }
        } else if h.name.eq_ignore_ascii_case("sec-websocket-protocol") {
            for entry in entries(std::iter::once(h.value)).filter(|e| is_credential_entry(e)) {
                let encoded = &entry[SUBPROTOCOL_PREFIX.len()..];
                found.push(encoded.to_vec());
                if let Ok(token) = data_encoding::BASE64URL_NOPAD.decode(encoded) {
                    found.push(token);
                }
            }
        }
    }
    found.retain(|t| !t.is_empty());
    found
}

/// A `Sec-WebSocket-Protocol` value without wsgate's entries: what a backend may see.
pub fn without_credential(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for entry in entries(std::iter::once(value)).filter(|e| !is_credential_entry(e)) {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(entry);
    }
    out
}

/// The subprotocol the 101 selects: the first entry of the client's offer, across
/// every `Sec-WebSocket-Protocol` header, that is one of `spoken` or the [`MARKER`].
/// Credential entries are never selected, and what is returned is always one of
/// wsgate's own strings, never the client's bytes.
pub fn select<'s>(headers: &[Header<'_>], spoken: &'s [String]) -> Option<&'s str> {
    let offered = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-protocol"))
        .map(|h| h.value);
    entries(offered).find_map(|entry| {
        if entry == MARKER.as_bytes() {
            return Some(MARKER);
        }
        spoken
            .iter()
            .find(|p| p.as_bytes() == entry)
            .map(String::as_str)
    })
}

/// Checks a `--protocol` name: an HTTP token (RFC 7230 §3.2.6), not a credential
/// entry.
pub fn valid_protocol_name(name: &str) -> bool {
    !name.is_empty()
        && !is_credential_entry(name.as_bytes())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The subprotocol entry a browser offers for `token`.
pub fn subprotocol_for(token: &[u8]) -> String {
    format!(
        "{SUBPROTOCOL_PREFIX}{}",
        data_encoding::BASE64URL_NOPAD.encode(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_values() {
        let ok = |v: &[u8], t: &[u8]| assert_eq!(parse_authorization(v), Ok(Some(t)), "{v:?}");
        ok(b"Bearer abc", b"abc");
        ok(b"bearer abc", b"abc");
        ok(b"BEARER a.b_c-d~e+f/g==", b"a.b_c-d~e+f/g==");
        ok(b"Bearer  two-spaces", b"two-spaces");
        ok(b"Bearer \xc3\xa9t\xc3\xa9", "été".as_bytes());
        let none = |v: &[u8]| assert_eq!(parse_authorization(v), Ok(None), "{v:?}");
        none(b"Basic dXNlcjpwYXNz");
        none(b"Negotiate");
        none(b"Bearerabc");
        none(b"");
        let bad = |v: &[u8]| assert_eq!(parse_authorization(v), Err(Malformed), "{v:?}");
        bad(b"Bearer");
        bad(b"Bearer ");
        bad(b"Bearer a b");
        bad(b"Bearer a\tb");
        bad(b"Bearer a\x7f");
        bad(b"bearer a, Bearer b");
    }

    #[test]
    fn subprotocol_values() {
        let parse = |vs: &[&[u8]]| parse_subprotocols(vs.iter().copied());
        let entry = subprotocol_for(b"s3cret");
        assert_eq!(entry, "wsgate.bearer.czNjcmV0");
        assert_eq!(
            parse(&[b"chat, wsgate.bearer.czNjcmV0"]),
            Ok(Some(b"s3cret".to_vec()))
        );
        assert_eq!(
            parse(&[b"chat", b" wsgate.bearer.czNjcmV0 "]),
            Ok(Some(b"s3cret".to_vec()))
        );
        assert_eq!(parse(&[b"chat, superchat"]), Ok(None));
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&[b"wsgate.bearer.czNjcmV0=="]), Err(Malformed));
        assert_eq!(parse(&[b"wsgate.bearer.cz+j"]), Err(Malformed));
        assert_eq!(parse(&[b"wsgate.bearer."]), Err(Malformed));
        assert_eq!(
            parse(&[b"wsgate.bearer.YQ, wsgate.bearer.Yg"]),
            Err(Malformed)
        );
        assert_eq!(
            parse(&[b"wsgate.bearer.YQ", b"wsgate.bearer.YQ"]),
            Err(Malformed)
        );
        // Not canonical: the last character's unused bits are not zero.
        assert_eq!(parse(&[b"wsgate.bearer.YR"]), Err(Malformed));
    }

    fn h<'a>(name: &'a str, value: &'a [u8]) -> Header<'a> {
        Header { name, value }
    }

    #[test]
    fn credentials() {
        let found =
            |hs: &[Header<'_>]| credential(hs).map(|s| s.map(|s| s.to_secret().expose().to_vec()));
        assert_eq!(
            found(&[h("Authorization", b"Bearer tok")]),
            Ok(Some(b"tok".to_vec()))
        );
        assert_eq!(
            found(&[h("sec-websocket-protocol", b"wsgate.bearer.dG9r")]),
            Ok(Some(b"tok".to_vec()))
        );
        assert_eq!(found(&[h("Authorization", b"Basic eA==")]), Ok(None));
        assert_eq!(found(&[]), Ok(None));
        assert_eq!(
            found(&[
                h("Authorization", b"Bearer tok"),
                h("Sec-WebSocket-Protocol", b"wsgate.bearer.dG9r")
            ]),
            Err(Malformed)
        );
        assert_eq!(
            found(&[
                h("Authorization", b"Bearer tok"),
                h("authorization", b"Bearer tok")
            ]),
            Err(Malformed)
        );
        assert_eq!(
            found(&[
                h("Authorization", b"Basic eA=="),
                h("Sec-WebSocket-Protocol", b"wsgate.bearer.dG9r")
            ]),
            Ok(Some(b"tok".to_vec()))
        );
    }

    #[test]
    fn backend_sees_no_credential_entry() {
        assert_eq!(
            without_credential(b"chat, wsgate.bearer.dG9r, v2"),
            b"chat, v2"
        );
        assert_eq!(without_credential(b"wsgate.bearer.dG9r"), b"");
        assert_eq!(without_credential(b"WSGATE.Bearer.dG9r,,x"), b"x");
    }

    #[test]
    fn everything_presented_is_found() {
        let found = presented(&[
            h("Authorization", b"Bearer one"),
            h("authorization", b"Basic eA=="),
            h(
                "Sec-WebSocket-Protocol",
                b"chat, wsgate.bearer.dHdv, WSGATE.BEARER.dGhyZWU",
            ),
            h("Sec-WebSocket-Protocol", b"wsgate.bearer.!!"),
        ]);
        let want: Vec<&[u8]> = vec![b"one", b"dHdv", b"two", b"dGhyZWU", b"three", b"!!"];
        assert_eq!(found, want);
        let split = presented(&[h("Authorization", b"Bearer  a  b")]);
        assert_eq!(split, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn any_case_of_the_prefix_is_a_credential() {
        let parse = |vs: &[&[u8]]| parse_subprotocols(vs.iter().copied());
        assert_eq!(parse(&[b"WSGATE.BEARER.dG9r"]), Ok(Some(b"tok".to_vec())));
        assert_eq!(
            parse(&[b"wsgate.bearer.dG9r, Wsgate.Bearer.dG9r"]),
            Err(Malformed)
        );
    }

    #[test]
    fn selection() {
        let spoken = vec!["chat".to_owned(), "v2.json".to_owned()];
        let pick = |values: &[&'static [u8]], spoken: &'static [String]| {
            let hs: Vec<Header<'static>> = values
                .iter()
                .map(|v| h("Sec-WebSocket-Protocol", v))
                .collect();
            select(&hs, spoken)
        };
        let spoken: &'static [String] = Box::leak(spoken.into_boxed_slice());
        assert_eq!(pick(&[b"chat, wsgate.bearer.dG9r"], spoken), Some("chat"));
        // The client's order decides.
        assert_eq!(pick(&[b"v2.json", b"chat"], spoken), Some("v2.json"));
        assert_eq!(
            pick(&[b"wsgate.bearer.dG9r, wsgate"], spoken),
            Some("wsgate")
        );
        assert_eq!(pick(&[b"wsgate, chat"], spoken), Some("wsgate"));
        assert_eq!(pick(&[b"wsgate.bearer.dG9r"], spoken), None);
        assert_eq!(pick(&[b"superchat, Chat"], spoken), None);
        assert_eq!(pick(&[b"chat"], &[]), None);
        assert_eq!(pick(&[], spoken), None);
    }

    #[test]
    fn protocol_names() {
        assert!(valid_protocol_name("chat"));
        assert!(valid_protocol_name("v2.json.example.com"));
        for bad in [
            "",
            "a b",
            "a,b",
            "a\"b",
            "wsgate.bearer.x",
            "WSGATE.BEARER.",
            "é",
        ] {
            assert!(!valid_protocol_name(bad), "{bad:?}");
        }
    }
}
