//! Any bytes into the head parser, then through the whole gate.
//!
//! Properties: the same input gives the same answer; a complete head never claims more
//! bytes than it was given; the head alone parses the same, and no shorter prefix of
//! it is complete; a routed upgrade has a 24-character key and an origin-form target;
//! every verdict has a response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::auth::Authority;
use wsgate::gate::{Gate, Verdict};
use wsgate::policy::Policy;
use wsgate::request::{self, Head, Route};
use wsgate::response;
use wsgate::token::Secret;

fuzz_target!(|data: &[u8]| {
    let first = request::parse(data);
    assert_eq!(first, request::parse(data), "same input, same answer");
    let Ok(Head::Complete { len, request }) = first else {
        return;
    };
    assert!(
        len <= data.len(),
        "head of {len} bytes from {} given",
        data.len()
    );
    match request::parse(&data[..len]) {
        Ok(Head::Complete { len: again, .. }) => assert_eq!(again, len),
        other => panic!("the head alone parses differently: {other:?}"),
    }
    assert!(
        !matches!(request::parse(&data[..len - 1]), Ok(Head::Complete { .. })),
        "a shorter prefix is complete"
    );

    if let Ok(Route::Upgrade(up)) = request::route(&request) {
        assert_eq!(up.key.len(), 24);
        assert!(up.target().starts_with('/'));
        assert!(!up.target().contains('#'));
    }

    let gate = Gate {
        policy: Policy::default(),
        authority: Authority::query_token(&Secret::new("fuzz-token-0123456789"), true),
    };
    let verdict = gate.decide(&request);
    assert_eq!(verdict, gate.decide(&request));
    let answer = match verdict {
        Verdict::Health => response::health(gate.authority.mode(), true),
        Verdict::Accept { upgrade, .. } => response::switching_protocols(upgrade.key, None),
        Verdict::Reject(reason) => response::reject(reason),
    };
    assert!(answer.starts_with(b"HTTP/1.1 "));
});
