//! Any bytes as a `User-Agent`, read for the name of a paired token.
//!
//! Properties: the same input gives the same answer; the browser is one of the known
//! names, or a short plain product name the input starts with; the platform is one of
//! the known names; a known browser or platform is read only when its word is in the
//! input; the paired token's name is a valid store name with room for a ` (n)` suffix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgate::internal::pairing::paired_name;
use wsgate::internal::store::{MAX_NAME, valid_name};
use wsgate::internal::user_agent::{BROWSERS, MAX_PRODUCT, PLATFORMS, describe};

fn contains(data: &[u8], word: &str) -> bool {
    data.windows(word.len()).any(|w| w == word.as_bytes())
}

fuzz_target!(|data: &[u8]| {
    let agent = describe(data);
    assert_eq!(agent, describe(data));
    if let Some(browser) = agent.browser {
        let known: Vec<&str> = BROWSERS
            .iter()
            .filter(|(product, _)| contains(data, product))
            .map(|&(_, name)| name)
            .collect();
        match known.first() {
            Some(first) => assert_eq!(browser, *first),
            None => {
                assert!(data.starts_with(browser.as_bytes()), "{browser:?}");
                assert!(browser.len() <= MAX_PRODUCT);
                assert!(
                    browser
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                    "{browser:?}"
                );
            }
        }
    }
    if let Some(platform) = agent.platform {
        assert!(
            PLATFORMS
                .iter()
                .any(|&(word, name)| name == platform && contains(data, word)),
            "{platform:?}"
        );
    } else {
        assert!(!PLATFORMS.iter().any(|(word, _)| contains(data, word)));
    }
    let name = paired_name(Some(data), 1_795_960_920);
    assert!(valid_name(&name), "{name:?}");
    assert!(name.chars().count() + " (99)".len() <= MAX_NAME, "{name:?}");
    assert!(name.starts_with("paired "), "{name:?}");
});
