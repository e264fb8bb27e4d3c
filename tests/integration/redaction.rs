//! Redaction from outside: no presented or configured credential reaches a log line or
//! a program's environment, in any authority mode, however the request copies it (raw
//! next to itself, in a parameter or the path; percent-encoded twice in `next=` or in
//! `Referer`) and whatever the program echoes on its stderr.
//!
//! One daemon per mode runs a program that writes its environment to a file, reads one
//! message and echoes it on stderr; each case is one line of a table and one connection.
//! Whether text holds a credential is decided here, by an oracle that shares nothing with
//! the daemon's code: the credential, its base64url or its base64, in the text as it is
//! or after one, two or three rounds of percent-decoding, each round reading `+` as a
//! space or not.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::*;

/// The query-token daemon's token: `+`, `%` and `/`, all legal in a token.
const QUERY_TOKEN: &str = "qt+0k3n%2F+plus/slash-0123456789";
/// The bearer daemons' token, RFC 6750 b64token characters and a `%`.
const BEARER_TOKEN: &str = "bt+0k3n%2F+plus/slash%41-9876543210";
/// A wrong credential with `+` and `%`.
const WRONG_TOKEN: &str = "wr0ng+t0k3n%2F+plus-0123456789";
/// The jwt daemon's HMAC key.
const JWT_KEY: &str = "redaction-test-jwt-key-0123456789abcdef";

/// Where a request carries its credential.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Place {
    /// `token=`, percent-encoded as a client encodes a parameter.
    Query,
    /// `token=`, as typed (a `+` in it then reads as a space).
    QueryRaw,
    /// `Authorization: Bearer`.
    Bearer,
    /// The subprotocol entry `wsgate.bearer.<base64url>`.
    Subprotocol,
    /// `Authorization: Basic`: another scheme, meant for someone else, which wsgate
    /// does not read as a credential but hides all the same.
    Basic,
}

/// Where a request copies its credential besides.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Also {
    /// Raw, as another query parameter: `copy=`.
    Param,
    /// Raw, as a path segment.
    Path,
    /// A connect URL holding it, percent-encoded again as `next=`: encoded twice.
    Next,
    /// The same in `Referer` (`return_to=`).
    Referer,
}

/// Which credential a case presents.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Cred {
    /// The one the daemon accepts.
    Right,
    /// [`WRONG_TOKEN`].
    Wrong,
}

/// What the client sends the program, which echoes it on stderr.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Says {
    Hello,
    /// The credential the session presented.
    Credential,
    /// The credential after 4090 bytes, so that it straddles the 4096-byte pieces a
    /// longer line is logged in.
    LongCredential,
}

struct Case {
    name: &'static str,
    cred: Cred,
    place: Place,
    also: &'static [Also],
    says: Says,
    status: u16,
}

/// `name: CRED PLACE [ALSO…] SAYS => STATUS;`, one case a line.
macro_rules! cases {
    ($($name:literal: $cred:ident $place:ident [$($also:ident),*] $says:ident => $status:literal;)*) => {
        &[$(Case {
            name: $name,
            cred: Cred::$cred,
            place: Place::$place,
            also: &[$(Also::$also),*],
            says: Says::$says,
            status: $status,
        }),*]
    };
}

const QUERY_CASES: &[Case] = cases! {
    "wrong +/% token raw in token= and in copy=":       Wrong QueryRaw [Param]       Hello => 401;
    "wrong +/% token raw in token= and in the path":    Wrong QueryRaw [Path]        Hello => 401;
    "wrong +/% token raw in token=, copy= and path":    Wrong QueryRaw [Param, Path] Hello => 401;
    "wrong +/% token in token=, raw in copy=":          Wrong Query    [Param]       Hello => 401;
    "wrong +/% token in token=, raw in the path":       Wrong Query    [Path]        Hello => 401;
    "+/% token in token=, raw in copy=":                Right Query    [Param]       Hello => 101;
    "+/% token in token=, raw in the path":             Right Query    [Path]        Hello => 101;
    "token in token=, encoded twice in next=":          Right Query    [Next]        Hello => 101;
    "token in token=, encoded twice in Referer":        Right Query    [Referer]     Hello => 101;
    "token in token=, echoed on the program's stderr":  Right Query    []            Credential => 101;
};

