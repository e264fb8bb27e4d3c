//! Any bytes as a `POST /_wsgate/pair` body.
//!
//! Properties: the same input gives the same answer; a code read is never longer than
//! the body; a code read from any body reads back the same from the JSON and the
//! form body a client would send for it. A `return` URL read is never longer than
//! the body either, and the origin found in it is the URL's start (in lowercase), an
//! `http` or `https` origin without user-info, escapes or fragment, followed by the
//! end, a path or a query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::pairing::{code_from_body, return_from_body, return_origin};

fn check_origin(url: &str) {
    let origin = return_origin(url);
    assert_eq!(origin, return_origin(url));
    let Some(origin) = origin else { return };
    let lower = url.to_ascii_lowercase();
    assert!(lower.starts_with(&origin), "{url:?} {origin:?}");
    assert!(
        origin.starts_with("http://") || origin.starts_with("https://"),
        "{origin:?}"
    );
    let authority = origin.split_once("://").map_or("", |(_, a)| a);
    assert!(!authority.is_empty(), "{url:?}");
    assert!(
        !authority.contains(['@', '\\', '%', '#', '/', '?']),
        "{url:?}"
    );
    assert!(!url.contains('#'), "{url:?}");
    match lower.as_bytes().get(origin.len()) {
        None | Some(b'/' | b'?') => {}
        Some(other) => panic!("{url:?}: the origin is followed by {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let code = code_from_body(data);
    assert_eq!(code, code_from_body(data));
    if let Some(code) = code {
        assert!(code.len() <= data.len());
        if let Ok(text) = std::str::from_utf8(&code) {
            let json = serde_json::json!({ "code": text }).to_string();
            assert_eq!(
                code_from_body(json.as_bytes()).as_deref(),
                Some(&code[..]),
                "{json}"
            );
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                let form = format!("code={text}");
                assert_eq!(code_from_body(form.as_bytes()).as_deref(), Some(&code[..]));
            }
        }
    }
    let back = return_from_body(data);
    assert_eq!(back, return_from_body(data));
    if let Ok(Some(url)) = &back {
        assert!(url.len() <= data.len());
        check_origin(url);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_origin(text);
    }
});
