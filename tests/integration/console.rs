//! The console page, `/_wsgate/console`: opened in headless Chromium from the link the
//! operator is shown, it connects with the token from the fragment (which it removes
//! first), sends what is typed and shows what comes back; without a token it connects
//! to nothing. Served by default for the echo only, and never with a secret in the log.
//!
//! The browser tests skip (saying so) without Chromium, and fail without it under
//! `CI`, like the pairing page's (see `chromium.rs`).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chromium::*;
use crate::util::*;

/// A line of the runtime file: the value of `name=`.
fn runtime_field(d: &Daemon, name: &str) -> Option<String> {
    let file = std::fs::read_to_string(d.runtime_file()).expect("runtime file");
    let prefix = format!("{name}=");
    file.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::to_owned)
}

/// base64url without padding, as the subprotocol form carries a token.
fn b64url(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Evaluates `expression` until it gives something other than `null`, `false` or an
/// empty string (the page may still be loading); fails the test after 20 s, saying
/// what it waited `for`.
async fn wait_for(tools: &mut DevTools, expression: &str, what: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = tools.try_eval(expression).await;
        if let Ok(value) = &value {
            let empty = value.is_null() || *value == false || *value == "";
            if !empty {
                return value.clone();
            }
        }
        let state = tools
            .try_eval("(document.getElementById('state') || {}).textContent || ''")
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}: {value:?}; the page says {state:?}"
        );
        async_io::Timer::after(Duration::from_millis(50)).await;
    }
}

/// Waits until the page's state (the `data-state` of `#state`) is `want`.
async fn state_is(tools: &mut DevTools, want: &str) {
    let expression = format!(
        "(document.getElementById('state') || {{ getAttribute() {{ return ''; }} }})\
         .getAttribute('data-state') === '{want}'"
    );
    wait_for(tools, &expression, &format!("the state {want}")).await;
}

