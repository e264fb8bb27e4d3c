//! wsgate's benchmark: the load client, and the suite that runs wsgate side by side
//! with what a user would pick instead, on the same machine, in one run.
//!
//! ```text
//! wsbench suite [--seconds S] [--rounds R]
//!     every measurement below for wsgate --echo, a plain async-tungstenite echo
//!     server, wsgate -- cat and websocketd cat; prints one table with ratios and
//!     exits 1 if a target is missed
//! wsbench proxy [--seconds S] [--rounds R] [--idle N]
//!     wsgate --upstream, nginx, HAProxy and Caddy, each in front of the plain echo
//!     server, and that server alone (configs from bench/proxy.d/, in a temp dir;
//!     bench/proxy installs the proxies); prints one table, wsgate against the best
//!     proxy per column, and targets met or missed; exits 1 only if wsgate's row or
//!     the ceiling could not be measured
//! wsbench handshake URL [--concurrency 16] [--seconds 5]
//!     connect, upgrade, close, in a loop: handshakes/s and p50/p99 latency
//! wsbench echo URL [--connections 8] [--size 64] [--seconds 5]
//!     text messages, one in flight per connection: round trips/s
//! wsbench idle URL --pid PID [--count 2000]
//!     RSS of PID before and after opening COUNT connections that then stay idle
//! ```
//!
//! Loopback only; every count and duration is bounded; every process started is
//! killed and reaped.

use std::net::{SocketAddr, TcpListener, TcpStream as StdTcp};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_std::net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;

type Ws = WebSocketStream<TcpStream>;

const TOKEN: &str = "bench-token-0123456789abcdef0123456789abcdef";

// ---------------------------------------------------------------------------
// The load client.

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

/// Handshakes per second, p50 and p99 latency, failures.
struct Handshakes {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    failures: u64,
}

async fn handshakes(url: &str, concurrency: usize, seconds: f64) -> Handshakes {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let url = url.to_owned();
            let failures = failures.clone();
            async_std::task::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let began = Instant::now();
                    match connect(&url).await {
                        Ok(ws) => {
                            close(ws).await;
                            latencies.push(began.elapsed());
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            async_std::task::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Handshakes {
        per_sec: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        failures: failures.load(Ordering::Relaxed),
    }
}

async fn echo(url: &str, connections: usize, size: usize, seconds: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let payload = "x".repeat(size);
    let mut sockets = Vec::new();
    for _ in 0..connections {
        sockets.push(connect(url).await.expect("connect"));
    }
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let (stop, count, payload) = (stop.clone(), count.clone(), payload.clone());
            async_std::task::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    ws.send(Message::text(payload.clone())).await.expect("send");
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) if t.len() == payload.len() => break,
                            // Heartbeats from the server.
                            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                            other => panic!("unexpected echo: {other:?}"),
                        }
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
                close(ws).await;
            })
        })
        .collect();
    async_std::task::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        t.await;
    }
    n as f64 / elapsed
}

/// Resident set size of `pid` in KiB, from `ps` (Linux and macOS alike).
fn rss_kib(pid: u32) -> u64 {
    let out = Command::new("ps")
        .args(["-o", "rss=", "-p", &pid.to_string()])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// RSS in KiB (from `rss`, e.g. one process's [`rss_kib`] or a proxy's
/// [`tree_rss_kib`]) before and after opening `count` connections, each fully set up
/// by one round trip and then idle.
async fn idle(url: &str, rss: impl Fn() -> u64, count: usize) -> (u64, u64) {
    async_std::task::sleep(Duration::from_millis(300)).await;
    let before = rss();
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let mut ws = connect(url).await.expect("connect");
        ws.send(Message::text("hi")).await.expect("send");
        let _ = ws.next().await;
        sockets.push(ws);
    }
    async_std::task::sleep(Duration::from_millis(500)).await;
    let after = rss();
    drop(sockets);
    (before, after)
}

// ---------------------------------------------------------------------------
// The servers.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    WsgateEcho,
    PlainEcho,
    WsgateCat,
    WebsocketdCat,
    /// bench/ideal_relay.rs: the least work a relay to `cat` can do, for reference.
    IdealCat,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::WsgateEcho => "wsgate --echo",
            Kind::PlainEcho => "plain echo",
            Kind::WsgateCat => "wsgate -- cat",
            Kind::WebsocketdCat => "websocketd cat",
            Kind::IdealCat => "least-work relay",
        }
    }
}

struct Paths {
    wsgate: PathBuf,
    plain: PathBuf,
    pure_path: PathBuf,
    websocketd: PathBuf,
    ideal: PathBuf,
    scratch: PathBuf,
}

