//! Any bytes as a request target, through the credential extractor and the
//! redaction that logs and programs see.
//!
//! Properties: the extractor agrees with a naive reference reading of the same rules;
//! the same input gives the same answer; a decoded credential is never longer than the
//! raw value it came from; decoding round-trips through our encoder; once the
//! credential pairs are stripped or redacted, no credential is left to find.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::form;
use wsgate::internal::redact;
use wsgate::internal::secret::{self, Credential, PARAM, Presented, Secret};

/// The rules of `secret::from_query`, written plainly: pairs on `&`, name and value on
/// the first `=`, `+` a space, `%XX` a byte, any other `%` an error.
fn reference(query: &[u8]) -> Result<Vec<Vec<u8>>, ()> {
    fn decode(raw: &[u8]) -> Result<Vec<u8>, ()> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'%' => {
                    let hex = raw.get(i + 1..i + 3).ok_or(())?;
                    let hex = std::str::from_utf8(hex).map_err(|_| ())?;
                    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(());
                    }
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Ok(out)
    }
    let mut values = Vec::new();
    for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, |&b| b == b'=');
        let name = decode(parts.next().unwrap_or_default())?;
        let value = decode(parts.next().unwrap_or_default())?;
        if name == b"token" {
            values.push(value);
        }
    }
    Ok(values)
}

fuzz_target!(|data: &[u8]| {
    let query = match data.iter().position(|&b| b == b'?') {
        Some(i) => &data[i + 1..],
        None => &data[..0],
    };
    let presented = secret::from_query(query);
    assert_eq!(
        presented,
        secret::from_query(query),
        "same input, same answer"
    );
    let expected = match reference(query) {
        Err(()) => Err(form::MalformedQuery),
        Ok(values) if values.len() > 1 => Ok(Presented::Duplicate),
        Ok(values) => match values.first() {
            Some(v) if !v.is_empty() => {
                Ok(Presented::One(Credential::Decoded(Secret::new(v.clone()))))
            }
            _ => Ok(Presented::Missing),
        },
    };
    assert_eq!(presented, expected, "disagrees with the reference reading");
    if let Ok(Presented::One(credential)) = &presented {
        let secret = credential.to_secret();
        let longest_value = query
            .split(|&b| b == b'&')
            .filter_map(|p| p.iter().position(|&b| b == b'=').map(|i| p.len() - i - 1))
            .max()
            .unwrap_or(0);
        assert!(
            secret.expose().len() <= longest_value,
            "decoded longer than its encoding"
        );
    }
    if let Ok(decoded) = form::decode(data) {
        assert!(decoded.len() <= data.len());
        assert_eq!(
            form::decode(form::percent_encode(&decoded).as_bytes()),
            Ok(decoded)
        );
    }
    assert!(form::decode_lossy(data).len() <= data.len());

    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let stripped = form::without(form::query_of(target), PARAM);
    assert!(
        matches!(
            secret::from_query(stripped.as_bytes()),
            Ok(Presented::Missing) | Err(_)
        ),
        "a credential survived stripping"
    );
    let redacted = redact::pairs(target);
    if let Ok(Presented::One(value)) = secret::from_query(form::query_of(&redacted).as_bytes()) {
        assert_eq!(value.to_secret().expose(), redact::REDACTED.as_bytes());
    }
    assert_eq!(form::path_of(&redacted), form::path_of(target));
});
