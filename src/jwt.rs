//! Signed bearer tokens: HS256 JSON Web Tokens (RFC 7519) in JWS compact serialization
//! (RFC 7515 §7.1), verified against one shared key.
//!
//! ```text
//! token = base64url(header) "." base64url(payload) "." base64url(signature)
//! signature = HMAC-SHA256(key, base64url(header) "." base64url(payload))
//! ```
//!
//! Checks, in order, each failure with its own reason:
//!
//! 1. three base64url parts (no padding), a JSON object header without `crit`,
//!    at most [`MAX_TOKEN_LEN`] bytes → else `malformed-token`;
//! 2. `alg` is `HS256` (so never `none`) and the signature verifies, compared in
//!    constant time by the MAC → else `invalid-signature`;
//! 3. the payload is a JSON object with a numeric `exp`, and every registered claim
//!    present has its registered type → else `malformed-token`;
//! 4. `exp` + leeway is in the future → else `expired-token`;
//! 5. `nbf` and `iat`, when present, are not beyond now + leeway → else
//!    `not-yet-valid`;
//! 6. `iss` equals `--jwt-issuer` when one is configured → else `wrong-issuer`;
//! 7. `aud` (a string or an array of strings) contains `--jwt-audience` when one is
//!    configured, and is absent when none is (RFC 7519 §4.1.3) → else
//!    `wrong-audience`.
//!
//! Nothing is read from the payload before the signature is known to be good. A JSON
//! object with a repeated member (claim or header parameter, known or not) is
//! malformed, and so is a registered claim or `crit` whose value is `null`: present
//! means present.

use hmac::{KeyInit as _, Mac as _};
use serde::Deserialize;

use crate::secret::Secret;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Shortest key accepted (the HMAC-SHA256 block is 64 bytes; RFC 7518 §3.2 asks for
/// at least the hash size).
pub const MIN_KEY_LEN: usize = 32;

/// Longest token looked at.
pub const MAX_TOKEN_LEN: usize = 4096;

/// What a verified token must also satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required member of `aud`.
    pub audience: Option<String>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: u64,
}

/// What a valid token tells the daemon.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    /// The `sub` claim.
    pub subject: Option<String>,
    /// When the token stops being accepted: `exp` plus leeway, in seconds since the
    /// Unix epoch.
    pub expires: f64,
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not a well-formed token.
    Malformed,
    /// Not HS256, or a signature that does not verify.
    Signature,
    /// Past `exp`.
    Expired,
    /// Before `nbf`, or issued in the future.
    NotYetValid,
    /// `aud` does not name this listener.
    WrongAudience,
    /// `iss` is not the configured issuer.
    WrongIssuer,
}

/// The three parts of a compact token, decoded. Its `Debug` shows only sizes: the
/// signing input and signature together are the whole token.
#[derive(PartialEq, Eq)]
pub struct Parts<'a> {
    /// What the signature covers: the first two parts as sent, with their dot.
    pub signing_input: &'a [u8],
    /// The decoded header.
    pub header: Vec<u8>,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl std::fmt::Debug for Parts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Parts {{ header: {} bytes, payload: {} bytes, signature: <redacted> }}",
            self.header.len(),
            self.payload.len()
        )
    }
}

/// Splits and decodes a compact token without judging its content.
pub fn split(token: &[u8]) -> Result<Parts<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut dots = token
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'.')
        .map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(JwtError::Malformed);
    };
    let decode = |part: &[u8]| {
        data_encoding::BASE64URL_NOPAD
            .decode(part)
            .map_err(|_| JwtError::Malformed)
    };
    Ok(Parts {
        signing_input: &token[..second],
        header: decode(&token[..first])?,
        payload: decode(&token[first + 1..second])?,
        signature: decode(&token[second + 1..])?,
    })
}

