//! `--upstream`: wsgate as an authenticating reverse proxy, driven from outside
//! against servers nobody here wrote: Python's `websockets` (over TCP and a Unix
//! socket), Chromium's DevTools endpoint, and plain byte-stream services
//! (websockify's model, `tcp://` and `unix:`).
//!
//! The Python servers are in `tests/integration/upstream/`: `ws_upstream.py` records
//! every handshake it receives (path, headers, offered subprotocols), every message
//! and how each connection ended, one JSON object a line, in a file the tests read;
//! `stream_upstream.py` does the same for byte streams; `ws_client.py` is a
//! `websockets` client, for permessage-deflate end to end. `.ci/run` installs the
//! `websockets` package. Chromium, like in `browser.rs`, is required with `CI` set
//! and skipped elsewhere when it is missing.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use serde_json::Value;

use crate::chromium::{Browser, browser_or_skip};
use crate::util::*;

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration/upstream");

/// The key of raw handshakes: base64 of the 16 bytes `secret-key-12345`.
const KEY: &str = "c2VjcmV0LWtleS0xMjM0NQ==";

// ---------------------------------------------------------------------------------
// Python upstreams
// ---------------------------------------------------------------------------------

/// Whether the Python upstreams can run (python3 with `websockets`), by the one rule
/// for tools the tests drive ([`needs`]).
fn python_ready() -> bool {
    needs(
        python_found(),
        "python3 with the websockets package",
        "python3 -m pip install 'websockets>=12'; .ci/run does",
    )
}

