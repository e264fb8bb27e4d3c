//! Any bytes as a token store file.
//!
//! Properties: the same input gives the same answer; what parses serializes to text
//! that parses to the same entries, and serializing those gives the same text again;
//! every entry read has a valid id and name, and ids and digests are unique; an error
//! names a line that exists (or 0, the whole file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::store::{self, parse, serialize};

fuzz_target!(|data: &[u8]| {
    let first = parse(data);
    assert_eq!(first, parse(data));
    match first {
        Ok(entries) => {
            let text = serialize(&entries);
            let again = parse(text.as_bytes()).expect("serialized entries parse");
            assert_eq!(again, entries);
            assert_eq!(serialize(&again), text);
            for (i, e) in entries.iter().enumerate() {
                assert!(store::valid_id(&e.id), "{:?}", e.id);
                assert!(store::valid_name(&e.name), "{:?}", e.name);
                for other in &entries[i + 1..] {
                    assert_ne!(e.id, other.id);
                    assert!(!e.digest.matches(&other.digest));
                }
            }
        }
        Err(e) => {
            let lines = data.split(|&b| b == b'\n').count();
            assert!(e.line <= lines, "line {} of {lines}", e.line);
            assert!(!e.message.is_empty());
        }
    }
});
