//! An app on another origin gets a token in a real browser (headless Chromium, driven
//! over the DevTools protocol), with the README's own code: it pairs by itself over
//! CORS, or the pairing page hands it the token in the fragment of its page. A page
//! whose origin the operator did not name gets nothing.
//!
//! The app is served by a small HTTP server here, on another port and under another
//! name (`app.localhost`, which browsers resolve to loopback themselves). Without a
//! browser the test says so and passes, as the other browser tests do.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::chromium::*;
use crate::pairing::current_code;
use crate::util::*;

/// A page for any path, served until dropped.
struct AppServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl AppServer {
    fn start() -> AppServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let page = "<!doctype html><title>app</title><p>an app on another origin</p>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{page}",
                    page.len()
                );
            }
        });
        AppServer { port, stop }
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The README's code for an app on another origin, talking to the daemon at `addr`.
fn readme_app_code(addr: std::net::SocketAddr) -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```js\n// In the app, served from an origin given to wsgate")
        .expect("the README shows an app's code");
    let code = &readme[start + "```js\n".len()..];
    let code = &code[..code.find("```").expect("the block ends")];
    assert!(code.contains("const WSGATE = \"http://127.0.0.1:7331\";"));
    code.replace("http://127.0.0.1:7331", &format!("http://{addr}"))
}

/// What an app does once it has a token: connect, send, and say what came back.
const ECHO: &str = r#"new Promise((resolve) => {
    const ws = connectToWsgate(token);
    ws.onopen = () => ws.send('hello from the app');
    ws.onmessage = (e) => { resolve(ws.protocol + ' ' + e.data); ws.close(1000); };
    ws.onerror = () => resolve('error');
    setTimeout(() => resolve('timeout'), 10000);
})"#;

/// Waits until the page's `location.href` satisfies `done`; its last value.
async fn wait_for_location(tools: &mut DevTools, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let href = tools
            .try_eval("document.readyState === 'complete' ? location.href : ''")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if done(&href) {
            return href;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the page is still at {href:?}"
        );
        async_io::Timer::after(Duration::from_millis(100)).await;
    }
}

/// The number of tokens in the store.
fn stored(config: &std::path::Path) -> usize {
    let out = wsgate(config, &["token", "list", "--json"]);
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
        .unwrap()
        .len()
}

#[test]
fn an_app_on_another_origin_gets_a_token() {
    let app = AppServer::start();
    let origin = format!("http://app.localhost:{}", app.port);
    let scratch = Scratch::new("other-origin");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(
        &config,
        &["--pairing", "--echo", "--allow-origin", &origin],
    ));
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let code = readme_app_code(d.addr);
    let wsgate_origin = format!("http://{}", d.addr);
    let target = browser.page_target();
    let mut codes = Vec::new();
    let mut tokens = Vec::new();
    block_on(async {
        let mut tools = DevTools::connect(&target).await;

        // 1. The app pairs by itself (CORS), then connects.
        tools
            .call("Page.navigate", json!({ "url": format!("{origin}/app") }))
            .await;
        wait_for_location(&mut tools, |href| href.starts_with(&origin)).await;
        let pairing = current_code(&d);
        codes.push(pairing.clone());
        let run = format!(
            "(async () => {{ {code}\nconst token = await pairWithWsgate('{pairing}');\n\
             window.pairedToken = token; return await {ECHO}; }})()"
        );
        assert_eq!(tools.eval(&run).await, "wsgate hello from the app");
        tokens.push(
            tools
                .eval("window.pairedToken")
                .await
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // What the pairing page keeps is not the app's to read.
        assert_eq!(
            tools.eval("localStorage.getItem('wsgate.token')").await,
            serde_json::Value::Null
        );

        // 2. The pairing page hands the token to the app's page, in its fragment.
        let pairing = current_code(&d);
        codes.push(pairing.clone());
        let back = format!("{origin}/paired?from=wsgate");
        let link = format!(
            "{wsgate_origin}/_wsgate/pair#code={pairing}&return={}",
            back.replace(':', "%3A")
                .replace('/', "%2F")
                .replace('?', "%3F")
                .replace('=', "%3D")
        );
        tools.call("Page.navigate", json!({ "url": link })).await;
        let landed = wait_for_location(&mut tools, |href| href.starts_with(&origin)).await;
        assert!(
            landed.starts_with(&format!("{back}#wsgate_token=")),
            "{landed}"
        );
        let run = format!(
            "(async () => {{ {code}\nconst token = tokenFromPairingPage();\n\
             window.pairedToken = token; return await {ECHO}; }})()"
        );
        assert_eq!(tools.eval(&run).await, "wsgate hello from the app");
        tokens.push(
            tools
                .eval("window.pairedToken")
                .await
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // The app took the token out of its address bar.
        assert_eq!(tools.eval("location.href").await, back.as_str());

        // 3. A page the operator did not name, though its origin may connect (it is a
        //    loopback one): no redirect, no token, and the code is still good.
        let pairing = current_code(&d);
        codes.push(pairing.clone());
        let elsewhere = format!("http://elsewhere.localhost:{}/paired", app.port);
        let link = format!(
            "{wsgate_origin}/_wsgate/pair#code={pairing}&return={}",
            elsewhere.replace(':', "%3A").replace('/', "%2F")
        );
        tools.call("Page.navigate", json!({ "url": link })).await;
        wait_for_location(&mut tools, |href| {
            href == format!("{wsgate_origin}/_wsgate/pair")
        })
        .await;
        let started = Instant::now();
        let status = loop {
            let status = tools
                .eval("document.getElementById('status').textContent")
                .await;
            let status = status.as_str().unwrap_or_default().to_owned();
            if status.contains("does not allow") {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{status}");
            async_io::Timer::after(Duration::from_millis(100)).await;
        };
        assert!(status.contains(&elsewhere), "{status}");
        async_io::Timer::after(Duration::from_millis(500)).await;
        assert_eq!(
            tools.eval("location.href").await,
            format!("{wsgate_origin}/_wsgate/pair").as_str()
        );
        assert_eq!(
            tools.eval("localStorage.getItem('wsgate.token')").await,
            serde_json::Value::Null
        );
        assert_eq!(current_code(&d), pairing, "asking used the code up");
    });
    drop(browser);

    assert_eq!(stored(&config), 2, "only the two pairings were stored");
    for token in &tokens {
        assert_eq!(token.len(), 43, "{token}");
    }
    assert_ne!(tokens[0], tokens[1]);
    d.expect_fields(
        "pair",
        json!({"return_origin": origin}),
        Duration::from_secs(5),
    );
    d.expect_fields(
        "reject",
        json!({"reason": "return-denied"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    for secret in codes.iter().chain(&tokens) {
        assert!(!log.contains(secret.as_str()), "{log}");
    }
}
