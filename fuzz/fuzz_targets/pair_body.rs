//! Any bytes as a `POST /_wsgate/pair` body.
//!
//! Properties: the same input gives the same answer; a code read is never longer than
//! the body; a code read from any body reads back the same from the JSON and the
//! form body a client would send for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::pairing::code_from_body;

fuzz_target!(|data: &[u8]| {
    let code = code_from_body(data);
    assert_eq!(code, code_from_body(data));
    let Some(code) = code else { return };
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
});