/// Whether python3 with `websockets` is there.
fn python_found() -> bool {
    Command::new("python3")
        .args(["-c", "import websockets"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python interpreter that has `websockets`, resolved once (not a pyenv shim, so
/// that the pid the tests kill is the server's own).
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys, websockets; print(sys.executable); print(websockets.__version__)",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let exe = text.lines().next().unwrap_or("python3").trim().to_owned();
        Ok(PathBuf::from(exe))
    });
    match found {
        Ok(path) => path,
        Err(why) => panic!(
            "the upstream tests need python3 with the websockets package \
             (python3 -m pip install 'websockets>=12'; .ci/run installs it): {why}"
        ),
    }
}

/// A Python server from `tests/integration/upstream/`, killed on drop.
struct Upstream {
    child: Child,
    /// Its TCP port, or 0 on a Unix socket.
    port: u16,
    /// Its Unix socket, if it listens on one.
    socket: Option<PathBuf>,
    record: PathBuf,
    stderr: Arc<Mutex<String>>,
    _scratch: Scratch,
}

impl Upstream {
    fn start(script: &str, args: &[&str], unix: bool) -> Upstream {
        let scratch = Scratch::new("upstream");
        let record = scratch.path().join("record.jsonl");
        std::fs::write(&record, "").unwrap();
        let socket = unix.then(|| scratch.path().join("up.sock"));
        let mut cmd = Command::new(python());
        cmd.arg("-u")
            .arg(Path::new(SCRIPTS).join(script))
            .arg("--record")
            .arg(&record)
            .args(args);
        match &socket {
            Some(path) => cmd.arg("--unix").arg(path),
            None => cmd.args(["--port", "0"]),
        };
        // Its stdin stays open while the test runs: it exits when the test is gone.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start python3");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut all = stderr.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep reading, so that the server never blocks on a full pipe.
            for _ in lines {}
        });
        let mut up = Upstream {
            child,
            port: 0,
            socket,
            record,
            stderr,
            _scratch: scratch,
        };
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => {
                up.port = line
                    .strip_prefix("READY ")
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or_else(|| panic!("{script} said {line:?}"))
            }
            Err(_) => panic!("{script} did not start: {}", up.stderr()),
        }
        up
    }

    /// `ws_upstream.py` on 127.0.0.1.
    fn ws(args: &[&str]) -> Upstream {
        Upstream::start("ws_upstream.py", args, false)
    }

    /// `ws_upstream.py` on a Unix socket.
    fn ws_unix(args: &[&str]) -> Upstream {
        Upstream::start("ws_upstream.py", args, true)
    }

    /// `stream_upstream.py --mode MODE` on 127.0.0.1, or on a Unix socket.
    fn stream(mode: &str, unix: bool) -> Upstream {
        Upstream::start("stream_upstream.py", &["--mode", mode], unix)
    }

    /// `ws://127.0.0.1:PORT` followed by `prefix`.
    fn ws_url(&self, prefix: &str) -> String {
        format!("ws://127.0.0.1:{}{prefix}", self.port)
    }

    fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn socket(&self) -> String {
        self.socket.as_ref().unwrap().to_str().unwrap().to_owned()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything it recorded, as written.
    fn recorded(&self) -> String {
        std::fs::read_to_string(&self.record).unwrap_or_default()
    }

    fn events(&self) -> Vec<Value> {
        self.recorded()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wait(&self, within: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let mut found = None;
        eventually(within, || {
            found = self.events().into_iter().find(|e| matches(e));
            found.is_some()
        });
        found
    }

    /// The first recorded event that `matches`, waiting up to `within`.
    #[track_caller]
    fn expect(&self, within: Duration, matches: impl Fn(&Value) -> bool) -> Value {
        match self.wait(within, matches) {
            Some(e) => e,
            None => panic!(
                "the upstream recorded no such event within {within:?}; it recorded:\n{}\nits stderr:\n{}",
                self.recorded(),
                self.stderr()
            ),
        }
    }

    /// The handshake it received whose path starts with `path`.
    #[track_caller]
    fn request(&self, path: &str) -> Value {
        self.expect(Duration::from_secs(5), |e| {
            e["event"] == "request" && e["path"].as_str().is_some_and(|p| p.starts_with(path))
        })
    }

    /// How connection `conn` ended, as the upstream saw it.
    #[track_caller]
    fn closed(&self, conn: &Value, within: Duration) -> Value {
        self.expect(within, |e| e["event"] == "closed" && e["conn"] == *conn)
    }

    /// Events of connection `conn` named `event`.
    fn of(&self, conn: &Value, event: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["conn"] == *conn && e["event"] == event)
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a Python script from `tests/integration/upstream/` to its end (killed after
/// `within`).
fn run_python(script: &str, args: &[&str], within: Duration) -> Output {
    let child = Command::new(python())
        .arg(Path::new(SCRIPTS).join(script))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{script} {args:?} did not finish within {within:?}");
        }
    }
}

/// A recorded handshake's values of header `name` (any case), in order.
fn values(request: &Value, name: &str) -> Vec<String> {
    request["headers"]
        .as_array()
        .expect("recorded headers")
        .iter()
        .filter(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .map(|h| h[1].as_str().unwrap().to_owned())
        .collect()
}

/// The comma-separated entries of every `name` header of a recorded handshake.
fn entries(request: &Value, name: &str) -> Vec<String> {
    values(request, name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------
// Clients, credentials, raw responses
// ---------------------------------------------------------------------------------

/// The selected subprotocol of a 101.
fn selected(
    response: &async_tungstenite::tungstenite::handshake::client::Response,
) -> Option<String> {
    response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// One text message there and back.
async fn round_trip(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    assert_eq!(next(ws).await, Some(Message::text(text)));
}

/// Sends a close frame with `code` and `reason`, then reads to the end; the close
/// frame that came back.
async fn close_with(ws: &mut Ws, code: u16, reason: &str) -> Option<(u16, String)> {
    ws.close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
    .await
    .unwrap();
    loop {
        match next(ws).await {
            Some(Message::Close(frame)) => {
                return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            Some(_) => continue,
            None => return None,
        }
    }
}

/// How a session ends, skipping the data before it: the close frame's code and
/// reason, or what happened instead.
async fn close_frame(ws: &mut Ws) -> Result<(u16, String), String> {
    loop {
        let got =
            async_std::future::timeout(Duration::from_secs(10), futures_lite::StreamExt::next(ws))
                .await
                .map_err(|_| "no close frame within 10 s".to_owned())?;
        match got {
            Some(Ok(Message::Close(Some(frame)))) => {
                return Ok((u16::from(frame.code), frame.reason.to_string()));
            }
            Some(Ok(Message::Close(None))) => return Err("a close frame without a code".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("no close frame: {e}")),
            None => return Err("no close frame: the connection ended".into()),
        }
    }
}

/// The code of the close frame that ends a session, or what happened instead.
async fn close_code_of(ws: &mut Ws) -> Result<u16, String> {
    close_frame(ws).await.map(|(code, _)| code)
}

/// What a failed session assertion shows: the daemon's log (with its close line, if
/// one comes within a second) and what the upstream recorded.
fn context(d: &Daemon, up: &Upstream) -> String {
    d.wait_for_event(Duration::from_secs(1), |e| e["event"] == "close");
    format!(
        "\nthe log:\n{}\nthe upstream recorded:\n{}",
        d.stderr(),
        up.recorded()
    )
}

/// A raw upgrade head for `target` with `Host: host` and `extra` header lines.
fn head(target: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// Sends `head` and reads the answer (to the end of a 101's head, or to the close);
/// the socket stays open for a 101.
fn send_head(addr: SocketAddr, head: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let answer = read_all(&mut s);
    (s, answer)
}

/// A raw response's header `name` (any case).
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn reason(response: &str) -> String {
    serde_json::from_str::<Value>(body(response))
        .ok()
        .and_then(|b| b["reason"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The forms a credential could take on the way: as it is, base64url (the subprotocol
/// form), base64, percent-encoded.
fn forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut all = vec![
        secret.to_owned(),
        data_encoding::BASE64URL_NOPAD.encode(bytes),
        data_encoding::BASE64_NOPAD.encode(bytes),
        data_encoding::BASE64.encode(bytes),
    ];
    let encoded: String = bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    all.push(encoded.clone());
    all.push(encoded.to_lowercase());
    all
}

/// Fails, saying where, if `text` holds any form of any of `secrets`.
#[track_caller]
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "{what} holds a credential ({form}):\n{text}"
            );
        }
    }
}

fn health(d: &Daemon) -> Value {
    let r = raw(
        d.addr,
        b"GET /_wsgate/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
    serde_json::from_str(body(&r)).unwrap_or_else(|_| panic!("{r}"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

const JWT_KEY: &[u8] = b"upstream-test-jwt-key-0123456789abcdef!!";

/// An HS256 JWT expiring at `exp` (seconds since the epoch), minted here with the
/// HMAC crate.
fn mint(exp: i64) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let b64 = data_encoding::BASE64URL_NOPAD;
    let payload = format!(r#"{{"sub":"alice","exp":{exp}}}"#);
    let input = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(payload.as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(JWT_KEY).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(&mac.finalize().into_bytes()))
}

/// A `--auth jwt` daemon (no leeway) with `args`; the key file's directory with it.
fn jwt_daemon(args: &[&str]) -> (Daemon, Scratch) {
    let keys = Scratch::new("upstream-jwt");
    let key = keys.path().join("key");
    std::fs::write(&key, JWT_KEY).unwrap();
    set_mode(&key, 0o600);
    let key = key.to_str().unwrap().to_owned();
    let mut all = vec![
        "--auth",
        "jwt",
        "--jwt-secret-file",
        &key,
        "--jwt-leeway",
        "0",
    ];
    all.extend_from_slice(args);
    let d = Daemon::with(Options {
        args: all,
        env: vec![],
        token_file: false,
    });
    (d, keys)
}

fn subprotocol_entry(token: &str) -> String {
    format!(
        "wsgate.bearer.{}",
        data_encoding::BASE64URL_NOPAD.encode(token.as_bytes())
    )
}

// ---------------------------------------------------------------------------------
// What the upstream receives
// ---------------------------------------------------------------------------------

/// RFC 7239's `Forwarded` value, one element: its pairs, names in lower case, quoted
/// strings unquoted. Fails if a value is neither a token nor a quoted string.
fn forwarded_pairs(value: &str) -> Vec<(String, String)> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    value
        .split(';')
        .map(|pair| {
            let (name, v) = pair
                .trim()
                .split_once('=')
                .unwrap_or_else(|| panic!("Forwarded: {value:?}: {pair:?} is not name=value"));
            let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
                None => {
                    assert!(
                        !v.is_empty() && v.chars().all(tchar),
                        "Forwarded: {value:?}: {v:?} must be a token or a quoted string (RFC 7239 §4)"
                    );
                    v.to_owned()
                }
            };
            (name.to_ascii_lowercase(), v)
        })
        .collect()
}

/// A browser-like request, raw: the upstream gets the path under the prefix, the
/// query without `token`, the client's key, version, offered subprotocols, Origin,
/// Cookie and User-Agent, the rewritten Host and the forwarding headers; not the
/// credential, nor the hop-by-hop headers. The 101 carries the upstream's choice and
/// an Accept that fits the client's key.
#[test]
fn upstream_gets_the_handshake_without_the_credential() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&["--select", "chat"]);
    let d = Daemon::start(&["--upstream", &up.ws_url("/base")]);
    let host = d.addr.to_string();
    let request = format!(
        "GET /x/y?a=1&token={TOKEN}&b=two HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade, X-Hop-Test\r\nX-Hop-Test: hop-value\r\nKeep-Alive: timeout=5\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Protocol: superchat, chat\r\nOrigin: http://localhost:5173\r\n\
         Cookie: session=abc; theme=dark\r\nUser-Agent: wsgate-upstream-test/1.0\r\n\r\n"
    );
    let (s, response) = send_head(d.addr, &request);
    assert_eq!(status(&response), 101, "{response}");
    assert_eq!(
        header(&response, "Sec-WebSocket-Accept"),
        Some(async_tungstenite::tungstenite::handshake::derive_accept_key(KEY.as_bytes()).as_str()),
        "{response}"
    );
    assert_eq!(
        header(&response, "Sec-WebSocket-Protocol"),
        Some("chat"),
        "{response}"
    );
    assert_eq!(
        header(&response, "Sec-WebSocket-Extensions"),
        None,
        "{response}"
    );

    let seen = up.request("/base/x/y");
    assert_eq!(seen["path"], "/base/x/y?a=1&b=two", "{seen}");
    let one = |name: &str| {
        let v = values(&seen, name);
        assert_eq!(v.len(), 1, "{name}: {v:?} in {seen}");
        v[0].clone()
    };
    assert_eq!(one("Host"), up.authority());
    assert_eq!(one("Sec-WebSocket-Key"), KEY);
    assert_eq!(one("Sec-WebSocket-Version"), "13");
    assert!(one("Upgrade").eq_ignore_ascii_case("websocket"), "{seen}");
    assert_eq!(
        entries(&seen, "Sec-WebSocket-Protocol"),
        ["superchat", "chat"]
    );
    assert_eq!(one("Origin"), "http://localhost:5173");
    assert_eq!(one("Cookie"), "session=abc; theme=dark");
    assert_eq!(one("User-Agent"), "wsgate-upstream-test/1.0");
    assert_eq!(one("X-Forwarded-For"), "127.0.0.1");
    assert_eq!(one("X-Forwarded-Proto"), "http");
    assert_eq!(one("X-Forwarded-Host"), host);
    let forwarded = forwarded_pairs(&one("Forwarded"));
    let field = |name: &str| {
        forwarded
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("Forwarded lacks {name}: {forwarded:?}"))
    };
    assert_eq!(field("for"), "127.0.0.1", "{forwarded:?}");
    assert_eq!(field("host"), host, "{forwarded:?}");
    assert_eq!(field("proto"), "http", "{forwarded:?}");
    // Hop-by-hop: Keep-Alive, and whatever the client's Connection named (RFC 9110
    // §7.6.1), belong to the client's connection with wsgate only.
    let connection: Vec<String> = entries(&seen, "Connection")
        .iter()
        .map(|e| e.to_ascii_lowercase())
        .collect();
    assert_eq!(connection, ["upgrade"], "{seen}");
    for gone in ["X-Hop-Test", "Keep-Alive", "Authorization"] {
        assert!(
            values(&seen, gone).is_empty(),
            "{gone} was forwarded: {seen}"
        );
    }
    assert_clean("what the upstream recorded", &up.recorded(), &[TOKEN]);
    drop(s);

    let accept = d.expect_fields("accept", json!({}), Duration::from_secs(5));
    assert!(
        accept["upstream"]
            .as_str()
            .is_some_and(|u| u.contains(&up.authority())),
        "{accept}"
    );
    assert!(accept["connect_ms"].is_u64(), "{accept}");
    assert_clean("the log", &d.stderr(), &[TOKEN]);
    assert_clean("the 101", &response, &[TOKEN]);
}

/// `--upstream-origin strip|ORIGIN` and `--upstream-host pass|HOST`.
#[test]
fn upstream_origin_and_host_options() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let base = up.ws_url("");
    let strip = Daemon::start(&[
        "--upstream",
        &base,
        "--upstream-origin",
        "strip",
        "--upstream-host",
        "pass",
    ]);
    let fixed = Daemon::start(&[
        "--upstream",
        &base,
        "--upstream-origin",
        "http://app.internal",
        "--upstream-host",
        "backend.internal",
    ]);
    let origin = "Origin: http://localhost:5173\r\n";
    for (d, path) in [(&strip, "/strip"), (&fixed, "/fixed")] {
        let target = format!("{path}?token={TOKEN}");
        let (_s, r) = send_head(d.addr, &head(&target, &d.addr.to_string(), origin));
        assert_eq!(status(&r), 101, "{r}");
    }
    let seen = up.request("/strip");
    assert_eq!(values(&seen, "Origin"), Vec::<String>::new(), "{seen}");
    assert_eq!(values(&seen, "Host"), [strip.addr.to_string()], "{seen}");
    assert_eq!(
        values(&seen, "X-Forwarded-Host"),
        [strip.addr.to_string()],
        "{seen}"
    );
    let seen = up.request("/fixed");
    assert_eq!(values(&seen, "Origin"), ["http://app.internal"], "{seen}");
    assert_eq!(values(&seen, "Host"), ["backend.internal"], "{seen}");
    assert_clean("what the upstream recorded", &up.recorded(), &[TOKEN]);
}

/// In every mode and every place a credential travels, the upstream sees none of it:
/// no `token` pair, no `Authorization`, no `wsgate.bearer.*` entry, no `wsgate`
/// marker; only the client's own subprotocols and parameters.
#[test]
fn upstream_never_sees_a_credential_in_any_mode() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&["--select", "chat"]);
    let target = up.ws_url("/base");
    let upstream = ["--upstream", target.as_str()];

    // Where the credential travels, for one connection.
    enum Via<'a> {
        Query(&'a str),
        Header(&'a str),
        Subprotocol(&'a str),
    }
    let connect_via = |d: &Daemon, label: &str, via: Via<'_>| {
        let path = format!("/{label}?a=1&b=two");
        let (url, bearer, offer) = match via {
            Via::Query(t) => (format!("ws://{}{path}&token={t}", d.addr), None, None),
            Via::Header(t) => (
                format!("ws://{}{path}", d.addr),
                Some(format!("Bearer {t}")),
                None,
            ),
            Via::Subprotocol(t) => (
                format!("ws://{}{path}", d.addr),
                None,
                Some(format!("chat, {}, wsgate", subprotocol_entry(t))),
            ),
        };
        let offered = offer.is_some();
        block_on(async {
            let mut headers = Vec::new();
            if let Some(b) = &bearer {
                headers.push(("Authorization", b.as_str()));
            }
            if let Some(o) = &offer {
                headers.push(("Sec-WebSocket-Protocol", o.as_str()));
            }
            let (mut ws, response) = open(&url, &headers)
                .await
                .unwrap_or_else(|e| panic!("{label}: {e:?}"));
            if offered {
                assert_eq!(selected(&response).as_deref(), Some("chat"), "{label}");
            }
            round_trip(&mut ws, &format!("hello from {label}")).await;
            assert_eq!(close_with(&mut ws, 1000, "").await.map(|c| c.0), Some(1000));
        });
        let seen = up.request(&format!("/base/{label}"));
        assert_eq!(seen["path"], format!("/base/{label}?a=1&b=two"), "{seen}");
        assert!(values(&seen, "Authorization").is_empty(), "{label}: {seen}");
        let protocols = entries(&seen, "Sec-WebSocket-Protocol");
        if offered {
            assert_eq!(protocols, ["chat"], "{label}: {seen}");
        } else {
            assert!(protocols.is_empty(), "{label}: {seen}");
        }
    };

    let query = Daemon::start(&upstream);
    connect_via(&query, "query", Via::Query(TOKEN));
    // The pair's name and value percent-encoded: still wsgate's, still removed.
    let encoded = TOKEN.replace('-', "%2D");
    connect_via(&query, "query-encoded", Via::Query(&encoded));
    let url = format!("ws://{}/query-name?a=1&tok%65n={TOKEN}&b=two", query.addr);
    block_on(async {
        let mut ws = connect(&url).await.unwrap();
        round_trip(&mut ws, "hello").await;
    });
    let seen = up.request("/base/query-name");
    assert_eq!(seen["path"], "/base/query-name?a=1&b=two", "{seen}");
    // `Authorization: Bearer` is never forwarded, in query-token mode either.
    let url = query.url("/query-bearer");
    block_on(async {
        let (mut ws, _) = open(&url, &[("Authorization", "Bearer app-level-0123456789")])
            .await
            .unwrap();
        round_trip(&mut ws, "hello").await;
    });
    let seen = up.request("/base/query-bearer");
    assert!(values(&seen, "Authorization").is_empty(), "{seen}");
    assert_clean("the query-token log", &query.stderr(), &[TOKEN]);

    let mut args = vec!["--auth", "bearer"];
    args.extend(upstream);
    let bearer = Daemon::start(&args);
    connect_via(&bearer, "bearer-header", Via::Header(TOKEN));
    connect_via(&bearer, "bearer-subprotocol", Via::Subprotocol(TOKEN));
    assert_clean("the bearer log", &bearer.stderr(), &[TOKEN]);

    use sha2::Digest as _;
    let hex = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(TOKEN.as_bytes()));
    let mut args = vec!["--auth", "bearer", "--auth-token-sha256", &hex];
    args.extend(upstream);
    let digest = Daemon::with(Options {
        args,
        env: vec![],
        token_file: false,
    });
    connect_via(&digest, "digest-header", Via::Header(TOKEN));
    connect_via(&digest, "digest-subprotocol", Via::Subprotocol(TOKEN));
    assert_clean("the digest log", &digest.stderr(), &[TOKEN]);

    let (jwt, _keys) = jwt_daemon(&upstream);
    let token = mint(now() as i64 + 300);
    connect_via(&jwt, "jwt-header", Via::Header(&token));
    connect_via(&jwt, "jwt-subprotocol", Via::Subprotocol(&token));
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let key = String::from_utf8(JWT_KEY.to_vec()).unwrap();
    assert_clean("the jwt log", &jwt.stderr(), &[&token, &signature, &key]);

    let scratch = Scratch::new("upstream-store");
    let config = scratch.path().join("config");
    let managed = create_token(&config, &["--name", "proxied"]);
    let store = Daemon::with(Options::store(&config, &upstream));
    connect_via(&store, "store-query", Via::Query(&managed));
    connect_via(&store, "store-header", Via::Header(&managed));
    connect_via(&store, "store-subprotocol", Via::Subprotocol(&managed));
    assert_clean("the store log", &store.stderr(), &[&managed]);

    // Nothing it saw, in any connection, holds any of them.
    assert_clean(
        "what the upstream recorded",
        &up.recorded(),
        &[TOKEN, &token, &signature, &key, &managed],
    );
    let opened = up.events().iter().filter(|e| e["event"] == "open").count();
    assert_eq!(opened, 13, "{}", up.recorded());
}

/// The upstream's subprotocol reaches a `websockets` client, permessage-deflate is
/// negotiated between the two ends (both report it), and a 1 MiB compressible message
/// arrives intact both ways, as text and as binary.
#[test]
fn upstream_subprotocol_and_deflate_end_to_end() {
    if !python_ready() {
        return;
    }
    use sha2::Digest as _;
    let up = Upstream::ws(&["--select", "v2.json,chat"]);
    let d = Daemon::start(&["--upstream", &up.ws_url("")]);
    let url = d.url("/deflate");
    let out = run_python(
        "ws_client.py",
        &[
            "--url",
            &url,
            "--subprotocol",
            "superchat",
            "--subprotocol",
            "chat",
            "--size",
            "1048576",
        ],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}{stderr}\nthe log:\n{}",
        d.stderr()
    );
    let client: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(client["subprotocol"], "chat", "{client}");
    assert_eq!(
        client["extensions"],
        json!(["permessage-deflate"]),
        "{client}"
    );
    assert_eq!(
        (&client["text_ok"], &client["binary_ok"]),
        (&json!(true), &json!(true)),
        "{client}"
    );

    let seen = up.request("/deflate");
    assert!(
        entries(&seen, "Sec-WebSocket-Extensions")
            .iter()
            .any(|e| e.starts_with("permessage-deflate")),
        "{seen}"
    );
    let conn = seen["conn"].clone();
    let opened = up.expect(Duration::from_secs(5), |e| {
        e["event"] == "open" && e["conn"] == conn
    });
    assert_eq!(opened["subprotocol"], "chat", "{opened}");
    assert_eq!(
        opened["extensions"],
        json!(["permessage-deflate"]),
        "{opened}"
    );
    let line = b"wsgate upstream: a compressible line, said again and again.\n";
    let data: Vec<u8> = line.iter().copied().cycle().take(1 << 20).collect();
    let digest = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&data));
    up.closed(&conn, Duration::from_secs(5));
    let messages = up.of(&conn, "message");
    let got: Vec<(&Value, &Value, &Value)> = messages
        .iter()
        .map(|m| (&m["type"], &m["len"], &m["sha256"]))
        .collect();
    assert_eq!(
        got,
        [
            (&json!("text"), &json!(1 << 20), &json!(digest)),
            (&json!("binary"), &json!(1 << 20), &json!(digest)),
        ]
    );
    assert_clean("what the upstream recorded", &up.recorded(), &[TOKEN]);
}