/// For `bearer`, `bearer` with `--auth-token-sha256`, and `jwt`.
const HEADER_CASES: &[Case] = cases! {
    "in Authorization, raw in copy=":                   Right Bearer      [Param]       Hello => 101;
    "in Authorization, raw in the path":                Right Bearer      [Path]        Hello => 101;
    "as subprotocol, raw in copy= and the path":        Right Subprotocol [Param, Path] Hello => 101;
    "in Authorization, encoded twice in next=":         Right Bearer      [Next]        Hello => 101;
    "in Authorization, encoded twice in Referer":       Right Bearer      [Referer]     Hello => 101;
    "in Authorization, echoed on the program's stderr": Right Bearer      []            Credential => 101;
    "as subprotocol, echoed on the program's stderr":   Right Subprotocol []            Credential => 101;
    "wrong +/% token in Authorization and copy=, path": Wrong Bearer      [Param, Path] Hello => 401;
    "Basic credential, raw in copy= and the path":      Wrong Basic       [Param, Path] Hello => 401;
};

const STORE_CASES: &[Case] = cases! {
    "in token=, raw in copy=":                          Right Query       [Param]       Hello => 101;
    "in token=, raw in the path":                       Right Query       [Path]        Hello => 101;
    "in Authorization, raw in copy= and the path":      Right Bearer      [Param, Path] Hello => 101;
    "as subprotocol, raw in copy= and the path":        Right Subprotocol [Param, Path] Hello => 101;
    "in token=, encoded twice in next=":                Right Query       [Next]        Hello => 101;
    "in Authorization, encoded twice in next=":         Right Bearer      [Next]        Hello => 101;
    "in token=, encoded twice in Referer":              Right Query       [Referer]     Hello => 101;
    "in Authorization, encoded twice in Referer":       Right Bearer      [Referer]     Hello => 101;
    "in token=, echoed on the program's stderr":        Right Query       []            Credential => 101;
    "in Authorization, echoed on the program's stderr": Right Bearer      []            Credential => 101;
    "wrong +/% token in Authorization and copy=, path": Wrong Bearer      [Param, Path] Hello => 401;
    "wrong +/% token raw in token= and copy=, path":    Wrong QueryRaw    [Param, Path] Hello => 401;
    "wrong +/% token in token=, raw in copy= and path": Wrong Query       [Param, Path] Hello => 401;
    "Basic credential, raw in copy= and the path":      Wrong Basic       [Param, Path] Hello => 401;
};

/// The program's stderr line holds the credential across the 4096-byte boundary at
/// which the daemon cuts long lines into pieces.
const SPLIT_QUERY_CASES: &[Case] = cases! {
    "in token=, echoed on stderr across a piece boundary":        Right Query  [] LongCredential => 101;
};

const SPLIT_HEADER_CASES: &[Case] = cases! {
    "in Authorization, echoed on stderr across a piece boundary": Right Bearer [] LongCredential => 101;
};

#[test]
fn query_token_mode_never_leaks() {
    query_token().check(QUERY_CASES);
}

#[test]
fn bearer_mode_never_leaks() {
    bearer().check(HEADER_CASES);
}

#[test]
fn bearer_digest_mode_never_leaks() {
    bearer_digest().check(HEADER_CASES);
}

#[test]
fn jwt_mode_never_leaks() {
    jwt().check(HEADER_CASES);
}

#[test]
fn store_mode_never_leaks() {
    store().check(STORE_CASES);
}

