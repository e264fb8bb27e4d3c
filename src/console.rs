//! The console: a small self-contained page at `/_wsgate/console` that connects to
//! the gated backend from wsgate's own origin, so that opening the console link in a
//! browser gives a message box and a log instead of `ERR_UNKNOWN_URL_SCHEME` or raw
//! JSON. Pure: the page, and the link that opens it.
//!
//! - The credential comes from the URL's fragment (`#token=…`), which browsers never
//!   send to a server, so it reaches no log; the page removes it from the address bar
//!   before it connects. Without one, the page connects to nothing: it asks for a
//!   token and connects when one is submitted (with `--no-token-check`, the field may
//!   stay empty).
//! - It connects as the listener's mode wants: `?token=` in `query-token` mode, the
//!   subprotocol form (`wsgate`, `wsgate.bearer.<base64url>`) in the header modes. The
//!   mode reaches the page as an attribute of the document (it is no secret), so the
//!   script, and with it the policy's hash, is the same for every daemon.
//! - Text is only ever inserted with `textContent`. Each message sent or received is
//!   an entry marked `text` or `binary` (a binary one shows its length and its first
//!   bytes in hex, on another background); a close shows its code and reason.

use crate::form;
use crate::outcome::Mode;
use crate::page::Page;
use crate::request::CONSOLE_PATH;

/// The fragment's field that carries the token: `#token=…`.
const FRAGMENT_FIELD: &str = "token=";

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:52em;margin:1.5em auto;padding:0 1em;color:#111}\
h1{font-size:1.4em;margin:.2em 0}code{background:#f3f3f3;border-radius:3px;padding:.1em .3em}\
.ok{color:#05620e}.err{color:#a30000}.note{color:#555;font-size:.9em}\
input,button{font:inherit}textarea{width:100%;box-sizing:border-box;font:14px/1.4 ui-monospace,monospace}\
.row{margin:.4em 0 1em}\
#log{list-style:none;padding:0;margin:0;font:13px/1.4 ui-monospace,monospace}\
#log li{padding:.25em .5em;margin:.2em 0;border-left:4px solid #bbb;white-space:pre-wrap;word-break:break-all}\
#log .tag{font-weight:600;margin-right:.7em}\
#log .in{border-color:#2b6cb0}#log .out{border-color:#999;color:#444}\
#log .binary{background:#fff6df;border-color:#b7791f}\
#log .close{background:#f0f0f0;border-color:#555}#log .error{border-color:#a30000;color:#a30000}";

const SCRIPT: &str = r#"(function () {
  'use strict';
  var root = document.getElementById('console');
  var credential = root.getAttribute('data-credential');
  var required = root.getAttribute('data-token-check') !== 'false';
  var state = document.getElementById('state');
  var login = document.getElementById('login');
  var tokenField = document.getElementById('token');
  var again = document.getElementById('again');
  var composer = document.getElementById('composer');
  var message = document.getElementById('message');
  var binary = document.getElementById('binary');
  var send = document.getElementById('send');
  var closer = document.getElementById('close');
  var log = document.getElementById('log');
  var MAX_ENTRIES = 500, MAX_TEXT = 8192, HEX_BYTES = 32;
  var ws = null, remembered = '';

  function show(word, text, kind) {
    state.setAttribute('data-state', word);
    state.textContent = text;
    state.className = kind || '';
  }
  function entry(kind, label, text) {
    var item = document.createElement('li');
    item.className = kind;
    var tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = label;
    var body = document.createElement('span');
    body.className = 'body';
    body.textContent = text;
    item.appendChild(tag);
    item.appendChild(body);
    log.appendChild(item);
    while (log.childNodes.length > MAX_ENTRIES) { log.removeChild(log.firstChild); }
    item.scrollIntoView({ block: 'nearest' });
  }
  function shortened(text) {
    return text.length > MAX_TEXT
      ? text.slice(0, MAX_TEXT) + ' … (' + text.length + ' characters in all)'
      : text;
  }
  function described(buffer) {
    var bytes = new Uint8Array(buffer), hex = [];
    for (var i = 0; i < bytes.length && i < HEX_BYTES; i++) {
      hex.push((bytes[i] < 16 ? '0' : '') + bytes[i].toString(16));
    }
    return bytes.length + (bytes.length === 1 ? ' byte' : ' bytes') +
      (bytes.length ? ': ' + hex.join(' ') + (bytes.length > HEX_BYTES ? ' …' : '') : '');
  }
  // base64url of the token's UTF-8 bytes, without padding: the subprotocol form.
  function b64url(text) {
    var bytes = new TextEncoder().encode(text), chars = '';
    for (var i = 0; i < bytes.length; i++) { chars += String.fromCharCode(bytes[i]); }
    return btoa(chars).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function fromFragment() {
    var match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!match) { return ''; }
    try { return decodeURIComponent(match[1]); } catch (e) { return ''; }
  }
  function connected(open) {
    send.disabled = !open;
    closer.disabled = !open;
  }
  function connect(token) {
    var base = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
    var url = base, protocols = [];
    if (token && credential === 'query') { url = base + '?token=' + encodeURIComponent(token); }
    if (token && credential === 'subprotocol') { protocols = ['wsgate', 'wsgate.bearer.' + b64url(token)]; }
    remembered = token;
    login.hidden = true;
    again.hidden = true;
    show('connecting', 'Connecting to ' + base + (token ? ' with the token…' : ' without a token…'));
    var socket;
    try {
      socket = new WebSocket(url, protocols);
    } catch (e) {
      show('closed', 'Could not connect: ' + e.message, 'err');
      login.hidden = false;
      return;
    }
    ws = socket;
    socket.binaryType = 'arraybuffer';
    socket.onopen = function () {
      show('open', 'Connected to ' + base + (socket.protocol ? ' (subprotocol ' + socket.protocol + ')' : ''), 'ok');
      connected(true);
      message.focus();
    };
    socket.onmessage = function (e) {
      if (typeof e.data === 'string') { entry('in text', '← text', shortened(e.data)); }
      else { entry('in binary', '← binary', described(e.data)); }
    };
    socket.onerror = function () {
      entry('error', 'error', 'The connection failed or broke. A browser tells a page no more than that: ' +
        'a refused token, an origin wsgate does not allow and a tool that did not start look alike here; ' +
        "wsgate's log says which.");
    };
    socket.onclose = function (e) {
      connected(false);
      var text = 'Closed: code ' + e.code + (e.reason ? ', reason "' + e.reason + '"' : ', no reason') +
        (e.wasClean ? '' : ' (not cleanly)');
      entry('close', 'close', text);
      show('closed', text, e.code === 1000 ? '' : 'err');
      if (ws === socket) { ws = null; }
      again.hidden = false;
      login.hidden = false;
    };
  }
  function sendNow() {
    if (!ws || ws.readyState !== WebSocket.OPEN) { return; }
    var text = message.value;
    if (binary.checked) {
      var bytes = new TextEncoder().encode(text);
      ws.send(bytes);
      entry('out binary', '→ binary', described(bytes.buffer));
    } else {
      ws.send(text);
      entry('out text', '→ text', shortened(text));
    }
    message.value = '';
    message.focus();
  }
  composer.addEventListener('submit', function (e) { e.preventDefault(); sendNow(); });
  message.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendNow(); }
  });
  closer.addEventListener('click', function () { if (ws) { ws.close(1000, 'closed from the console'); } });
  again.addEventListener('click', function () { connect(remembered); });
  login.addEventListener('submit', function (e) {
    e.preventDefault();
    var token = tokenField.value;
    tokenField.value = '';
    if (!token && required) {
      show('waiting', 'Enter a token: nothing is connected until you do.', 'err');
      return;
    }
    connect(token);
  });
  function wait() {
    show('waiting', required
      ? 'Waiting for a token: nothing is connected. Open the console link wsgate shows, or enter the token here.'
      : 'Nothing is connected. This wsgate does not check tokens (--no-token-check): connect without one, or enter one.');
    login.hidden = false;
    tokenField.focus();
  }
  // Start: take the token from the fragment and remove it from the address bar
  // before anything else happens.
  var fragment = fromFragment();
  if (location.hash) { history.replaceState(null, '', location.pathname + location.search); }
  if (fragment) { connect(fragment); } else { wait(); }
})();"#;

