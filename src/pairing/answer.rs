//! The pairing endpoint's answers: the CORS headers and preflight, a new
//! token, a refusal. Built from the daemon's own values; the only part of a request
//! they repeat is an `Origin` the policy accepted.

use crate::date;
use crate::outcome::{Reason, Status};
use crate::response::{answer, respond};
use crate::scope::Scopes;
use crate::secret::Secret;

/// Headers that let an allowed page read a pairing answer (CORS), or nothing when
/// the request came with no Origin. The origin was checked by the policy already.
pub fn cors(origin: Option<&[u8]>) -> String {
    match origin.and_then(|o| std::str::from_utf8(o).ok()) {
        Some(origin) if origin.bytes().all(|b| b.is_ascii_graphic()) => {
            format!("Access-Control-Allow-Origin: {origin}\r\nVary: Origin\r\n")
        }
        _ => String::new(),
    }
}

/// A pairing that succeeded: `{"token":…,"id":…,"scopes":[…],"expires":…}`, the new
/// token for this browser only, and `"return":…` when the request named a page to
/// hand it to that the operator allowed (checked before).
pub fn paired(
    token: &Secret,
    id: &str,
    scopes: Scopes,
    expires: Option<u64>,
    return_to: Option<&str>,
    cors: &str,
) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Paired<'a> {
        token: std::borrow::Cow<'a, str>,
        id: &'a str,
        scopes: Vec<&'static str>,
        expires: Option<String>,
        #[serde(rename = "return", skip_serializing_if = "Option::is_none")]
        return_to: Option<&'a str>,
    }
    let body = Paired {
        token: String::from_utf8_lossy(token.expose()),
        id,
        scopes: scopes.names(),
        expires: expires.map(date::format),
        return_to,
    };
    // A struct of strings always serializes.
    let json = serde_json::to_string(&body).unwrap_or_default();
    answer(Status::Ok, cors, &json)
}

/// A pairing refused: `{"error":"invalid_code"}` (401), or `{"error":"rate_limited"}`
/// (429) with `Retry-After`.
pub fn refused(reason: Reason, retry_after: Option<u64>, cors: &str) -> Vec<u8> {
    let mut extra = cors.to_owned();
    if let Some(secs) = retry_after {
        extra.push_str(&format!("Retry-After: {secs}\r\n"));
    }
    let body = format!("{{\"error\":\"{}\"}}", reason.error_code());
    answer(reason.status(), &extra, &body)
}

/// The answer to a CORS preflight for the pairing exchange.
pub fn preflight(cors: &str) -> Vec<u8> {
    let extra = format!(
        "{cors}Access-Control-Allow-Methods: POST\r\nAccess-Control-Allow-Headers: Content-Type\r\nAccess-Control-Max-Age: 600\r\n"
    );
    respond(Status::NoContent, "application/json", &extra, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_bodies() {
        let token = Secret::new("tok\"en");
        let text = String::from_utf8(paired(
            &token,
            "0000000a",
            Scopes::READ_WRITE,
            None,
            None,
            "",
        ))
        .unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(
            body,
            r#"{"token":"tok\"en","id":"0000000a","scopes":["read","write"],"expires":null}"#
        );
        let text =
            String::from_utf8(paired(&token, "0000000a", Scopes::EXEC, Some(0), None, "")).unwrap();
        assert!(
            text.ends_with(r#""scopes":["exec"],"expires":"1970-01-01T00:00:00Z"}"#),
            "{text}"
        );
        let back = Some("https://app.example/cb");
        let text =
            String::from_utf8(paired(&token, "0000000a", Scopes::READ, None, back, "")).unwrap();
        assert!(
            text.ends_with(r#""expires":null,"return":"https://app.example/cb"}"#),
            "{text}"
        );
    }
}
