//! Any secret, carried in any form a client or a tool produces, through the one
//! function that decides whether text holds a secret.
//!
//! Input: two bytes choosing the form and the wrappings, then `SECRET\0PREFIX\0SUFFIX`.
//! The secret travels as it is, or as base64 (url-safe or standard, padded or not) on
//! its own or after one or two bytes of the prefix (as in `Basic base64(user:token)`),
//! as a parameter's value between the prefix and the suffix; the whole is then encoded
//! up to 3 times, each time by one of the encoders tools use (percent-encoding with
//! upper- or lower-case hex, form-encoding with `+` for a space, every byte encoded, a
//! JSON string's escapes).
//!
//! Properties: the text holds the secret (when base64 leaves enough characters of it
//! to look for); the same text gives the same answer; the bytes examined are at most
//! `(MAX_DECODINGS + 1) × len`, whatever the text; a target redacted with the secret in
//! force no longer holds it.
#![no_main]

use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD};
use libfuzzer_sys::fuzz_target;
use wsgate::internal::redact::{self, MAX_DECODINGS, MIN_BASE64, REDACTED, Secrets};

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

/// A JSON string's escapes of `"`, `\` and `/` (`/` as `\/`, as some encoders write it).
fn json_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if matches!(b, b'"' | b'\\' | b'/') {
            out.push(b'\\');
        }
        out.push(b);
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

    // Base64 after `before` bytes of the prefix, so that the secret sits at another
    // alignment in the encoding.
    let before = &prefix[..prefix.len().min(usize::from(how >> 14))];
    let aligned = [before, secret].concat();
    let form = match how & 7 {
        1 => BASE64URL_NOPAD.encode(secret).into_bytes(),
        2 => BASE64URL.encode(secret).into_bytes(),
        3 => BASE64_NOPAD.encode(secret).into_bytes(),
        4 => BASE64.encode(secret).into_bytes(),
        5 => BASE64.encode(&aligned).into_bytes(),
        6 => BASE64URL_NOPAD.encode(&aligned).into_bytes(),
        _ => secret.to_vec(),
    };
    // Base64 keeps too few characters of a short secret for it to be looked for.
    let base64 = (1..=6).contains(&(how & 7));
    if base64 && secret.len() * 8 / 6 < MIN_BASE64 + 2 {
        return;
    }
    // Delimited as a parameter's value is: a secret run together with half an escape
    // (`%2` then `C…`) is decoded into something else, by wsgate as by any decoder.
    let mut text = [prefix, b"&t=", &form, b"&", suffix].concat();
    let layers = (how >> 3) & 3;
    for layer in 0..layers {
        let choice = (how >> (5 + 3 * layer)) & 7;
        text = match choice {
            1 => encode(&text, false, true, false),
            2 => encode(&text, false, false, true),
            3 => encode(&text, true, false, false),
            4 => encode(&text, true, true, false),
            5 => encode(&text, false, true, true),
            6 => json_escape(&text),
            _ => encode(&text, false, false, false),
        };
    }

    assert!(secrets.holds(&text), "the secret is not found");
    assert!(secrets.holds(&text), "same text, same answer");
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
