//! The pages wsgate serves itself (the pairing page, the console): each one document
//! with one inline script and one inline style and nothing loaded from anywhere, and
//! the one Content-Security-Policy they are served with, which lets exactly that
//! script and style run (by their SHA-256) and the page connect only to its own
//! origin. Pure: the same page always has the same bytes and the same policy.

use sha2::{Digest as _, Sha256};

use crate::outcome::Status;
use crate::response::respond;

/// A page and the content security policy that lets exactly it run.
#[derive(Debug)]
pub struct Page {
    /// The document.
    pub html: String,
    /// The `Content-Security-Policy` value.
    pub csp: String,
}

impl Page {
    /// A page whose document `html` holds `script` and `style` inline (and nothing
    /// else that runs or styles it).
    pub fn new(html: String, script: &str, style: &str) -> Page {
        Page {
            html,
            csp: policy(script, style),
        }
    }

    /// The answer that serves the page: its policy, no framing, no referrer, no cache
    /// (the last comes with every answer wsgate writes).
    pub fn answer(&self) -> Vec<u8> {
        let extra = format!(
            "Content-Security-Policy: {}\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n",
            self.csp
        );
        respond(Status::Ok, "text/html; charset=utf-8", &extra, &self.html)
    }
}

/// The policy: nothing by default; this script and this style by hash; connections
/// (fetch, WebSocket) to the page's own origin only; no `<base>`, no form
/// submissions, no framing.
fn policy(script: &str, style: &str) -> String {
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(script),
        hash(style)
    )
}

/// How a CSP names an inline element by its content: base64 of its SHA-256.
pub fn hash(text: &str) -> String {
    data_encoding::BASE64.encode(&Sha256::digest(text.as_bytes()))
}

/// What a page's tests check: that `html` loads nothing from anywhere, holds exactly
/// one inline script and one inline style, and that `csp` names each by its hash.
#[cfg(test)]
pub fn assert_self_contained(page: &Page) {
    let html = &page.html;
    for external in [
        "http://",
        "https://",
        "//cdn",
        "src=",
        "href=",
        "<link",
        "<iframe",
        "<object",
        "<embed",
        "<img",
        "<base",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "eval(",
        "document.write",
    ] {
        assert!(!html.contains(external), "{external}");
    }
    let inner = |open: &str, close: &str| {
        assert_eq!(html.matches(open).count(), 1, "one {open}");
        let start = html.find(open).map(|i| i + open.len()).unwrap_or_default();
        let end = html[start..]
            .find(close)
            .map(|i| start + i)
            .unwrap_or_default();
        html[start..end].to_owned()
    };
    let script = inner("<script>", "</script>");
    let style = inner("<style>", "</style>");
    assert!(!script.is_empty() && !style.is_empty());
    // CSS loads through url() and @import.
    assert!(
        !style.contains("url(") && !style.contains("@import"),
        "{style}"
    );
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(html.matches("<style").count(), 1);
    assert!(!html.contains(" style="), "an inline style attribute");
    // No inline event handler (` onclick=`…): the policy would block it anyway.
    for (at, _) in html.match_indices(" on") {
        let name: String = html[at + 3..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let after = html[at + 3 + name.len()..].chars().next();
        assert!(name.is_empty() || after != Some('='), "on{name}=");
    }
    assert_eq!(
        page.csp,
        format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(&script),
            hash(&style)
        )
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_browsers_compute_them() {
        // `echo -n "alert('hi')" | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            hash("alert('hi')"),
            "XTqNqFSUlZHAW7f/OGNYSOEzxKhjdAAGMXoid2VEbJk="
        );
    }

    #[test]
    fn answer_headers() {
        let page = Page::new(
            "<!doctype html><style>p{}</style><script>1</script>".into(),
            "1",
            "p{}",
        );
        assert_self_contained(&page);
        let text = String::from_utf8(page.answer()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        for line in [
            format!("Content-Security-Policy: {}", page.csp).as_str(),
            "X-Frame-Options: DENY",
            "Referrer-Policy: no-referrer",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Content-Type: text/html; charset=utf-8",
            "Connection: close",
        ] {
            assert!(head.lines().any(|l| l == line), "{line} in {head}");
        }
        assert_eq!(body, page.html);
    }
}