/// A close frame from either side reaches the other with its code and reason, and the
/// close line says who said what.
#[test]
fn upstream_close_codes_travel_both_ways() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let d = Daemon::start(&["--upstream", &up.ws_url("")]);
    block_on(async {
        let mut ws = connect(&d.url("/client-closes")).await.unwrap();
        round_trip(&mut ws, "hi").await;
        let back = close_with(&mut ws, 4001, "bye").await;
        assert_eq!(back, Some((4001, "bye".to_owned())));
    });
    let seen = up.request("/client-closes");
    let closed = up.closed(&seen["conn"], Duration::from_secs(5));
    assert_eq!(
        (
            &closed["code"],
            &closed["reason"],
            &closed["close_received"]
        ),
        (&json!(4001), &json!("bye"), &json!(true)),
        "{closed}"
    );
    let close = d.expect_fields(
        "close",
        json!({"client_code": 4001}),
        Duration::from_secs(5),
    );
    assert!(
        close["upstream"]
            .as_str()
            .is_some_and(|u| u.contains(&up.authority())),
        "{close}"
    );
    assert_eq!(close["upstream_code"], 4001, "{close}");
    assert!(close["code"].is_u64(), "{close}");
    assert!(
        close["bytes_in"].as_u64().is_some_and(|n| n >= 2)
            && close["bytes_out"].as_u64().is_some_and(|n| n >= 2),
        "{close}"
    );

    block_on(async {
        let mut ws = connect(&d.url("/upstream-closes?do=close")).await.unwrap();
        let end = close_frame(&mut ws).await;
        assert_eq!(end, Ok((4002, "later".to_owned())), "{}", context(&d, &up));
    });
    let close = d.expect_fields(
        "close",
        json!({"upstream_code": 4002}),
        Duration::from_secs(5),
    );
    assert!(
        close["client_code"].is_u64() || close["client_code"].is_null(),
        "{close}"
    );
    assert_clean("the log", &d.stderr(), &[TOKEN]);
}

