//! The pairing page in a real browser: headless Chromium, driven over the DevTools
//! protocol. It opens the pairing link, the page exchanges the code and keeps the
//! token, and the browser then connects with it in the subprotocol form.
//!
//! `.ci/run` installs Chromium from Debian's packages, and with `CI` set a missing
//! browser fails the test. Elsewhere, without a browser (`chromium`,
//! `chromium-browser`, `google-chrome`, or `$WSGATE_TEST_CHROME`), the test says so on
//! stderr and passes without running.

use std::time::{Duration, Instant};

use crate::chromium::*;
use crate::util::*;

#[test]
fn pairing_page_in_a_real_browser() {
    let scratch = Scratch::new("browser");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(&config, &["--pairing", "--echo"]));
    let file = std::fs::read_to_string(d.runtime_file()).unwrap();
    let field = |name: &str| {
        file.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {file}"))
            .to_owned()
    };
    let (code, link) = (field("pair_code="), field("pair_url="));

    let Some(browser) = browser_or_skip() else {
        return;
    };
    let target = browser.page_target();
    let (stored, address, verdict, echoed) = block_on(async {
        let mut tools = DevTools::connect(&target).await;
        tools.call("Page.navigate", json!({ "url": link })).await;
        // The page pairs by itself; wait for it to say how it went.
        let started = Instant::now();
        loop {
            let verdict = tools
                .try_eval("(document.getElementById('verdict') || {}).textContent || ''")
                .await;
            let status = tools
                .try_eval("(document.getElementById('status') || {}).textContent || ''")
                .await;
            if verdict
                .as_ref()
                .is_ok_and(|v| v.as_str().is_some_and(|v| !v.is_empty()))
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the page did not pair: {status:?} {verdict:?}"
            );
            async_io::Timer::after(Duration::from_millis(100)).await;
        }
        let stored = tools.eval("localStorage.getItem('wsgate.token')").await;
        let address = tools.eval("location.href").await;
        let verdict = tools
            .eval("document.getElementById('verdict').textContent")
            .await;
        // Connect as a page would, with the token in the subprotocol form.
        let echoed = tools
            .eval(
                r#"new Promise((resolve) => {
                    const token = localStorage.getItem('wsgate.token');
                    const b64url = (s) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
                    const ws = new WebSocket('ws://' + location.host + '/', ['wsgate', 'wsgate.bearer.' + b64url(token)]);
                    ws.onopen = () => ws.send('hello from the browser');
                    ws.onmessage = (e) => { resolve(ws.protocol + ' ' + e.data); ws.close(1000); };
                    ws.onerror = () => resolve('error');
                    setTimeout(() => resolve('timeout'), 10000);
                })"#,
            )
            .await;
        (stored, address, verdict, echoed)
    });
    drop(browser);

    let token = stored.as_str().expect("a token in localStorage").to_owned();
    assert_eq!(token.len(), 43, "{token}");
    let address = address.as_str().unwrap();
    assert!(
        address.ends_with("/_wsgate/pair") && !address.contains(&code),
        "the code stays in the address bar: {address}"
    );
    assert_eq!(verdict, "Checked: this browser can connect.");
    assert_eq!(echoed, "wsgate hello from the browser");

    // The store has it under the browser's name; the code was used up.
    let out = wsgate(&config, &["token", "list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("paired Headless Chrome on Linux"), "{list}");
    assert!(eventually(Duration::from_secs(3), || {
        let file = std::fs::read_to_string(d.runtime_file()).unwrap_or_default();
        !file.contains(&format!("pair_code={code}"))
    }));
    // Neither the code nor the token reached the log.
    d.expect_fields("pair", json!({}), Duration::from_secs(5));
    d.expect_fields(
        "accept",
        json!({"protocol": "wsgate"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    assert!(!log.contains(&code) && !log.contains(&token), "{log}");
}
