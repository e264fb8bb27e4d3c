//! Any bytes into the head parser, then through the whole gate.
//!
//! Properties: the same input gives the same answer; a complete head never claims more
//! bytes than it was given; the head alone parses the same, and no shorter prefix of
//! it is complete; a routed upgrade has a 24-character key and an origin-form target;
//! an upgrade is accepted only if its query holds exactly one `token` pair whose
//! decoded value is the secret; every verdict has a response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::auth::Authority;
use wsgate::internal::form;
use wsgate::internal::gate::{Gate, Verdict};
use wsgate::internal::outcome::Reason;
use wsgate::internal::policy::Policy;
use wsgate::internal::request::{self, Head, Route};
use wsgate::internal::response;
use wsgate::internal::scope::Scopes;
use wsgate::internal::secret::{self, Presented, Secret};

const SECRET: &str = "fuzz-token-0123456789";

fuzz_target!(|data: &[u8]| {
    let (mut one, mut two) = (request::header_storage(), request::header_storage());
    let first = request::parse(data, &mut one);
    assert_eq!(
        first,
        request::parse(data, &mut two),
        "same input, same answer"
    );
    let Ok(Head::Complete { len, request }) = first else {
        return;
    };
    assert!(
        len <= data.len(),
        "head of {len} bytes from {} given",
        data.len()
    );
    let mut alone = request::header_storage();
    match request::parse(&data[..len], &mut alone) {
        Ok(Head::Complete { len: again, .. }) => assert_eq!(again, len),
        other => panic!("the head alone parses differently: {other:?}"),
    }
    assert!(
        !matches!(
            request::parse(&data[..len - 1], &mut request::header_storage()),
            Ok(Head::Complete { .. })
        ),
        "a shorter prefix is complete"
    );

    if let Ok(Route::Upgrade(up)) = request::route(&request) {
        assert_eq!(up.key.len(), 24);
        assert!(up.target().starts_with('/'));
        assert!(!up.target().contains('#'));
    }

    let gate = Gate {
        policy: Policy::default(),
        authority: Authority::query_token(&Secret::new(SECRET), true)
            .expect("a short enough token"),
        required: Scopes::NONE,
        console: true,
    };
    let now = std::time::SystemTime::now();
    let verdict = gate.decide(&request, now);
    assert_eq!(verdict, gate.decide(&request, now));
    if let Verdict::Accept { upgrade, .. } = &verdict {
        let query = form::query_of(upgrade.target()).as_bytes();
        // Counted independently: exactly one pair decodes to the name `token`.
        let named = query
            .split(|&b| b == b'&')
            .filter(|p| {
                let name = p.split(|&b| b == b'=').next().unwrap_or_default();
                form::decode(name).is_ok_and(|n| n == b"token")
            })
            .count();
        assert_eq!(named, 1);
        let Ok(Presented::One(credential)) = secret::from_query(query) else {
            panic!("accepted without one credential");
        };
        assert_eq!(credential.to_secret().expose(), SECRET.as_bytes());
    }
    let answer = match verdict {
        Verdict::Health => response::health(gate.authority.mode(), true, "echo"),
        Verdict::Check(decision) => {
            response::check(decision.outcome(), gate.authority.mode(), true)
        }
        Verdict::Accept { upgrade, .. } => response::switching_protocols(upgrade.key, None, None),
        Verdict::Reject(reason) => response::reject(reason, gate.authority.mode()),
        // This gate has no pairing desk: the daemon answers the path as not found.
        Verdict::Pair(..) => response::reject(Reason::NotFound, gate.authority.mode()),
        // The page's bytes do not depend on the request.
        Verdict::Console => b"HTTP/1.1 200 OK\r\n".to_vec(),
    };
    assert!(answer.starts_with(b"HTTP/1.1 "));
});
