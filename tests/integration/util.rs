//! Starting the daemon, talking to it, and cleaning up after it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_std::net::TcpStream as AsyncTcp;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt as _;
pub use serde_json::json;

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const BIN: &str = env!("CARGO_BIN_EXE_wsgate");

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("wsgate-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The one rule for a test that needs a tool wsgate does not ship (Chromium, Python
/// with `websockets`, websocat, Node, groff, a shell): `found` says whether it is
/// there. Under `CI` (`.ci/run` installs them all) a missing tool fails the test.
/// Elsewhere the test is skipped, and says so where `cargo test` shows it without
/// `--nocapture`: the line is written to stderr itself, past the test harness's
/// capture, which only takes `print!` and `eprint!`. Returns whether to go on.
///
/// Decided when the test runs, not when it is built: a tool installed (or removed)
/// after a build counts at once, and a build-time `#[ignore]` could never fail under
/// `CI` as it must.
pub fn needs(found: bool, tool: &str, install: &str) -> bool {
    if found {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {tool} is missing, and CI is set ({install})"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {tool} is missing ({install}); with CI set it fails instead"
    );
    false
}

/// Whether `program` is a command in `PATH`.
pub fn in_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
    pub runtime: Scratch,
    pub token: Option<String>,
}

pub struct Options<'a> {
    pub args: Vec<&'a str>,
    pub env: Vec<(&'a str, &'a str)>,
    /// Pass `TOKEN` through a 0600 token file.
    pub token_file: bool,
}

impl<'a> Options<'a> {
    /// `--auth store` with the token store in `config`.
    pub fn store(config: &'a Path, args: &[&'a str]) -> Self {
        let mut all = vec!["--auth", "store"];
        all.extend_from_slice(args);
        Options {
            args: all,
            env: vec![("WSGATE_CONFIG_DIR", config.to_str().expect("a UTF-8 path"))],
            token_file: false,
        }
    }
}

impl<'a> Options<'a> {
    pub fn new(args: &[&'a str]) -> Self {
        Options {
            args: args.to_vec(),
            env: Vec::new(),
            token_file: true,
        }
    }
}

impl Daemon {
    /// `wsgate --listen 127.0.0.1:0 --auth-token-file <TOKEN> ARGS`.
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::with(Options::new(args))
    }

    pub fn with(opts: Options<'_>) -> Daemon {
        let runtime = Scratch::new("rt");
        let mut cmd = Command::new(BIN);
        cmd.arg("--listen").arg("127.0.0.1:0");
        let mut token = None;
        if opts.token_file {
            let path = runtime.path().join("token");
            std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
            set_mode(&path, 0o600);
            cmd.arg("--auth-token-file").arg(&path);
            token = Some(TOKEN.to_owned());
        }
        // The log is read as JSON events (`events`, `expect_event`), unless the test
        // chooses a format itself. Only the daemon's own arguments count: those after
        // `--` are the program's.
        let chooses_format = opts
            .args
            .iter()
            .take_while(|a| **a != "--")
            .any(|a| *a == "--log-format" || a.starts_with("--log-format="));
        if !chooses_format {
            cmd.args(["--log-format", "json"]);
        }
        cmd.args(&opts.args)
            .env("WSGATE_RUNTIME_DIR", runtime.path().join("run"))
            .env_remove("WSGATE_AUTH_TOKEN")
            .env_remove("WSGATE_CONFIG_FILE")
            .envs(opts.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start wsgate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let stderr = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("event=listening") || line.contains("\"event\":\"listening\"")
                    {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(line.clone());
                        }
                    }
                    let mut all = stderr.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wsgate did not start: {}", stderr.lock().unwrap());
            }
        };
        // `{"ts":…,"event":"listening","addr":"…",…}` or `ts=… event=listening addr=… …`.
        let addr = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(event) => event["addr"]
                .as_str()
                .expect("listening event names the address")
                .to_owned(),
            Err(_) => line
                .split(' ')
                .find_map(|kv| kv.strip_prefix("addr="))
                .expect("listening line names the address")
                .to_owned(),
        }
        .parse()
        .unwrap();
        let mut daemon = Daemon {
            child,
            addr,
            stderr,
            runtime,
            token,
        };
        if daemon.token.is_none() {
            let url = daemon.runtime_url();
            daemon.token = url.split_once("?token=").map(|(_, t)| t.to_owned());
        }
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.runtime.path().join("run")
    }

    pub fn runtime_file(&self) -> PathBuf {
        self.runtime_dir().join(format!("{}.instance", self.pid()))
    }

    pub fn runtime_url(&self) -> String {
        let text = std::fs::read_to_string(self.runtime_file()).expect("runtime file");
        text.lines()
            .find_map(|l| l.strip_prefix("url="))
            .expect("url line")
            .to_owned()
    }

    /// `ws://ADDR/PATH?token=TOKEN` (PATH may carry its own query).
    pub fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "ws://{}{path}{sep}token={}",
            self.addr,
            self.token.as_deref().unwrap()
        )
    }

    /// `ws://ADDR/`, for the header modes.
    pub fn url_without_token(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Every stderr line that parses as a JSON object, in order: the daemon's events
    /// (in JSON, the format daemons started here log in unless a test chooses).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stderr()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// The first event that `matches`, waiting up to `within` for one. Fails the test,
    /// showing the log, if none appears.
    #[track_caller]
    pub fn expect_event(
        &self,
        within: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        // A `match`, not a closure, so the panic names the test's line.
        match self.wait_for_event(within, matches) {
            Some(event) => event,
            None => panic!(
                "no matching event within {within:?}; the log:\n{}",
                self.stderr()
            ),
        }
    }

    /// The first `event` event with all of `fields` (a JSON object of field names
    /// and their values), waiting up to `within` for one. Fails the test, showing the
    /// log, if none appears.
    #[track_caller]
    pub fn expect_fields(
        &self,
        event: &str,
        fields: serde_json::Value,
        within: Duration,
    ) -> serde_json::Value {
        match self.wait_for_event(within, |e| is_event(e, event, &fields)) {
            Some(e) => e,
            None => panic!(
                "no {event:?} event with {fields} within {within:?}; the log:\n{}",
                self.stderr()
            ),
        }
    }

    /// The first event that `matches`, once there is one, or `None` after `within`.
    pub fn wait_for_event(
        &self,
        within: Duration,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let mut found = None;
        eventually(within, || {
            found = self.events().into_iter().find(|e| matches(e));
            found.is_some()
        });
        found
    }

    /// Fails the test, showing the log, unless `needle` appears in it within `within`.
    pub fn expect_log(&self, needle: &str, within: Duration) {
        assert!(self.wait_for_log(needle, within), "{}", self.stderr());
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || self.stderr().contains(needle))
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, sig).unwrap();
    }

    /// SIGTERM, then the exit status within `within`.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        self.signal(rustix::process::Signal::TERM);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stdout(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            let _ = pipe.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `e` is an `event` event with all of `fields` (a JSON object of field
