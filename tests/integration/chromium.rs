//! Headless Chromium for the tests that drive a real browser: finding it, starting it
//! in a process group of its own, and one DevTools session to drive a page with.
//!
//! With `CI` set, a missing browser (or one that never opens its DevTools port) fails
//! the test that needs it; elsewhere the test says it is skipped where `cargo test`
//! shows it, and passes without running ([`browser_or_skip`], [`needs`]).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;
use serde_json::{Value, json};

use crate::util::{Scratch, needs};

/// Headless Chromium for a test, or `None` when the test is to be skipped, by the one
/// rule for tools the tests drive ([`needs`]): under `CI` a browser that is missing or
/// does not start fails the test; elsewhere the test says it is skipped.
pub fn browser_or_skip() -> Option<Browser> {
    const INSTALL: &str = ".ci/run installs chromium with apt-get, or set $WSGATE_TEST_CHROME";
    let binary = find_browser();
    let found = binary.is_some();
    if !needs(
        found,
        "chromium (or chromium-browser, google-chrome)",
        INSTALL,
    ) {
        return None;
    }
    let binary = binary?;
    let browser = Browser::start(&binary);
    // Some installs (a snap wrapper in a container, say) never start headless.
    let what = format!(
        "a {} that opens its DevTools port within 30 s",
        binary.display()
    );
    needs(browser.is_some(), &what, INSTALL);
    browser
}

/// Chromium for the tests that drive a real browser: `$WSGATE_TEST_CHROME`, or
/// `chromium`, `chromium-browser` or `google-chrome` in `PATH`.
pub fn find_browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WSGATE_TEST_CHROME") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Headless Chromium in a process group of its own, killed with it on drop.
pub struct Browser {
    pub child: Child,
    /// Its DevTools port.
    pub port: u16,
    _profile: Scratch,
}

impl Browser {
    /// The browser, once its DevTools port is open; `None` if that took over 30 s.
    pub fn start(binary: &Path) -> Option<Browser> {
        let profile = Scratch::new("chromium");
        let child = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the browser");
        let mut browser = Browser {
            child,
            port: 0,
            _profile: profile,
        };
        // The browser writes the port it picked into its profile.
        let active = browser._profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        while browser.port == 0 {
            if let Ok(text) = std::fs::read_to_string(&active) {
                browser.port = text
                    .lines()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
            }
            if started.elapsed() > Duration::from_secs(30) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(browser)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.wait();
    }
}

impl Browser {
    /// The DevTools WebSocket address of the open page, once the browser lists one.
    pub fn page_target(&self) -> String {
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
pub struct DevTools {
    ws: async_tungstenite::WebSocketStream<async_std::net::TcpStream>,
    next_id: u64,
}

impl DevTools {
    pub async fn connect(url: &str) -> DevTools {
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap();
        let tcp = async_std::net::TcpStream::connect(authority).await.unwrap();
        let (ws, _) = async_tungstenite::client_async(url, tcp).await.unwrap();
        DevTools { ws, next_id: 0 }
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method}: {error}"),
        }
    }

    /// A command's result, or the error DevTools answered with.
    pub async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
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
    pub async fn eval(&mut self, expression: &str) -> Value {
        match self.try_eval(expression).await {
            Ok(value) => value,
            Err(error) => panic!("{expression}: {error}"),
        }
    }

    /// Like `eval`, with the failure returned: while the page navigates, its context
    /// may be destroyed under an evaluation, which is worth another try.
    pub async fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
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
