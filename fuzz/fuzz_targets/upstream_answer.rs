//! Any bytes as a WebSocket upstream's answer, and as an `--upstream` URL.
//!
//! Properties of the answer: a valid 101 is found only when its head is whole (every
//! shorter prefix is incomplete or the same error), its length is within the bytes,
//! the subprotocol it selects is one that was offered and the extensions are printable
//! and only ones offered; the same input gives the same answer. Of the URL: what
//! parses prints as a URL that parses to the same target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::backend::{Offered, Target, parse_answer};

const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let offered = Offered {
        protocols: if flags & 1 != 0 {
            vec!["chat".into(), "v2.json".into()]
        } else {
            Vec::new()
        },
        marker: flags & 2 != 0,
        extensions: if flags & 4 != 0 {
            vec!["permessage-deflate".into()]
        } else {
            Vec::new()
        },
    };
    let answer = parse_answer(bytes, KEY, &offered);
    assert_eq!(answer, parse_answer(bytes, KEY, &offered));
    if let Ok(Some(a)) = &answer {
        assert!(a.len <= bytes.len());
        if let Some(p) = &a.protocol {
            assert!(offered.protocols.contains(p));
        }
        if let Some(e) = &a.extensions {
            assert!(!offered.extensions.is_empty());
            assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t'));
        }
        for cut in [a.len.saturating_sub(1), a.len / 2] {
            if cut < a.len {
                assert!(matches!(
                    parse_answer(&bytes[..cut], KEY, &offered),
                    Ok(None) | Err(_)
                ));
            }
        }
        assert_eq!(parse_answer(&bytes[..a.len], KEY, &offered), answer);
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(target) = Target::parse(text)
    {
        let printed = target.to_string();
        assert_eq!(Target::parse(&printed), Ok(target), "{printed}");
    }
});
