//! The token never reaches a log line, an error body or health output, for any input.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;

use crate::util::*;

#[test]
fn token_absent_from_all_output() {
    let mut d = Daemon::start(&["--", "sh", "-c", "cat; echo \"$QUERY_STRING\" >&2"]);
    let t = TOKEN;
    let mut answers = String::new();
    let targets = [
        format!("/?token={t}"),
        format!("/?token={t}x"),
        format!("/?token={t}&token={t}"),
        format!("/?tok%65n={t}&x=%zz"),
        format!("/?x={t}"),
        format!("/{t}?a=b"),
        format!("/?token={t}#frag"),
        format!("/?to%zzken={t}"),
        format!("/?token={}", t.replace('-', "%2D")),
    ];
    for target in &targets {
        answers.push_str(&upgrade(d.addr, target, ""));
        answers.push_str(&upgrade(d.addr, target, "Origin: http://evil.example\r\n"));
        answers.push_str(&raw(
            d.addr,
            format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
        ));
        answers.push_str(&raw(
            d.addr,
            format!("POST {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
        ));
    }
    answers.push_str(&raw(
        d.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ));
    block_on(async {
        let mut ws = connect(&d.url("/s")).await.unwrap();
        ws.send(Message::text(format!("the client says {t}")))
            .await
            .unwrap();
        assert_eq!(
            next(&mut ws).await,
            Some(Message::text(format!("the client says {t}")))
        );
        ws.close(None).await.unwrap();
    });
    d.expect_fields("child-exit", json!({}), Duration::from_secs(10));
    assert!(d.terminate(Duration::from_secs(5)).unwrap().success());
    let log = d.stderr();
    let decoded = t.replace('-', "%2D");
    for (what, text) in [("log", &log), ("answers", &answers)] {
        assert!(!text.contains(t), "the token is in the {what}:\n{text}");
        assert!(
            !text.contains(&decoded),
            "the encoded token is in the {what}:\n{text}"
        );
    }
    assert!(d.stdout().is_empty());
    // Request targets are logged, with the token redacted.
    d.expect_event(Duration::from_secs(5), |e| {
        e["target"]
            .as_str()
            .is_some_and(|t| t.contains("token=REDACTED"))
    });
}

#[test]
fn debug_output_is_redacted() {
    let secret = wsgate::internal::secret::Secret::new(TOKEN);
    assert!(!format!("{secret:?}").contains(TOKEN));
    let config = wsgate::internal::cli::parse(
        vec!["--echo".into(), "--auth-token".into(), TOKEN.into()],
        wsgate::internal::cli::Env::default(),
    )
    .unwrap();
    assert!(!format!("{config:?}").contains(TOKEN));
}