/// The page's log: each entry's classes and text.
async fn log(tools: &mut DevTools) -> Vec<(String, String)> {
    let entries = tools
        .eval(
            "Array.from(document.querySelectorAll('#log li'))\
             .map((li) => [li.className, li.querySelector('.body').textContent])",
        )
        .await;
    entries
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap_or_default().to_owned(),
                e[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Types `text` into the message box and sends it as a user would, as text or binary.
async fn send(tools: &mut DevTools, text: &str, binary: bool) {
    let expression = format!(
        "(() => {{ document.getElementById('message').value = {}; \
         document.getElementById('binary').checked = {binary}; \
         document.getElementById('send').click(); return true; }})()",
        serde_json::to_string(text).unwrap()
    );
    tools.eval(&expression).await;
}

/// What the page showed in one session with the echo.
struct Session {
    /// `location.href` and `location.hash` once the page was open.
    href: String,
    hash: String,
    /// The state line once connected.
    connected: String,
    /// Every log entry, after a text and a binary message and a close.
    log: Vec<(String, String)>,
}

/// Opens `link`, waits for the page to connect, sends a text message and a binary
/// one, reads their echoes, and closes from the page.
fn echo_session(browser: &Browser, link: &str) -> Session {
    let target = browser.page_target();
    block_on(async {
        let mut tools = DevTools::connect(&target).await;
        tools.call("Page.navigate", json!({ "url": link })).await;
        state_is(&mut tools, "open").await;
        let href = tools.eval("location.href").await;
        let hash = tools.eval("location.hash").await;
        let connected = tools
            .eval("document.getElementById('state').textContent")
            .await;
        send(&mut tools, "hello from the console", false).await;
        wait_for(
            &mut tools,
            "document.querySelectorAll('#log li.in').length === 1",
            "the text echo",
        )
        .await;
        send(&mut tools, "bin\u{e9}", true).await;
        wait_for(
            &mut tools,
            "document.querySelectorAll('#log li.in').length === 2",
            "the binary echo",
        )
        .await;
        tools
            .eval("document.getElementById('close').click(), true")
            .await;
        state_is(&mut tools, "closed").await;
        let log = log(&mut tools).await;
        Session {
            href: href.as_str().unwrap_or_default().to_owned(),
            hash: hash.as_str().unwrap_or_default().to_owned(),
            connected: connected.as_str().unwrap_or_default().to_owned(),
            log,
        }
    })
}

/// What every echo session shows: the fragment gone, each message sent and echoed
/// with text and binary apart, and the close code and reason.
fn assert_echoed(d: &Daemon, session: &Session) {
    assert_eq!(
        session.href,
        format!("http://{}/_wsgate/console", d.addr),
        "the address bar keeps no fragment"
    );
    assert_eq!(session.hash, "");
    let expected = [
        ("out text", "hello from the console"),
        ("in text", "hello from the console"),
        ("out binary", "5 bytes: 62 69 6e c3 a9"),
        ("in binary", "5 bytes: 62 69 6e c3 a9"),
        (
            "close",
            "Closed: code 1000, reason \"closed from the console\"",
        ),
    ];
    let got: Vec<(&str, &str)> = session
        .log
        .iter()
        .map(|(class, text)| (class.as_str(), text.as_str()))
        .collect();
    assert_eq!(got, expected, "the page's log");
}

#[test]
fn console_link_echoes_in_a_real_browser() {
    let d = Daemon::start(&["--echo"]);
    let link = runtime_field(&d, "console_url").expect("a console_url line");
    assert_eq!(
        link,
        format!("http://{}/_wsgate/console#token={TOKEN}", d.addr)
    );
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let session = echo_session(&browser, &link);
    drop(browser);
    assert_echoed(&d, &session);
    assert_eq!(session.connected, format!("Connected to ws://{}/", d.addr));
    // The page's connection carried the token in the query, as this mode wants.
    let accepted = d.expect_fields(
        "accept",
        json!({"reason": "valid-token", "target": "/?token=REDACTED"}),
        Duration::from_secs(5),
    );
    assert!(accepted.get("protocol").is_none(), "{accepted}");
    d.expect_fields(
        "close",
        json!({"conn": accepted["conn"], "code": 1000}),
        Duration::from_secs(5),
    );
    d.expect_fields(
        "console",
        json!({"reason": "served"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    assert!(!log.contains(TOKEN), "{log}");
}

#[test]
fn console_link_echoes_in_bearer_mode() {
    let d = Daemon::with(Options {
        args: vec!["--auth", "bearer", "--echo"],
        env: vec![],
        token_file: false,
    });
    // A generated bearer token is shown to the operator, so the link carries it.
    let token = runtime_field(&d, "token").expect("a token line");
    let link = runtime_field(&d, "console_url").expect("a console_url line");
    assert_eq!(
        link,
        format!("http://{}/_wsgate/console#token={token}", d.addr)
    );
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let session = echo_session(&browser, &link);
    drop(browser);
    assert_echoed(&d, &session);
    // The subprotocol form, with the marker the 101 selects.
    assert_eq!(
        session.connected,
        format!("Connected to ws://{}/ (subprotocol wsgate)", d.addr)
    );
    d.expect_fields(
        "accept",
        json!({"reason": "valid-token", "target": "/", "protocol": "wsgate"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    assert!(
        !log.contains(&token) && !log.contains(&b64url(&token)),
        "{log}"
    );
}

/// A token the gate refuses: the page shows the failure and the close code, and
/// wsgate's log says why.
#[test]
fn console_shows_a_refused_connection() {
    let d = Daemon::start(&["--echo"]);
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let target = browser.page_target();
    let link = format!("http://{}/_wsgate/console#token=not-the-token", d.addr);
    let log = block_on(async {
        let mut tools = DevTools::connect(&target).await;
        tools.call("Page.navigate", json!({ "url": link })).await;
        state_is(&mut tools, "closed").await;
        log(&mut tools).await
    });
    drop(browser);
    let classes: Vec<&str> = log.iter().map(|(class, _)| class.as_str()).collect();
    assert_eq!(classes, ["error", "close"], "{log:?}");
    assert_eq!(log[1].1, "Closed: code 1006, no reason (not cleanly)");
    d.expect_fields(
        "reject",
        json!({"status": 401, "reason": "invalid-token", "target": "/?token=REDACTED"}),
        Duration::from_secs(5),
    );
    assert!(!d.stderr().contains("not-the-token"));
}

/// In store mode the operator is shown no token: the link has no fragment, the page
/// waits, and a token typed into its field connects (in the subprotocol form).
#[test]
fn console_asks_for_a_token_it_is_not_given() {
    let scratch = Scratch::new("console-store");
    let config = scratch.path().join("config");
    let token = create_token(&config, &["--name", "console", "--scope", "read,write"]);
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    let link = runtime_field(&d, "console_url").expect("a console_url line");
    assert_eq!(link, format!("http://{}/_wsgate/console", d.addr));
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let target = browser.page_target();
    let (echoed, field) = block_on(async {
        let mut tools = DevTools::connect(&target).await;
        tools.call("Page.navigate", json!({ "url": link })).await;
        state_is(&mut tools, "waiting").await;
        let field = tools
            .eval(
                "[document.getElementById('login').hidden, document.getElementById('token').type]",
            )
            .await;
        let submit = format!(
            "(() => {{ document.getElementById('token').value = {}; \
             document.getElementById('login').requestSubmit(); return true; }})()",
            serde_json::to_string(&token).unwrap()
        );
        tools.eval(&submit).await;
        state_is(&mut tools, "open").await;
        // The field does not keep the token once it is used.
        assert_eq!(
            tools.eval("document.getElementById('token').value").await,
            ""
        );
        send(&mut tools, "typed", false).await;
        let echoed = wait_for(
            &mut tools,
            "(document.querySelector('#log li.in .body') || {}).textContent",
            "the echo",
        )
        .await;
        (echoed, field)
    });
    drop(browser);
    assert_eq!(field, json!([false, "password"]));
    assert_eq!(echoed, "typed");
    d.expect_fields(
        "accept",
        json!({"token_name": "console", "target": "/", "protocol": "wsgate"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    assert!(!log.contains(&token), "{log}");
}

/// Opened without a fragment, the page connects to nothing: it says it waits for a
/// token, and no WebSocket reaches the daemon.
#[test]
fn console_without_the_fragment_connects_to_nothing() {
    let d = Daemon::start(&["--echo"]);
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let target = browser.page_target();
    let link = format!("http://{}/_wsgate/console", d.addr);
    let (state, shown) = block_on(async {
        let mut tools = DevTools::connect(&target).await;
        tools.call("Page.navigate", json!({ "url": link })).await;
        state_is(&mut tools, "waiting").await;
        // Time enough for a connection the page might have opened to reach the log.
        async_io::Timer::after(Duration::from_millis(1500)).await;
        let state = tools
            .eval("document.getElementById('state').getAttribute('data-state')")
            .await;
        let shown = tools
            .eval(
                "[document.getElementById('state').textContent, \
                  document.getElementById('login').hidden, \
                  document.getElementById('send').disabled, \
                  document.querySelectorAll('#log li').length]",
            )
            .await;
        (state, shown)
    });
    drop(browser);
    assert_eq!(state, "waiting");
    assert_eq!(
        shown,
        json!([
            "Waiting for a token: nothing is connected. Open the console link wsgate shows, \
             or enter the token here.",
            false,
            true,
            0
        ])
    );
    d.expect_fields(
        "console",
        json!({"reason": "served"}),
        Duration::from_secs(5),
    );
    // The page was served, and nothing tried the WebSocket path: no accept, and no
    // reject of `/` (a browser may still ask for /favicon.ico, which is refused).
    let events = d.events();
    let upgrades: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["event"] == "accept"
                || e["event"] == "check"
                || (e["event"] == "reject"
                    && e["target"]
                        .as_str()
                        .is_none_or(|t| t == "/" || t.starts_with("/?")))
        })
        .collect();
    assert!(upgrades.is_empty(), "{upgrades:?}");
}

/// What a plain GET of `path` gets: the status, the head and the body.
fn get(d: &Daemon, method: &str, path: &str) -> (u16, String, String) {
    let answer = raw(
        d.addr,
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    );
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status(&answer), head.to_owned(), body.to_owned())
}

#[test]
fn console_is_on_for_the_echo_and_off_for_a_program_unless_asked() {
    // A program without --console: the path is not there, exactly like an unknown one.
    let d = Daemon::start(&["--", "cat"]);
    let (code, head, body) = get(&d, "GET", "/_wsgate/console");
    let unknown = get(&d, "GET", "/_wsgate/unknown");
    assert_eq!(code, 404);
    assert_eq!((code, head, body), unknown);
    assert_eq!(runtime_field(&d, "console_url"), None);
    let ready = d.expect_fields("ready", json!({}), Duration::from_secs(5));
    assert!(ready.get("console").is_none(), "{ready}");
    drop(d);

    // With --console, it is served, with its policy.
    let d = Daemon::start(&["--console", "--", "cat"]);
    let (code, head, body) = get(&d, "GET", "/_wsgate/console");
    assert_eq!(code, 200, "{head}");
    for line in [
        "Content-Type: text/html; charset=utf-8",
        "X-Frame-Options: DENY",
        "Referrer-Policy: no-referrer",
        "Cache-Control: no-store",
    ] {
        assert!(head.lines().any(|l| l == line), "{line} in {head}");
    }
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Security-Policy: "))
        .expect("a policy");
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-")
            && csp.contains("connect-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(body.contains("data-credential=\"query\""), "{body}");
    assert!(!body.contains(TOKEN));
    assert_eq!(get(&d, "POST", "/_wsgate/console").0, 405);
    assert_eq!(
        runtime_field(&d, "console_url"),
        Some(format!("http://{}/_wsgate/console#token={TOKEN}", d.addr))
    );
    // Host and Origin rules apply to it.
    let foreign = raw(
        d.addr,
        b"GET /_wsgate/console HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    );
    assert_eq!(status(&foreign), 403);
    drop(d);

    // The echo has it by default, and --no-console takes it away.
    let d = Daemon::start(&["--echo"]);
    assert_eq!(get(&d, "GET", "/_wsgate/console").0, 200);
    drop(d);
    let d = Daemon::start(&["--echo", "--no-console"]);
    assert_eq!(get(&d, "GET", "/_wsgate/console").0, 404);
    assert_eq!(runtime_field(&d, "console_url"), None);
}

/// With stderr not a terminal, the log says where the console is without its token,
/// and no form of the token appears anywhere in it, in either log format.
#[test]
fn console_link_never_reaches_the_log() {
    for format in ["text", "json"] {
        let d = Daemon::start(&["--echo", "--log-format", format]);
        let link = runtime_field(&d, "console_url").expect("a console_url line");
        assert!(link.ends_with(&format!("#token={TOKEN}")), "{link}");
        // Using the console's path and the token elsewhere logs no token either.
        let _ = get(&d, "GET", "/_wsgate/console");
        let _ = get(&d, "GET", &format!("/_wsgate/console?token={TOKEN}"));
        let served = match format {
            "json" => "\"event\":\"console\"",
            _ => "event=console ",
        };
        assert!(
            d.wait_for_log(served, Duration::from_secs(5)),
            "{}",
            d.stderr()
        );
        let hidden = format!("http://{}/_wsgate/console#token=<hidden>", d.addr);
        let log = d.stderr();
        let ready = log
            .lines()
            .find(|l| l.contains("event=ready ") || l.contains("\"event\":\"ready\""))
            .expect("a ready line");
        match format {
            "json" => {
                let ready: Value = serde_json::from_str(ready).unwrap();
                assert_eq!(ready["console"], hidden, "{ready}");
            }
            _ => assert!(ready.contains(&format!("console=\"{hidden}\"")), "{ready}"),
        }
        assert!(!log.contains(TOKEN), "{log}");
        assert!(!log.contains(&b64url(TOKEN)), "{log}");
    }
}
