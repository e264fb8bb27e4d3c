//! The pairing page: one small self-contained HTML page, with no resource from
//! anywhere else. It reads the code from the URL's fragment (which browsers never send
//! to a server, so it reaches no log), removes the fragment from the address bar,
//! exchanges the code for a token, keeps the token in `localStorage`, and shows how a
//! page then connects. Text is only ever inserted with `textContent`.

use crate::page::Page;

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:2em auto;padding:0 1em;color:#111}\
code,pre{background:#f3f3f3;border-radius:3px}code{padding:.1em .3em}pre{padding:1em;overflow:auto}\
.ok{color:#05620e}.err{color:#a30000}input{font:inherit;width:7em}button{font:inherit}";

const SCRIPT: &str = r#"(function () {
  var status = document.getElementById('status');
  var manual = document.getElementById('manual');
  function show(text, kind) { status.textContent = text; status.className = kind || ''; }
  function pair(code) {
    show('Pairing…');
    fetch('/_wsgate/pair', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: code }),
      credentials: 'omit',
      cache: 'no-store'
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }).then(function (r) {
      if (!r.ok) {
        show(r.status === 429
          ? 'Too many wrong codes: pairing is paused. Try again later with the code wsgate shows then.'
          : 'That code was not accepted: it is wrong, used or expired. wsgate shows the current one on its terminal and with `wsgate pair`.', 'err');
        manual.hidden = false;
        return;
      }
      localStorage.setItem('wsgate.token', r.body.token);
      localStorage.setItem('wsgate.token.id', r.body.id);
      document.getElementById('tid').textContent = r.body.id;
      document.getElementById('tscopes').textContent = r.body.scopes.join(', ');
      document.getElementById('texp').textContent = r.body.expires || 'never';
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
      document.getElementById('example').textContent =
        "const token = localStorage.getItem('wsgate.token');\n" +
        "const b64url = (s) => btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');\n" +
        "const ws = new WebSocket('" + url + "', ['wsgate', 'wsgate.bearer.' + b64url(token)]);";
      show('Paired.', 'ok');
      manual.hidden = true;
      document.getElementById('done').hidden = false;
      check(r.body.token);
    }).catch(function (e) { show('Pairing failed: ' + e.message, 'err'); manual.hidden = false; });
  }
  // Asks wsgate whether the token would be let in, without connecting (a connection
  // could start the tool behind it).
  function check(token) {
    var verdict = document.getElementById('verdict');
    fetch('/_wsgate/auth/check', {
      headers: { 'Authorization': 'Bearer ' + token },
      credentials: 'omit',
      cache: 'no-store'
    }).then(function (r) {
      return r.json().then(function (body) {
        if (body.valid) {
          verdict.textContent = 'Checked: this browser can connect.';
          verdict.className = 'ok';
        } else {
          verdict.textContent = body.error === 'insufficient_scope'
            ? 'Paired, but the tool behind wsgate needs a scope this token lacks (exec): the operator can pair with --pair-scopes read,write,exec.'
            : 'Paired, but wsgate did not accept the token just now (' + (body.reason || body.error) + ').';
          verdict.className = 'err';
        }
      });
    }).catch(function (e) { verdict.textContent = 'Could not check the token: ' + e.message; verdict.className = 'err'; });
  }
  var match = /(?:^#|&)code=([0-9]{6})(?:&|$)/.exec(location.hash);
  if (location.hash) { history.replaceState(null, '', location.pathname + location.search); }
  manual.addEventListener('submit', function (e) {
    e.preventDefault();
    pair(document.getElementById('code').value.trim());
  });
  if (match) { pair(match[1]); } else { show('Enter the pairing code wsgate shows.'); manual.hidden = false; }
})();"#;

/// The pairing page, served with the policy that lets exactly it run.
pub fn page() -> Page {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Pair this browser with wsgate</title><style>{STYLE}</style></head>\n<body>\
         <h1>Pair this browser with wsgate</h1>\
         <p id=\"status\">Reading the pairing code…</p>\
         <form id=\"manual\" hidden><label>Pairing code \
         <input id=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" autocomplete=\"one-time-code\" required></label> \
         <button>Pair</button></form>\
         <div id=\"done\" hidden><p>The token is kept in this browser's <code>localStorage</code> as \
         <code>wsgate.token</code> (id <code id=\"tid\"></code>, scopes <code id=\"tscopes\"></code>, \
         expires <code id=\"texp\"></code>). It is a secret: anyone who has it can connect.</p>\
         <p>A page served from this address, or from an origin wsgate allows, then connects with:</p>\
         <pre id=\"example\"></pre><p id=\"verdict\"></p></div>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    Page::new(html, SCRIPT, STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_contained() {
        let page = page();
        crate::page::assert_self_contained(&page);
        // The script only fetches wsgate's own paths.
        let fetched: Vec<&str> = SCRIPT.split("fetch(").skip(1).collect();
        assert_eq!(fetched.len(), 2);
        for call in fetched {
            assert!(call.starts_with("'/_wsgate/"), "{call}");
        }
        assert!(page.html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(page.html.contains(&format!("<style>{STYLE}</style>")));
    }
}