/// The HS256 signature of `signing_input` under `key`.
pub fn sign(signing_input: &[u8], key: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(signing_input);
    mac.finalize().into_bytes().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (RFC 2104 §2), so this never fails.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// Makes a compact HS256 token from a header and payload (JSON text), for tests and
/// tools that mint tokens.
pub fn encode(header: &[u8], payload: &[u8], key: &[u8]) -> String {
    let b64 = data_encoding::BASE64URL_NOPAD;
    let input = format!("{}.{}", b64.encode(header), b64.encode(payload));
    let signature = sign(input.as_bytes(), key);
    format!("{input}.{}", b64.encode(&signature))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default, deserialize_with = "present")]
    crit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default, deserialize_with = "present")]
    exp: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    iat: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    iss: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "present")]
    aud: Option<Audience>,
}

/// A member that is there, whatever its value: `null` is a value of the wrong type
/// for every claim, not an absent claim (and an `IgnoredAny`, like `crit`, takes it).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A JSON object whose member names are all different.
struct UniqueMembers;

impl<'de> Deserialize<'de> for UniqueMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueMembers;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object without repeated members")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueMembers, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !seen.insert(name) {
                        return Err(serde::de::Error::custom("repeated member"));
                    }
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(UniqueMembers)
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, want: &str) -> bool {
        match self {
            Audience::One(aud) => aud == want,
            Audience::Many(auds) => auds.iter().any(|a| a == want),
        }
    }
}

/// Parses a JSON object. The whole text must be UTF-8 (RFC 8259 §8.1), including
/// the members we skip, which the parser alone would not check.
fn parse_json<'a, T: Deserialize<'a>>(text: &'a [u8]) -> Result<T, JwtError> {
    let text = std::str::from_utf8(text).map_err(|_| JwtError::Malformed)?;
    serde_json::from_str::<UniqueMembers>(text).map_err(|_| JwtError::Malformed)?;
    serde_json::from_str(text).map_err(|_| JwtError::Malformed)
}