/// How the page presents a credential in `mode`: in the query, or as a subprotocol.
fn credential_form(mode: Mode) -> &'static str {
    match mode {
        Mode::QueryToken => "query",
        Mode::Bearer | Mode::Jwt | Mode::Store => "subprotocol",
    }
}

/// The console page for a listener in `mode`; `token_check` is `false` with
/// `--no-token-check`, when the page may connect without a token.
pub fn page(mode: Mode, token_check: bool) -> Page {
    let credential = credential_form(mode);
    let mode = mode.as_str();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>wsgate console</title><style>{STYLE}</style></head>\n<body>\
         <main id=\"console\" data-auth=\"{mode}\" data-credential=\"{credential}\" data-token-check=\"{token_check}\">\
         <h1>wsgate console</h1>\
         <p class=\"note\">A connection to the tool behind wsgate (auth: <code>{mode}</code>). \
         The token stays in this page and is never stored.</p>\
         <p id=\"state\" data-state=\"loading\">Reading the link…</p>\
         <form id=\"login\" hidden><label>Token \
         <input id=\"token\" type=\"password\" autocomplete=\"off\" spellcheck=\"false\"></label> \
         <button>Connect</button></form>\
         <p><button type=\"button\" id=\"again\" hidden>Connect again</button></p>\
         <form id=\"composer\"><textarea id=\"message\" rows=\"3\" aria-label=\"Message\" \
         placeholder=\"A message: Enter sends it, Shift+Enter starts a new line\"></textarea>\
         <div class=\"row\"><label><input type=\"checkbox\" id=\"binary\"> send as binary (its UTF-8 bytes)</label> \
         <button id=\"send\" disabled>Send</button> \
         <button type=\"button\" id=\"close\" disabled>Close</button></div></form>\
         <ol id=\"log\" aria-live=\"polite\"></ol></main>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    Page::new(html, SCRIPT, STYLE)
}