/// names and the values they must have).
pub fn is_event(e: &serde_json::Value, event: &str, fields: &serde_json::Value) -> bool {
    let fields = fields.as_object().expect("fields as a JSON object");
    e["event"] == event && fields.iter().all(|(key, want)| e.get(key) == Some(want))
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A well-formed upgrade request head for `target`, plus extra header lines.
pub fn upgrade_head(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// An upgrade request for `target` with `extra` header lines, sent raw; the answer.
pub fn upgrade(addr: SocketAddr, target: &str, extra: &str) -> String {
    raw(addr, upgrade_head(target, extra).as_bytes())
}

/// Sends raw bytes and returns what the daemon answers: everything until it closes,
/// or only the head of a 101 (the WebSocket then stays open until this returns).
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    read_all(&mut s)
}

/// Reads until the peer closes, or to the end of a 101's head.
pub fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if out.starts_with(b"HTTP/1.1 101 ") && out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response.
pub fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

pub type Ws = WebSocketStream<AsyncTcp>;

/// Connects with async-tungstenite.
pub async fn connect(url: &str) -> Result<Ws, async_tungstenite::tungstenite::Error> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let tcp = AsyncTcp::connect(addr).await?;
    let (ws, _) = async_tungstenite::client_async(url, tcp).await?;
    Ok(ws)
}

/// Connects to `url` with extra request headers; the WebSocket and the 101.
pub async fn open(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<
    (
        Ws,
        async_tungstenite::tungstenite::handshake::client::Response,
    ),
    async_tungstenite::tungstenite::Error,
> {
    use async_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().expect("a header value"));
    }
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    let tcp = async_std::net::TcpStream::connect(authority).await?;
    async_tungstenite::client_async(request, tcp).await
}

/// Connects with async-tungstenite, sending extra request headers.
pub async fn connect_with(url: &str, headers: &[(&'static str, &str)]) -> Ws {
    open(url, headers).await.unwrap().0
}

/// Pings and returns what arrives first: the pong, unless a message was queued.
pub async fn first_after_ping(
    ws: &mut Ws,
) -> Option<Result<Message, async_tungstenite::tungstenite::Error>> {
    ws.send(Message::Ping(b"there?".to_vec().into()))
        .await
        .unwrap();
    async_std::future::timeout(Duration::from_secs(3), futures_lite::StreamExt::next(ws))
        .await
        .expect("an answer to the ping")
}

/// Every text message until the session ends (a program's output, say).
pub async fn text_messages(ws: &mut Ws) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(Message::Text(t)) = next(ws).await {
        lines.push(t.to_string());
    }
    lines
}

/// The next data or close message, within 10 s.
pub async fn next(ws: &mut Ws) -> Option<Message> {
    loop {
        let msg = async_std::future::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s");
        match msg {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return Some(m),
            Some(Err(_)) | None => return None,
        }
    }
}

/// The close code the server sends next, skipping data messages.
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match next(ws).await? {
            Message::Close(frame) => return frame.map(|f| f.code.into()),
            _ => continue,
        }
    }
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    async_std::task::block_on(f)
}

