//! Pairing: a 6-digit code shown to the operator, exchanged once by a browser for a
//! token. This module and [`Pairing`] are pure (the clock and the random numbers come
//! from outside); [`desk`] holds the running daemon's code, [`page`] is the page a
//! pairing link opens, and [`answer`] has the endpoint's answers. The endpoint itself
//! (reading the body, storing the token) is the server's `pairing` part.
//!
//! - The code is drawn uniformly from 000000–999999 (rejection sampling of 32-bit
//!   random numbers: no modulo bias) and compared in constant time.
//! - It is single-use and lives `--pair-code-ttl` (5 minutes by default); used, expired, or
//!   guessed wrong [`MAX_FAILURES`] times, it is replaced by a new one, which the
//!   operator is shown the same way.
//! - Rotation alone does not stop guessing (every guess still has a one in a million
//!   chance), so after the wrong guesses that rotate a code, pairing also pauses:
//!   [`COOLDOWN`] at first, doubling each time up to [`MAX_COOLDOWN`], and answered
//!   with 429 meanwhile. Five guesses a minute at best makes a million-to-one code
//!   take months, not minutes.

pub mod answer;
pub mod desk;
pub mod page;

use std::fmt;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::date;
use crate::policy::Policy;
use crate::scope::Scopes;
use crate::user_agent;

/// What `--pairing` sets up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairingConfig {
    /// Scopes of a paired token (`--pair-scopes`); `None` for [`default_scopes`].
    pub scopes: Option<Scopes>,
    /// Lifetime of a paired token in seconds (`--pair-expires`); `None` for never.
    pub expires: Option<u64>,
    /// How long a code lives (`--pair-code-ttl`).
    pub code_lifetime: Duration,
}

/// What a paired token gets without `--pair-scopes`: what the backend requires of
/// every connection, and reading and writing, so that a paired browser can use it.
pub fn default_scopes(required: Scopes) -> Scopes {
    required.with(Scopes::READ_WRITE)
}

/// Wrong guesses that end a code.
pub const MAX_FAILURES: u32 = 5;
/// The first pause after a code is guessed wrong [`MAX_FAILURES`] times.
pub const COOLDOWN: Duration = Duration::from_secs(60);
/// The longest pause.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(15 * 60);

/// A pairing code: six ASCII digits. Never printed by `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code([u8; 6]);

impl Code {
    /// The largest multiple of 1,000,000 that fits in a u32: random values at or above
    /// it are drawn again, so that every code is equally likely.
    const LIMIT: u32 = 4_294_000_000;

    /// A uniformly drawn code from a source of random `u32`s.
    pub fn draw(
        mut random: impl FnMut() -> Result<u32, getrandom::Error>,
    ) -> Result<Code, getrandom::Error> {
        loop {
            let n = random()?;
            if n < Self::LIMIT {
                return Ok(Code::from_number(n % 1_000_000));
            }
        }
    }

    fn from_number(mut n: u32) -> Code {
        let mut digits = [b'0'; 6];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        Code(digits)
    }