/// Found while writing these tests (it leaked at f44d883, when each 4096-byte piece of
/// a long stderr line was checked on its own): a credential cut in two by the pieces
/// is still never logged, in halves or whole.
#[test]
fn stderr_credential_across_a_piece_boundary() {
    let mut failures = query_token().failures(SPLIT_QUERY_CASES);
    failures.extend(bearer().failures(SPLIT_HEADER_CASES));
    failures.extend(bearer_digest().failures(SPLIT_HEADER_CASES));
    failures.extend(jwt().failures(SPLIT_HEADER_CASES));
    failures.extend(store().failures(SPLIT_QUERY_CASES));
    failures.extend(store().failures(SPLIT_HEADER_CASES));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The oracle finds what these tests hide, and only that.
#[test]
fn the_oracle_finds_every_form() {
    let secrets = [("the token", BEARER_TOKEN.to_owned())];
    let found = |text: &str| holds(text, &secrets).is_some();
    let once = encode_all(BEARER_TOKEN);
    let lower = once.replace("%2B", "%2b").replace("%2F", "%2f");
    for text in [
        format!("/app/{BEARER_TOKEN}/x"),
        format!("/app?copy={once}"),
        format!("/app?copy={lower}"),
        format!("/app?next={}", encode_all(&once)),
        format!("/app?next={}", encode_all(&encode_all(&lower))),
        format!(
            "wsgate.bearer.{}",
            data_encoding::BASE64URL_NOPAD.encode(BEARER_TOKEN.as_bytes())
        ),
        format!(
            "x {}",
            data_encoding::BASE64.encode(BEARER_TOKEN.as_bytes())
        ),
    ] {
        assert!(found(&text), "{text}");
    }
    for text in [
        "REDACTED".to_owned(),
        BEARER_TOKEN[1..].to_owned(),
        // Four rounds of encoding are deeper than the oracle looks.
        encode_all(&encode_all(&encode_all(&once))),
    ] {
        assert!(!found(&text), "{text}");
    }
    // A value form-decoded by the daemon is found where a client form-encoded it.
    let spaced = [("decoded", "wr0ng t0k3n/ plus-0123456789".to_owned())];
    assert!(holds(&format!("?copy={WRONG_TOKEN}"), &spaced).is_some());
    // Every reading: as it is, and 2 + 4 + 8 decodings.
    assert_eq!(readings(b"x").len(), 15);
}

fn query_token() -> Mode {
    let files = Scratch::new("redaction-q");
    let token = secret_file(files.path(), "token", QUERY_TOKEN);
    let args = ["--auth-token-file", &token];
    let configured = [("the configured token", QUERY_TOKEN)];
    Mode::start("query-token", &args, None, QUERY_TOKEN, &configured).keeping(files)
}

fn bearer() -> Mode {
    let files = Scratch::new("redaction-b");
    let token = secret_file(files.path(), "token", BEARER_TOKEN);
    let args = ["--auth", "bearer", "--auth-token-file", &token];
    let configured = [("the configured token", BEARER_TOKEN)];
    Mode::start("bearer", &args, None, BEARER_TOKEN, &configured).keeping(files)
}

/// The daemon holds no token: only what clients present is there to leak.
fn bearer_digest() -> Mode {
    use sha2::Digest as _;
    let digest = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(BEARER_TOKEN.as_bytes()));
    let args = ["--auth", "bearer", "--auth-token-sha256", &digest];
    Mode::start("bearer-sha256", &args, None, BEARER_TOKEN, &[])
}

fn jwt() -> Mode {
    let files = Scratch::new("redaction-j");
    let key = secret_file(files.path(), "key", JWT_KEY);
    let args = ["--auth", "jwt", "--jwt-secret-file", &key];
    let jwt = mint_jwt(JWT_KEY.as_bytes());
    Mode::start("jwt", &args, None, &jwt, &[("the JWT key", JWT_KEY)]).keeping(files)
}

fn store() -> Mode {
    let files = Scratch::new("redaction-s");
    let config = files.path().join("config");
    // A token with a `-` or `_`, which percent-encoding changes, when one comes soon.
    let mut token = String::new();
    for n in 0..8 {
        token = create_token(&config, &["--name", &format!("redaction-{n}")]);
        if token.contains(['-', '_']) {
            break;
        }
    }
    Mode::start("store", &[], Some(&config), &token, &[]).keeping(files)
}

