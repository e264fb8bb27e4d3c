//! What a `User-Agent` says of the browser and the platform it runs on, in the words
//! people use (`Chrome`, `macOS`): enough to tell paired tokens apart in a listing.
//! Pure; the text a client sent never comes back but as one of the fixed words below,
//! or, for a client that is no browser (`curl/8.5.0`), its first product name when
//! that is a short plain word.
//!
//! A `User-Agent` is a list of products (RFC 9110 §10.1.5), `name/version`, and
//! comments in parentheses; browsers name each other's products for compatibility
//! (Edge says `Chrome/… Safari/…`, Chrome says `Safari/…`), so the most specific
//! product wins: the order of [`BROWSERS`] is that order. The platform is read from
//! the words in the comments, most specific first ([`PLATFORMS`]).

/// Product names and the browser they mean, most specific first.
pub const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("Edge/", "Edge"),
    ("OPR/", "Opera"),
    ("OPiOS/", "Opera"),
    ("Opera/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Vivaldi/", "Vivaldi"),
    ("YaBrowser/", "Yandex Browser"),
    ("Brave/", "Brave"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
];

/// Words of the comments and the platform they mean, most specific first: iOS and
/// Android before the systems whose names their agents also carry (`like Mac OS X`,
/// `Linux`), ChromeOS before Linux.
pub const PLATFORMS: &[(&str, &str)] = &[
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("iPod", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("FreeBSD", "FreeBSD"),
    ("OpenBSD", "OpenBSD"),
    ("NetBSD", "NetBSD"),
    ("Linux", "Linux"),
    ("X11", "Linux"),
];

/// The longest product name taken from an agent that is no known browser.
pub const MAX_PRODUCT: usize = 24;

/// What an agent says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agent<'a> {
    /// The browser, or the product of a client that is no known browser; `None` when
    /// neither can be told.
    pub browser: Option<&'a str>,
    /// The platform, when it can be told.
    pub platform: Option<&'static str>,
}

/// Reads a `User-Agent` value. Bytes that are not UTF-8 or not printable only make
/// less of it known; nothing fails.
pub fn describe(agent: &[u8]) -> Agent<'_> {
    let contains = |word: &str| memchr::memmem::find(agent, word.as_bytes()).is_some();
    let known = BROWSERS
        .iter()
        .find(|(product, _)| contains(product))
        .map(|&(_, name)| name);
    let platform = PLATFORMS
        .iter()
        .find(|(word, _)| contains(word))
        .map(|&(_, name)| name);
    Agent {
        browser: known.or_else(|| product(agent)),
        platform,
    }
}

/// The first product's name, when it is a short plain word and not the `Mozilla`
/// every browser starts with: `curl` of `curl/8.5.0`.
fn product(agent: &[u8]) -> Option<&str> {
    let end = agent
        .iter()
        .position(|&b| b == b'/' || b == b' ')
        .unwrap_or(agent.len());
    let name = std::str::from_utf8(&agent[..end]).ok()?;
    let plain = (1..=MAX_PRODUCT).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && name.bytes().any(|b| b.is_ascii_alphabetic());
    (plain && name != "Mozilla").then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line: a name, a `User-Agent` as sent, the browser and platform read.
    macro_rules! agents {
        ($($name:ident: $agent:expr => $browser:expr, $platform:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let agent = describe($agent.as_bytes());
                    assert_eq!((agent.browser, agent.platform), ($browser, $platform));
                }
            )*
        };
    }

    agents! {
        chrome_linux: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            => Some("Chrome"), Some("Linux");
        headless_chromium: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36"
            => Some("Headless Chrome"), Some("Linux");
        chromium_linux: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/120.0.6099.224 Chrome/120.0.6099.224 Safari/537.36"
            => Some("Chromium"), Some("Linux");
        chrome_windows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            => Some("Chrome"), Some("Windows");
        chrome_macos: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            => Some("Chrome"), Some("macOS");
        chrome_android: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
            => Some("Chrome"), Some("Android");
        chrome_ios: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
            => Some("Chrome"), Some("iOS");
        chromebook: "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
            => Some("Chrome"), Some("ChromeOS");
        firefox_windows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
            => Some("Firefox"), Some("Windows");
        firefox_linux: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
            => Some("Firefox"), Some("Linux");
        firefox_ubuntu: "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
            => Some("Firefox"), Some("Linux");
        firefox_ios: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15"
            => Some("Firefox"), Some("iOS");
        safari_macos: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
            => Some("Safari"), Some("macOS");
        safari_ios: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
            => Some("Safari"), Some("iOS");
        safari_ipad: "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1"
            => Some("Safari"), Some("iOS");
        edge_windows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70"
            => Some("Edge"), Some("Windows");
        edge_android: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.2903.87"
            => Some("Edge"), Some("Android");
        opera_windows: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0"
            => Some("Opera"), Some("Windows");
        samsung_android: "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36"
            => Some("Samsung Internet"), Some("Android");
        vivaldi_linux: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Vivaldi/7.0.3495.18"
            => Some("Vivaldi"), Some("Linux");
        curl: "curl/8.5.0" => Some("curl"), None;
        python_websockets: "Python/3.12 websockets/13.1" => Some("Python"), None;
        wget_linux: "Wget/1.21.4 (linux-gnu)" => Some("Wget"), None;
        empty: "" => None, None;
        only_mozilla: "Mozilla/5.0" => None, None;
        mozilla_windows: "Mozilla/5.0 (Windows NT 10.0)" => None, Some("Windows");
        not_a_word: "<script>/1" => None, None;
        too_long: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1" => None, None;
        digits_only: "12345/6" => None, None;
    }

    #[test]
    fn bytes_that_are_not_text() {
        assert_eq!(
            describe(b"\xff\xfe Firefox/1 (Windows)"),
            Agent {
                browser: Some("Firefox"),
                platform: Some("Windows")
            }
        );
        assert_eq!(describe(b"\xff/1").browser, None);
    }
}
