//! Any secret, carried in any form a client or a tool produces, through the one
//! function that decides whether text holds a secret.
//!
//! Input: two bytes choosing the form and the wrappings, then `SECRET\0PREFIX\0SUFFIX`.
//! The secret travels as it is or as base64 (url-safe or standard, padded or not),
//! between the prefix and the suffix, and the whole is then encoded up to 3 times,
//! each time by one of the encoders tools use (percent-encoding with upper- or
//! lower-case hex, form-encoding with `+` for a space, every byte encoded).
//!
//! Properties: the text holds the secret, and a set without it holds nothing; the same
//! text gives the same answer; the bytes examined are at most
//! `(MAX_DECODINGS + 1) × len`, whatever the text; a target redacted with the secret in
//! force no longer holds it.
#![no_main]

use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD};
use libfuzzer_sys::fuzz_target;
use wsgate::internal::redact::{self, MAX_DECODINGS, REDACTED, Secrets};

/// Percent-encodes `bytes`: all of them, or all but RFC 3986's unreserved ones; in
/// upper or lower case hex; with spaces as `+` when `form`.
fn encode(bytes: &[u8], all: bool, lower: bool, form: bool) -> Vec<u8> {
    let hex: &[u8; 16] = if lower {
        b"0123456789abcdef"
    } else {
        b"0123456789ABCDEF"
    };
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if form && b == b' ' {
            out.push(b'+');
        } else if unreserved && !all {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let how = u16::from_le_bytes([*a, *b]);
    let mut parts = rest.splitn(3, |&b| b == 0);
    let secret = parts.next().unwrap_or_default();
    let prefix = parts.next().unwrap_or_default();
    let suffix = parts.next().unwrap_or_default();
    if secret.is_empty() {
        return;
    }
    let mut secrets = Secrets::new();
    secrets.add(secret);

    let form = match how & 7 {
        1 => BASE64URL_NOPAD.encode(secret).into_bytes(),
        2 => BASE64URL.encode(secret).into_bytes(),
        3 => BASE64_NOPAD.encode(secret).into_bytes(),
        4 => BASE64.encode(secret).into_bytes(),
        _ => secret.to_vec(),
    };
    let mut text = [prefix, &form, suffix].concat();
    let layers = (how >> 3) & 3;
    for layer in 0..layers {
        let choice = (how >> (5 + 3 * layer)) & 7;
        text = match choice {
            1 => encode(&text, false, true, false),
            2 => encode(&text, false, false, true),
            3 => encode(&text, true, false, false),
            4 => encode(&text, true, true, false),
            5 => encode(&text, false, true, true),
            _ => encode(&text, false, false, false),
        };
    }

    assert!(secrets.holds(&text), "the secret is not found");
    assert!(secrets.holds(&text), "same text, same answer");
    assert!(!Secrets::new().holds(&text));
    let work = secrets.work(&text);
    assert!(
        work <= (MAX_DECODINGS + 1) * text.len(),
        "{work} bytes examined for {} bytes of text",
        text.len()
    );

    let Ok(shown) = std::str::from_utf8(&text) else {
        return;
    };
    let target = format!("/p?x={shown}");
    if let Some(printed) = redact::target(&target, &secrets) {
        let redacted_word = secrets.holds(REDACTED.as_bytes());
        assert!(
            redacted_word || !secrets.holds(printed.as_bytes()),
            "the printed target holds the secret"
        );
    }
});
