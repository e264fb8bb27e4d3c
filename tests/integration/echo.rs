//! The built-in echo with a real client.

use std::time::Duration;

use async_tungstenite::tungstenite::Message;

use crate::util::*;

#[test]
fn echoes_text_binary_and_answers_ping() {
    let d = Daemon::start(&["--echo"]);
    block_on(async {
        let mut ws = connect(&d.url("/chat")).await.expect("connect");
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("hello")));
        ws.send(Message::binary(vec![0u8, 159, 255])).await.unwrap();
        assert_eq!(
            next(&mut ws).await,
            Some(Message::binary(vec![0u8, 159, 255]))
        );
        ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
        let pong = async_std::future::timeout(Duration::from_secs(5), async {
            loop {
                match futures_lite::StreamExt::next(&mut ws).await {
                    Some(Ok(Message::Pong(p))) => return p,
                    Some(Ok(_)) => continue,
                    other => panic!("no pong: {other:?}"),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(&pong[..], b"p");
        let big = "x".repeat(200_000);
        ws.send(Message::text(big.clone())).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text(big)));
        ws.close(None).await.unwrap();
    });
    let close = d.expect_fields("close", json!({}), Duration::from_secs(5));
    d.expect_fields(
        "accept",
        json!({"reason": "valid-token", "target": "/chat?token=REDACTED"}),
        Duration::from_secs(5),
    );
    assert_eq!(
        (&close["bytes_in"], &close["bytes_out"]),
        (&json!(200008), &json!(200008)),
        "{close}"
    );
}

#[test]
fn oversized_message_closes_1009() {
    let d = Daemon::start(&["--echo", "--max-message-size", "1024"]);
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::text("x".repeat(1024))).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("x".repeat(1024))));
        let _ = ws.send(Message::binary(vec![7u8; 200_000])).await;
        assert_eq!(close_code(&mut ws).await, Some(1009));
    });
    // Others are still served.
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::text("still here")).await.unwrap();
        assert_eq!(next(&mut ws).await, Some(Message::text("still here")));
    });
}

#[test]
fn wrong_token_fails_with_client_too() {
    let d = Daemon::start(&["--echo"]);
    block_on(async {
        let url = format!("ws://{}/?token=not-the-token-at-all", d.addr);
        match connect(&url).await {
            Err(async_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401)
            }
            other => panic!("expected 401, got {other:?}"),
        }
    });
}

#[test]
fn many_concurrent_sessions() {
    let d = Daemon::start(&["--echo"]);
    block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..50 {
            sockets.push(connect(&d.url("/")).await.unwrap());
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            ws.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            assert_eq!(next(ws).await, Some(Message::text(format!("m{i}"))));
        }
    });
}
