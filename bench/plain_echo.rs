//! The ceiling wsgate is measured against: an async-tungstenite echo server on the
//! same runtime (async-std), with no authentication and the library's defaults.
//!
//! `cargo run --release --example plain_echo -- 127.0.0.1:0` prints
//! `event=listening addr=…` on stderr, like wsgate, and serves until killed.

use async_std::net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

async fn session(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = async_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    async_std::task::block_on(async {
        let listener = TcpListener::bind(&addr).await.expect("bind");
        eprintln!(
            "event=listening addr={}",
            listener.local_addr().expect("addr")
        );
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                async_std::task::spawn(session(stream));
            }
        }
    });
}