    /// The code as text, for the operator.
    pub fn reveal(&self) -> &str {
        // Six ASCII digits.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Whether `presented` is this code: six bytes compared in constant time; any other
    /// length is simply wrong.
    fn matches(&self, presented: &[u8]) -> bool {
        let mut padded = [0u8; 6];
        let fits = presented.len() == 6;
        if fits {
            padded.copy_from_slice(presented);
        }
        fits && bool::from(self.0.ct_eq(&padded))
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// What became of a pairing attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The right code: make a token. The code has been replaced.
    Accepted,
    /// Wrong (or expired). `rotated` when that replaced the code.
    Refused {
        /// Whether the code was replaced.
        rotated: bool,
    },
    /// Pairing is paused after too many wrong guesses; try again after this long.
    Paused(Duration),
}

/// The pairing state of one daemon.
#[derive(Debug)]
pub struct Pairing {
    code: Code,
    issued: Instant,
    lifetime: Duration,
    failures: u32,
    paused_until: Option<Instant>,
    next_pause: Duration,
    /// Counts codes issued, so the operator can tell a new one.
    pub generation: u64,
}

impl Pairing {
    /// Starts with a fresh code at `now`.
    pub fn new(code: Code, now: Instant, lifetime: Duration) -> Pairing {
        Pairing {
            code,
            issued: now,
            lifetime,
            failures: 0,
            paused_until: None,
            next_pause: COOLDOWN,
            generation: 1,
        }
    }

    /// The current code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// When the current code expires.
    pub fn expires(&self) -> Instant {
        self.issued + self.lifetime
    }

    /// Replaces an expired code with `fresh`; returns whether it did.
    pub fn refresh(&mut self, now: Instant, fresh: Code) -> bool {
        if now >= self.expires() {
            self.replace(now, fresh);
            return true;
        }
        false
    }

    fn replace(&mut self, now: Instant, fresh: Code) {
        self.code = fresh;
        self.issued = now;
        self.failures = 0;
        self.generation += 1;
    }

    /// Judges a presented code at `now`. `fresh` replaces the current code if this
    /// attempt ends it.
    pub fn attempt(&mut self, presented: &[u8], now: Instant, fresh: Code) -> Attempt {
        if let Some(until) = self.paused_until {
            if now < until {
                return Attempt::Paused(until - now);
            }
            self.paused_until = None;
        }
        if self.refresh(now, fresh) {
            return Attempt::Refused { rotated: true };
        }
        if self.code.matches(presented) {
            self.replace(now, fresh);
            self.next_pause = COOLDOWN;
            return Attempt::Accepted;
        }
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            self.replace(now, fresh);
            self.paused_until = Some(now + self.next_pause);
            self.next_pause = (self.next_pause * 2).min(MAX_COOLDOWN);
            return Attempt::Refused { rotated: true };
        }
        Attempt::Refused { rotated: false }
    }
}

/// Reads the code from a pairing request body: JSON `{"code":"123456"}` (a number is
/// accepted too) or a form body `code=123456`. Anything else is `None`.
pub fn code_from_body(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        #[derive(serde::Deserialize)]
        struct Body {
            code: serde_json::Value,
        }
        let body: Body = serde_json::from_str(text).ok()?;
        return match body.code {
            serde_json::Value::String(s) => Some(s.into_bytes()),
            serde_json::Value::Number(n) => n
                .as_u64()
                .filter(|&v| v < 1_000_000)
                .map(|v| format!("{v:06}").into_bytes()),
            _ => None,
        };
    }
    match crate::form::form_value(text.as_bytes(), b"code") {
        Ok(Some(value)) => Some(value),
        _ => None,
    }
}

/// The `return` URL a pairing request body names, the page to hand the new token to:
/// `Ok(None)` when there is none, `Err(())` when it is not text (a JSON member that is
/// not a string, a form value that is not UTF-8 or does not decode).
#[allow(clippy::result_unit_err)]
pub fn return_from_body(body: &[u8]) -> Result<Option<String>, ()> {
    let text = std::str::from_utf8(body).map_err(|_| ())?.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| ())?;
        return match value.get("return") {
            None => Ok(None),
            Some(serde_json::Value::String(url)) => Ok(Some(url.clone())),
            Some(_) => Err(()),
        };
    }
    match crate::form::form_value(text.as_bytes(), b"return") {
        Ok(Some(value)) => String::from_utf8(value).map(Some).map_err(|_| ()),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

/// The longest `return` URL taken.
pub const MAX_RETURN: usize = 512;

/// The origin of a `return` URL, lowercase (`https://app.example:8443`), when it is an
/// absolute `http` or `https` URL a browser reads the same way: printable ASCII, a
/// host and port of the characters an `--allow-origin` entry may hold (so no
/// user-info `@`, no `\`, no percent-encoding in it), and no fragment of its own (the
/// token goes there). `None` for anything else.
pub fn return_origin(url: &str) -> Option<String> {
    if url.len() > MAX_RETURN || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    if url.contains(['#', '\\']) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_byte = |b: u8| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b);
    if authority.is_empty() || !authority.bytes().all(host_byte) {
        return None;
    }
    let scheme_end = lower.len() - rest.len();
    Some(lower[..scheme_end + end].to_owned())
}

/// Whether a pairing may hand its token to the page at `url`: only when its origin
/// is exactly one of the `--allow-origin` entries (not `*`, not `null`, not a loopback
/// origin that was never listed). A token in a URL goes wherever the URL says, so it
/// goes only where the operator said by name.
pub fn return_allowed(url: &str, policy: &Policy) -> bool {
    return_origin(url).is_some_and(|origin| policy.lists_origin(&origin))
}

