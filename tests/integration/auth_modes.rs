//! The header modes from outside: `--auth bearer` and `--auth jwt`, the check
//! endpoint, and RFC 6750 answers.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::util::*;

const JWT_KEY: &[u8] = b"jwt-test-key-jwt-test-key-jwt-test-key!!";

/// An HS256 JWT, minted here with the HMAC crate rather than with wsgate's code.
fn mint(header: &str, payload: &str, key: &[u8]) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let b64 = data_encoding::BASE64URL_NOPAD;
    let input = format!(
        "{}.{}",
        b64.encode(header.as_bytes()),
        b64.encode(payload.as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(&mac.finalize().into_bytes()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(extra: &str, exp_in: i64) -> String {
    let exp = now() as i64 + exp_in;
    format!(r#"{{"iss":"test-issuer","aud":"wsgate","sub":"alice","exp":{exp}{extra}}}"#)
}

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn jwt_daemon(extra: &[&str]) -> (Daemon, Scratch) {
    let keys = Scratch::new("jwt");
    let key = keys.path().join("key");
    std::fs::write(&key, JWT_KEY).unwrap();
    set_mode(&key, 0o600);
    let key = key.to_str().unwrap().to_owned();
    let mut args = vec![
        "--auth",
        "jwt",
        "--jwt-secret-file",
        &key,
        "--jwt-issuer",
        "test-issuer",
        "--jwt-audience",
        "wsgate",
        "--jwt-leeway",
        "0",
    ];
    args.extend_from_slice(extra);
    let d = Daemon::with(Options {
        args,
        env: vec![],
        token_file: false,
    });
    (d, keys)
}

/// An upgrade head carrying `Authorization: Bearer <token>`.
fn bearer_head(token: &str) -> String {
    upgrade_head("/", &format!("Authorization: Bearer {token}\r\n"))
}

fn reason(response: &str) -> &str {
    response
        .split("\"reason\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn bearer_daemon(args: &[&str]) -> Daemon {
    let mut all = vec!["--auth", "bearer"];
    all.extend_from_slice(args);
    Daemon::start(&all)
}

#[test]
fn bearer_header_accepted_query_ignored() {
    let d = bearer_daemon(&["--echo"]);
    let ok = raw(d.addr, bearer_head(TOKEN).as_bytes());
    assert_eq!(status(&ok), 101, "{ok}");
    let lower = upgrade(d.addr, "/", &format!("Authorization: bEaReR {TOKEN}\r\n"));
    assert_eq!(status(&lower), 101, "{lower}");
    let query_only = upgrade(d.addr, &format!("/?token={TOKEN}"), "");
    assert_eq!(status(&query_only), 401);
    assert_eq!(reason(&query_only), "missing-token");
    assert_eq!(
        header(&query_only, "WWW-Authenticate"),
        Some("Bearer realm=\"wsgate\"")
    );
    let wrong = raw(d.addr, bearer_head("not-the-token-at-all").as_bytes());
    assert_eq!(status(&wrong), 401);
    assert_eq!(
        header(&wrong, "WWW-Authenticate"),
        Some(
            "Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"invalid-token\""
        )
    );
    for bad in [format!("Bearer {TOKEN} extra"), "Bearer".to_owned()] {
        let r = upgrade(d.addr, "/", &format!("Authorization: {bad}\r\n"));
        assert_eq!(status(&r), 400, "{bad}: {r}");
        assert!(
            header(&r, "WWW-Authenticate")
                .unwrap()
                .contains("error=\"invalid_request\"")
        );
        assert!(!r.contains(TOKEN));
    }
    // A real client with the header.
    block_on(async {
        let bearer = format!("Bearer {TOKEN}");
        let mut ws = connect_with(&d.url_without_token(), &[("Authorization", &bearer)]).await;
        ws.send(Message::text("over bearer")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("over bearer")));
    });
    let log = d.stderr();
    assert!(!log.contains(TOKEN), "{log}");
}

#[test]
fn bearer_subprotocol_form_accepted_and_not_echoed() {
    let d = bearer_daemon(&["--echo"]);
    let entry = format!(
        "wsgate.bearer.{}",
        data_encoding::BASE64URL_NOPAD.encode(TOKEN.as_bytes())
    );
    let head = upgrade_head("/", &format!("Sec-WebSocket-Protocol: chat, {entry}\r\n"));
    let r = raw(d.addr, head.as_bytes());
    assert_eq!(status(&r), 101, "{r}");
    assert_eq!(header(&r, "Sec-WebSocket-Protocol"), None, "{r}");
    let both = upgrade_head(
        "/",
        &format!("Authorization: Bearer {TOKEN}\r\nSec-WebSocket-Protocol: {entry}\r\n"),
    );
    let r = raw(d.addr, both.as_bytes());
    assert_eq!(status(&r), 400, "{r}");
    assert_eq!(reason(&r), "malformed-credential");
    assert!(
        header(&r, "WWW-Authenticate")
            .unwrap()
            .contains("error=\"invalid_request\"")
    );
    let wrong = format!(
        "wsgate.bearer.{}",
        data_encoding::BASE64URL_NOPAD.encode(b"nope-nope-nope")
    );
    let r = upgrade(d.addr, "/", &format!("Sec-WebSocket-Protocol: {wrong}\r\n"));
    assert_eq!(status(&r), 401);
}

/// Connects like a browser: the credential entry among `offer`, which a spec-following
/// client (tungstenite, like browsers) requires the 101 to select one of.
async fn offer(
    d: &Daemon,
    offered: &[&str],
) -> Result<(Ws, Option<String>), async_tungstenite::tungstenite::Error> {
    let mut request = d.url_without_token().into_client_request().unwrap();
    let value = offered.join(", ");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", value.parse().unwrap());
    let tcp = async_std::net::TcpStream::connect(d.addr).await.unwrap();
    let (ws, response) = async_tungstenite::client_async(request, tcp).await?;
    let selected = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((ws, selected))
}

#[test]
fn browser_subprotocol_form_with_a_real_client() {
    let entry = format!(
        "wsgate.bearer.{}",
        data_encoding::BASE64URL_NOPAD.encode(TOKEN.as_bytes())
    );
    let d = bearer_daemon(&["--echo", "--protocol", "chat,v2.json"]);
    block_on(async {
        // The marker, for an application without a subprotocol of its own.
        let (mut ws, selected) = offer(&d, &["wsgate", &entry]).await.unwrap();
        assert_eq!(selected.as_deref(), Some("wsgate"));
        ws.send(Message::text("via the marker")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("via the marker")));
        // A protocol the backend speaks, in the client's order of preference.
        let (_, selected) = offer(&d, &[&entry, "v2.json", "chat"]).await.unwrap();
        assert_eq!(selected.as_deref(), Some("v2.json"));
        // Nothing the backend speaks: the 101 selects none, and a browser-like client
        // gives up, as it must.
        let refused = offer(&d, &["superchat", &entry]).await;
        assert!(refused.is_err(), "{refused:?}");
    });
    // The program is told which was selected, and never sees the credential entry.
    let p = bearer_daemon(&["--protocol", "chat", "--", "env"]);
    let lines = block_on(async {
        let (mut ws, selected) = offer(&p, &["chat", &entry, "wsgate"]).await.unwrap();
        assert_eq!(selected.as_deref(), Some("chat"));
        text_messages(&mut ws).await
    });
    assert!(
        lines.iter().any(|l| l == "WSGATE_PROTOCOL=chat"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "HTTP_SEC_WEBSOCKET_PROTOCOL=chat, wsgate"),
        "{lines:?}"
    );
    assert!(!lines.join("\n").contains(&entry[14..]), "{lines:?}");
    p.expect_fields(
        "accept",
        json!({"protocol": "chat"}),
        Duration::from_secs(5),
    );
    let log = p.stderr();
    assert!(!log.contains(&entry[14..]) && !log.contains(TOKEN), "{log}");
}

#[test]
fn protocol_names_are_checked() {
    for (bad, why) in [
        ("wsgate.bearer.x", "wsgate.bearer"),
        ("a b", "a b"),
        ("", "\"\""),
    ] {
        let out = run_wsgate(&["--echo", "--protocol", bad], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--protocol") && err.contains(why),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn bearer_program_never_sees_the_subprotocol_entry() {
    use std::io::Write as _;
    let d = bearer_daemon(&["--", "env"]);
    let entry = format!(
        "wsgate.bearer.{}",
        data_encoding::BASE64URL_NOPAD.encode(TOKEN.as_bytes())
    );
    let head = upgrade_head("/", &format!("Sec-WebSocket-Protocol: chat, {entry}\r\n"));
    let mut s = std::net::TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    // The 101, then `env`'s lines as text frames, then the close: until the daemon
    // closes the connection.
    let mut all = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut all);
    let all = String::from_utf8_lossy(&all);
    assert!(all.starts_with("HTTP/1.1 101 "), "{all}");
    assert!(all.contains("HTTP_SEC_WEBSOCKET_PROTOCOL=chat"), "{all}");
    assert!(!all.contains(&entry) && !all.contains(TOKEN), "{all}");
}

#[test]
fn hashed_secret_accepted() {
    use sha2::Digest as _;
    let hex = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(TOKEN.as_bytes()));
    let d = Daemon::with(Options {
        args: vec!["--auth", "bearer", "--auth-token-sha256", &hex, "--echo"],
        env: vec![],
        token_file: false,
    });
    assert_eq!(status(&raw(d.addr, bearer_head(TOKEN).as_bytes())), 101);
    assert_eq!(
        status(&raw(
            d.addr,
            bearer_head("wrong-wrong-wrong-wrong").as_bytes()
        )),
        401
    );
    let file = std::fs::read_to_string(d.runtime_file()).unwrap();
    assert!(!file.contains("token=") && !file.contains(&hex), "{file}");
    assert_eq!(d.runtime_url(), format!("ws://{}/", d.addr));
}

#[test]
fn generated_bearer_token_is_shown_to_the_operator_only() {
    let d = Daemon::with(Options {
        args: vec!["--auth", "bearer", "--echo"],
        env: vec![],
        token_file: false,
    });
    let file = std::fs::read_to_string(d.runtime_file()).unwrap();
    let token = file
        .lines()
        .find_map(|l| l.strip_prefix("token="))
        .expect("token line")
        .to_owned();
    assert_eq!(token.len(), 43);
    assert_eq!(d.runtime_url(), format!("ws://{}/", d.addr));
    assert_eq!(status(&raw(d.addr, bearer_head(&token).as_bytes())), 101);
    d.expect_fields(
        "ready",
        json!({"send": "Authorization: Bearer <hidden>"}),
        Duration::from_secs(5),
    );
    let log = d.stderr();
    assert!(!log.contains(&token), "{log}");
}

#[test]
fn check_endpoint() {
    let check = |d: &Daemon, extra: &str| {
        raw(
            d.addr,
            format!("GET /_wsgate/auth/check HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
                .as_bytes(),
        )
    };
    let body = |r: &str| r.split_once("\r\n\r\n").unwrap().1.to_owned();
    let d = bearer_daemon(&["--echo"]);
    let ok = check(&d, &format!("Authorization: Bearer {TOKEN}\r\n"));
    assert_eq!((status(&ok), body(&ok).as_str()), (200, "{\"valid\":true}"));
    let bad = check(&d, "Authorization: Bearer wrong-wrong-wrong\r\n");
    assert_eq!(
        (status(&bad), body(&bad).as_str()),
        (
            401,
            "{\"valid\":false,\"error\":\"invalid_token\",\"reason\":\"invalid-token\"}"
        )
    );
    assert!(
        header(&bad, "WWW-Authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let none = check(&d, "");
    assert_eq!(
        (status(&none), body(&none).as_str()),
        (401, "{\"valid\":false,\"reason\":\"missing-token\"}")
    );
    assert_eq!(
        header(&none, "WWW-Authenticate"),
        Some("Bearer realm=\"wsgate\"")
    );
    let evil = raw(
        d.addr,
        b"GET /_wsgate/auth/check HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    );
    assert_eq!(status(&evil), 403);
    d.expect_fields("check", json!({}), Duration::from_secs(5));

    let q = Daemon::start(&["--echo"]);
    let ok = raw(
        q.addr,
        format!("GET /_wsgate/auth/check?token={TOKEN} HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!((status(&ok), body(&ok).as_str()), (200, "{\"valid\":true}"));
    assert!(header(&ok, "WWW-Authenticate").is_none());

    let open = bearer_daemon(&["--echo", "--no-token-check"]);
    let r = check(&open, "");
    assert_eq!(
        (status(&r), body(&r).as_str()),
        (200, "{\"valid\":true,\"token_required\":false}")
    );
}

#[test]
fn health_reports_the_mode_only() {
    let d = bearer_daemon(&["--echo"]);
    let r = raw(
        d.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(r.contains("\"auth\":\"bearer\""), "{r}");
    let (j, _keys) = jwt_daemon(&["--echo"]);
    let r = raw(
        j.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(r.contains("\"auth\":\"jwt\""), "{r}");
    assert!(!r.contains("test-issuer") && !r.contains("alice"), "{r}");
    assert!(!r.contains(std::str::from_utf8(JWT_KEY).unwrap()));
}

#[test]
fn jwt_reasons_from_outside() {
    let (d, _keys) = jwt_daemon(&["--echo"]);
    let valid = mint(HS256, &claims("", 60), JWT_KEY);
    let cases: Vec<(String, u16, &str)> = vec![
        (valid.clone(), 101, ""),
        (mint(HS256, &claims("", -5), JWT_KEY), 401, "expired-token"),
        (
            mint(
                HS256,
                &claims(&format!(",\"nbf\":{}", now() + 100), 60),
                JWT_KEY,
            ),
            401,
            "not-yet-valid",
        ),
        (
            mint(
                HS256,
                &format!(
                    r#"{{"iss":"test-issuer","aud":"other","exp":{}}}"#,
                    now() + 60
                ),
                JWT_KEY,
            ),
            401,
            "wrong-audience",
        ),
        (
            mint(
                HS256,
                &format!(
                    r#"{{"iss":"test-issuer","aud":["a","b"],"exp":{}}}"#,
                    now() + 60
                ),
                JWT_KEY,
            ),
            401,
            "wrong-audience",
        ),
        (
            mint(
                HS256,
                &format!(
                    r#"{{"iss":"test-issuer","aud":["a","wsgate"],"exp":{}}}"#,
                    now() + 60
                ),
                JWT_KEY,
            ),
            101,
            "",
        ),
        (
            mint(
                HS256,
                &format!(
                    r#"{{"iss":"someone-else","aud":"wsgate","exp":{}}}"#,
                    now() + 60
                ),
                JWT_KEY,
            ),
            401,
            "wrong-issuer",
        ),
        (
            mint(
                HS256,
                &claims("", 60),
                b"another-key-another-key-another-key!!",
            ),
            401,
            "invalid-signature",
        ),
        ("not.a.jwt".to_owned(), 401, "malformed-token"),
        ("garbage".to_owned(), 401, "malformed-token"),
    ];
    for (token, want, why) in &cases {
        let r = raw(d.addr, bearer_head(token).as_bytes());
        assert_eq!(status(&r), *want, "{why}: {r}");
        if *want == 401 {
            assert_eq!(reason(&r), *why, "{r}");
            let challenge = header(&r, "WWW-Authenticate").unwrap();
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
            assert!(!r.contains(token.as_str()));
        }
    }
    // alg: none, unsigned.
    let b64 = data_encoding::BASE64URL_NOPAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims("", 60).as_bytes())
    );
    let r = raw(d.addr, bearer_head(&none).as_bytes());
    assert_eq!((status(&r), reason(&r)), (401, "invalid-signature"), "{r}");
    // Tampered payload: a valid token's signature on other claims.
    let (input, signature) = valid.rsplit_once('.').unwrap();
    let (header_part, _) = input.split_once('.').unwrap();
    let forged = format!(
        "{header_part}.{}.{signature}",
        b64.encode(claims(",\"admin\":true", 60).as_bytes())
    );
    let r = raw(d.addr, bearer_head(&forged).as_bytes());
    assert_eq!((status(&r), reason(&r)), (401, "invalid-signature"), "{r}");
    // Tampered signature.
    let mut sig = b64.decode(signature.as_bytes()).unwrap();
    sig[5] ^= 0x40;
    let tampered = format!("{input}.{}", b64.encode(&sig));
    let r = raw(d.addr, bearer_head(&tampered).as_bytes());
    assert_eq!((status(&r), reason(&r)), (401, "invalid-signature"), "{r}");
    // The subprotocol form carries a JWT too.
    let entry = format!("wsgate.bearer.{}", b64.encode(valid.as_bytes()));
    let r = upgrade(d.addr, "/", &format!("Sec-WebSocket-Protocol: {entry}\r\n"));
    assert_eq!(status(&r), 101, "{r}");
    // No token or claim in the log.
    let log = d.stderr();
    assert!(!log.contains(&valid) && !log.contains("alice"), "{log}");
}

#[test]
fn jwt_subject_reaches_the_program_and_nothing_else() {
    let (d, _keys) = jwt_daemon(&["--", "env"]);
    let token = mint(HS256, &claims("", 60), JWT_KEY);
    let lines = block_on(async {
        let bearer = format!("Bearer {token}");
        let mut ws = connect_with(&d.url_without_token(), &[("Authorization", &bearer)]).await;
        text_messages(&mut ws).await
    });
    assert!(
        lines.iter().any(|l| l == "WSGATE_SUBJECT=alice"),
        "{lines:?}"
    );
    let env = lines.join("\n");
    assert!(
        !env.contains(&token) && !env.contains(std::str::from_utf8(JWT_KEY).unwrap()),
        "{env}"
    );
}

#[test]
fn jwt_session_closed_at_expiry() {
    let (d, _keys) = jwt_daemon(&["--echo"]);
    let token = mint(HS256, &claims("", 2), JWT_KEY);
    block_on(async {
        let bearer = format!("Bearer {token}");
        let mut ws = connect_with(&d.url_without_token(), &[("Authorization", &bearer)]).await;
        ws.send(Message::text("before")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("before")));
        let started = Instant::now();
        let close = loop {
            match next(&mut ws).await {
                Some(Message::Close(frame)) => break frame.expect("a close frame with a code"),
                Some(_) => continue,
                None => panic!("closed without a close frame"),
            }
        };
        assert_eq!(u16::from(close.code), 1008);
        assert_eq!(close.reason.as_str(), "token expired");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn jwt_startup_and_mode_errors() {
    let keys = Scratch::new("jwtshort");
    let short = keys.path().join("short-key");
    std::fs::write(&short, b"only-thirty-one-bytes-long-key!").unwrap();
    let args = ["--echo", "--listen", "127.0.0.1:0", "--auth", "jwt"];
    let short_arg = short.to_str().unwrap();
    let args = [&args[..], &["--jwt-secret-file", short_arg]].concat();
    let run = keys.path().join("run");
    let out = run_wsgate(&args, &[("WSGATE_RUNTIME_DIR", run.as_os_str())]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("short-key") && err.contains("shorter than 32 bytes"),
        "{err}"
    );
    for (args, want) in [
        (
            vec!["--echo", "--auth", "bearer", "--jwt-issuer", "x"],
            "--jwt-issuer needs --auth jwt",
        ),
        (
            vec!["--echo", "--auth-token-sha256", "00"],
            "--auth-token-sha256",
        ),
        (vec!["--echo", "--auth", "jwt"], "--jwt-secret-file"),
    ] {
        let out = run_wsgate(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}"
        );
    }
}