/// `ws+unix:PATH`: the same proxy to a `websockets` server on a Unix socket, with
/// `Host: localhost`.
#[test]
fn upstream_websocket_on_a_unix_socket() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws_unix(&[]);
    let d = Daemon::start(&["--upstream", &format!("ws+unix:{}", up.socket())]);
    block_on(async {
        let mut ws = connect(&d.url("/over/unix?k=v")).await.unwrap();
        round_trip(&mut ws, "through a Unix socket").await;
        ws.send(Message::binary(vec![0u8, 1, 254, 255]))
            .await
            .unwrap();
        assert_eq!(
            next(&mut ws).await,
            Some(Message::binary(vec![0u8, 1, 254, 255]))
        );
        assert_eq!(
            close_with(&mut ws, 4001, "bye").await,
            Some((4001, "bye".to_owned()))
        );
    });
    let seen = up.request("/over/unix");
    assert_eq!(seen["path"], "/over/unix?k=v", "{seen}");
    assert_eq!(values(&seen, "Host"), ["localhost"], "{seen}");
    let closed = up.closed(&seen["conn"], Duration::from_secs(5));
    assert_eq!(
        (&closed["code"], &closed["reason"]),
        (&json!(4001), &json!("bye"))
    );
    assert_clean("what the upstream recorded", &up.recorded(), &[TOKEN]);
    let accept = d.expect_fields("accept", json!({}), Duration::from_secs(5));
    assert!(accept["upstream"].is_string(), "{accept}");
    assert_eq!(health(&d)["backend"], "upstream");
}

// ---------------------------------------------------------------------------------
// Byte streams: tcp:// and unix:
// ---------------------------------------------------------------------------------

/// Binary messages until `want` bytes have arrived (a stream keeps no message
/// boundaries); fails on anything else.
async fn bytes_until(ws: &mut Ws, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        match next(ws).await {
            Some(Message::Binary(b)) => got.extend_from_slice(&b),
            other => panic!("after {} of {want} bytes: {other:?}", got.len()),
        }
    }
    got
}

