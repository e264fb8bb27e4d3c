//! Any byte stream through the frame-boundary tracker, whole and cut into pieces.
//!
//! The first byte chooses where the stream is cut (each piece 1 to 32 bytes, from the
//! bytes that follow it); the rest is the stream. Properties: every step takes at
//! least one byte and no more than it was given, and a partial header takes all of
//! them; a header is reported only once all its bytes were seen, and its bytes are the
//! stream's; payload never runs past the frame its header announced; and the stream
//! cut into pieces gives the same frames, at the same offsets, with the same close
//! code and message size, and fails at the same place, as the stream whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::frames::{Head, MAX_HEAD, Step, Tracker};

/// What a stream was read as: each header with its offset, the payload bytes after
/// each, and where it failed, if it did.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    heads: Vec<(usize, Head, Vec<u8>)>,
    payload: Vec<u64>,
    failed_at: Option<usize>,
    close: Option<u16>,
    message: u64,
    boundary: bool,
}

fn read(stream: &[u8], cut: impl Fn(usize) -> usize) -> Reading {
    let mut t = Tracker::new();
    let mut r = Reading {
        heads: Vec::new(),
        payload: Vec::new(),
        failed_at: None,
        close: None,
        message: 0,
        boundary: true,
    };
    // Where the current header started, and how much payload its frame announced.
    let mut head_start = 0;
    let mut owed = 0u64;
    let mut at = 0;
    let mut piece = 0;
    while at < stream.len() {
        let end = (at + cut(piece)).min(stream.len());
        piece += 1;
        let mut rest = &stream[at..end];
        while !rest.is_empty() {
            let step = t.step(rest);
            let Ok((n, step)) = step else {
                r.failed_at = Some(head_start);
                return r;
            };
            assert!(n >= 1 && n <= rest.len(), "{n} of {}", rest.len());
            match step {
                Step::Partial => {
                    assert_eq!(owed, 0);
                    assert_eq!(n, rest.len());
                }
                Step::Head { head, whole } => {
                    assert_eq!(owed, 0);
                    let bytes = t.head_bytes().to_vec();
                    assert!((2..=MAX_HEAD).contains(&bytes.len()));
                    let offset = at + n - bytes.len();
                    assert_eq!(offset, head_start);
                    assert_eq!(&stream[offset..at + n], &bytes[..]);
                    assert_eq!(whole, bytes.len() == n);
                    r.heads.push((offset, head, bytes));
                    r.payload.push(0);
                    owed = head.len;
                    head_start = at + n;
                }
                Step::Payload => {
                    assert!(n as u64 <= owed, "payload {n} past the frame's {owed}");
                    owed -= n as u64;
                    if let Some(p) = r.payload.last_mut() {
                        *p += n as u64;
                    }
                    head_start = at + n;
                }
            }
            at += n;
            rest = &rest[n..];
        }
    }
    r.close = t.close_code();
    r.message = t.message_len();
    r.boundary = t.at_boundary();
    assert_eq!(r.boundary, owed == 0 && head_start == stream.len());
    r
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = read(stream, |_| usize::MAX);
    let cut = read(stream, |i| {
        1 + (usize::from(seed.rotate_left(i as u32)) ^ i) % 32
    });
    assert_eq!(whole, cut);
    let bytes = read(stream, |_| 1);
    assert_eq!(whole, bytes);
});
