//! Pairing in front of real backends: what a paired token may do follows the backend,
//! and startup says what that is.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;

use crate::util::*;

/// The current pairing code, from the daemon's runtime file.
pub fn current_code(d: &Daemon) -> String {
    let file = std::fs::read_to_string(d.runtime_file()).unwrap();
    file.lines()
        .find_map(|l| l.strip_prefix("pair_code="))
        .expect("a pairing code in the runtime file")
        .to_owned()
}

/// `POST /_wsgate/pair` with `body` (JSON) and extra header lines; the raw answer.
pub fn post_pair(d: &Daemon, body: &str, extra: &str) -> String {
    raw(
        d.addr,
        format!(
            "POST /_wsgate/pair HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// The JSON body of a raw answer.
pub fn body_of(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Pairs with the current code; the answer's body.
pub fn pair(d: &Daemon) -> serde_json::Value {
    let code = current_code(d);
    let r = post_pair(d, &format!("{{\"code\":\"{code}\"}}"), "");
    assert_eq!(status(&r), 200, "{r}");
    body_of(&r)
}

#[test]
fn a_paired_browser_can_use_a_program() {
    let scratch = Scratch::new("pair-program");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(&config, &["--pairing", "--", "cat"]));
    // Startup says what a paired token gets: what the program needs, and more.
    d.expect_fields(
        "listening",
        json!({"pair_scopes": "read,write,exec"}),
        Duration::from_secs(5),
    );
    assert!(
        !d.events().iter().any(|e| e["event"] == "warning"
            && e["message"].as_str().is_some_and(|m| m.contains("pair"))),
        "{}",
        d.stderr()
    );
    let paired = pair(&d);
    assert_eq!(paired["scopes"], json!(["read", "write", "exec"]));
    let token = paired["token"].as_str().unwrap().to_owned();
    // Connected as a browser would, with the subprotocol form: `cat` echoes.
    let b64 = data_encoding::BASE64URL_NOPAD.encode(token.as_bytes());
    let offer = format!("wsgate, wsgate.bearer.{b64}");
    let echoed = block_on(async {
        let url = format!("ws://{}/", d.addr);
        let (mut ws, response) = open(&url, &[("Sec-WebSocket-Protocol", &offer)])
            .await
            .unwrap();
        assert_eq!(response.status(), 101);
        ws.send(Message::text("paired and running")).await.unwrap();
        next(&mut ws).await
    });
    assert_eq!(echoed, Some(Message::text("paired and running")));
    let log = d.stderr();
    assert!(!log.contains(&token), "{log}");
}

#[test]
fn pair_scopes_follow_the_echo_and_an_explicit_choice_wins() {
    let scratch = Scratch::new("pair-scopes");
    let config = scratch.path().join("config");
    // The echo needs nothing: read and write.
    let e = Daemon::with(Options::store(&config, &["--pairing", "--echo"]));
    e.expect_fields(
        "listening",
        json!({"pair_scopes": "read,write"}),
        Duration::from_secs(5),
    );
    assert_eq!(pair(&e)["scopes"], json!(["read", "write"]));
    // Given, it is used as given, with a warning when the backend will refuse it.
    let d = Daemon::with(Options::store(
        &config,
        &["--pairing", "--pair-scopes", "read,write", "--", "cat"],
    ));
    d.expect_fields(
        "listening",
        json!({"pair_scopes": "read,write"}),
        Duration::from_secs(5),
    );
    let warning = d.expect_event(Duration::from_secs(5), |e| {
        e["event"] == "warning" && e["message"].as_str().is_some_and(|m| m.contains("exec"))
    });
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("--pair-scopes read,write lacks exec")
            && message.contains("insufficient-scope"),
        "{message}"
    );
    let paired = pair(&d);
    assert_eq!(paired["scopes"], json!(["read", "write"]));
    let token = paired["token"].as_str().unwrap();
    let r = upgrade(d.addr, &format!("/?token={token}"), "");
    assert_eq!(status(&r), 403, "{r}");
}

#[test]
fn pairings_are_named_by_browser_platform_and_time() {
    let scratch = Scratch::new("pair-names");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(&config, &["--pairing", "--echo"]));
    let firefox = "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n";
    let mut names = Vec::new();
    for _ in 0..3 {
        let code = current_code(&d);
        let r = post_pair(&d, &format!("{{\"code\":\"{code}\"}}"), firefox);
        assert_eq!(status(&r), 200, "{r}");
        let id = body_of(&r)["id"].as_str().unwrap().to_owned();
        let event = d.expect_fields("pair", json!({"token_id": id}), Duration::from_secs(5));
        names.push(event["token_name"].as_str().unwrap().to_owned());
    }
    // `paired Firefox on Windows 2026-11-29 14:02 UTC`, then ` (2)`, ` (3)` after it
    // within the same minute: no two live tokens share a name.
    let mut seen: Vec<String> = Vec::new();
    for name in &names {
        let base = match name.rsplit_once(" (") {
            Some((base, n)) if n.ends_with(')') => base,
            _ => name.as_str(),
        };
        let stamp = base
            .strip_prefix("paired Firefox on Windows ")
            .and_then(|rest| rest.strip_suffix(" UTC"))
            .unwrap_or_else(|| panic!("{name}"));
        let time = format!("{}:00Z", stamp.replace(' ', "T"));
        assert!(wsgate::internal::date::parse(&time).is_some(), "{name}");
        let earlier = seen.iter().filter(|b| *b == base).count();
        let want = match earlier {
            0 => base.to_owned(),
            n => format!("{base} ({})", n + 1),
        };
        assert_eq!(name, &want, "{names:?}");
        seen.push(base.to_owned());
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
fn a_token_is_handed_only_to_a_listed_origin() {
    let scratch = Scratch::new("pair-return");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(
        &config,
        &[
            "--pairing",
            "--echo",
            "--allow-origin",
            "https://app.example",
            "--allow-origin",
            "*",
            "--allow-origin",
            "null",
        ],
    ));
    let exchange = |code: &str, back: &str| {
        let body = json!({"code": code, "return": back}).to_string();
        post_pair(&d, &body, "")
    };
    // Origins the policy lets connect, but that were not named: no token, and the
    // code is not used up by asking.
    let code = current_code(&d);
    for back in [
        "https://evil.example/cb",
        "http://localhost:5173/cb",
        "http://127.0.0.1:5173/",
        "https://app.example.evil.example/",
        "https://evil.example@app.example/",
        "http://app.example/cb",
        "null",
        "https://app.example/cb#x",
        "javascript:alert(1)",
    ] {
        let r = exchange(&code, back);
        assert_eq!(status(&r), 403, "{back}: {r}");
        assert_eq!(body_of(&r), json!({"error": "return_denied"}), "{back}");
        assert!(
            !r.contains(back) || back == "null",
            "{back}: the answer repeats it"
        );
    }
    assert_eq!(current_code(&d), code, "refusals are not guesses");
    assert_eq!(stored(&config), 0);
    let r = post_pair(&d, &json!({"code": code, "return": 7}).to_string(), "");
    assert_eq!(status(&r), 400, "{r}");
    // The named origin gets it back, with the page to open.
    let r = exchange(&code, "https://app.example/cb?from=pairing");
    assert_eq!(status(&r), 200, "{r}");
    let body = body_of(&r);
    assert_eq!(body["return"], "https://app.example/cb?from=pairing");
    assert_eq!(body["token"].as_str().unwrap().len(), 43);
    let event = d.expect_fields("pair", json!({}), Duration::from_secs(5));
    assert_eq!(event["return_origin"], "https://app.example");
    // Without a return, no return in the answer.
    let plain = pair(&d);
    assert!(plain.get("return").is_none(), "{plain}");
    let log = d.stderr();
    assert!(!log.contains(body["token"].as_str().unwrap()), "{log}");
}