/// One daemon in one mode, running the program that shows what it was given.
struct Mode {
    daemon: Daemon,
    /// Where the program writes `env.<conn id>`.
    envs: Scratch,
    name: &'static str,
    /// The credential the daemon accepts.
    credential: String,
    /// Secrets the daemon is configured with (a token, a JWT key), with what they are.
    configured: Vec<(&'static str, String)>,
    /// Token or key files, a token store: removed after the daemon is stopped.
    _files: Option<Scratch>,
}

impl Mode {
    fn start(
        name: &'static str,
        args: &[&str],
        store: Option<&Path>,
        credential: &str,
        configured: &[(&'static str, &str)],
    ) -> Mode {
        let envs = Scratch::new("redaction-env");
        let script = format!(
            "env > '{}/env.'\"$WSGATE_CONN_ID\"; read line; printf '%s\\n' \"$line\" >&2; echo done",
            envs.path().display()
        );
        let program = ["--log-format", "json", "--", "sh", "-c", &script];
        let options = match store {
            Some(config) => {
                let mut all = args.to_vec();
                all.extend_from_slice(&program);
                Options::store(config, &all)
            }
            None => Options {
                args: args.iter().chain(&program).copied().collect(),
                env: vec![],
                token_file: false,
            },
        };
        Mode {
            daemon: Daemon::with(options),
            envs,
            name,
            credential: credential.to_owned(),
            configured: configured
                .iter()
                .map(|&(what, s)| (what, s.to_owned()))
                .collect(),
            _files: None,
        }
    }

    fn keeping(mut self, files: Scratch) -> Mode {
        self._files = Some(files);
        self
    }

    /// Runs every case, then fails with the list of those that failed and why.
    fn check(&self, cases: &[Case]) {
        let started = Instant::now();
        let failures = self.failures(cases);
        assert!(
            failures.is_empty(),
            "{} of {} cases failed:\n{}\n\nthe whole log:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n"),
            self.daemon.stderr()
        );
        eprintln!(
            "[{}] {} cases in {:?}",
            self.name,
            cases.len(),
            started.elapsed()
        );
    }

    /// Runs every case: those that failed, and why.
    fn failures(&self, cases: &[Case]) -> Vec<String> {
        let mut failures = Vec::new();
        // The lines before the first connection (startup) hold no secret either.
        let mut mark = self.daemon.stderr().len();
        let mut problems = Vec::new();
        leaks_in_log(
            &mut problems,
            "startup lines",
            &self.daemon.stderr()[..mark],
            &self.configured,
        );
        if !problems.is_empty() {
            failures.push(format!(
                "[{}] startup:\n    {}",
                self.name,
                problems.join("\n    ")
            ));
        }
        for case in cases {
            let problems = self.run(case, mark);
            if !problems.is_empty() {
                failures.push(format!(
                    "[{}] {}:\n    {}",
                    self.name,
                    case.name,
                    problems.join("\n    ")
                ));
            }
            mark = self.daemon.stderr().len();
        }
        failures
    }

    /// One connection, from the log lines since `mark`: what is wrong with the answer,
    /// the log and the program's environment (nothing when all is well).
    fn run(&self, case: &Case, mark: usize) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, why: String| {
            if !ok {
                problems.push(why);
            }
            ok
        };
        let credential = match case.cred {
            Cred::Right => self.credential.as_str(),
            Cred::Wrong => WRONG_TOKEN,
        };
        // What must not show: the configured secrets, the credential as the client
        // typed it and, when it sits raw in the query, as the daemon decodes it.
        let mut secrets = self.configured.clone();
        secrets.push(("the presented credential", credential.to_owned()));
        if case.place == Place::QueryRaw {
            let decoded =
                String::from_utf8_lossy(&decode(credential.as_bytes(), true)).into_owned();
            secrets.push(("the presented credential as the daemon decodes it", decoded));
        }

        let (target, headers) = request(self.daemon.addr, case, credential);
        let said = match case.says {
            Says::Hello => "hello".to_owned(),
            Says::Credential => credential.to_owned(),
            Says::LongCredential => format!("{}{credential}", "x".repeat(4090)),
        };
        let session = exchange(self.daemon.addr, &target, &headers, &said);
        let accepted = case.status == 101;
        let first = session.response.lines().next().unwrap_or("");
        if !check(
            session.status == case.status,
            format!(
                "answered {} instead of {}: {first}",
                session.status, case.status
            ),
        ) {
            return problems;
        }
        if accepted {
            check(
                session.messages.iter().any(|m| m == "done"),
                format!("the program did not answer: {:?}", session.messages),
            );
        }

        // This connection's lines, once all of them are there.
        let peer = session.local.to_string();
        let wanted: &[&str] = match accepted {
            true => &["accept", "child-stderr", "child-exit", "close"],
            false => &["reject"],
        };
        let mut log = String::new();
        let complete = eventually(Duration::from_secs(10), || {
            log = self.daemon.stderr()[mark..].to_owned();
            let events = events_of(&log, &peer);
            wanted
                .iter()
                .all(|w| events.iter().any(|e| e["event"] == *w))
        });
        if !check(
            complete,
            format!("no {wanted:?} lines for peer {peer} in:\n{log}"),
        ) {
            return problems;
        }
        leaks(&mut problems, "the answer", &session.response, &secrets);
        leaks_in_log(&mut problems, "the log", &log, &secrets);

        let events = events_of(&log, &peer);
        let event = |name: &str| events.iter().find(|e| e["event"] == name).unwrap();
        let decision = event(if accepted { "accept" } else { "reject" });
        problems
            .extend((!decision["target"].is_string()).then(|| format!("no target in {decision}")));
        if !accepted {
            problems.extend(
                (decision["status"] != case.status)
                    .then(|| format!("status not {} in {decision}", case.status)),
            );
            return problems;
        }

        let stderr_line = &event("child-stderr")["line"];
        let want = match case.says {
            Says::Hello => Some("hello"),
            Says::Credential => Some("REDACTED"),
            // Whether a piece without the credential is shown is the daemon's choice.
            Says::LongCredential => None,
        };
        if let Some(want) = want.filter(|want| stderr_line != want) {
            let shown = masked(&stderr_line.to_string(), &secrets);
            problems.push(format!("child-stderr line {shown} instead of {want:?}"));
        }
        // The program's stderr as logged, its lines (or pieces) put back together.
        let pieces: Vec<&str> = events
            .iter()
            .filter(|e| e["event"] == "child-stderr")
            .filter_map(|e| e["line"].as_str())
            .collect();
        let stderr = pieces.concat();
        if let Some(how) = holds(&stderr, &secrets) {
            let lengths: Vec<usize> = pieces.iter().map(|p| p.len()).collect();
            let shown = masked(&stderr, &secrets);
            let shown = shown.trim_start_matches('x');
            problems.push(format!(
                "the child-stderr lines (of {lengths:?} bytes), put together, leak {how}: …{shown}"
            ));
        }

        let Some(conn) = decision["conn"].as_u64() else {
            problems.push(format!("no conn in {decision}"));
            return problems;
        };
        let file = self.envs.path().join(format!("env.{conn}"));
        let env = match std::fs::read_to_string(&file) {
            Ok(env) => env,
            Err(e) => {
                problems.push(format!("no environment file {}: {e}", file.display()));
                return problems;
            }
        };
        let vars: Vec<&str> = env.lines().collect();
        for want in [
            "REMOTE_ADDR=127.0.0.1".to_owned(),
            format!("REMOTE_PORT={}", session.local.port()),
            format!("WSGATE_CONN_ID={conn}"),
        ] {
            if !vars.contains(&want.as_str()) {
                problems.push(format!("no {want} in the environment"));
            }
        }
        // The harmless parameter reaches the program: the query was passed on.
        if !vars
            .iter()
            .any(|v| v.starts_with("QUERY_STRING=") && v.contains("a=1"))
        {
            problems.push("no QUERY_STRING with a=1 in the environment".to_owned());
        }
        leaks(&mut problems, "the environment", &env, &secrets);
        problems
    }
}

/// The request target and extra header lines of a case.
fn request(addr: SocketAddr, case: &Case, credential: &str) -> (String, String) {
    let mut path = "/app".to_owned();
    let mut query = vec!["a=1".to_owned()];
    let mut headers = String::new();
    let twice = || {
        let url = format!("ws://{addr}/?token={}", encode_all(credential));
        encode_all(&url)
    };
    for also in case.also {
        match also {
            Also::Param => query.push(format!("copy={credential}")),
            Also::Path => path = format!("/app/{credential}/x"),
            Also::Next => query.push(format!("next={}", twice())),
            Also::Referer => headers.push_str(&format!(
                "Referer: http://localhost:5173/login?return_to={}\r\n",
                twice()
            )),
        }
    }
    match case.place {
        Place::Query => query.push(format!("token={}", encode_component(credential))),
        Place::QueryRaw => query.push(format!("token={credential}")),
        Place::Bearer => headers.push_str(&format!("Authorization: Bearer {credential}\r\n")),
        Place::Subprotocol => headers.push_str(&format!(
            "Sec-WebSocket-Protocol: wsgate, wsgate.bearer.{}\r\n",
            data_encoding::BASE64URL_NOPAD.encode(credential.as_bytes())
        )),
        Place::Basic => headers.push_str(&format!("Authorization: Basic {credential}\r\n")),
    }
    (format!("{path}?{}", query.join("&")), headers)
}

/// What came of one connection.
struct Session {
    response: String,
    status: u16,
    /// The client's address: the `peer` of the daemon's lines.
    local: SocketAddr,
    /// Text messages until the close.
    messages: Vec<String>,
}

/// Sends an upgrade; when it is accepted, sends `message` and reads text messages
/// until the close, which it answers.
fn exchange(addr: SocketAddr, target: &str, headers: &str, message: &str) -> Session {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let local = s.local_addr().unwrap();
    s.write_all(upgrade_head(target, headers).as_bytes())
        .unwrap();
    let response = read_all(&mut s);
    let status = status(&response);
    let mut messages = Vec::new();
    if status == 101 {
        s.write_all(&client_frame(0x1, message.as_bytes())).unwrap();
        while let Some((opcode, payload)) = read_frame(&mut s) {
            match opcode {
                0x1 => messages.push(String::from_utf8_lossy(&payload).into_owned()),
                0x8 => {
                    let _ = s.write_all(&client_frame(0x8, &payload[..payload.len().min(2)]));
                    break;
                }
                _ => {}
            }
        }
    }
    Session {
        response,
        status,
        local,
        messages,
    }
}

/// A masked client frame (RFC 6455 §5.2), FIN set.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x8e];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The next server frame: opcode and payload, or `None` at the end of the stream.
fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).ok()?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            s.read_exact(&mut n).ok()?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            s.read_exact(&mut n).ok()?;
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        s.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    s.read_exact(&mut payload).ok()?;
    if head[1] & 0x80 != 0 {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= mask[i % 4]);
    }
    Some((head[0] & 0x0f, payload))
}

