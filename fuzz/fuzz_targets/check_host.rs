//! Any bytes as Host and Origin values against the default loopback policy.
//!
//! Properties: the same input gives the same answer; an accepted Host is ASCII with
//! nothing that could smuggle another authority (`@`, `/`, `\`, whitespace) and is
//! accepted case-insensitively; an accepted Origin is http(s) on a loopback host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::policy::{self, Policy};

fuzz_target!(|data: &[u8]| {
    let (host, origin) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let policy = Policy::default();
    let answer = policy.check(host, origin);
    assert_eq!(answer, policy.check(host, origin));
    if policy.check(host, None).is_ok() {
        assert!(host.is_ascii());
        assert!(!host.iter().any(|b| b"@/\\ \t\r\n".contains(b)), "{host:?}");
        assert!(policy.check(&host.to_ascii_uppercase(), None).is_ok());
        let (name, _) = policy::split_port(host).expect("an accepted host splits");
        assert!(policy::is_loopback_name(name));
    }
    if let Some(origin) = origin
        && answer.is_ok()
    {
        let lower = origin.to_ascii_lowercase();
        assert!(
            lower.starts_with(b"http://") || lower.starts_with(b"https://"),
            "{origin:?}"
        );
        assert!(!origin.contains(&b'/') || origin.iter().filter(|&&b| b == b'/').count() == 2);
    }
});
