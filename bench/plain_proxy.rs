//! A reference for the proxy benchmark, not a server to use: the least work a proxy on
//! wsgate's runtime (async-std) can do. It accepts, connects to the upstream, and
//! copies bytes both ways with a 64 KiB buffer each way; it reads no request, checks
//! no credential, writes no log, and enforces nothing (HAProxy's `mode tcp`).
//!
//! `plain_proxy LISTEN UPSTREAM` serves until killed; it prints
//! `event=listening addr=…` on stderr, like wsgate.

use async_std::net::{TcpListener, TcpStream};
use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Copies until `from` ends, then ends `to`'s writing side.
async fn copy(mut from: &TcpStream, mut to: &TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

async fn relay(client: TcpStream, upstream: String) {
    let _ = client.set_nodelay(true);
    let Ok(up) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = up.set_nodelay(true);
    // Both directions to their ends; `or` would drop the other at the first end.
    futures_lite::future::zip(copy(&client, &up), copy(&up, &client)).await;
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        panic!("usage: plain_proxy LISTEN UPSTREAM");
    };
    async_std::task::block_on(async {
        let listener = TcpListener::bind(&listen).await.expect("bind");
        eprintln!(
            "event=listening addr={}",
            listener.local_addr().expect("addr")
        );
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                let upstream = upstream.clone();
                async_std::task::spawn(relay(stream, upstream));
            }
        }
    });
}
