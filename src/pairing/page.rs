//! The pairing page: one small self-contained HTML page, with no resource from
//! anywhere else. It reads the code from the URL's fragment (which browsers never send
//! to a server, so it reaches no log), removes the fragment from the address bar, and
//! exchanges the code for a token. It keeps the token in `localStorage` and shows how
//! a page of this origin connects; or, when the fragment names a page to return to
//! (`return=`) and wsgate found that page's origin among the `--allow-origin` entries,
//! it opens that page with the token in its fragment (`#wsgate_token=`), since
//! another origin cannot read this one's storage. Text is only ever inserted with
//! `textContent`.

use crate::page::Page;

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:2em auto;padding:0 1em;color:#111}\
code,pre{background:#f3f3f3;border-radius:3px}code{padding:.1em .3em}pre{padding:1em;overflow:auto}\
.ok{color:#05620e}.err{color:#a30000}input{font:inherit;width:7em}button{font:inherit}";

const SCRIPT: &str = r#"(function () {
  var status = document.getElementById('status');
  var manual = document.getElementById('manual');
  function show(text, kind) { status.textContent = text; status.className = kind || ''; }
  // The fragment: code=NNNNNN and, for an app on another origin, return=<its page>.
  var params = {};
  location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
    var at = pair.indexOf('=');
    if (at > 0) {
      try { params[pair.slice(0, at)] = decodeURIComponent(pair.slice(at + 1)); } catch (e) {}
    }
  });
  if (location.hash) { history.replaceState(null, '', location.pathname + location.search); }
  var back = params['return'] || null;
  function pair(code) {
    show('Pairing…');
    var request = { code: code };
    if (back) { request['return'] = back; }
    fetch('/_wsgate/pair', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
      credentials: 'omit',
      cache: 'no-store'
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }).then(function (r) {
      if (!r.ok && r.body.error === 'return_denied') {
        show('This link asks to hand the token to ' + back + ', which wsgate does not allow: only an origin the operator gave wsgate with --allow-origin can receive one. Nothing was paired.', 'err');
        return;
      }
      if (!r.ok) {
        show(r.status === 429
          ? 'Too many wrong codes: pairing is paused. Try again later with the code wsgate shows then.'
          : 'That code was not accepted: it is wrong, used or expired. wsgate shows the current one on its terminal and with `wsgate pair`.', 'err');
        manual.hidden = false;
        return;
      }
      // wsgate checked that the page to return to is on an allowed origin.
      if (r.body['return']) {
        show('Paired. Handing the token to ' + new URL(r.body['return']).origin + '…', 'ok');
        manual.hidden = true;
        location.replace(r.body['return'] + '#wsgate_token=' + encodeURIComponent(r.body.token));
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
      document.getElementById('here').textContent = location.origin;
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
  manual.addEventListener('submit', function (e) {
    e.preventDefault();
    pair(document.getElementById('code').value.trim());
  });
  if (/^[0-9]{6}$/.test(params.code || '')) {
    pair(params.code);
  } else {
    show(back ? 'Enter the pairing code wsgate shows, to hand a token to ' + back + '.' : 'Enter the pairing code wsgate shows.');
    manual.hidden = false;
  }
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
         <p>Local storage belongs to one origin: only pages served from <code id=\"here\"></code> \
         can read it, and they connect with:</p>\
         <pre id=\"example\"></pre><p id=\"verdict\"></p>\
         <p>An app on another origin, one the operator allows with <code>--allow-origin</code>, gets \
         a token of its own: it posts the code to <code>/_wsgate/pair</code> itself, or sends \
         people to this page with <code>#code=…&amp;return=</code> and the address of its page, \
         which this page then opens with the token after <code>#wsgate_token=</code>.</p></div>\
         \n<script>{SCRIPT}</script>\n</body></html>\n"
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