/// The link that opens the console: `ORIGIN/_wsgate/console`, with `#token=…`
/// (percent-encoded) when the operator is shown the token. `origin` is
/// `http://HOST:PORT`.
pub fn link(origin: &str, token: Option<&[u8]>) -> String {
    match token {
        Some(token) => format!(
            "{origin}{CONSOLE_PATH}#{FRAGMENT_FIELD}{}",
            form::percent_encode(token)
        ),
        None => format!("{origin}{CONSOLE_PATH}"),
    }
}

/// A console link as a log line may show it: the token replaced by `<hidden>`.
pub fn hidden(link: &str) -> String {
    let marker = format!("#{FRAGMENT_FIELD}");
    match link.split_once(&marker) {
        Some((base, _)) => format!("{base}{marker}<hidden>"),
        None => link.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_contained_in_every_mode() {
        for mode in Mode::ALL {
            for check in [true, false] {
                let page = page(mode, check);
                crate::page::assert_self_contained(&page);
                assert!(page.html.contains(&format!("<script>{SCRIPT}</script>")));
                assert!(page.html.contains(&format!("<style>{STYLE}</style>")));
                // One script for every daemon: the policy does not depend on the mode.
                assert_eq!(page.csp, super::page(Mode::QueryToken, true).csp);
            }
        }
    }

    #[test]
    fn the_mode_is_an_attribute() {
        let attributes = |mode, check| {
            let html = page(mode, check).html;
            let start = html.find("<main ").unwrap();
            let end = start + html[start..].find('>').unwrap();
            html[start..=end].to_owned()
        };
        assert_eq!(
            attributes(Mode::QueryToken, true),
            "<main id=\"console\" data-auth=\"query-token\" data-credential=\"query\" data-token-check=\"true\">"
        );
        for mode in [Mode::Bearer, Mode::Jwt, Mode::Store] {
            assert!(
                attributes(mode, false)
                    .ends_with("data-credential=\"subprotocol\" data-token-check=\"false\">"),
                "{mode}"
            );
        }
        // The script reads those attributes and those values.
        for read in [
            "getAttribute('data-credential')",
            "getAttribute('data-token-check') !== 'false'",
            "credential === 'query'",
            "credential === 'subprotocol'",
        ] {
            assert!(SCRIPT.contains(read), "{read}");
        }
    }

    #[test]
    fn connects_only_to_its_own_origin() {
        let base = "(location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/'";
        assert_eq!(SCRIPT.matches(base).count(), 1);
        assert!(!SCRIPT.replace(base, "").contains("://"));
        assert_eq!(SCRIPT.matches("new WebSocket(").count(), 1);
        assert!(SCRIPT.contains("new WebSocket(url, protocols)"));
        // The subprotocol form is the one the daemon reads, with the marker.
        assert!(SCRIPT.contains(&format!(
            "['{}', '{}' + b64url(token)]",
            crate::bearer::MARKER,
            crate::bearer::SUBPROTOCOL_PREFIX
        )));
        assert!(SCRIPT.contains("base + '?token=' + encodeURIComponent(token)"));
        // Nothing else leaves the page, and nothing keeps the token.
        for absent in [
            "fetch(",
            "XMLHttpRequest",
            "sendBeacon",
            "localStorage",
            "sessionStorage",
            "indexedDB",
            "document.cookie",
            "window.open",
        ] {
            assert!(!SCRIPT.contains(absent), "{absent}");
        }
    }

    #[test]
    fn the_fragment_goes_before_anything_connects() {
        let start = SCRIPT.find("var fragment = fromFragment();").unwrap();
        let startup = &SCRIPT[start..];
        let removed = startup.find("history.replaceState(").unwrap();
        let first_connect = startup.find("connect(").unwrap();
        assert!(removed < first_connect, "{startup}");
        // Without a token it waits: the only other call to connect() is the form's.
        assert!(startup.contains("if (fragment) { connect(fragment); } else { wait(); }"));
        assert!(SCRIPT.contains(&format!("(?:^#|&){FRAGMENT_FIELD}([^&]*)")));
        let field = page(Mode::QueryToken, true).html;
        assert!(field.contains(
            "<input id=\"token\" type=\"password\" autocomplete=\"off\" spellcheck=\"false\">"
        ));
    }

    #[test]
    fn links() {
        let origin = "http://127.0.0.1:7331";
        assert_eq!(
            link(origin, Some(b"a b+c/d")),
            "http://127.0.0.1:7331/_wsgate/console#token=a%20b%2Bc%2Fd"
        );
        assert_eq!(link(origin, None), "http://127.0.0.1:7331/_wsgate/console");
        assert_eq!(
            hidden(&link(origin, Some(b"secret-secret-secret"))),
            "http://127.0.0.1:7331/_wsgate/console#token=<hidden>"
        );
        assert_eq!(hidden(&link(origin, None)), link(origin, None));
    }
}