/// A running server, killed and reaped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(kind: Kind, paths: &Paths) -> Server {
        let log = paths
            .scratch
            .join(format!("{}.log", kind.name().replace([' ', '-'], "_")));
        let stderr = std::fs::File::create(&log).expect("log file");
        let token_file = paths.scratch.join("token");
        // The port, for the servers that are told theirs rather than report it.
        let mut told = None;
        let mut cmd = match kind {
            Kind::WsgateEcho | Kind::WsgateCat => {
                let mut c = Command::new(&paths.wsgate);
                c.args(["--listen", "127.0.0.1:0", "--max-connections", "5000"])
                    .arg("--auth-token-file")
                    .arg(&token_file)
                    .env("WSGATE_RUNTIME_DIR", paths.scratch.join("run"));
                if kind == Kind::WsgateEcho {
                    c.arg("--echo");
                } else {
                    c.args(["--", "cat"]);
                }
                c
            }
            Kind::PlainEcho => {
                let mut c = Command::new(&paths.plain);
                c.arg("127.0.0.1:0");
                c
            }
            Kind::WebsocketdCat => {
                let port = *told.insert(free_port());
                let mut c = Command::new(&paths.websocketd);
                c.args(["--address", "127.0.0.1", "--port", &port.to_string(), "cat"]);
                c
            }
            Kind::IdealCat => {
                let port = *told.insert(free_port());
                let mut c = Command::new(&paths.ideal);
                c.args(["--port", &port.to_string()]);
                c
            }
        };
        same_environment(&mut cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", kind.name()));
        let addr = match told {
            Some(port) => {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let what = format!("{} to listen", kind.name());
                wait_until(|| StdTcp::connect(addr).is_ok(), &what);
                addr
            }
            None => {
                let mut found = None;
                wait_until(
                    || {
                        let text = std::fs::read_to_string(&log).unwrap_or_default();
                        found = text
                            .split_whitespace()
                            .find_map(|kv| kv.strip_prefix("addr="))
                            .and_then(|a| a.parse::<SocketAddr>().ok());
                        found.is_some()
                    },
                    "the server to report its address",
                );
                found.expect("address")
            }
        };
        let url = match kind {
            Kind::WsgateEcho | Kind::WsgateCat => format!("ws://{addr}/?token={TOKEN}"),
            _ => format!("ws://{addr}/"),
        };
        Server { child, url }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// The suite.

#[derive(Default, Clone)]
struct Row {
    handshakes: Vec<f64>,
    p99_us: Vec<f64>,
    echo: Vec<f64>,
    failures: u64,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

struct Check {
    ok: bool,
}

impl Check {
    fn mark(&mut self, ok: bool) -> &'static str {
        self.ok &= ok;
        if ok { "met" } else { "MISSED" }
    }
}

fn exe_dir() -> PathBuf {
    // target/release/examples/wsbench → target/release
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/release")
        .to_path_buf()
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Median time from spawning wsgate to its port accepting a connection.
fn startup_ms(paths: &Paths) -> f64 {
    let mut times = Vec::new();
    for _ in 0..20 {
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(&paths.wsgate)
            .args(["--echo", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--auth-token-file")
            .arg(paths.scratch.join("token"))
            .env("WSGATE_RUNTIME_DIR", paths.scratch.join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wsgate");
        // Killed and reaped when it drops, at the end of this round.
        let _server = Server {
            child,
            url: String::new(),
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        loop {
            if StdTcp::connect(addr).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "wsgate did not start"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    median(&times)
}

fn stripped_size(paths: &Paths) -> Option<u64> {
    let copy = paths.scratch.join("wsgate-stripped");
    std::fs::copy(&paths.wsgate, &copy).ok()?;
    let ok = Command::new("strip").arg(&copy).status().ok()?.success();
    ok.then(|| std::fs::metadata(&copy).ok().map(|m| m.len()))?
}

fn pure_path_ns(paths: &Paths, head: &str) -> f64 {
    let out = Command::new(&paths.pure_path)
        .args(["2000000", head])
        .output()
        .expect("run pure_path");
    let text = String::from_utf8_lossy(&out.stdout);
    field(&text, "ns_per_request").unwrap_or(f64::NAN)
}

/// How many times a second this machine can start `cat` and reap it, four at a time,
/// with nothing else going on: no daemon can start programs faster.
/// Every server and every reference program starts with `PATH` as its whole
/// environment, so each `cat` runs in the same one. websocketd passes its programs
/// only `PATH` (and library paths) unless told otherwise; wsgate passes the daemon's
/// environment. With `LANG` set, `cat` reads a dozen locale files at start, about
/// 150 µs on this machine: that would measure the environment, not the gateway.
fn same_environment(cmd: &mut Command) -> &mut Command {
    let keep: Vec<_> = ["PATH", "WSGATE_RUNTIME_DIR"]
        .into_iter()
        .filter_map(|name| Some((name, cmd_env(cmd, name)?)))
        .collect();
    cmd.env_clear();
    for (name, value) in keep {
        cmd.env(name, value);
    }
    cmd
}

/// The value `cmd` will give `name`: its own setting, else this process's.
fn cmd_env(cmd: &Command, name: &str) -> Option<std::ffi::OsString> {
    match cmd.get_envs().find(|(k, _)| *k == name) {
        Some((_, value)) => value.map(|v| v.to_owned()),
        None => std::env::var_os(name),
    }
}

fn spawn_ceiling(seconds: f64) -> f64 {
    let cat = find_in_path("cat").expect("cat on PATH");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cat = cat.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let mut child = same_environment(&mut Command::new(&cat))
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("start cat");
                    drop(child.stdin.take());
                    let _ = child.wait();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// How many 64-byte lines a second this machine can send through `cat` and read back,
/// 8 programs at a time, each driven by a thread with blocking pipes and nothing else
/// going on: the program's part of an echo round trip, without any WebSocket. No
/// daemon relaying to `cat` can do more round trips than this.
fn pipe_echo_ceiling(seconds: f64) -> f64 {
    use std::io::{BufRead as _, BufReader, Write as _};
    let cat = find_in_path("cat").expect("cat on PATH");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let cat = cat.clone();
            std::thread::spawn(move || {
                let mut child = same_environment(&mut Command::new(&cat))
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start cat");
                let mut stdin = child.stdin.take().expect("stdin");
                let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
                let mut line = [b'x'; 64];
                line[63] = b'\n';
                let mut back = Vec::with_capacity(64);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    stdin.write_all(&line).expect("write");
                    back.clear();
                    stdout.read_until(b'\n', &mut back).expect("read");
                    n += 1;
                }
                drop(stdin);
                let _ = child.wait();
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// Instructions per request under callgrind, when valgrind is installed.
fn pure_path_instructions(paths: &Paths, head: &str) -> Option<f64> {
    let valgrind = find_in_path("valgrind")?;
    let out_file = paths.scratch.join("callgrind.out");
    let out = Command::new(valgrind)
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--toggle-collect=*one_request*")
        .arg(&paths.pure_path)
        .args(["20000", head])
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let collected: f64 = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())?;
    let calls = field(&stdout, "calls")?;
    Some(collected / calls)
}

fn field(text: &str, key: &str) -> Option<f64> {
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// A fresh temp dir for one run, holding wsgate's token file (mode 0600).
fn scratch_dir(tag: &str) -> PathBuf {
    let scratch = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let token_file = scratch.join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600));
    }
    scratch
}

fn suite(seconds: f64, rounds: usize) -> bool {
    let dir = exe_dir();
    let scratch = scratch_dir("wsbench");
    let paths = Paths {
        wsgate: dir.join("wsgate"),
        plain: dir.join("examples/plain_echo"),
        pure_path: dir.join("examples/pure_path"),
        websocketd: find_in_path("websocketd").expect("websocketd on PATH (bench/run installs it)"),
        ideal: dir.join("examples/ideal_relay"),
        scratch: scratch.clone(),
    };
    let kinds = [
        Kind::WsgateEcho,
        Kind::PlainEcho,
        Kind::WsgateCat,
        Kind::WebsocketdCat,
        Kind::IdealCat,
    ];
    let mut rows = vec![Row::default(); kinds.len()];

    // Rounds interleave the servers, so drift on a shared machine hits all alike.
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        for (i, &kind) in kinds.iter().enumerate() {
            let server = Server::start(kind, &paths);
            let h = async_std::task::block_on(handshakes(&server.url, 16, seconds));
            let e = async_std::task::block_on(echo(&server.url, 8, 64, seconds));
            eprintln!(
                "  {:<15} handshakes/s {:>7.0}  p99 {:>6} us  echo/s {:>7.0}",
                kind.name(),
                h.per_sec,
                h.p99.as_micros(),
                e
            );
            rows[i].handshakes.push(h.per_sec);
            rows[i].p99_us.push(h.p99.as_micros() as f64);
            rows[i].echo.push(e);
            rows[i].failures += h.failures;
        }
    }

    eprintln!("idle memory");
    let mut memory = Vec::new();
    for &kind in &kinds[..4] {
        let count = match kind {
            Kind::WsgateEcho | Kind::PlainEcho => 2000,
            _ => 500,
        };
        let server = Server::start(kind, &paths);
        let base = {
            std::thread::sleep(Duration::from_millis(300));
            rss_kib(server.pid())
        };
        let (before, after) =
            async_std::task::block_on(idle(&server.url, || rss_kib(server.pid()), count));
        let per_conn = (after.saturating_sub(before) * 1024) as f64 / count as f64;
        memory.push((base, per_conn, count));
    }

    eprintln!("startup, size, pure path, spawn ceiling");
    let startup = startup_ms(&paths);
    let size = stripped_size(&paths);
    let ns = pure_path_ns(&paths, "rfc");
    let instructions = pure_path_instructions(&paths, "rfc");
    let browser_ns = pure_path_ns(&paths, "browser");
    let browser_instructions = pure_path_instructions(&paths, "browser");
    let ceiling = spawn_ceiling(seconds.min(3.0));
    let pipe_ceiling = pipe_echo_ceiling(seconds.min(3.0));

    let m = |i: usize| {
        let r = &rows[i];
        (median(&r.handshakes), median(&r.p99_us), median(&r.echo))
    };
    let (wh, wp, we) = m(0);
    let (ph, pp, pe) = m(1);
    let (ch, cp, ce) = m(2);
    let (dh, dp, de) = m(3);
    let (ih, _, ie) = m(4);
    let mut check = Check { ok: true };
    let kib = |b: f64| format!("{:.1} KiB", b / 1024.0);

    println!();
    println!("| measurement | wsgate --echo | plain echo | ratio | target | |");
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    println!(
        "| handshakes/s, 16 at a time | {wh:.0} | {ph:.0} | {:.2}× | ≥ 0.9× | {} |",
        wh / ph,
        check.mark(wh / ph >= 0.9)
    );
    println!(
        "| p99 handshake latency | {:.2} ms | {:.2} ms | {:.2}× | ≤ 1.2× | {} |",
        wp / 1000.0,
        pp / 1000.0,
        wp / pp,
        check.mark(wp / pp <= 1.2)
    );
    println!(
        "| echo round trips/s, 8 connections, 64 B | {we:.0} | {pe:.0} | {:.2}× | ≥ 0.9× | {} |",
        we / pe,
        check.mark(we / pe >= 0.9)
    );
    println!(
        "| memory per idle connection (2,000) | {} | {} | {:.3}× | ≤ 8 KiB | {} |",
        kib(memory[0].1),
        kib(memory[1].1),
        memory[0].1 / memory[1].1,
        check.mark(memory[0].1 <= 8192.0)
    );
    println!(
        "| RSS of an idle daemon | {:.1} MiB | {:.1} MiB | {:.2}× | ≤ 4 MiB | {} |",
        memory[0].0 as f64 / 1024.0,
        memory[1].0 as f64 / 1024.0,
        memory[0].0 as f64 / memory[1].0 as f64,
        check.mark(memory[0].0 <= 4096)
    );
    println!();
    println!("| measurement | wsgate -- cat | websocketd cat | ratio | target | |");
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    println!(
        "| handshakes/s, 16 at a time | {ch:.0} | {dh:.0} | {:.2}× | ≥ 1.5× | {} |",
        ch / dh,
        check.mark(ch / dh >= 1.5)
    );
    println!(
        "| p99 handshake latency | {:.2} ms | {:.2} ms | {:.2}× | | |",
        cp / 1000.0,
        dp / 1000.0,
        cp / dp
    );
    println!(
        "| echo round trips/s, 8 connections, 64 B | {ce:.0} | {de:.0} | {:.2}× | ≥ 1.5× | {} |",
        ce / de,
        check.mark(ce / de >= 1.5)
    );
    println!(
        "| daemon memory per idle connection (500) | {} | {} | {:.2}× | lower | {} |",
        kib(memory[2].1),
        kib(memory[3].1),
        memory[2].1 / memory[3].1,
        check.mark(memory[2].1 < memory[3].1)
    );
    println!(
        "| reference: `cat` started and reaped directly, 4 at a time, no network | {ceiling:.0}/s | | {:.2}× websocketd | | |",
        ceiling / dh
    );
    println!(
        "| reference: 64 B lines through `cat` and back directly, 8 at a time, no network | {pipe_ceiling:.0}/s | | {:.2}× websocketd | | |",
        pipe_ceiling / de
    );
    println!(
        "| reference: least-work relay to `cat` (bench/ideal_relay.rs), handshakes/s | {ih:.0} | | {:.2}× websocketd | | |",
        ih / dh
    );
    println!(
        "| reference: least-work relay to `cat`, echo round trips/s | {ie:.0} | | {:.2}× websocketd | | |",
        ie / de
    );
    println!();
    println!("| measurement | wsgate | target | |");
    println!("| --- | ---: | --- | --- |");
    println!(
        "| pure path, typical request (RFC 6455 §1.2 head, 7 fields): ns | {ns:.0} ns | ≤ 1,000 ns | {} |",
        check.mark(ns <= 1000.0)
    );
    match instructions {
        Some(n) => println!(
            "| pure path, typical request: instructions (callgrind) | {n:.0} | ≤ 5,000 | {} |",
            check.mark(n <= 5000.0)
        ),
        None => println!(
            "| pure path, typical request: instructions | (valgrind not found) | ≤ 5,000 | |"
        ),
    }
    println!("| pure path, Chromium's 12-field head: ns | {browser_ns:.0} ns | for reference | |");
    if let Some(n) = browser_instructions {
        println!(
            "| pure path, Chromium's 12-field head: instructions (callgrind) | {n:.0} | for reference | |"
        );
    }
    match size {
        Some(bytes) => println!(
            "| release binary, stripped | {:.2} MiB | ≤ 3 MiB | {} |",
            bytes as f64 / (1024.0 * 1024.0),
            check.mark(bytes <= 3 * 1024 * 1024)
        ),
        None => println!("| release binary, stripped | (strip not found) | ≤ 3 MiB | |"),
    }
    println!(
        "| start to accepting connections (median of 20) | {startup:.1} ms | ≤ 20 ms | {} |",
        check.mark(startup <= 20.0)
    );
    let failures: u64 = rows.iter().map(|r| r.failures).sum();
    if failures > 0 {
        println!("\n{failures} handshakes failed during the run");
    }
    println!(
        "\n{rounds} rounds of {seconds} s per measurement, medians; memory from one fresh process each."
    );
    let _ = std::fs::remove_dir_all(&scratch);
    check.ok && failures == 0
}

// ---------------------------------------------------------------------------
// The proxy suite: wsgate --upstream side by side with nginx, HAProxy and Caddy, each
// in front of a plain echo server (bench/plain_echo.rs), and that server alone.

const NGINX_CONF: &str = include_str!("proxy.d/nginx.conf");
const HAPROXY_CFG: &str = include_str!("proxy.d/haproxy.cfg");
const CADDYFILE: &str = include_str!("proxy.d/Caddyfile");

/// The bulk measurement's message size.
const BULK_SIZE: usize = 64 * 1024;

/// What the load client talks to: a proxy in front of the upstream, or the upstream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Front {
    Wsgate,
    Nginx,
    Haproxy,
    Caddy,
    /// The least work a proxy on wsgate's runtime can do (`plain_proxy`).
    Floor,
    /// The upstream itself: the ceiling.
    Alone,
}

impl Front {
    const ALL: [Front; 6] = [
        Front::Wsgate,
        Front::Nginx,
        Front::Haproxy,
        Front::Caddy,
        Front::Floor,
        Front::Alone,
    ];

    fn name(self) -> &'static str {
        match self {
            Front::Wsgate => "wsgate --upstream",
            Front::Nginx => "nginx",
            Front::Haproxy => "HAProxy",
            Front::Caddy => "Caddy",
            Front::Floor => "least-work proxy",
            Front::Alone => "upstream alone",
        }
    }

    /// The program of a third-party proxy.
    fn program(self) -> Option<&'static str> {
        match self {
            Front::Nginx => Some("nginx"),
            Front::Haproxy => Some("haproxy"),
            Front::Caddy => Some("caddy"),
            Front::Wsgate | Front::Floor | Front::Alone => None,
        }
    }
}

struct ProxyPaths {
    wsgate: PathBuf,
    plain: PathBuf,
    plain_proxy: PathBuf,
    scratch: PathBuf,
}

/// A program on PATH or in the sbin directories (nginx and haproxy live in
/// /usr/sbin, which a user's PATH may lack).
fn find_program(name: &str) -> Option<PathBuf> {
    find_in_path(name).or_else(|| {
        ["/usr/sbin", "/usr/local/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

/// The version a program reports, e.g. `1.22.1` from `nginx version: nginx/1.22.1`.
fn version_of(program: &Path, arg: &str) -> String {
    let Ok(out) = Command::new(program).arg(arg).output() else {
        return String::new();
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().unwrap_or_default();
    first
        .split(|c: char| c.is_whitespace() || c == '/')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
        .unwrap_or_default()
        .to_owned()
}

/// Every process as (pid, parent pid, RSS in KiB), from `ps` (Linux and macOS alike).
fn processes() -> Vec<(u32, u32, u64)> {
    let Ok(out) = Command::new("ps")
        .args(["-A", "-o", "pid=,ppid=,rss="])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace().map(|w| w.parse::<u64>().ok());
            let (pid, ppid, rss) = (f.next()??, f.next()??, f.next()??);
            Some((u32::try_from(pid).ok()?, u32::try_from(ppid).ok()?, rss))
        })
        .collect()
}

/// `root` and all its descendants, with their RSS in KiB.
fn process_tree(root: u32) -> Vec<(u32, u64)> {
    let all = processes();
    let mut tree: Vec<(u32, u64)> = all
        .iter()
        .filter(|p| p.0 == root)
        .map(|p| (p.0, p.2))
        .collect();
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i].0;
        tree.extend(all.iter().filter(|p| p.1 == parent).map(|p| (p.0, p.2)));
        i += 1;
    }
    tree
}

/// RSS of `root` and its descendants (nginx's master and workers), in KiB.
fn tree_rss_kib(root: u32) -> u64 {
    process_tree(root).iter().map(|p| p.1).sum()
}

/// A server that may have started helpers (nginx's workers): killed with all its
/// descendants on drop, and reaped.
struct Tree(Server);

impl Drop for Tree {
    fn drop(&mut self) {
        let rest: Vec<u32> = process_tree(self.0.pid())
            .into_iter()
            .skip(1)
            .map(|p| p.0)
            .collect();
        // The parent first, so that nginx's master cannot replace a worker.
        let _ = self.0.child.kill();
        for pid in rest {
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        // Server's own drop reaps the parent.
    }
}

/// The server the client talks to and, for a proxy, the upstream behind it. Fields
/// drop in order: the front first.
struct Pair {
    front: Tree,
    _upstream: Option<Tree>,
}

/// The last lines of a log, for a server that did not start.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    if tail.is_empty() {
        "(nothing on stderr)".into()
    } else {
        tail
    }
}

/// Spawns `cmd` (stderr to `log`), waits until `port` accepts a connection, then
/// checks that one WebSocket echo round trip works through `url`.
fn start_checked(
    mut cmd: Command,
    what: &str,
    port: u16,
    url: &str,
    log: &Path,
) -> Result<Tree, String> {
    let stderr = std::fs::File::create(log).map_err(|e| format!("log file: {e}"))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("start {what}: {e}"))?;
    let mut server = Tree(Server {
        child,
        url: url.to_owned(),
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = server.0.child.try_wait() {
            return Err(format!("{what} exited ({status}): {}", tail(log)));
        }
        if StdTcp::connect(addr).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not listen within 10 s: {}", tail(log)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let probe = async {
        let mut ws = connect(url).await?;
        ws.send(Message::text("probe"))
            .await
            .map_err(|e| e.to_string())?;
        let reply = loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => break other,
            }
        };
        close(ws).await;
        match reply {
            Some(Ok(Message::Text(t))) if t.as_str() == "probe" => Ok(()),
            other => Err(format!("unexpected reply {other:?}")),
        }
    };
    match measure("probe", Duration::from_secs(5), probe) {
        Ok(Ok(())) => Ok(server),
        Ok(Err(e)) | Err(e) => Err(format!(
            "{what}: an echo round trip through it failed: {e}; stderr: {}",
            tail(log)
        )),
    }
}

/// [`start_pair`], tried three times: a port found free can be taken before the
/// server binds it (a client's ephemeral port; loopback is busy during a run).
fn start_fresh(
    front: Front,
    paths: &ProxyPaths,
    program: Option<&Path>,
    n: &mut usize,
) -> Result<Pair, String> {
    let mut last = String::new();
    for _ in 0..3 {
        *n += 1;
        match start_pair(front, paths, program, *n) {
            Ok(pair) => return Ok(pair),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A fresh upstream and, unless `front` is the upstream alone, a fresh `front` in
/// front of it, configured in a temp dir of its own.
fn start_pair(
    front: Front,
    paths: &ProxyPaths,
    program: Option<&Path>,
    n: usize,
) -> Result<Pair, String> {
    let dir = paths
        .scratch
        .join(format!("{}-{n}", front.name().replace([' ', '-'], "_")));
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let up_port = free_port();
    let up_url = format!("ws://127.0.0.1:{up_port}/");
    let mut cmd = Command::new(&paths.plain);
    cmd.arg(format!("127.0.0.1:{up_port}"));
    same_environment(&mut cmd);
    let upstream = start_checked(
        cmd,
        "the upstream",
        up_port,
        &up_url,
        &dir.join("upstream.log"),
    )?;
    if front == Front::Alone {
        return Ok(Pair {
            front: upstream,
            _upstream: None,
        });
    }
    let port = free_port();
    let fill = |template: &str, name: &str| -> Result<PathBuf, String> {
        let file = dir.join(name);
        let text = template
            .replace("{{DIR}}", &dir.display().to_string())
            .replace("{{PORT}}", &port.to_string())
            .replace("{{UPSTREAM}}", &up_port.to_string());
        std::fs::write(&file, text).map_err(|e| format!("write {}: {e}", file.display()))?;
        Ok(file)
    };
    let program = || program.ok_or_else(|| format!("{} not found", front.name()));
    let mut cmd;
    match front {
        Front::Wsgate => {
            cmd = Command::new(&paths.wsgate);
            cmd.args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--max-connections", "5000"])
                .arg("--auth-token-file")
                .arg(paths.scratch.join("token"))
                .args(["--upstream", up_url.trim_end_matches('/')])
                .env("WSGATE_RUNTIME_DIR", paths.scratch.join("run"));
            same_environment(&mut cmd);
        }
        Front::Nginx => {
            let conf = fill(NGINX_CONF, "nginx.conf")?;
            cmd = Command::new(program()?);
            cmd.arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.join("error.log"))
                .args(["-g", "daemon off;"]);
            same_environment(&mut cmd);
        }
        Front::Haproxy => {
            let conf = fill(HAPROXY_CFG, "haproxy.cfg")?;
            cmd = Command::new(program()?);
            cmd.arg("-f").arg(&conf).arg("-db");
            same_environment(&mut cmd);
        }
        Front::Caddy => {
            let conf = fill(CADDYFILE, "Caddyfile")?;
            cmd = Command::new(program()?);
            cmd.arg("run")
                .arg("--config")
                .arg(&conf)
                .args(["--adapter", "caddyfile"]);
            same_environment(&mut cmd);
            cmd.env("HOME", &dir)
                .env("XDG_CONFIG_HOME", dir.join("config"))
                .env("XDG_DATA_HOME", dir.join("data"));
        }
        Front::Floor => {
            cmd = Command::new(&paths.plain_proxy);
            cmd.arg(format!("127.0.0.1:{port}"))
                .arg(format!("127.0.0.1:{up_port}"));
            same_environment(&mut cmd);
        }
        Front::Alone => unreachable!("handled above"),
    }
    let url = match front {
        Front::Wsgate => format!("ws://127.0.0.1:{port}/?token={TOKEN}"),
        _ => format!("ws://127.0.0.1:{port}/"),
    };
    let front = start_checked(cmd, front.name(), port, &url, &dir.join("stderr.log"))?;
    Ok(Pair {
        front,
        _upstream: Some(upstream),
    })
}

/// Runs one measurement on this thread, bounded by `limit`; a panic in the load
/// client (a proxy that broke a connection) or a timeout is an error, not the end of
/// the run. Tasks of a timed-out measurement are left behind, detached.
fn measure<T>(
    what: &str,
    limit: Duration,
    work: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        async_std::task::block_on(futures_lite::future::or(
            async { Some(work.await) },
            async {
                async_std::task::sleep(limit).await;
                None
            },
        ))
    }));
    match run {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(format!("{what}: timed out after {} s", limit.as_secs())),
        Err(_) => Err(format!("{what}: the load client failed (message above)")),
    }
}

#[derive(Default)]
struct FrontRow {
    label: String,
    /// Why the row has no numbers: not installed, or did not start.
    absent: Option<String>,
    /// Not installed: the row is left out of the table.
    dropped: bool,
    handshakes: Vec<f64>,
    p99_us: Vec<f64>,
    echo: Vec<f64>,
    bulk_mb: Vec<f64>,
    idle_bytes: Option<f64>,
    failures: u64,
    problems: Vec<String>,
}

/// One column of the proxy table: how to read it from a row, whether higher is better,
/// and wsgate's target.
struct Column {
    title: &'static str,
    value: fn(&FrontRow) -> Option<f64>,
    higher: bool,
    show: fn(f64) -> String,
    target: Target,
}

enum Target {
    /// wsgate at least (or, where lower is better, at most) this times the best proxy.
    Ratio(f64),
    /// wsgate at most this, absolutely.
    AtMost(f64),
}

fn median_of(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| median(v))
}