/// The name of a token paired at `now` by a client with this `User-Agent`: the
/// browser and the platform it names, and the time, in UTC (the time zone of the
/// store and its listing): `paired Chrome on Linux 2026-11-29 14:02 UTC`. What the
/// agent does not tell is `browser` and `unknown`.
pub fn paired_name(user_agent: Option<&[u8]>, now: u64) -> String {
    let agent = user_agent.map(user_agent::describe);
    let browser = agent.and_then(|a| a.browser).unwrap_or("browser");
    let platform = agent.and_then(|a| a.platform).unwrap_or("unknown");
    format!(
        "paired {browser} on {platform} {} UTC",
        date::format_minute(now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    /// How long a code lives by default (`--pair-code-ttl`).
    const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

    fn code(s: &str) -> Code {
        let mut b = [0u8; 6];
        b.copy_from_slice(s.as_bytes());
        Code(b)
    }

    #[test]
    fn drawing_is_uniform_by_rejection() {
        let mut values = [Code::LIMIT, u32::MAX, 1_234_567].into_iter();
        let drawn = Code::draw(|| Ok(values.next().unwrap_or(0))).unwrap();
        assert_eq!(drawn.reveal(), "234567");
        assert_eq!(Code::from_number(7).reveal(), "000007");
        assert_eq!(Code::from_number(999_999).reveal(), "999999");
        assert_eq!(Code::LIMIT % 1_000_000, 0);
        assert!(u64::from(Code::LIMIT) + 1_000_000 > u64::from(u32::MAX));
        assert_eq!(format!("{drawn:?}"), "Code(<redacted>)");
    }

    #[test]
    fn single_use() {
        let t0 = Instant::now();
        let mut p = Pairing::new(code("123456"), t0, CODE_LIFETIME);
        assert_eq!(p.attempt(b"123456", t0, code("654321")), Attempt::Accepted);
        assert_eq!(
            p.attempt(b"123456", t0, code("111111")),
            Attempt::Refused { rotated: false }
        );
        assert_eq!(p.code().reveal(), "654321");
        assert_eq!(p.generation, 2);
    }

    #[test]
    fn five_wrong_guesses_rotate_and_pause() {
        let t0 = Instant::now();
        // Long-lived codes, so that only the guesses end them here.
        let mut p = Pairing::new(code("123456"), t0, Duration::from_secs(86_400));
        for _ in 0..4 {
            assert_eq!(
                p.attempt(b"000000", t0, code("999999")),
                Attempt::Refused { rotated: false }
            );
        }
        assert_eq!(
            p.attempt(b"000000", t0, code("222222")),
            Attempt::Refused { rotated: true }
        );
        assert_eq!(p.code().reveal(), "222222");
        assert_eq!(
            p.attempt(b"222222", t0, code("333333")),
            Attempt::Paused(COOLDOWN)
        );
        let later = t0 + COOLDOWN;
        assert_eq!(
            p.attempt(b"222222", later, code("333333")),
            Attempt::Accepted
        );
        // Pauses double, up to a limit.
        let mut now = later;
        let mut pauses = Vec::new();
        for _ in 0..6 {
            for _ in 0..MAX_FAILURES {
                let _ = p.attempt(b"x", now, code("444444"));
            }
            match p.attempt(b"x", now, code("444444")) {
                Attempt::Paused(d) => pauses.push(d),
                other => panic!("{other:?}"),
            }
            now += MAX_COOLDOWN;
        }
        // A right code reset the pauses; from there they double.
        assert_eq!(pauses[0], COOLDOWN);
        assert_eq!(pauses[1], COOLDOWN * 2);
        assert_eq!(*pauses.last().unwrap(), MAX_COOLDOWN);
    }

    #[test]
    fn expired_codes_fail_and_rotate() {
        let t0 = Instant::now();
        let mut p = Pairing::new(code("123456"), t0, Duration::from_secs(10));
        let late = t0 + Duration::from_secs(10);
        assert_eq!(
            p.attempt(b"123456", late, code("777777")),
            Attempt::Refused { rotated: true }
        );
        assert_eq!(
            p.attempt(b"777777", late, code("888888")),
            Attempt::Accepted
        );
        let mut q = Pairing::new(code("123456"), t0, Duration::from_secs(10));
        assert!(!q.refresh(t0 + Duration::from_secs(9), code("000001")));
        assert!(q.refresh(late, code("000001")));
        assert_eq!(q.code().reveal(), "000001");
    }

    #[test]
    fn wrong_shapes_are_wrong() {
        let c = code("123456");
        assert!(c.matches(b"123456"));
        for bad in [&b""[..], b"12345", b"1234567", b"12345\0", b"abcdef"] {
            assert!(!c.matches(bad));
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(
            code_from_body(br#"{"code":"123456"}"#),
            Some(b"123456".to_vec())
        );
        assert_eq!(
            code_from_body(br#" {"code":"000123","x":1} "#),
            Some(b"000123".to_vec())
        );
        assert_eq!(code_from_body(br#"{"code":123}"#), Some(b"000123".to_vec()));
        assert_eq!(code_from_body(b"code=123456"), Some(b"123456".to_vec()));
        assert_eq!(code_from_body(b"a=1&code=654321"), Some(b"654321".to_vec()));
        for bad in [
            &b""[..],
            b"{",
            br#"{"code":null}"#,
            br#"{"cod":"1"}"#,
            b"code=%zz",
            b"\xff",
            br#"{"code":-1}"#,
        ] {
            assert_eq!(
                code_from_body(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn return_urls() {
        for (url, origin) in [
            ("https://app.example/cb", Some("https://app.example")),
            ("https://App.Example:8443", Some("https://app.example:8443")),
            (
                "http://app.localhost:5173/pair?x=1",
                Some("http://app.localhost:5173"),
            ),
            ("http://[::1]:8080/", Some("http://[::1]:8080")),
            ("https://app.example?x=/y", Some("https://app.example")),
            ("https://app.example/cb#wsgate_token=x", None),
            ("https://evil.example@app.example/", None),
            ("https://app.example\\@evil.example/", None),
            ("https://app%2eexample/", None),
            ("https://app.example /", None),
            ("https://app.exa\tmple/", None),
            ("javascript:alert(1)//https://app.example", None),
            ("data:text/html,https://app.example", None),
            ("//app.example/cb", None),
            ("/cb", None),
            ("https:///cb", None),
            ("ftp://app.example/", None),
            ("", None),
        ] {
            assert_eq!(return_origin(url).as_deref(), origin, "{url:?}");
        }
        let long = format!("https://app.example/{}", "x".repeat(MAX_RETURN));
        assert_eq!(return_origin(&long), None);

        let mut policy = Policy::default();
        policy.allow_origin("https://app.example").unwrap();
        policy.allow_origin("null").unwrap();
        assert!(return_allowed("https://app.example/cb", &policy));
        assert!(return_allowed("HTTPS://APP.EXAMPLE/cb", &policy));
        assert!(!return_allowed("http://app.example/cb", &policy));
        assert!(!return_allowed("https://app.example:8443/cb", &policy));
        assert!(!return_allowed("https://evil.example/cb", &policy));
        // Loopback pages may connect, but only a listed origin receives a token.
        assert!(!return_allowed("http://localhost:5173/cb", &policy));
        policy.allow_origin("*").unwrap();
        assert!(!return_allowed("https://evil.example/cb", &policy));
    }

    #[test]
    fn return_bodies() {
        assert_eq!(return_from_body(br#"{"code":"123456"}"#), Ok(None));
        assert_eq!(
            return_from_body(br#"{"code":"123456","return":"https://a.example/"}"#),
            Ok(Some("https://a.example/".into()))
        );
        assert_eq!(return_from_body(br#"{"code":"1","return":1}"#), Err(()));
        assert_eq!(return_from_body(br#"{"code":"1","return":null}"#), Err(()));
        assert_eq!(
            return_from_body(b"code=1&return=https%3A%2F%2Fa.example%2F"),
            Ok(Some("https://a.example/".into()))
        );
        assert_eq!(return_from_body(b"code=1"), Ok(None));
        assert_eq!(return_from_body(b"code=1&return=%ff"), Err(()));
        assert_eq!(return_from_body(b"code=1&return=%zz"), Err(()));
        assert_eq!(return_from_body(b"\xff"), Err(()));
    }

    #[test]
    fn paired_names() {
        let now = 1_795_960_920; // 2026-11-29T14:02:00Z
        let chrome = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(
            paired_name(Some(chrome), now),
            "paired Chrome on Linux 2026-11-29 14:02 UTC"
        );
        assert_eq!(
            paired_name(Some(b"curl/8.0"), now),
            "paired curl on unknown 2026-11-29 14:02 UTC"
        );
        assert_eq!(
            paired_name(None, now),
            "paired browser on unknown 2026-11-29 14:02 UTC"
        );
        for agent in [
            &b"  "[..],
            b"a\x01b\nc",
            "x\u{202e}y".as_bytes(),
            b"\xff\xfe",
        ] {
            let name = paired_name(Some(agent), now);
            assert!(store::valid_name(&name), "{name:?}");
            assert!(name.starts_with("paired browser on unknown"), "{name:?}");
        }
        // However long the agent, the name is short: fixed words, or a product name of
        // at most 24 characters.
        let long = paired_name(Some("Mozilla/5.0 ".repeat(200).as_bytes()), now);
        assert_eq!(long, "paired browser on unknown 2026-11-29 14:02 UTC");
        let product = format!("{}/1", "x".repeat(user_agent::MAX_PRODUCT));
        let longest = paired_name(Some(product.as_bytes()), now);
        assert!(longest.chars().count() + " (99)".len() <= store::MAX_NAME);
    }
}
