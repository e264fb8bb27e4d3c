//! Any bytes as a JWT against a fixed key.
//!
//! Two ways in, by the first byte: the bytes as a compact token as they are, or the
//! rest split at a NUL into a header and a payload that are signed with the right key
//! first (so the claims checks are reached, not only the signature check).
//! Properties: a token is accepted only if re-signing its header and payload gives
//! its signature; the same input gives the same answer; a correctly signed token is
//! refused for its signature only when its `alg` is not HS256; accepted claims expire
//! after `now`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::jwt::{self, JwtError, Rules};
use wsgate::internal::secret::Secret;

const KEY: &[u8] = b"fuzz-key-fuzz-key-fuzz-key-fuzz-key";
const NOW: f64 = 1_800_000_000.0;

fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let rules = Rules {
        issuer: Some("iss".into()),
        audience: Some("aud".into()),
        leeway: 30,
    };
    let key = Secret::new(KEY);
    let token: Vec<u8> = if how & 1 == 0 {
        rest.to_vec()
    } else {
        let (header, payload) = match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&br#"{"alg":"HS256"}"#[..], rest),
        };
        jwt::encode(header, payload, KEY).into_bytes()
    };

    let verdict = jwt::verify(&token, &key, &rules, NOW);
    assert_eq!(verdict, jwt::verify(&token, &key, &rules, NOW));
    if let Ok(claims) = &verdict {
        let parts = jwt::split(&token).expect("an accepted token splits");
        assert_eq!(
            jwt::sign(parts.signing_input, KEY).as_slice(),
            parts.signature.as_slice()
        );
        assert!(claims.expires > NOW);
    }
    if how & 1 == 1 && verdict == Err(JwtError::Signature) {
        // Signed with the right key: only the algorithm can be wrong.
        let parts = jwt::split(&token).expect("our own token splits");
        // A generic reader may refuse what wsgate skipped (a number too large in a
        // member it ignores); then there is nothing to compare.
        if let Ok(header) = serde_json::from_slice::<serde_json::Value>(&parts.header) {
            assert_ne!(header.get("alg").and_then(|a| a.as_str()), Some("HS256"));
        }
    }
});
