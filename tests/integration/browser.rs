//! The pairing page in a real browser: headless Chromium, driven over the DevTools
//! protocol. It opens the pairing link, the page exchanges the code and keeps the
//! token, and the browser then connects with it in the subprotocol form.
//!
//! `.ci/run` installs Chromium from Debian's packages, and with `CI` set a missing
//! browser fails the test. Elsewhere, without a browser (`chromium`,
//! `chromium-browser`, `google-chrome`, or `$WSGATE_TEST_CHROME`), the test says so on
//! stderr and passes without running.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;
use serde_json::{Value, json};

use crate::util::*;

impl Browser {
    /// The DevTools WebSocket address of the open page, once the browser lists one.
    fn page_target(&self) -> String {
        let started = Instant::now();
        loop {
            if let Some(target) = self.listed_page() {
                return target;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the browser listed no page target"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn listed_page(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut response = String::new();
        let _ = s.read_to_string(&mut response);
        let body = response.split_once("\r\n\r\n")?.1;
        let targets: Value = serde_json::from_str(body).ok()?;
        targets
            .as_array()?
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .map(str::to_owned)
    }
}

/// One DevTools session: commands out, their answers back by id.
struct DevTools {
    ws: async_tungstenite::WebSocketStream<async_std::net::TcpStream>,
    next_id: u64,
}

impl DevTools {
    async fn connect(url: &str) -> DevTools {
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap();
        let tcp = async_std::net::TcpStream::connect(authority).await.unwrap();
        let (ws, _) = async_tungstenite::client_async(url, tcp).await.unwrap();
        DevTools { ws, next_id: 0 }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method}: {error}"),
        }
    }

    /// A command's result, or the error DevTools answered with.
    async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({ "id": id, "method": method, "params": params });
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        loop {
            let message = async_std::future::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("a DevTools answer in time")
                .expect("the DevTools connection open")
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                return match answer.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(answer["result"].clone()),
                };
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        match self.try_eval(expression).await {
            Ok(value) => value,
            Err(error) => panic!("{expression}: {error}"),
        }
    }

    /// Like `eval`, with the failure returned: while the page navigates, its context
    /// may be destroyed under an evaluation, which is worth another try.
    async fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let result = self
            .try_call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await?;
        match result.get("exceptionDetails") {
            Some(details) => Err(details.clone()),
            None => Ok(result["result"]["value"].clone()),
        }
    }
}

#[test]
fn pairing_page_in_a_real_browser() {
    let Some(binary) = find_browser() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the browser test: install chromium (.ci/run does)"
        );
        eprintln!("browser test skipped: no chromium, chromium-browser or google-chrome in PATH");
        return;
    };
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

    let Some(browser) = Browser::start(&binary) else {
        // Some installs (a snap wrapper in a container, say) never start headless.
        assert!(
            std::env::var_os("CI").is_none(),
            "{} did not open its DevTools port within 30 s",
            binary.display()
        );
        eprintln!(
            "browser test skipped: {} did not start within 30 s",
            binary.display()
        );
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
    assert!(list.contains("paired Mozilla/5.0"), "{list}");
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