/// A byte-stream upstream in echo mode: bytes both ways unchanged, the stream's end
/// closing the WebSocket with 1000, a text message closing it with 1003.
fn byte_stream_echo(up: &Upstream, d: &Daemon) {
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        let all: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        ws.send(Message::binary(all.clone())).await.unwrap();
        assert_eq!(bytes_until(&mut ws, all.len()).await, all);
        ws.send(Message::binary(b"hello\n".to_vec())).await.unwrap();
        ws.send(Message::binary(b"quit\n".to_vec())).await.unwrap();
        // The service answers and ends the stream.
        let want = b"hello\nquit\nbye\n";
        assert_eq!(bytes_until(&mut ws, want.len()).await, want);
        assert_eq!(close_code_of(&mut ws).await, Ok(1000), "{}", context(d, up));
    });
    block_on(async {
        let mut ws = connect(&d.url("/")).await.unwrap();
        ws.send(Message::binary(b"ping\n".to_vec())).await.unwrap();
        assert_eq!(bytes_until(&mut ws, 5).await, b"ping\n");
        ws.send(Message::text("text is not a byte stream"))
            .await
            .unwrap();
        assert_eq!(close_code_of(&mut ws).await, Ok(1003), "{}", context(d, up));
    });
    let accept = d.expect_fields("accept", json!({}), Duration::from_secs(5));
    assert!(accept["upstream"].is_string(), "{accept}");
    assert!(accept["connect_ms"].is_u64(), "{accept}");
    let close = d.expect_fields("close", json!({"code": 1003}), Duration::from_secs(5));
    assert!(close["upstream"].is_string(), "{close}");
    let close = d.expect_fields("close", json!({"code": 1000}), Duration::from_secs(5));
    assert!(close["upstream"].is_string(), "{close}");
    // 64 KiB and 11 bytes in; as many and 4 more out.
    assert_eq!(
        (&close["bytes_in"], &close["bytes_out"]),
        (&json!(65536 + 11), &json!(65536 + 15)),
        "{close}"
    );
    let log = d.stderr();
    assert_clean("the log", &log, &[TOKEN]);
    assert_clean("what the service recorded", &up.recorded(), &[TOKEN]);
}

#[test]
fn upstream_byte_stream_over_tcp() {
    if !python_ready() {
        return;
    }
    let up = Upstream::stream("echo", false);
    let d = Daemon::start(&["--upstream", &format!("tcp://{}", up.authority())]);
    byte_stream_echo(&up, &d);
    assert_eq!(health(&d)["backend"], "upstream");
}

#[test]
fn upstream_byte_stream_over_a_unix_socket() {
    if !python_ready() {
        return;
    }
    let up = Upstream::stream("echo", true);
    let d = Daemon::start(&["--upstream", &format!("unix:{}", up.socket())]);
    byte_stream_echo(&up, &d);
}

/// The client sends, then closes the WebSocket: the service reads every byte and then
/// the end of the stream (a half-close, not a reset).
#[test]
fn upstream_byte_stream_half_close() {
    if !python_ready() {
        return;
    }
    use sha2::Digest as _;
    for unix in [false, true] {
        let up = Upstream::stream("sink", unix);
        let target = match unix {
            false => format!("tcp://{}", up.authority()),
            true => format!("unix:{}", up.socket()),
        };
        let d = Daemon::start(&["--upstream", &target]);
        let chunk: Vec<u8> = (0..=255u8).cycle().take(256 * 1024).collect();
        let mut sent = Vec::new();
        block_on(async {
            let mut ws = connect(&d.url("/")).await.unwrap();
            for i in 0..4u8 {
                let mut message = chunk.clone();
                message[0] = i;
                sent.extend_from_slice(&message);
                ws.send(Message::binary(message)).await.unwrap();
            }
            ws.close(None).await.unwrap();
            // Whatever comes back, the session ends.
            while let Some(m) = next(&mut ws).await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        });
        let eof = up.expect(Duration::from_secs(5), |e| {
            e["event"] == "eof" || e["event"] == "reset"
        });
        assert_eq!(eof["event"], "eof", "unix={unix}: {}", up.recorded());
        assert_eq!(eof["received"], sent.len(), "{eof}");
        assert_eq!(
            eof["sha256"],
            data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&sent)),
            "{eof}"
        );
        // For the report: whether the service could still write after the end of what
        // it read (a half-close lets it until wsgate closes the stream).
        if let Some(after) = up.wait(Duration::from_secs(2), |e| e["event"] == "wrote-after-eof") {
            eprintln!("unix={unix}: the service wrote after EOF: {}", after["ok"]);
        }
    }
}

// ---------------------------------------------------------------------------------
// Chromium's DevTools endpoint
// ---------------------------------------------------------------------------------

impl Browser {
    /// `GET path` from the DevTools HTTP endpoint, directly; the body.
    fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        let _ = s.read_to_string(&mut response);
        body(&response).to_owned()
    }
}

/// A TCP relay in front of a server: it counts the connections that reach the server
/// and keeps every byte sent to it.
struct Relay {
    port: u16,
    connections: Arc<AtomicUsize>,
    sent: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (connections, sent, stop) = (connections.clone(), sent.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    client.set_nonblocking(false).unwrap();
                    let Ok(server) = TcpStream::connect(target) else {
                        continue;
                    };
                    let pipe = |mut from: TcpStream,
                                mut to: TcpStream,
                                keep: Option<Arc<Mutex<Vec<u8>>>>| {
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16384];
                            loop {
                                match from.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if let Some(keep) = &keep {
                                            keep.lock().unwrap().extend_from_slice(&buf[..n]);
                                        }
                                        if to.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    };
                    pipe(
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        Some(sent.clone()),
                    );
                    pipe(server, client, None);
                }
            });
        }
        Relay {
            port,
            connections,
            sent,
            stop,
        }
    }

    fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Chromium's DevTools endpoint behind wsgate: with the token, a DevTools command is
/// answered through the gate; without it, 401 and nothing reaches the browser.
#[test]
fn upstream_chromium_devtools_through_the_gate() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let version: Value = serde_json::from_str(&browser.get("/json/version")).unwrap();
    let debugger = version["webSocketDebuggerUrl"]
        .as_str()
        .expect("a debugger URL");
    let path = debugger
        .strip_prefix("ws://")
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        .unwrap();
    assert!(path.starts_with("/devtools/browser/"), "{path}");
    // Between wsgate and the browser, a relay that counts and keeps what it is sent.
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], browser.port)));
    let d = Daemon::start(&["--upstream", &format!("ws://127.0.0.1:{}", relay.port)]);

    // Without the token: 401, and not one connection reaches the browser.
    let r = upgrade(d.addr, &path, "");
    assert_eq!(status(&r), 401, "{r}");
    let r = upgrade(d.addr, &format!("{path}?token=wrong-wrong-wrong-wrong"), "");
    assert_eq!(status(&r), 401, "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(relay.connections.load(Ordering::SeqCst), 0);

    let answer = block_on(async {
        let mut ws = connect(&d.url(&path)).await.expect("through the gate");
        ws.send(Message::text(r#"{"id":1,"method":"Browser.getVersion"}"#))
            .await
            .unwrap();
        let answer = loop {
            match next(&mut ws).await {
                Some(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["id"] == 1 {
                        break v;
                    }
                }
                other => panic!("no answer from DevTools: {other:?}"),
            }
        };
        let _ = close_with(&mut ws, 1000, "").await;
        answer
    });
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["product"], version["Browser"],
        "{answer} {version}"
    );
    assert_eq!(relay.connections.load(Ordering::SeqCst), 1);
    let sent = relay.sent();
    assert!(sent.starts_with(&format!("GET {path}")), "{sent}");
    assert_clean("what Chromium was sent", &sent, &[TOKEN]);
    assert_clean("the log", &d.stderr(), &[TOKEN]);
    drop(browser);
}

// ---------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------

/// A reject line for `status` and `reason` naming the upstream, and an answer whose
/// body is wsgate's own.
#[track_caller]
fn expect_upstream_reject(d: &Daemon, r: &str, code: u16, why: &str, authority: &str) {
    assert_eq!(status(r), code, "{r}");
    assert_eq!(reason(r), why, "{r}");
    assert!(!r.contains("\r\nSec-WebSocket-Accept"), "{r}");
    let line = d.expect_fields(
        "reject",
        json!({"status": code, "reason": why}),
        Duration::from_secs(5),
    );
    assert!(
        line["upstream"]
            .as_str()
            .is_some_and(|u| u.contains(authority)),
        "{line}"
    );
    // The address is the operator's business, not the client's.
    assert!(!body(r).contains(authority), "{r}");
    assert_clean("the answer", r, &[TOKEN]);
    assert_clean("the log", &d.stderr(), &[TOKEN]);
}

/// Nobody listens at the upstream's address: 502, and never a 101 first.
#[test]
fn upstream_down_is_502() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let authority = format!("127.0.0.1:{port}");
    let d = Daemon::start(&["--upstream", &format!("ws://{authority}")]);
    let r = upgrade(d.addr, &format!("/?token={TOKEN}"), "");
    expect_upstream_reject(&d, &r, 502, "upstream-failed", &authority);
    block_on(async {
        match connect(&d.url("/")).await {
            Err(async_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 502)
            }
            other => panic!("expected 502, got {other:?}"),
        }
    });
    // A byte stream that is not there either.
    let s = Daemon::start(&["--upstream", &format!("tcp://{authority}")]);
    let r = upgrade(s.addr, &format!("/?token={TOKEN}"), "");
    expect_upstream_reject(&s, &r, 502, "upstream-failed", &authority);
    let gone = Scratch::new("upstream-gone");
    let socket = gone.path().join("nobody.sock");
    let u = Daemon::start(&["--upstream", &format!("unix:{}", socket.display())]);
    assert_eq!(
        status(&upgrade(u.addr, &format!("/?token={TOKEN}"), "")),
        502
    );
}

