//! The benchmark's load client: loopback only, bounded in count and time, exits by
//! itself. Prints one `key=value` line per run.
//!
//! ```text
//! load handshake URL [--concurrency 16] [--seconds 5]
//!     connect, upgrade, close, in a loop: handshakes/s and p50/p99 latency
//! load echo URL [--connections 8] [--size 64] [--seconds 5]
//!     64-byte text messages, one in flight per connection: round trips/s
//! load idle URL --pid PID [--count 2000]
//!     RSS of PID before and after opening COUNT connections that stay idle
//! ```

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_std::net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

type Ws = WebSocketStream<TcpStream>;

struct Args {
    mode: String,
    url: String,
    concurrency: usize,
    connections: usize,
    size: usize,
    seconds: f64,
    count: usize,
    pid: Option<u32>,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let usage = "usage: load handshake|echo|idle URL [--concurrency N] [--connections N] \
                 [--size BYTES] [--seconds S] [--count N] [--pid PID]";
    let mode = it.next().expect(usage);
    let url = it.next().expect(usage);
    let mut a = Args {
        mode,
        url,
        concurrency: 16,
        connections: 8,
        size: 64,
        seconds: 5.0,
        count: 2000,
        pid: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().expect(usage);
        match flag.as_str() {
            "--concurrency" => a.concurrency = value.parse().expect(usage),
            "--connections" => a.connections = value.parse().expect(usage),
            "--size" => a.size = value.parse().expect(usage),
            "--seconds" => a.seconds = value.parse().expect(usage),
            "--count" => a.count = value.parse().expect(usage),
            "--pid" => a.pid = Some(value.parse().expect(usage)),
            _ => panic!("{usage}"),
        }
    }
    assert!(
        a.url.starts_with("ws://127.0.0.1:") || a.url.starts_with("ws://[::1]:"),
        "loopback only"
    );
    a
}

async fn connect(url: &str) -> Result<Ws, String> {
    let host = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .ok_or("bad url")?;
    let tcp = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (ws, _) = async_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

async fn close(mut ws: Ws) {
    if ws.close(None).await.is_ok() {
        while let Some(Ok(_)) = ws.next().await {}
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn handshake(a: &Args) {
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let url = a.url.clone();
        let failures = failures.clone();
        tasks.push(async_std::task::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                match connect(&url).await {
                    Ok(ws) => {
                        close(ws).await;
                        latencies.push(started.elapsed());
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    println!(
        "mode=handshake handshakes={} per_sec={:.0} p50_us={} p99_us={} failures={}",
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.50).as_micros(),
        percentile(&all, 0.99).as_micros(),
        failures.load(Ordering::Relaxed)
    );
}

async fn echo(a: &Args) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let payload = "x".repeat(a.size);
    let mut sockets = Vec::new();
    for _ in 0..a.connections {
        sockets.push(connect(&a.url).await.expect("connect"));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let (stop, count, payload) = (stop.clone(), count.clone(), payload.clone());
        tasks.push(async_std::task::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                ws.send(Message::text(payload.clone())).await.expect("send");
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.len() == payload.len() => {}
                    other => panic!("unexpected echo: {other:?}"),
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            close(ws).await;
        }));
    }
    async_std::task::sleep(Duration::from_secs_f64(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        t.await;
    }
    println!(
        "mode=echo connections={} size={} round_trips={n} per_sec={:.0}",
        a.connections,
        a.size,
        n as f64 / elapsed
    );
}

/// Resident set size of `pid` in KiB, from `ps` (works on Linux and macOS).
fn rss_kib(pid: u32) -> u64 {
    let out = Command::new("ps")
        .args(["-o", "rss=", "-p", &pid.to_string()])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ps printed an RSS")
}

async fn idle(a: &Args) {
    let pid = a.pid.expect("idle needs --pid");
    async_std::task::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(a.count);
    for _ in 0..a.count {
        let mut ws = connect(&a.url).await.expect("connect");
        // One round trip, so the session is fully set up, then it stays idle.
        ws.send(Message::text("hi")).await.expect("send");
        let _ = ws.next().await;
        sockets.push(ws);
    }
    async_std::task::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    println!(
        "mode=idle connections={} rss_before_kib={before} rss_after_kib={after} per_conn_bytes={}",
        a.count,
        (after.saturating_sub(before) * 1024) / a.count as u64
    );
    for ws in sockets {
        drop(ws);
    }
}

fn main() {
    let a = args();
    async_std::task::block_on(async {
        match a.mode.as_str() {
            "handshake" => handshake(&a).await,
            "echo" => echo(&a).await,
            "idle" => idle(&a).await,
            other => panic!("unknown mode {other}"),
        }
    });
}
