//! Any bytes as a request target, through the credential extractor and the
//! redaction that logs and programs see.
//!
//! Properties: the same input gives the same answer; a decoded credential is never
//! longer than its encoding; decoding round-trips through our encoder; once the
//! credential pairs are stripped or redacted, no credential is left to find.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::token::{self, Presented};

fuzz_target!(|data: &[u8]| {
    let query = match data.iter().position(|&b| b == b'?') {
        Some(i) => &data[i + 1..],
        None => &data[..0],
    };
    let presented = token::from_query(query);
    assert_eq!(
        presented,
        token::from_query(query),
        "same input, same answer"
    );
    if let Ok(Presented::One(secret)) = &presented {
        assert!(!secret.expose().is_empty());
        assert!(
            secret.expose().len() <= query.len(),
            "decoded longer than encoded"
        );
    }
    if let Ok(decoded) = token::decode(data) {
        assert!(decoded.len() <= data.len());
        assert_eq!(
            token::decode(token::percent_encode(&decoded).as_bytes()),
            Ok(decoded)
        );
    }
    assert!(token::decode_lossy(data).len() <= data.len());

    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let stripped = token::strip_credential(token::query_of(target));
    assert!(
        matches!(
            token::from_query(stripped.as_bytes()),
            Ok(Presented::Missing) | Err(_)
        ),
        "a credential survived stripping"
    );
    let redacted = token::redact(target);
    match token::from_query(token::query_of(&redacted).as_bytes()) {
        Ok(Presented::One(value)) => assert_eq!(value.expose(), token::REDACTED.as_bytes()),
        Ok(Presented::Missing | Presented::Duplicate) => {}
        Err(_) => {}
    }
    assert_eq!(token::path_of(&redacted), token::path_of(target));
});