/// The upstream answers 403 with words of its own: the client gets wsgate's 502,
/// without them.
#[test]
fn upstream_refusal_is_502_without_its_words() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let d = Daemon::start(&["--upstream", &up.ws_url("")]);
    let r = upgrade(d.addr, &format!("/no?do=reject&token={TOKEN}"), "");
    expect_upstream_reject(&d, &r, 502, "upstream-failed", &up.authority());
    assert!(
        !r.contains("upstream-says-no") && !r.contains("X-Upstream-Detail") && !r.contains("403"),
        "{r}"
    );
    // It was asked, and answered.
    up.request("/no");
}

/// What a hand-written upstream does with a connection once it has read the head.
type Answer = fn(&mut TcpStream);

/// A hand-written upstream that reads each request head and then does `answer`
/// with the connection; its address.
fn fake_upstream(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            answer(&mut s);
        }
    });
    authority
}

/// Answers that are not a valid 101 (a wrong Accept, a 200, a reset, the end of the
/// connection, not HTTP at all): 502, without what the upstream said.
#[test]
fn upstream_bad_answers_are_502() {
    let answers: &[(&str, Answer)] = &[
        ("a 101 with a wrong Accept", |s| {
            let _ = s.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
            );
            std::thread::sleep(Duration::from_secs(2));
        }),
        ("a 200", |s| {
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\nupstream-private-body");
            std::thread::sleep(Duration::from_secs(2));
        }),
        ("a reset", |s| {
            let _ = rustix::net::sockopt::set_socket_linger(&*s, Some(Duration::ZERO));
        }),
        ("the end of the connection", |s| {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }),
        ("not HTTP", |s| {
            let _ = s.write_all(b"SSH-2.0-upstream-private-banner\r\n");
            std::thread::sleep(Duration::from_secs(2));
        }),
    ];
    for &(what, answer) in answers {
        let authority = fake_upstream(answer);
        let d = Daemon::start(&["--upstream", &format!("ws://{authority}")]);
        let started = Instant::now();
        let r = upgrade(d.addr, &format!("/?token={TOKEN}"), "");
        assert_eq!(status(&r), 502, "{what}: {r}");
        expect_upstream_reject(&d, &r, 502, "upstream-failed", &authority);
        assert!(!r.contains("upstream-private"), "{what}: {r}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what}: answered after {:?}",
            started.elapsed()
        );
    }
}

/// An upstream that takes the connection and never answers: 504 after
/// `--upstream-timeout`, well before a client would give up.
#[test]
fn upstream_silent_is_504_after_the_timeout() {
    // Listening, so the kernel completes the TCP handshake, but never accepting.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = listener.local_addr().unwrap().to_string();
    let d = Daemon::start(&[
        "--upstream",
        &format!("ws://{authority}"),
        "--upstream-timeout",
        "1s",
    ]);
    let started = Instant::now();
    let r = upgrade(d.addr, &format!("/?token={TOKEN}"), "");
    let took = started.elapsed();
    expect_upstream_reject(&d, &r, 504, "upstream-timeout", &authority);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    drop(listener);
}

/// When the upstream's connection ends without a close frame (it closes its socket,
/// or its process dies), the client gets 1011.
#[test]
fn upstream_dying_mid_session_closes_1011() {
    if !python_ready() {
        return;
    }
    let mut up = Upstream::ws(&[]);
    let d = Daemon::start(&["--upstream", &up.ws_url("")]);
    block_on(async {
        let mut ws = connect(&d.url("/drop?do=drop")).await.unwrap();
        ws.send(Message::text("the last word")).await.unwrap();
        assert_eq!(
            close_code_of(&mut ws).await,
            Ok(1011),
            "{}",
            context(&d, &up)
        );
    });
    let seen = up.request("/drop");
    assert_eq!(
        up.of(&seen["conn"], "message").len(),
        1,
        "{}",
        up.recorded()
    );
    block_on(async {
        let mut ws = connect(&d.url("/killed")).await.unwrap();
        round_trip(&mut ws, "still alive?").await;
        up.kill();
        let started = Instant::now();
        assert_eq!(
            close_code_of(&mut ws).await,
            Ok(1011),
            "{}",
            context(&d, &up)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    });
    d.expect_fields("close", json!({"code": 1011}), Duration::from_secs(5));
}

/// `--max-message-size` applies to what the client sends: over it, 1009, and the
/// message never arrives whole; the upstream's own messages are not limited by it.
#[test]
fn upstream_client_message_size_limit() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let d = Daemon::start(&["--upstream", &up.ws_url(""), "--max-message-size", "1024"]);
    block_on(async {
        let mut ws = connect(&d.url("/limited")).await.unwrap();
        round_trip(&mut ws, &"x".repeat(1024)).await;
        let _ = ws.send(Message::binary(vec![7u8; 200_000])).await;
        let client = close_code_of(&mut ws).await;
        // The upstream's session is closed too, with a close frame (RFC 6455 §7.1.7:
        // wsgate ends it, so wsgate says so), never a bare end of stream.
        let conn = up.request("/limited")["conn"].clone();
        let closed = up.closed(&conn, Duration::from_secs(5));
        assert_eq!(
            (client, &closed["close_received"]),
            (Ok(1009), &json!(true)),
            "the client's close code and whether the upstream got a close frame{}",
            context(&d, &up)
        );
    });
    let conn = up.request("/limited")["conn"].clone();
    let lengths: Vec<Value> = up
        .of(&conn, "message")
        .iter()
        .map(|m| m["len"].clone())
        .collect();
    assert_eq!(lengths, [json!(1024)], "{}", up.recorded());
    d.expect_fields("close", json!({"code": 1009}), Duration::from_secs(5));
}

/// A client that vanishes without a close frame: the upstream hears of it (a close or
/// the end of its connection) within a second.
#[test]
fn upstream_notices_a_vanished_client() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let d = Daemon::start(&["--upstream", &up.ws_url("")]);
    let (s, r) = send_head(
        d.addr,
        &head(&format!("/vanish?token={TOKEN}"), "127.0.0.1", ""),
    );
    assert_eq!(status(&r), 101, "{r}");
    let conn = up.request("/vanish")["conn"].clone();
    up.expect(Duration::from_secs(5), |e| {
        e["event"] == "open" && e["conn"] == conn
    });
    drop(s);
    let gone = now();
    let closed = up.closed(&conn, Duration::from_secs(3));
    let after = closed["t"].as_f64().unwrap() - gone;
    assert!(
        after < 1.0,
        "the upstream heard after {after:.2} s: {closed}"
    );
}