fn proxy_suite(seconds: f64, rounds: usize, idle_count: usize) -> bool {
    let dir = exe_dir();
    let scratch = scratch_dir("wsbench-proxy");
    let paths = ProxyPaths {
        wsgate: dir.join("wsgate"),
        plain: dir.join("examples/plain_echo"),
        plain_proxy: dir.join("examples/plain_proxy"),
        scratch: scratch.clone(),
    };
    let limit = Duration::from_secs_f64(seconds * 3.0 + 30.0);
    let mut programs: Vec<Option<PathBuf>> = Vec::new();
    let mut rows: Vec<FrontRow> = Vec::new();
    for front in Front::ALL {
        let program = front.program().and_then(find_program);
        let mut row = FrontRow {
            label: front.name().to_owned(),
            ..FrontRow::default()
        };
        match (front, &program) {
            (Front::Nginx, Some(p)) => {
                row.label = format!("nginx {} (2 workers)", version_of(p, "-v"))
            }
            (Front::Haproxy, Some(p)) => {
                // 2.6.12, not Debian's 2.6.12-1+deb12u4.
                let version = version_of(p, "-v");
                let upstream = version.split('-').next().unwrap_or_default();
                row.label = format!("HAProxy {upstream}");
            }
            (Front::Caddy, Some(p)) => row.label = format!("Caddy {}", version_of(p, "version")),
            (Front::Alone, _) => row.label = "upstream alone (plain echo): the ceiling".into(),
            (Front::Floor, _) => {
                row.label =
                    "least-work proxy on wsgate's runtime (async-std byte copy, no auth, no log)"
                        .into()
            }
            (Front::Wsgate, _) => {}
            (_, None) => {
                row.absent = Some(format!(
                    "{} is not installed",
                    front.program().unwrap_or_default()
                ));
                row.dropped = true;
                eprintln!("{}: not installed, row dropped", front.name());
            }
        }
        programs.push(program);
        rows.push(row);
    }

    // Rounds interleave the servers, so drift on a shared machine hits all alike;
    // each server and its upstream start fresh for each round.
    let mut n = 0;
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        for (i, &front) in Front::ALL.iter().enumerate() {
            if rows[i].absent.is_some() {
                continue;
            }
            let pair = match start_fresh(front, &paths, programs[i].as_deref(), &mut n) {
                Ok(pair) => pair,
                Err(e) => {
                    eprintln!("  {:<17} did not start: {e}", front.name());
                    rows[i].absent = Some(format!("did not start: {e}"));
                    continue;
                }
            };
            let url = pair.front.0.url.clone();
            let row = &mut rows[i];
            let mut line = format!("  {:<17}", front.name());
            match measure("handshakes", limit, handshakes(&url, 16, seconds)) {
                Ok(h) => {
                    line += &format!(
                        " handshakes/s {:>6.0}  p99 {:>6} us",
                        h.per_sec,
                        h.p99.as_micros()
                    );
                    if h.per_sec > 0.0 {
                        row.handshakes.push(h.per_sec);
                        row.p99_us.push(h.p99.as_micros() as f64);
                    }
                    row.failures += h.failures;
                }
                Err(e) => row.problems.push(e),
            }
            match measure("echo", limit, echo(&url, 8, 64, seconds)) {
                Ok(e) => {
                    line += &format!("  echo/s {e:>6.0}");
                    row.echo.push(e);
                }
                Err(e) => row.problems.push(e),
            }
            match measure("bulk", limit, echo(&url, 4, BULK_SIZE, seconds)) {
                Ok(b) => {
                    let mb = b * BULK_SIZE as f64 / 1e6;
                    line += &format!("  bulk {mb:>6.1} MB/s");
                    row.bulk_mb.push(mb);
                }
                Err(e) => row.problems.push(e),
            }
            eprintln!("{line}");
            drop(pair);
        }
    }

    eprintln!("idle memory, {idle_count} connections through each");
    for (i, &front) in Front::ALL.iter().enumerate() {
        if rows[i].absent.is_some() {
            continue;
        }
        let pair = match start_fresh(front, &paths, programs[i].as_deref(), &mut n) {
            Ok(pair) => pair,
            Err(e) => {
                rows[i].problems.push(format!("idle: did not start: {e}"));
                continue;
            }
        };
        let pid = pair.front.0.pid();
        let url = pair.front.0.url.clone();
        match measure("idle", limit, idle(&url, || tree_rss_kib(pid), idle_count)) {
            Ok((before, after)) => {
                let per = (after.saturating_sub(before) * 1024) as f64 / idle_count as f64;
                eprintln!(
                    "  {:<17} RSS {before} KiB → {after} KiB: {:.1} KiB a connection",
                    front.name(),
                    per / 1024.0
                );
                rows[i].idle_bytes = Some(per);
            }
            Err(e) => rows[i].problems.push(e),
        }
        drop(pair);
    }

    let columns = [
        Column {
            title: "handshakes/s, 16 at a time",
            value: |r| median_of(&r.handshakes),
            higher: true,
            show: |v| format!("{v:.0}"),
            target: Target::Ratio(1.0),
        },
        Column {
            title: "p99 handshake latency",
            value: |r| median_of(&r.p99_us),
            higher: false,
            show: |v| format!("{:.2} ms", v / 1000.0),
            target: Target::Ratio(1.0),
        },
        Column {
            title: "echo round trips/s, 8 connections, 64 B",
            value: |r| median_of(&r.echo),
            higher: true,
            show: |v| format!("{v:.0}"),
            target: Target::Ratio(1.0),
        },
        Column {
            title: "bulk MB/s, 4 connections, 64 KiB messages",
            value: |r| median_of(&r.bulk_mb),
            higher: true,
            show: |v| format!("{v:.1}"),
            target: Target::Ratio(1.0),
        },
        Column {
            title: "memory per idle connection",
            value: |r| r.idle_bytes,
            higher: false,
            show: |v| format!("{:.1} KiB", v / 1024.0),
            target: Target::AtMost(8.0 * 1024.0),
        },
    ];

    println!();
    println!(
        "| server | {} |",
        columns
            .iter()
            .map(|c| c.title)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("| --- |{}", " ---: |".repeat(columns.len()));
    for row in rows.iter().filter(|r| !r.dropped) {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match (&row.absent, (c.value)(row)) {
                (Some(_), _) => "did not start".into(),
                (None, Some(v)) => (c.show)(v),
                (None, None) => "failed".into(),
            })
            .collect();
        println!("| {} | {} |", row.label, cells.join(" | "));
    }

    // wsgate against the best of the three proxies, column by column.
    let proxies: Vec<&FrontRow> = Front::ALL
        .iter()
        .zip(&rows)
        .filter(|(f, r)| f.program().is_some() && r.absent.is_none())
        .map(|(_, r)| r)
        .collect();
    let wsgate = &rows[0];
    let mut measured = true;
    let mut missed = Vec::new();
    println!();
    println!("| measurement | wsgate | best proxy | ratio | target | |");
    println!("| --- | ---: | ---: | ---: | --- | --- |");
    for c in &columns {
        let best = proxies
            .iter()
            .filter_map(|r| Some(((c.value)(r)?, r.label.split(' ').next().unwrap_or_default())))
            .reduce(|a, b| {
                if (b.0 > a.0) == c.higher && b.0 != a.0 {
                    b
                } else {
                    a
                }
            });
        let mine = wsgate.absent.is_none().then(|| (c.value)(wsgate)).flatten();
        let ratio = match (mine, best) {
            (Some(m), Some((b, _))) if b > 0.0 => Some(m / b),
            _ => None,
        };
        let (ok, target) = match c.target {
            Target::AtMost(bound) => (mine.map(|m| m <= bound), format!("≤ {}", (c.show)(bound))),
            Target::Ratio(r0) if c.higher => (ratio.map(|r| r >= r0), format!("≥ {r0:.1}×")),
            Target::Ratio(r0) => (ratio.map(|r| r <= r0), format!("≤ {r0:.1}×")),
        };
        let verdict = match ok {
            Some(true) => "met",
            Some(false) => {
                missed.push(c.title);
                "MISSED"
            }
            None => "not measured",
        };
        measured &= mine.is_some();
        println!(
            "| {} | {} | {} | {} | {target} | {verdict} |",
            c.title,
            mine.map_or("—".into(), c.show),
            best.map_or("—".into(), |(v, who)| format!("{} ({who})", (c.show)(v))),
            ratio.map_or("—".into(), |r| format!("{r:.2}×")),
        );
    }

    // What the runtime itself allows: wsgate against the least work a proxy on it does.
    if let Some(floor) = Front::ALL
        .iter()
        .position(|f| *f == Front::Floor)
        .map(|i| &rows[i])
        .filter(|r| r.absent.is_none())
    {
        println!();
        println!("| measurement | wsgate | least-work proxy, same runtime | ratio |");
        println!("| --- | ---: | ---: | ---: |");
        for c in &columns {
            let mine = wsgate.absent.is_none().then(|| (c.value)(wsgate)).flatten();
            let least = (c.value)(floor);
            let ratio = match (mine, least) {
                (Some(m), Some(l)) if l > 0.0 => format!("{:.2}×", m / l),
                _ => "—".into(),
            };
            println!(
                "| {} | {} | {} | {ratio} |",
                c.title,
                mine.map_or("—".into(), c.show),
                least.map_or("—".into(), c.show),
            );
        }
    }

    println!();
    println!(
        "{rounds} rounds of {seconds} s per measurement, servers interleaved, medians; each server \
         (and its upstream) fresh for each round. Bulk MB/s counts payload one way (10^6 bytes a \
         second sent, each also received back). Memory: RSS growth of the server's processes \
         (nginx: master and workers; not the upstream) over {idle_count} idle connections through \
         it, from one fresh process each. wsgate checks a ?token= on every connection \
         (--auth-token-file); the proxies check nothing."
    );
    for row in &rows {
        match &row.absent {
            Some(why) if row.dropped => println!("{}: {why}; row dropped", row.label),
            Some(why) => println!("{}: no numbers: {why}", row.label),
            None => {}
        }
        if row.failures > 0 {
            println!("{}: {} handshakes failed", row.label, row.failures);
        }
        for p in &row.problems {
            println!("{}: {p}", row.label);
        }
    }
    println!();
    if !measured {
        println!("wsgate --upstream could not be measured in every column: see above.");
    } else if missed.is_empty() {
        println!("All wsgate --upstream targets met.");
    } else {
        println!(
            "wsgate --upstream MISSED {} of {} targets: {}.",
            missed.len(),
            columns.len(),
            missed.join("; ")
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let ceiling = &rows[Front::ALL.len() - 1];
    measured && ceiling.absent.is_none()
}

// ---------------------------------------------------------------------------

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: wsbench suite [--seconds S] [--rounds R] | proxy [--seconds S] [--rounds R] [--idle N] | handshake URL | echo URL | idle URL --pid PID";
    let mode = args.next().expect(usage);
    let mut url = None;
    let (mut seconds, mut rounds, mut concurrency, mut connections, mut size, mut count, mut pid) =
        (5.0, 3, 16, 8, 64, 2000, None);
    let mut idle_count = 1000;
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect(usage);
        match arg.as_str() {
            "--seconds" => seconds = value().parse().expect(usage),
            "--rounds" => rounds = value().parse().expect(usage),
            "--concurrency" => concurrency = value().parse().expect(usage),
            "--connections" => connections = value().parse().expect(usage),
            "--size" => size = value().parse().expect(usage),
            "--count" => count = value().parse().expect(usage),
            "--pid" => pid = Some(value().parse().expect(usage)),
            "--idle" => idle_count = value().parse().expect(usage),
            other if url.is_none() && !other.starts_with('-') => url = Some(other.to_owned()),
            _ => panic!("{usage}"),
        }
    }
    if mode == "suite" {
        std::process::exit(if suite(seconds, rounds) { 0 } else { 1 });
    }
    if mode == "proxy" {
        // Exits 1 only when wsgate's row or the ceiling could not be measured; a
        // missed target is printed, not an error.
        std::process::exit(if proxy_suite(seconds, rounds, idle_count) {
            0
        } else {
            1
        });
    }
    let url = url.expect(usage);
    assert!(
        url.starts_with("ws://127.0.0.1:") || url.starts_with("ws://[::1]:"),
        "loopback only"
    );
    async_std::task::block_on(async {
        match mode.as_str() {
            "handshake" => {
                let h = handshakes(&url, concurrency, seconds).await;
                println!(
                    "mode=handshake per_sec={:.0} p50_us={} p99_us={} failures={}",
                    h.per_sec,
                    h.p50.as_micros(),
                    h.p99.as_micros(),
                    h.failures
                );
            }
            "echo" => {
                let rate = echo(&url, connections, size, seconds).await;
                println!("mode=echo connections={connections} size={size} per_sec={rate:.0}");
            }
            "idle" => {
                let pid = pid.expect("idle needs --pid");
                let (before, after) = idle(&url, || rss_kib(pid), count).await;
                println!(
                    "mode=idle connections={count} rss_before_kib={before} rss_after_kib={after} per_conn_bytes={}",
                    (after.saturating_sub(before) * 1024) / count as u64
                );
            }
            _ => panic!("{usage}"),
        }
    });
}