/// The JSON lines of `log` about `peer`.
fn events_of(log: &str, peer: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["peer"] == peer)
        .collect()
}

// The oracle. Secrets come with what they are, for the failure message.
type Secrets = [(&'static str, String)];

/// Adds a problem for each line of the log that holds one of `secrets`, as it is
/// or in one of its strings once JSON-unescaped.
fn leaks_in_log(problems: &mut Vec<String>, what: &str, log: &str, secrets: &Secrets) {
    for line in log.lines() {
        let mut texts = vec![line.to_owned()];
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) {
            texts.extend(
                fields
                    .values()
                    .filter_map(|v| v.as_str().map(str::to_owned)),
            );
        }
        if let Some(how) = texts.iter().find_map(|text| holds(text, secrets)) {
            problems.push(format!("{what} leaks {how}: {}", masked(line, secrets)));
        }
    }
}

/// Adds a problem for each line of `text` that holds one of `secrets`.
fn leaks(problems: &mut Vec<String>, what: &str, text: &str, secrets: &Secrets) {
    for line in text.lines() {
        if let Some(how) = holds(line, secrets) {
            problems.push(format!("{what} leaks {how}: {}", masked(line, secrets)));
        }
    }
}

/// How `text` holds one of `secrets`, if it does: which secret, in which form, after
/// which decodings.
fn holds(text: &str, secrets: &Secrets) -> Option<String> {
    let readings = readings(text.as_bytes());
    for (what, secret) in secrets {
        let forms = [
            ("as it is", secret.as_bytes().to_vec()),
            (
                "base64url",
                data_encoding::BASE64URL_NOPAD
                    .encode(secret.as_bytes())
                    .into_bytes(),
            ),
            (
                "base64",
                data_encoding::BASE64_NOPAD
                    .encode(secret.as_bytes())
                    .into_bytes(),
            ),
        ];
        for (form, needle) in &forms {
            for (how, reading) in &readings {
                if reading
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
                {
                    return Some(format!("{what} ({form}; the text {how})"));
                }
            }
        }
    }
    None
}

/// `text`, and `text` after 1, 2 and 3 rounds of percent-decoding, each round reading
/// `+` as a space (form-decoding) or not, in every combination.
fn readings(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut all = vec![("as it is".to_owned(), text.to_vec())];
    let mut level = all.clone();
    for _ in 0..3 {
        let mut next = Vec::new();
        for (how, bytes) in &level {
            for plus in [false, true] {
                let round = if plus { "form" } else { "percent" };
                let how = match how.as_str() {
                    "as it is" => format!("{round}-decoded"),
                    _ => format!("{how}, {round}-decoded"),
                };
                next.push((how, decode(bytes, plus)));
            }
        }
        all.extend(next.iter().cloned());
        level = next;
    }
    all
}

/// One round of percent-decoding (`%XX`, either case; any other `%` stays), with `+`
/// as a space when `plus`.
fn decode(bytes: &[u8], plus: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len()
                && hex(bytes[i + 1]).is_some()
                && hex(bytes[i + 2]).is_some() =>
            {
                out.push(hex(bytes[i + 1]).unwrap() * 16 + hex(bytes[i + 2]).unwrap());
                i += 3;
                continue;
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// `text` with every secret as it is replaced by `<secret>`, for failure messages.
fn masked(text: &str, secrets: &Secrets) -> String {
    secrets.iter().fold(text.to_owned(), |t, (_, s)| {
        t.replace(s.as_str(), "<secret>")
    })
}

/// Percent-encodes every byte but ASCII letters and digits (a valid encoding; it
/// changes a base64url token's `-`, `_` and a JWT's `.` too).
fn encode_all(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

/// Percent-encodes a parameter value as clients do: all but RFC 3986 unreserved bytes.
fn encode_component(text: &str) -> String {
    text.bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect()
}

/// Writes `secret` to a 0600 file in `dir`; its path.
fn secret_file(dir: &Path, name: &str, secret: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    set_mode(&path, 0o600);
    path.to_str().unwrap().to_owned()
}

/// An HS256 JWT that expires in 10 minutes, signed here with the HMAC crate.
fn mint_jwt(key: &[u8]) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let b64 = data_encoding::BASE64URL_NOPAD;
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let header = br#"{"alg":"HS256","typ":"JWT"}"#;
    let payload = format!(r#"{{"sub":"redaction-test","exp":{exp}}}"#);
    let input = format!("{}.{}", b64.encode(header), b64.encode(payload.as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(&mac.finalize().into_bytes()))
}