/// A client that never reads while the upstream pushes 200 MiB: wsgate stops reading
/// the upstream, and its memory stays bounded.
#[cfg(target_os = "linux")]
#[test]
fn upstream_flood_to_a_client_that_never_reads() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let d = Daemon::start(&["--upstream", &up.ws_url("")]);
    let before = rss_kib(d.pid());
    let (s, r) = send_head(
        d.addr,
        &head(&format!("/flood?do=flood&token={TOKEN}"), "127.0.0.1", ""),
    );
    assert_eq!(status(&r), 101, "{r}");
    let conn = up.request("/flood")["conn"].clone();
    let sent = || {
        up.of(&conn, "flood")
            .iter()
            .filter_map(|e| e["sent"].as_u64())
            .max()
            .unwrap_or(0)
    };
    let mut peak = before;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        peak = peak.max(rss_kib(d.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let stalled = sent();
    std::thread::sleep(Duration::from_millis(500));
    peak = peak.max(rss_kib(d.pid()));
    let finally = sent();
    assert!(
        up.of(&conn, "flood-done").is_empty(),
        "the upstream pushed all 200 MiB past a client that reads nothing"
    );
    assert!(
        peak < 64 * 1024,
        "the daemon grew from {before} KiB to {peak} KiB while the upstream pushed {finally} bytes"
    );
    assert!(
        finally - stalled <= 2 << 20,
        "the upstream is still pushing: {stalled} then {finally} bytes"
    );
    eprintln!(
        "flood: the upstream got {finally} bytes out; daemon RSS {before} KiB before, peak {peak} KiB"
    );
    drop(s);
}

// ---------------------------------------------------------------------------------
// Session controls: scopes, revocation, expiry, shutdown
// ---------------------------------------------------------------------------------

/// A store-mode daemon in front of a fresh upstream, with one token of `scopes`.
fn scoped(tag: &str, scopes: &str) -> (Daemon, Upstream, String, Scratch) {
    let scratch = Scratch::new(tag);
    let config = scratch.path().join("config");
    let token = create_token(&config, &["--scope", scopes]);
    let up = Upstream::ws(&[]);
    let target = up.ws_url("");
    let d = Daemon::with(Options::store(&config, &["--upstream", &target]));
    (d, up, token, scratch)
}

/// Store mode: an upstream needs `exec` (403 otherwise), and nothing reaches it
/// without.
#[test]
fn upstream_scope_exec_required() {
    if !python_ready() {
        return;
    }
    let (d, up, no_exec, _scratch) = scoped("upstream-no-exec", "read,write");
    let r = upgrade(d.addr, &format!("/no-exec?token={no_exec}"), "");
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(reason(&r), "insufficient-scope", "{r}");
    assert!(r.contains("error=\"insufficient_scope\""), "{r}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        up.events().is_empty(),
        "a request without exec reached the upstream: {}",
        up.recorded()
    );
    assert_clean("the log", &d.stderr(), &[&no_exec]);
}

/// Without `write`, the first data frame closes the session with 1008 and reaches no
/// one.
#[test]
fn upstream_scope_write_required_to_send() {
    if !python_ready() {
        return;
    }
    let (d, up, no_write, _scratch) = scoped("upstream-no-write", "read,exec");
    block_on(async {
        let url = format!("ws://{}/no-write?token={no_write}", d.addr);
        let mut ws = connect(&url).await.unwrap();
        ws.send(Message::text("may I?")).await.unwrap();
        let client = close_code_of(&mut ws).await;
        // The upstream's session is closed with a close frame, not a bare end of stream.
        let conn = up.request("/no-write")["conn"].clone();
        let closed = up.closed(&conn, Duration::from_secs(5));
        assert_eq!(
            (client, &closed["close_received"]),
            (Ok(1008), &json!(true)),
            "the client's close code and whether the upstream got a close frame{}",
            context(&d, &up)
        );
    });
    let conn = up.request("/no-write")["conn"].clone();
    assert!(
        up.of(&conn, "message").is_empty(),
        "a message without write reached the upstream: {}",
        up.recorded()
    );
    assert_clean("the log", &d.stderr(), &[&no_write]);
    assert_clean("what the upstream recorded", &up.recorded(), &[&no_write]);
}

/// Without `read`, nothing the upstream sends reaches the client (its pong does).
#[test]
fn upstream_scope_read_required_to_receive() {
    if !python_ready() {
        return;
    }
    let (d, up, no_read, _scratch) = scoped("upstream-no-read", "write,exec");
    block_on(async {
        let url = format!("ws://{}/no-read?token={no_read}", d.addr);
        let mut ws = connect(&url).await.unwrap();
        ws.send(Message::text("into the void")).await.unwrap();
        let conn = up.request("/no-read")["conn"].clone();
        // The upstream got it, and echoed it.
        up.expect(Duration::from_secs(5), |e| {
            e["event"] == "message" && e["conn"] == conn
        });
        std::thread::sleep(Duration::from_millis(200));
        // The pong arrives; the echo, which would have come first, never does.
        let first = first_after_ping(&mut ws).await;
        assert!(matches!(first, Some(Ok(Message::Pong(_)))), "{first:?}");
    });
    assert_clean("the log", &d.stderr(), &[&no_read]);
    assert_clean("what the upstream recorded", &up.recorded(), &[&no_read]);
}

/// Revoking a store token closes its live proxied session: 1008 to the client, 1001
/// to the upstream, within 2 s.
#[test]
fn upstream_session_closed_on_revocation() {
    if !python_ready() {
        return;
    }
    let scratch = Scratch::new("upstream-revoke");
    let config = scratch.path().join("config");
    let token = create_token(&config, &["--name", "revoke me"]);
    let up = Upstream::ws(&[]);
    let target = up.ws_url("");
    let d = Daemon::with(Options::store(&config, &["--upstream", &target]));
    block_on(async {
        let mut ws = connect(&format!("ws://{}/revoked?token={token}", d.addr))
            .await
            .unwrap();
        round_trip(&mut ws, "hello").await;
        assert!(
            wsgate(&config, &["token", "revoke", "revoke me"])
                .status
                .success()
        );
        let revoked = now();
        let started = Instant::now();
        let end = close_frame(&mut ws).await;
        assert_eq!(
            end,
            Ok((1008, "token revoked".to_owned())),
            "{}",
            context(&d, &up)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let conn = up.request("/revoked")["conn"].clone();
        let closed = up.closed(&conn, Duration::from_secs(3));
        assert_eq!(
            (&closed["code"], &closed["close_received"]),
            (&json!(1001), &json!(true)),
            "{closed}"
        );
        let after = closed["t"].as_f64().unwrap() - revoked;
        assert!(after < 2.0, "the upstream heard after {after:.2} s");
    });
    assert_clean("the log", &d.stderr(), &[&token]);
}

/// A JWT whose `exp` passes closes its proxied session: 1008 to the client, 1001 to
/// the upstream, within 2 s.
#[test]
fn upstream_session_closed_at_jwt_expiry() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let target = up.ws_url("");
    let (d, _keys) = jwt_daemon(&["--upstream", &target]);
    let exp = now() as i64 + 2;
    let token = mint(exp);
    let exp = exp as f64;
    block_on(async {
        let bearer = format!("Bearer {token}");
        let url = format!("ws://{}/expiring", d.addr);
        let (mut ws, _) = open(&url, &[("Authorization", &bearer)]).await.unwrap();
        round_trip(&mut ws, "hello").await;
        let end = close_frame(&mut ws).await;
        let at = now();
        assert_eq!(
            end,
            Ok((1008, "token expired".to_owned())),
            "{}",
            context(&d, &up)
        );
        assert!(
            at >= exp - 0.05 && at < exp + 2.0,
            "closed at {at:.2}, exp {exp}"
        );
        let conn = up.request("/expiring")["conn"].clone();
        let closed = up.closed(&conn, Duration::from_secs(3));
        assert_eq!(closed["code"], 1001, "{closed}");
        let heard = closed["t"].as_f64().unwrap();
        assert!(
            heard < exp + 2.0,
            "the upstream heard {:.2} s after exp",
            heard - exp
        );
    });
    assert_clean("the log", &d.stderr(), &[&token]);
    assert_clean("what the upstream recorded", &up.recorded(), &[&token]);
}

/// SIGTERM closes both sides with 1001, and the daemon exits 0 within 5 s.
#[test]
fn upstream_sigterm_closes_both_sides() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    let mut d = Daemon::start(&["--upstream", &up.ws_url("")]);
    let mut ws = block_on(async {
        let mut ws = connect(&d.url("/terminated")).await.unwrap();
        round_trip(&mut ws, "hello").await;
        ws
    });
    let started = Instant::now();
    let status = d
        .terminate(Duration::from_secs(5))
        .expect("exits within 5 s");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    block_on(async {
        assert_eq!(
            close_code_of(&mut ws).await,
            Ok(1001),
            "{}",
            context(&d, &up)
        );
    });
    let conn = up.request("/terminated")["conn"].clone();
    let closed = up.closed(&conn, Duration::from_secs(3));
    assert_eq!(
        (&closed["code"], &closed["close_received"]),
        (&json!(1001), &json!(true)),
        "{closed}"
    );
}