/// Verifies a token at `now` (seconds since the Unix epoch).
pub fn verify(token: &[u8], key: &Secret, rules: &Rules, now: f64) -> Result<Claims, JwtError> {
    let parts = split(token)?;
    let header: Header = parse_json(&parts.header)?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    if header.alg != "HS256" {
        return Err(JwtError::Signature);
    }
    let mut mac = new_mac(key.expose());
    mac.update(parts.signing_input);
    mac.verify_slice(&parts.signature)
        .map_err(|_| JwtError::Signature)?;

    let claims: Payload = parse_json(&parts.payload)?;
    let exp = claims.exp.ok_or(JwtError::Malformed)?;
    let leeway = rules.leeway as f64;
    if now >= exp + leeway {
        return Err(JwtError::Expired);
    }
    let future = |t: Option<f64>| t.is_some_and(|t| t > now + leeway);
    if future(claims.nbf) || future(claims.iat) {
        return Err(JwtError::NotYetValid);
    }
    if let Some(issuer) = &rules.issuer {
        if claims.iss.as_deref() != Some(issuer) {
            return Err(JwtError::WrongIssuer);
        }
    }
    let audience_ok = match (&rules.audience, &claims.aud) {
        (Some(want), Some(aud)) => aud.contains(want),
        (Some(_), None) => false,
        (None, Some(_)) => false,
        (None, None) => true,
    };
    if !audience_ok {
        return Err(JwtError::WrongAudience);
    }
    Ok(Claims {
        subject: claims.sub,
        expires: exp + leeway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_debug_shows_no_part_of_the_token() {
        let token = encode(br#"{"alg":"HS256"}"#, br#"{"sub":"someone"}"#, &[7; 32]);
        let parts = split(token.as_bytes()).unwrap();
        let printed = format!("{parts:?}");
        let pieces: Vec<&str> = token.split('.').collect();
        assert!(pieces.iter().all(|p| !printed.contains(p)), "{printed}");
        assert!(!printed.contains("someone"), "{printed}");
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: f64 = 1_800_000_000.0;
    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    fn rules() -> Rules {
        Rules {
            issuer: Some("issuer.example".into()),
            audience: Some("wsgate".into()),
            leeway: 30,
        }
    }

    fn check(header: &str, payload: &str) -> Result<Claims, JwtError> {
        let token = encode(header.as_bytes(), payload.as_bytes(), KEY);
        verify(token.as_bytes(), &Secret::new(KEY), &rules(), NOW)
    }

    fn claims(extra: &str) -> String {
        format!(
            r#"{{"iss":"issuer.example","aud":"wsgate","exp":{}{extra}}}"#,
            NOW + 60.0
        )
    }

    #[test]
    fn valid() {
        let got = check(
            HS256,
            &claims(r#","sub":"alice","iat":1799999990,"nbf":1799999990"#),
        );
        assert_eq!(
            got,
            Ok(Claims {
                subject: Some("alice".into()),
                expires: NOW + 90.0
            })
        );
        let array = format!(
            r#"{{"iss":"issuer.example","aud":["x","wsgate"],"exp":{}}}"#,
            NOW + 1.0
        );
        assert!(check(HS256, &array).is_ok());
        let float = format!(
            r#"{{"iss":"issuer.example","aud":"wsgate","exp":{}.5}}"#,
            NOW
        );
        assert!(check(HS256, &float).is_ok());
    }

    #[test]
    fn each_reason() {
        use JwtError::*;
        let exp = |e: f64| format!(r#"{{"iss":"issuer.example","aud":"wsgate","exp":{e}}}"#);
        let cases: Vec<(&str, String, JwtError)> = vec![
            (HS256, exp(NOW - 31.0), Expired),
            (HS256, exp(NOW - 30.0), Expired),
            (HS256, claims(r#","nbf":1800000031"#), NotYetValid),
            (HS256, claims(r#","iat":1800000100"#), NotYetValid),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":"other","exp":1800000100}"#.into(),
                WrongAudience,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":["a","b"],"exp":1800000100}"#.into(),
                WrongAudience,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","exp":1800000100}"#.into(),
                WrongAudience,
            ),
            (
                HS256,
                r#"{"iss":"evil","aud":"wsgate","exp":1800000100}"#.into(),
                WrongIssuer,
            ),
            (
                HS256,
                r#"{"aud":"wsgate","exp":1800000100}"#.into(),
                WrongIssuer,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":"wsgate"}"#.into(),
                Malformed,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":"wsgate","exp":"soon"}"#.into(),
                Malformed,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":7,"exp":1800000100}"#.into(),
                Malformed,
            ),
            (HS256, r#"{"exp":1800000100,"exp":1}"#.into(), Malformed),
            (HS256, "[]".into(), Malformed),
            (HS256, "not json".into(), Malformed),
            (r#"{"alg":"none"}"#, claims(""), Signature),
            (r#"{"alg":"HS512"}"#, claims(""), Signature),
            (r#"{"alg":"hs256"}"#, claims(""), Signature),
            (r#"{"typ":"JWT"}"#, claims(""), Malformed),
            (r#"{"alg":"HS256","crit":["exp"]}"#, claims(""), Malformed),
            (r#"{"alg":"HS256","alg":"none"}"#, claims(""), Malformed),
            // Present means present: null is not absence.
            (r#"{"alg":"HS256","crit":null}"#, claims(""), Malformed),
            (HS256, claims(r#","nbf":null"#), Malformed),
            (HS256, claims(r#","iat":null"#), Malformed),
            (HS256, claims(r#","sub":null"#), Malformed),
            (
                HS256,
                r#"{"iss":null,"aud":"wsgate","exp":1800000100}"#.into(),
                Malformed,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":null,"exp":1800000100}"#.into(),
                Malformed,
            ),
            (
                HS256,
                r#"{"iss":"issuer.example","aud":"wsgate","exp":null}"#.into(),
                Malformed,
            ),
            // A repeated member is malformed even when wsgate does not read it.
            (
                r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
                claims(""),
                Malformed,
            ),
            (HS256, claims(r#","jti":"a","jti":"a""#), Malformed),
            (HS256, claims(r#","j\u0074i":"a","jti":"b""#), Malformed),
        ];
        for (header, payload, want) in cases {
            assert_eq!(check(header, &payload), Err(want), "{header} {payload}");
        }
    }

    #[test]
    fn json_must_be_utf8() {
        // Found by fuzzing: invalid UTF-8 in a member the parser would skip unchecked.
        let key = Secret::new(KEY);
        let header = b"{\"alg\":\"HS256\",\"x\":\"\x80\"}";
        let token = encode(header, claims("").as_bytes(), KEY);
        assert_eq!(
            verify(token.as_bytes(), &key, &rules(), NOW),
            Err(JwtError::Malformed)
        );
        let mut bytes = format!(r#"{{"x":"?","exp":{}}}"#, NOW + 9.0).into_bytes();
        let at = bytes.iter().position(|&b| b == b'?').unwrap();
        bytes[at] = 0x80;
        let token = encode(HS256.as_bytes(), &bytes, KEY);
        assert_eq!(
            verify(token.as_bytes(), &key, &rules(), NOW),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn no_audience_configured() {
        let rules = Rules::default();
        let key = Secret::new(KEY);
        let ok = encode(
            HS256.as_bytes(),
            format!(r#"{{"exp":{}}}"#, NOW + 5.0).as_bytes(),
            KEY,
        );
        assert!(verify(ok.as_bytes(), &key, &rules, NOW).is_ok());
        let aud = encode(
            HS256.as_bytes(),
            format!(r#"{{"aud":"x","exp":{}}}"#, NOW + 5.0).as_bytes(),
            KEY,
        );
        assert_eq!(
            verify(aud.as_bytes(), &key, &rules, NOW),
            Err(JwtError::WrongAudience)
        );
    }

    #[test]
    fn tampering() {
        let token = encode(HS256.as_bytes(), claims("").as_bytes(), KEY);
        let key = Secret::new(KEY);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let forged_payload =
            data_encoding::BASE64URL_NOPAD.encode(claims(r#","sub":"root""#).as_bytes());
        let forged = format!("{header}.{forged_payload}.{signature}");
        assert_eq!(
            verify(forged.as_bytes(), &key, &rules(), NOW),
            Err(JwtError::Signature)
        );
        let mut sig = data_encoding::BASE64URL_NOPAD
            .decode(signature.as_bytes())
            .unwrap();
        sig[0] ^= 1;
        let bad_sig = format!("{input}.{}", data_encoding::BASE64URL_NOPAD.encode(&sig));
        assert_eq!(
            verify(bad_sig.as_bytes(), &key, &rules(), NOW),
            Err(JwtError::Signature)
        );
        let other_key = Secret::new(b"another key, also 32 bytes long!".to_vec());
        assert_eq!(
            verify(token.as_bytes(), &other_key, &rules(), NOW),
            Err(JwtError::Signature)
        );
        let short_sig = format!("{input}.{}", &signature[..20]);
        assert_eq!(
            verify(short_sig.as_bytes(), &key, &rules(), NOW),
            Err(JwtError::Signature)
        );
        // `alg: none` with no signature at all.
        let none = format!(
            "{}.{forged_payload}.",
            data_encoding::BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#)
        );
        assert_eq!(
            verify(none.as_bytes(), &key, &rules(), NOW),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn shapes() {
        use JwtError::Malformed;
        let key = Secret::new(KEY);
        for token in [
            "",
            "a.b",
            "a.b.c.d",
            "a..c",
            "e30.e30.e30=",
            "e30.e30.!!",
            "e30.e30",
        ] {
            assert_eq!(
                verify(token.as_bytes(), &key, &rules(), NOW).err(),
                Some(Malformed),
                "{token}"
            );
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(split(long.as_bytes()), Err(Malformed));
    }

    #[test]
    fn rfc7515_hs256_example() {
        // RFC 7515 Appendix A.1: the example key, input and signature.
        let key = data_encoding::BASE64URL_NOPAD
            .decode(b"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let input = b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        assert_eq!(
            data_encoding::BASE64URL_NOPAD.encode(&sign(input, &key)),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }
}