/// The program reaper's argument: the daemon's child for its whole life, which
/// [`children_of`] leaves out (it counts programs).
pub const REAPER: &str = "__wsgate-reaper";

/// Processes whose parent is `pid`, but the program reaper. Linux: from /proc (slim CI
/// images have no `ps`).
#[cfg(target_os = "linux")]
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let reaper = std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == REAPER.as_bytes()));
        if ppid == Some(pid) && !reaper {
            out.push(child);
        }
    }
    out
}

/// Processes whose parent is `pid`, but the program reaper. Elsewhere (macOS): from
/// `ps`.
#[cfg(not(target_os = "linux"))]
pub fn children_of(pid: u32) -> Vec<u32> {
    let out = Command::new("ps")
        .args(["-A", "-o", "pid=,ppid=,args="])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.contains(REAPER))
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u32>().ok());
            let (child, parent) = (fields.next()??, fields.next()??);
            (parent == pid).then_some(child)
        })
        .collect()
}

/// Whether a process with this id exists (a zombie counts until it is reaped).
pub fn is_running(pid: u32) -> bool {
    rustix::process::Pid::from_raw(pid as i32)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// Resident memory of `pid` in KiB. Linux: from /proc.
#[cfg(target_os = "linux")]
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

/// Resident memory of `pid` in KiB. Elsewhere (macOS): from `ps`.
#[cfg(not(target_os = "linux"))]
pub fn rss_kib(pid: u32) -> u64 {
    let out = Command::new("ps")
        .args(["-o", "rss=", "-p", &pid.to_string()])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ps prints the resident size in KiB")
}

/// Open file descriptors of `pid` (Linux: from /proc).
#[cfg(target_os = "linux")]
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Runs a `wsgate` command (not the daemon) with this configuration directory.
pub fn wsgate(config: &Path, args: &[&str]) -> std::process::Output {
    run_wsgate(args, &[("WSGATE_CONFIG_DIR", config.as_os_str())])
}

/// Runs `wsgate ARGS` to its end, with stdin closed and the test's environment
/// without `WSGATE_AUTH_TOKEN`, plus `env`. Killed after 30 s, so a command that
/// hangs (a daemon that should not have started) fails its test instead of the run.
pub fn run_wsgate(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    let child = Command::new(BIN)
        .args(args)
        .env_remove("WSGATE_AUTH_TOKEN")
        .env_remove("WSGATE_CONFIG_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wsgate");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.expect("wait for wsgate"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("wsgate {args:?} did not finish within 30 s");
        }
    }
}

/// `wsgate token create ARGS` in `config`; the new token.
pub fn create_token(config: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = wsgate(config, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `wsgate ARGS` with its stderr on a pseudo-terminal, as when run by hand, so that it
/// prints the banner; killed and reaped on drop.
pub struct OnTerminal {
    pub child: Child,
    /// Everything it wrote to the terminal so far.
    pub seen: Arc<Mutex<String>>,
    pub runtime: Scratch,
}

impl OnTerminal {
    /// `wsgate --listen 127.0.0.1:0 ARGS` with `env`, stderr on a new pseudo-terminal.
    pub fn start(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> OnTerminal {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let terminal = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        let runtime = Scratch::new("tty");
        let child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("WSGATE_AUTH_TOKEN")
            .env_remove("WSGATE_CONFIG_FILE")
            .env("WSGATE_RUNTIME_DIR", runtime.path().join("run"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(terminal))
            .spawn()
            .unwrap();
        let seen = Arc::new(Mutex::new(String::new()));
        {
            let seen = seen.clone();
            let mut master = std::fs::File::from(master);
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        OnTerminal {
            child,
            seen,
            runtime,
        }
    }

    /// What it wrote to the terminal, once `done` says it is enough (or after 10 s).
    pub fn output_once(&self, done: impl Fn(&str) -> bool) -> String {
        eventually(Duration::from_secs(10), || done(&self.seen.lock().unwrap()));
        self.seen.lock().unwrap().clone()
    }

    pub fn runtime_file(&self) -> PathBuf {
        self.runtime
            .path()
            .join("run")
            .join(format!("{}.instance", self.child.id()))
    }

    /// The value of `name=` in the runtime file, once the file is there.
    pub fn runtime_field(&self, name: &str) -> Option<String> {
        eventually(Duration::from_secs(10), || self.runtime_file().exists());
        let text = std::fs::read_to_string(self.runtime_file()).ok()?;
        let prefix = format!("{name}=");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