// ---------------------------------------------------------------------------------
// Command line and health
// ---------------------------------------------------------------------------------

#[test]
fn upstream_usage_errors() {
    let scratch = Scratch::new("upstream-cli");
    let runtime = scratch.path().join("run");
    let env = [("WSGATE_RUNTIME_DIR", runtime.as_os_str())];
    let cases: &[(&[&str], &str)] = &[
        (&["--echo", "--upstream", "ws://127.0.0.1:9"], "--upstream"),
        (
            &["--upstream", "ws://127.0.0.1:9", "--", "cat"],
            "--upstream",
        ),
        (&["--upstream", "wss://127.0.0.1:9"], "--upstream"),
        (&["--upstream", "ftp://127.0.0.1:9"], "--upstream"),
        (&["--upstream", "127.0.0.1:9"], "--upstream"),
        (&["--upstream", "ws://user:pass@127.0.0.1:9"], "--upstream"),
        (
            &[
                "--upstream",
                "ws://127.0.0.1:9",
                "--upstream-timeout",
                "soon",
            ],
            "--upstream-timeout",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = run_wsgate(&all, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // --help lists the new options.
    let out = run_wsgate(&["--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--upstream",
        "--upstream-timeout",
        "--upstream-origin",
        "--upstream-host",
    ] {
        assert!(help.contains(option), "help lacks {option}");
    }
}

/// Timeouts in the documented forms start a daemon; health names the backend and
/// nothing about the address.
#[test]
fn upstream_health_and_timeout_forms() {
    if !python_ready() {
        return;
    }
    let up = Upstream::ws(&[]);
    for timeout in ["500ms", "2s", "1m"] {
        let d = Daemon::start(&[
            "--upstream",
            &up.ws_url("/private/prefix"),
            "--upstream-timeout",
            timeout,
        ]);
        let h = health(&d);
        assert_eq!(h["backend"], "upstream", "{h}");
        let text = h.to_string();
        assert!(
            !text.contains(&up.port.to_string()) && !text.contains("private"),
            "{text}"
        );
    }
    let e = Daemon::start(&["--echo"]);
    assert_eq!(health(&e)["backend"], "echo");
    let p = Daemon::start(&["--", "cat"]);
    assert_eq!(health(&p)["backend"], "program");
}

// ---------------------------------------------------------------------------------
// One close frame each way, and endings that a blocked write does not hold up
// ---------------------------------------------------------------------------------

/// Sends an upgrade head on a raw socket and reads the answer's head; returns the
/// socket, the head, and the bytes that followed it in the same reads.
fn raw_upgrade(addr: SocketAddr, head: &str) -> (TcpStream, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break got.len(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let rest = got.split_off(end);
    (s, String::from_utf8_lossy(&got).into_owned(), rest)
}

/// Reads server frames (unmasked) from a raw socket until it ends, after `first`
/// (bytes already read); returns each frame's opcode and, for a close, its code.
fn frames_until_end(s: &mut TcpStream, first: Vec<u8>) -> Vec<(u8, Option<u16>)> {
    let mut bytes = first;
    let _ = s.read_to_end(&mut bytes);
    let mut out = Vec::new();
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let op = bytes[at] & 0x0f;
        let (len, head) = match bytes[at + 1] & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
                4,
            ),
            127 => panic!("no long frames expected"),
            n => (usize::from(n), 2),
        };
        let payload = &bytes[(at + head).min(bytes.len())..(at + head + len).min(bytes.len())];
        let code =
            (op == 8 && payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        out.push((op, code));
        at += head + len;
    }
    out
}

#[test]
fn upstream_close_then_shutdown_sends_one_close_frame() {
    if !python_ready() {
        return;
    }
    // The upstream closes (4002) and waits for the client's answer, which never
    // comes; then the daemon is stopped. The client must get the upstream's close and
    // no second one.
    let up = Upstream::ws(&[]);
    let mut d = Daemon::start(&["--upstream", &up.ws_url("")]);
    let target = format!("/once?do=close&token={TOKEN}");
    let (mut s, answer, first) = raw_upgrade(d.addr, &head(&target, &d.addr.to_string(), ""));
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
    // The upstream's close has been relayed once the upstream recorded the request.
    up.request("/once");
    std::thread::sleep(Duration::from_millis(300));
    let status = d
        .terminate(Duration::from_secs(5))
        .expect("exits within 5 s");
    assert!(status.success(), "{status:?}");
    let frames = frames_until_end(&mut s, first);
    let closes: Vec<_> = frames.iter().filter(|(op, _)| *op == 8).collect();
    assert_eq!(
        closes,
        [&(8, Some(4002))],
        "{frames:?}\n{}",
        context(&d, &up)
    );
}

#[test]
fn byte_stream_that_does_not_read_still_ends_at_shutdown() {
    // A service that accepts and never reads: the client's writes fill every buffer
    // and the relay's write to the stream blocks. SIGTERM must still close the client
    // with 1001 at once, not after the daemon's last-resort deadline.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            keep.lock().unwrap().push(s);
        }
    });
    let upstream = format!("tcp://127.0.0.1:{port}");
    let mut d = Daemon::start(&["--upstream", &upstream, "--max-message-size", "8388608"]);
    let ws = block_on(connect(&d.url("/"))).unwrap();
    let (mut tx, mut rx) = ws.split();
    let sending = async_std::task::spawn(async move {
        let chunk = vec![7u8; 4 << 20];
        for _ in 0..64 {
            if tx.send(Message::binary(chunk.clone())).await.is_err() {
                break;
            }
        }
    });
    // Long enough for every buffer between the client and the service to fill.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !held.lock().unwrap().is_empty(),
        "the service was connected"
    );
    let started = Instant::now();
    let status = d
        .terminate(Duration::from_secs(5))
        .expect("exits within 5 s");
    assert!(status.success(), "{status:?}");
    let code = block_on(async {
        async_std::future::timeout(Duration::from_secs(5), async {
            loop {
                match futures_lite::StreamExt::next(&mut rx).await {
                    Some(Ok(Message::Close(Some(f)))) => return Ok(u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("ended without a close frame".into()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("no close within 5 s".into()))
    });
    assert_eq!(code, Ok(1001), "{}", d.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let _ = block_on(sending.cancel());
}
