//! The daemon: bind, announce, accept, decide, relay, shut down.
//!
//! The accept loop only accepts and spawns. Each connection is one task: read the head
//! (bounded in size and time), let the pure [`Gate`] decide, answer, and relay. Nothing
//! a client does can end another client's task or the loop: every client-controlled
//! read has a deadline, and a panic in a task is caught and logged as that
//! connection's end.

mod managed;

use std::ffi::OsString;
use std::net::{Shutdown, SocketAddr};
use std::os::unix::fs::MetadataExt as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_signal::{Signal, Signals};
use async_std::future::timeout;
use async_std::net::{TcpListener, TcpStream};
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use event_listener::Event;
use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};
use futures_lite::{FutureExt as _, StreamExt as _};

use crate::auth::TokenRef;
use crate::auth::{Authority, Decision, Grants, Mode};
use crate::backend::exec::{Program, Programs};
use crate::backend::{Context, Outcome, Revocation, Stop, echo, exec};
use crate::cli::{self, Auth, Backend, Config, TokenSource};
use crate::date;
use crate::gate::{Gate, Verdict};
use crate::log;
use crate::log::{Log, Value};
use crate::outcome::Reason;
use crate::pairing::{self, Attempt};
use crate::request::{self, Head, MAX_HEAD, PairRequest};
use crate::response;
use crate::runtime::{self, RuntimeFile};
use crate::token::{self, Secret};
use managed::{Announcer, Managed};

/// How long a client has to send its whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing a response may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closed connection is drained so the client reads our last bytes
/// instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
/// How long shutdown waits for sessions to close and programs to exit.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(4500);
/// Buffer a head is first read into; it grows up to [`MAX_HEAD`].
const HEAD_BUFFER: usize = 1024;
/// tungstenite's read buffer per connection (its default is 128 KiB).
const READ_BUFFER: usize = 2048;
/// Room in a connection's write buffer beyond one largest message.
const WRITE_SLACK: usize = 64 * 1024;
/// Connections being turned away with 503 at once; beyond this they are dropped.
const MAX_REJECTING: usize = 64;

/// What every connection task shares.
struct Shared {
    gate: Gate,
    log: Log,
    backend: Backend,
    /// Secrets this daemon holds: never logged, never passed to a program.
    hidden: Vec<Secret>,
    base_env: Vec<(OsString, OsString)>,
    ws_config: WebSocketConfig,
    /// `--protocol`.
    protocols: Vec<String>,
    max_connections: usize,
    max_message_size: usize,
    local: SocketAddr,
    /// Connection tasks alive, for shutdown to wait on.
    active: AtomicUsize,
    /// Connections still reading or deciding their head.
    handshakes: AtomicUsize,
    /// Upgraded connections.
    sessions: AtomicUsize,
    rejecting: AtomicUsize,
    stop: Stop,
    idle: Event,
    programs: Arc<Programs>,
    /// The token store and pairing, in `store` mode.
    managed: Option<Arc<Managed>>,
    /// The runtime file and the terminal, for what only the operator may see.
    announcer: Arc<Announcer>,
}

/// Runs the daemon until SIGINT or SIGTERM. Errors are startup failures, described
/// in one line that names what failed.
pub fn run(config: Config) -> Result<(), String> {
    async_std::task::block_on(serve(config))
}

async fn serve(mut config: Config) -> Result<(), String> {
    let log = Log::new(config.log_format);
    if let Backend::Program { program, .. } = &mut config.backend {
        *program = exec::resolve(program, std::env::var_os("PATH"))?.into_os_string();
    }
    let descriptors = raise_descriptor_limit();
    // Before anything that must be undone, so a signal always finds its handler.
    let mut signals = Signals::new([Signal::Term, Signal::Int])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let store = match &config.auth {
        Auth::Store { .. } => Some(Managed::open()?),
        _ => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let managed = match (store, &config.auth) {
        (
            Some(store),
            Auth::Store {
                pairing: Some(pairing),
            },
        ) => Some(Arc::new(store.with_pairing(pairing.clone(), local)?)),
        (store, _) => store.map(Arc::new),
    };
    let credentials = resolve(config.auth, config.token_check, &log, managed.as_deref())?;
    let log = credentials
        .hidden
        .iter()
        .fold(log, |log, secret| log.scrubbing(secret));
    let Credentials {
        authority,
        shown,
        hidden,
    } = credentials;
    let mode = authority.mode();
    let url = connect_url(local, mode, shown.as_ref());
    let token_check = if config.token_check { "true" } else { "false" };
    let mut fields = vec![
        ("listen", local.to_string()),
        ("mode", mode.as_str().to_owned()),
        ("token_check", token_check.to_owned()),
        ("url", url.clone()),
    ];
    if mode == Mode::Bearer {
        if let Some(shown) = &shown {
            fields.push((
                "token",
                String::from_utf8_lossy(shown.expose()).into_owned(),
            ));
        }
    }
    // What the runtime file always says; the pairing code is added to it.
    let base_fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let shown_code = managed
        .as_ref()
        .and_then(|m| m.pairing.as_ref())
        .map(|desk| desk.current());
    if let Some(shown) = &shown_code {
        fields.push(("pair_code", shown.code.reveal().to_owned()));
        fields.push(("pair_url", shown.link.clone()));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime_file = RuntimeFile::create(&runtime::dir(), std::process::id(), &fields)?;
    let backend_name = match &config.backend {
        Backend::Echo => "echo".to_owned(),
        Backend::Program { program, .. } => format!("exec:{}", program.to_string_lossy()),
    };
    log.event(
        "listening",
        &[
            ("addr", Value::Str(&local.to_string())),
            ("mode", mode.as_str().into()),
            ("token_check", config.token_check.into()),
            ("backend", Value::Str(&backend_name)),
            ("pid", u64::from(std::process::id()).into()),
            ("max_fds", descriptors.into()),
        ],
    );
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let file = runtime_file.path();
    announce(&log, terminal, mode, &url, shown.as_ref(), file, local);
    drop(shown);
    let announcer = Announcer {
        runtime: runtime_file,
        fields: base_fields,
        terminal,
        writing: std::sync::Mutex::new(false),
    };
    // The file already holds the code: only show it.
    if let Some(shown) = &shown_code {
        announcer.show(shown, &log);
    }
    if let Some(managed) = &managed {
        if managed.view.current().entries().is_empty() {
            log.event(
                "warning",
                &[(
                    "message",
                    "the token store has no tokens yet: create one with `wsgate token create`"
                        .into(),
                )],
            );
        }
    }
    if !config.token_check {
        log.event(
            "warning",
            &[(
                "message",
                "token check disabled (--no-token-check): every connection is accepted, with or without the token".into(),
            )],
        );
    }
    if !local.ip().is_loopback() {
        log.event(
            "warning",
            &[(
                "message",
                "listening beyond loopback: anyone who can reach this address can try tokens"
                    .into(),
            )],
        );
    }

    let base_env = match config.backend {
        Backend::Echo => Vec::new(),
        Backend::Program { .. } => exec::base_environment(std::env::vars_os(), &hidden),
    };
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        // Bounds what a client that sends but never reads can make us queue (pongs,
        // close frames): one largest message and some.
        .max_write_buffer_size(config.max_message_size.saturating_add(WRITE_SLACK))
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size));
    let required = match config.backend {
        Backend::Program { .. } => Grants::EXEC,
        Backend::Echo => Grants::NONE,
    };
    let shared = Arc::new(Shared {
        gate: Gate {
            policy: config.policy,
            authority,
            required,
        },
        log: log.clone(),
        backend: config.backend,
        hidden,
        base_env,
        ws_config,
        protocols: config.protocols,
        max_connections: config.max_connections,
        max_message_size: config.max_message_size,
        local,
        active: AtomicUsize::new(0),
        handshakes: AtomicUsize::new(0),
        sessions: AtomicUsize::new(0),
        rejecting: AtomicUsize::new(0),
        stop: Stop::default(),
        idle: Event::new(),
        programs: Arc::default(),
        managed,
        announcer: Arc::new(announcer),
    });
    let chores = Chores::start(&shared);

    let next_conn = AtomicU64::new(1);
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                signals.next().await;
                None
            })
            .await;
        let Some(accepted) = accepted else { break };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors, most likely: let some connections end.
                log.event("accept-error", &[("error", Value::Str(&e.to_string()))]);
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        // Heads being read are limited apart from sessions, so clients that never
        // finish a request cannot keep authenticated ones out.
        if shared.handshakes.load(Ordering::SeqCst) >= shared.max_connections {
            turn_away(&shared, stream, peer, conn);
            continue;
        }
        shared.handshakes.fetch_add(1, Ordering::SeqCst);
        shared.active.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        async_std::task::spawn(async move {
            let _active = Active(&shared);
            let task = AssertUnwindSafe(connection(&shared, stream, peer, conn));
            if task.catch_unwind().await.is_err() {
                shared.log.event("panic", &[("conn", conn.into())]);
            }
        });
    }

    drop(listener);
    log.event(
        "shutdown",
        &[(
            "sessions",
            (shared.active.load(Ordering::SeqCst) as u64).into(),
        )],
    );
    shared.stop.trigger();
    let drained = async {
        loop {
            let listener = shared.idle.listen();
            if shared.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    };
    let _ = timeout(SHUTDOWN_GRACE, drained).await;
    // Sessions that did not end in time end with the process; their programs too.
    shared.programs.kill_all();
    let _ = timeout(Duration::from_millis(300), chores.finish()).await;
    shared.announcer.remove();
    log.event("exit", &[]);
    Ok(())
}

/// Raises the soft limit on open descriptors as far as allowed (macOS starts at 256,
/// too few for hundreds of sessions with three pipes each). Returns the limit now.
fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    // macOS refuses more than OPEN_MAX (10240) even when the hard limit is unlimited.
    for want in [limit.maximum, Some(10_240)] {
        let Some(want) = want.filter(|&w| w > current) else {
            continue;
        };
        let raised = Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return want;
        }
    }
    current
}

/// What runs beside the connections: in `store` mode, keeping the store current and
/// replacing pairing codes that expire.
struct Chores {
    tasks: Vec<async_std::task::JoinHandle<()>>,
}

impl Chores {
    fn start(shared: &Arc<Shared>) -> Chores {
        let mut tasks = Vec::new();
        if shared.managed.is_some() {
            let shared = shared.clone();
            tasks.push(async_std::task::spawn(async move {
                if let Some(managed) = &shared.managed {
                    managed.maintain(&shared.log, &shared.stop).await;
                }
            }));
        }
        if shared.managed.as_ref().is_some_and(|m| m.pairing.is_some()) {
            let shared = shared.clone();
            tasks.push(async_std::task::spawn(
                async move { renew_codes(&shared).await },
            ));
        }
        Chores { tasks }
    }

    async fn finish(self) {
        for task in self.tasks {
            task.await;
        }
    }
}

/// Replaces each pairing code when it expires, and shows the new one.
async fn renew_codes(shared: &Shared) {
    let Some(desk) = shared.managed.as_ref().and_then(|m| m.pairing.as_ref()) else {
        return;
    };
    loop {
        let wait = desk.remaining() + Duration::from_millis(5);
        let stopped = async {
            shared.stop.wait().await;
            true
        };
        let slept = async {
            async_std::task::sleep(wait).await;
            false
        };
        if slept.or(stopped).await {
            return;
        }
        match desk.refresh() {
            Ok(true) => announce_code(shared).await,
            Ok(false) => {}
            Err(message) => shared
                .log
                .event("pairing-error", &[("message", Value::Str(&message))]),
        }
    }
}

/// Holds one unit of a counter, released on drop.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a connection task as active for as long as it lives.
struct Active<'a>(&'a Shared);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify(usize::MAX);
        }
    }
}

/// The listener's authority and the secrets around it.
struct Credentials {
    authority: Authority,
    /// A secret the operator is shown once: the query token (it is in the URL) or a
    /// generated bearer token.
    shown: Option<Secret>,
    /// Every secret the daemon holds.
    hidden: Vec<Secret>,
}

fn resolve(
    auth: Auth,
    enforce: bool,
    log: &Log,
    managed: Option<&Managed>,
) -> Result<Credentials, String> {
    let (mode, source) = match auth {
        Auth::Store { .. } => {
            let view = managed
                .map(|m| m.view.clone())
                .ok_or("the token store is not open")?;
            return Ok(Credentials {
                authority: Authority::store(view, enforce),
                shown: None,
                hidden: Vec::new(),
            });
        }
        Auth::Jwt { key_file, rules } => {
            let key = cli::read_jwt_key(&key_file)?;
            warn_if_shared(&key_file, "JWT secret", log);
            return Ok(Credentials {
                authority: Authority::jwt(key.clone(), rules, enforce),
                shown: None,
                hidden: vec![key],
            });
        }
        Auth::Secret { mode, source } => (mode, source),
    };
    let (secret, generated) = match source {
        TokenSource::Digest(digest) => {
            return Ok(Credentials {
                authority: Authority::bearer_digest(digest, enforce),
                shown: None,
                hidden: Vec::new(),
            });
        }
        TokenSource::Generate => {
            let secret = token::generate().map_err(|e| format!("cannot generate a token: {e}"))?;
            (secret, true)
        }
        TokenSource::Env(secret) => (secret, false),
        TokenSource::Flag(secret) => {
            log.event(
                "warning",
                &[(
                    "message",
                    "--auth-token is visible to every user in the process list; prefer --auth-token-file or WSGATE_AUTH_TOKEN".into(),
                )],
            );
            (secret, false)
        }
        TokenSource::File(path) => {
            let secret = cli::read_token_file(&path)?;
            warn_if_shared(&path, "token", log);
            (secret, false)
        }
    };
    let authority = match mode {
        Mode::Bearer => Authority::bearer(&secret, enforce),
        _ => Authority::query_token(&secret, enforce),
    }
    .map_err(|e| format!("the token {e}"))?;
    let shown = (mode == Mode::QueryToken || generated).then(|| secret.clone());
    Ok(Credentials {
        authority,
        shown,
        hidden: vec![secret],
    })
}

fn warn_if_shared(path: &std::path::Path, what: &str, log: &Log) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.mode() & 0o077 != 0 {
            let message = format!(
                "{what} file {} is readable by other users (mode {:o}): chmod 600 it",
                path.display(),
                meta.mode() & 0o777
            );
            log.event("warning", &[("message", Value::Str(&message))]);
        }
    }
}

/// The host a client on this machine reaches the listener by: loopback for a
/// wildcard address, brackets around IPv6.
pub fn client_host(local: SocketAddr) -> String {
    match local {
        SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_owned(),
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_owned(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// The URL a client connects to: with the token in query-token mode, without it in
/// the header modes.
pub fn connect_url(local: SocketAddr, mode: Mode, secret: Option<&Secret>) -> String {
    let host = client_host(local);
    match (mode, secret) {
        (Mode::QueryToken, Some(secret)) => format!(
            "ws://{host}:{}/?token={}",
            local.port(),
            token::percent_encode(secret.expose())
        ),
        _ => format!("ws://{host}:{}/", local.port()),
    }
}

/// Shows the operator how to connect. On a terminal: the URL, and in the header modes
/// the header to send (with a generated token, its only showing besides the runtime
/// file). Otherwise a log line with every secret hidden and where the runtime file is.
fn announce(
    log: &Log,
    terminal: bool,
    mode: Mode,
    url: &str,
    shown: Option<&Secret>,
    runtime_file: &std::path::Path,
    local: SocketAddr,
) {
    let token = shown.map(|s| String::from_utf8_lossy(s.expose()).into_owned());
    let header = match (mode, &token) {
        (Mode::QueryToken, _) => None,
        (Mode::Bearer, Some(token)) => Some(format!("Authorization: Bearer {token}")),
        (Mode::Bearer, None) => Some("Authorization: Bearer <your token>".to_owned()),
        (Mode::Jwt, _) => Some("Authorization: Bearer <an HS256 JWT from your issuer>".to_owned()),
        (Mode::Store, _) => Some(
            "Authorization: Bearer <a token from `wsgate token create`> (or ?token=)".to_owned(),
        ),
    };
    if terminal {
        let mut banner = format!(
            "\n  wsgate {} is gating ws://{local} (auth: {mode})\n\n  connect: {url}\n",
            crate::VERSION
        );
        if let Some(header) = &header {
            banner.push_str(&format!("  send:    {header}\n"));
        }
        if let (Mode::Bearer, Some(shown)) = (mode, shown) {
            banner.push_str(&format!(
                "  browser: new WebSocket(\"{url}\", [\"{}\"])\n",
                crate::bearer::subprotocol_for(shown.expose())
            ));
        }
        banner.push_str(&format!(
            "\n  (also in {}; keep it secret)\n",
            runtime_file.display()
        ));
        eprintln!("{banner}");
    } else {
        let hidden = match url.split_once("?token=") {
            Some((base, _)) => format!("{base}?token=<hidden>"),
            None => url.to_owned(),
        };
        let header = header.map(|h| match &token {
            Some(token) => h.replace(token.as_str(), "<hidden>"),
            None => h,
        });
        let file = runtime_file.display().to_string();
        let mut fields = vec![("url", Value::Str(&hidden))];
        if let Some(header) = &header {
            fields.push(("send", Value::Str(header)));
        }
        fields.push(("runtime_file", Value::Str(&file)));
        log.event("ready", &fields);
    }
}

/// Answers 503 without reading the request, for connections over the limit, in a
/// bounded number of small tasks.
fn turn_away(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr, conn: u64) {
    if shared.rejecting.fetch_add(1, Ordering::SeqCst) >= MAX_REJECTING {
        shared.rejecting.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let shared = shared.clone();
    async_std::task::spawn(async move {
        reject(
            &shared,
            stream,
            peer,
            conn,
            Reason::TooManyConnections,
            None,
        )
        .await;
        shared.rejecting.fetch_sub(1, Ordering::SeqCst);
    });
}

enum HeadError {
    /// The client closed before sending anything.
    Closed,
    /// Answer with this reason.
    Reject(Reason),
}

/// Reads until the buffer holds a complete head; returns its length and how many
/// bytes were read in all (the rest belong to the WebSocket).
///
/// The head is parsed after the first read (so garbage is refused at once) and then
/// only when new bytes may end it, so a client sending a byte at a time does not make
/// us parse the growing head again and again.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(usize, usize), HeadError> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Err(HeadError::Reject(Reason::HeadTooLarge));
            }
            buf.resize((buf.len() * 2).min(MAX_HEAD), 0);
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(match filled {
                0 => HeadError::Closed,
                _ => HeadError::Reject(Reason::MalformedRequest),
            });
        }
        let first = filled == 0;
        filled += n;
        if !first && !request::may_end_head(&buf[..filled], n) {
            continue;
        }
        let mut storage = request::header_storage();
        match request::parse(&buf[..filled], &mut storage) {
            Ok(Head::Partial) => {}
            Ok(Head::Complete { len, .. }) => return Ok((len, filled)),
            Err(reason) => return Err(HeadError::Reject(reason)),
        }
    }
}

/// One connection: the handshake, then the session. Each runs in its own boxed future,
/// so an idle session holds only the session's state, not the handshake's.
async fn connection(shared: &Shared, stream: TcpStream, peer: SocketAddr, conn: u64) {
    let handshaking = Counted(&shared.handshakes);
    // Shutdown drops a handshake in progress: its socket closes, its program (if one
    // was started) is killed.
    let accepted = Box::pin(handshake(shared, stream, peer, conn))
        .or(async {
            shared.stop.wait().await;
            None
        })
        .await;
    drop(handshaking);
    if let Some(accepted) = accepted {
        Box::pin(session(shared, accepted, peer, conn)).await;
    }
}

/// A connection whose upgrade was accepted and answered with 101.
struct Accepted<'a> {
    stream: TcpStream,
    /// Bytes that followed the head: the start of the WebSocket stream.
    leftover: Vec<u8>,
    /// The program started for it, if the backend is one.
    program: Option<Program>,
    /// Why it was accepted.
    reason: Reason,
    /// When its credential expires; the session is closed then.
    expires: Option<SystemTime>,
    /// What it may do.
    grants: Grants,
    /// Its managed token, watched for revocation.
    revocation: Option<Revocation>,
    /// Its place among `--max-connections` sessions.
    _slot: Counted<'a>,
}

/// Reads and decides the request head and answers it. Returns the connection only
/// when it was upgraded.
async fn handshake(
    shared: &Shared,
    mut stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
) -> Option<Accepted<'_>> {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; HEAD_BUFFER];
    let (len, filled) = match timeout(HEAD_TIMEOUT, read_head(&mut stream, &mut buf)).await {
        Ok(Ok(read)) => read,
        Ok(Err(HeadError::Closed)) => return None,
        Ok(Err(HeadError::Reject(reason))) => {
            reject(shared, stream, peer, conn, reason, None).await;
            return None;
        }
        Err(_) => {
            reject(shared, stream, peer, conn, Reason::HandshakeTimeout, None).await;
            return None;
        }
    };
    let mut storage = request::header_storage();
    let Ok(Head::Complete { request, .. }) = request::parse(&buf[..filled], &mut storage) else {
        // `read_head` saw this very buffer parse.
        reject(shared, stream, peer, conn, Reason::MalformedRequest, None).await;
        return None;
    };
    let (upgrade, grant) = match shared.gate.decide(&request, SystemTime::now()) {
        Verdict::Health => {
            let authority = &shared.gate.authority;
            let answer = response::health(authority.mode(), authority.enforced());
            let peer = peer.to_string();
            let fields = [
                ("conn", conn.into()),
                ("peer", Value::Str(&peer)),
                ("mode", authority.mode().as_str().into()),
                ("reason", Reason::Served.as_str().into()),
            ];
            shared.log.event("health", &fields);
            answer_and_close(stream, &answer, LINGER_BYTES).await;
            return None;
        }
        Verdict::Check(decision) => {
            let target = target_for_log(request.target, &shared.hidden, &presented(&request));
            let authority = &shared.gate.authority;
            let answer = response::check(&decision, authority.mode(), authority.enforced());
            let peer = peer.to_string();
            let mut fields = vec![
                ("conn", conn.into()),
                ("peer", Value::Str(&peer)),
                ("mode", authority.mode().as_str().into()),
            ];
            let (status, reason) = match &decision {
                Decision::Accept(grant) => (200, grant.reason),
                Decision::Reject(reason) => (reason.status().code(), *reason),
            };
            fields.push(("status", status.into()));
            fields.push(("reason", reason.as_str().into()));
            if let Some(target) = &target {
                fields.push(("target", Value::Str(target)));
            }
            shared.log.event("check", &fields);
            answer_and_close(stream, &answer, LINGER_BYTES).await;
            return None;
        }
        Verdict::Reject(reason) => {
            let target = target_for_log(request.target, &shared.hidden, &presented(&request));
            reject(shared, stream, peer, conn, reason, target).await;
            return None;
        }
        Verdict::Pair(kind, common) => {
            let origin = common.origin.map(<[u8]>::to_vec);
            let agent = common
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("user-agent"))
                .map(|h| h.value.to_vec());
            let leftover = buf[len..filled].to_vec();
            drop(buf);
            let asked = Asked {
                kind,
                leftover,
                origin,
                agent,
            };
            pair(shared, stream, asked, peer, conn).await;
            return None;
        }
        Verdict::Accept { upgrade, grant } => (upgrade, grant),
    };
    // The credential this request presented, whatever the mode, is hidden like the
    // daemon's own secrets: in store and jwt modes the daemon holds no secret that
    // would hide it where it appears a second time (another parameter, the path).
    let presented = presented(&request);
    let target = target_for_log(upgrade.target(), &shared.hidden, &presented).unwrap_or_default();
    if shared.sessions.fetch_add(1, Ordering::SeqCst) >= shared.max_connections {
        shared.sessions.fetch_sub(1, Ordering::SeqCst);
        let reason = Reason::TooManyConnections;
        reject(shared, stream, peer, conn, reason, Some(target)).await;
        return None;
    }
    let slot = Counted(&shared.sessions);
    let protocol = crate::bearer::select(upgrade.common.headers, &shared.protocols);
    let program = match &shared.backend {
        Backend::Echo => None,
        Backend::Program { program, args, .. } => {
            let info = exec::Request {
                upgrade: &upgrade,
                peer,
                server_port: shared.local.port(),
                conn,
                subject: grant.subject.as_deref(),
                token: grant.token.as_ref(),
                grants: grant.grants,
                protocol,
            };
            let mut hidden = presented;
            hidden.extend(shared.hidden.iter().cloned());
            let env = exec::environment(&shared.base_env, &info, &hidden);
            match exec::spawn(program, args, env, &shared.programs) {
                Ok(program) => Some(program),
                Err(e) => {
                    let error = e.to_string();
                    let fields = [("conn", conn.into()), ("error", Value::Str(&error))];
                    shared.log.event("backend-error", &fields);
                    let reason = Reason::BackendFailed;
                    reject(shared, stream, peer, conn, reason, Some(target)).await;
                    return None;
                }
            }
        }
    };
    let switching = response::switching_protocols(upgrade.key, protocol);
    let leftover = buf[len..filled].to_vec();
    drop(buf);
    let written = timeout(WRITE_TIMEOUT, stream.write_all(&switching)).await;
    if !matches!(written, Ok(Ok(()))) {
        // The program, if any, is killed and reaped when `child` drops.
        return None;
    }
    let peer = peer.to_string();
    let mut fields = vec![
        ("conn", conn.into()),
        ("peer", Value::Str(&peer)),
        ("mode", shared.gate.authority.mode().as_str().into()),
        ("reason", grant.reason.as_str().into()),
        ("target", Value::Str(&target)),
    ];
    let scopes = grant.grants.to_string();
    if let Some(token) = &grant.token {
        fields.push(("token_id", Value::Str(&token.id)));
        fields.push(("token_name", Value::Str(&token.name)));
        fields.push(("scopes", Value::Str(&scopes)));
    }
    if let Some(protocol) = protocol {
        // One of wsgate's own names (`--protocol` or the marker), never client bytes.
        fields.push(("protocol", Value::Str(protocol)));
    }
    shared.log.event("accept", &fields);
    let revocation = match (&grant.token, &shared.managed) {
        (Some(token), Some(managed)) => {
            managed.record_use(&token.id);
            Some(Revocation {
                view: managed.view.clone(),
                id: token.id.clone(),
            })
        }
        _ => None,
    };
    Some(Accepted {
        stream,
        leftover,
        program,
        reason: grant.reason,
        expires: grant.expires,
        grants: grant.grants,
        revocation,
        _slot: slot,
    })
}

/// Relays an upgraded connection to the backend until either side ends it.
async fn session(shared: &Shared, accepted: Accepted<'_>, peer: SocketAddr, conn: u64) {
    let started = Instant::now();
    let Accepted {
        stream,
        leftover,
        program,
        reason,
        expires,
        grants,
        revocation,
        _slot,
    } = accepted;
    let peer = peer.to_string();
    let raw = stream.clone();
    let config = Some(shared.ws_config);
    let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, config).await;
    let cx = Context {
        conn,
        peer: &peer,
        mode: shared.gate.authority.mode().as_str(),
        reason: reason.as_str(),
        log: &shared.log,
        stop: &shared.stop,
        expires,
        grants,
        revocation: revocation.as_ref(),
    };
    let out: Outcome = match (program, &shared.backend) {
        (Some(program), Backend::Program { binary, .. }) => {
            let framing = exec::Framing {
                binary: *binary,
                max_message: shared.max_message_size,
                grants,
            };
            Box::pin(exec::relay(ws, program, framing, cx)).await
        }
        _ => echo::relay(ws, cx).await,
    };
    // After a completed closing handshake nothing more is coming: close at once
    // (RFC 6455 §7.1.1 has the server close first). Otherwise the client may still be
    // sending, and our last frame must not be lost to a reset.
    if !out.clean && !shared.stop.is_set() {
        linger(&raw, shared.max_message_size.saturating_mul(2)).await;
    }
    let mut fields = cx.fields().to_vec();
    fields.extend([
        ("code", out.code.into()),
        ("duration_ms", (started.elapsed().as_millis() as u64).into()),
        ("bytes_in", out.bytes_in.into()),
        ("bytes_out", out.bytes_out.into()),
    ]);
    shared.log.event("close", &fields);
}

/// A request to the pairing endpoint, owning what it needs of its head.
struct Asked {
    kind: PairRequest,
    leftover: Vec<u8>,
    origin: Option<Vec<u8>>,
    agent: Option<Vec<u8>>,
}

/// Answers `/_wsgate/pair`: the page, the CORS preflight, or the exchange of a code
/// for a token. Without `--pairing` the path does not exist.
async fn pair(shared: &Shared, mut stream: TcpStream, asked: Asked, peer: SocketAddr, conn: u64) {
    let managed = shared.managed.as_deref();
    let Some((managed, desk)) = managed.and_then(|m| Some((m, m.pairing.as_ref()?))) else {
        return reject(shared, stream, peer, conn, Reason::NotFound, None).await;
    };
    let cors = response::cors(asked.origin.as_deref());
    let length = match asked.kind {
        PairRequest::Page => {
            return answer_and_close(stream, &response::pair_page(&desk.page), LINGER_BYTES).await;
        }
        PairRequest::Preflight => {
            return answer_and_close(stream, &response::preflight(&cors), LINGER_BYTES).await;
        }
        PairRequest::Exchange { length } => length,
    };
    let body = match timeout(HEAD_TIMEOUT, read_body(&mut stream, asked.leftover, length)).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            return reject(shared, stream, peer, conn, Reason::MalformedRequest, None).await;
        }
        Err(_) => return reject(shared, stream, peer, conn, Reason::HandshakeTimeout, None).await,
    };
    let peer_text = peer.to_string();
    let mode = shared.gate.authority.mode().as_str();
    let refused = |reason: Reason, retry: Option<u64>| {
        let fields = [
            ("conn", conn.into()),
            ("peer", Value::Str(&peer_text)),
            ("mode", mode.into()),
            ("status", reason.status().code().into()),
            ("reason", reason.as_str().into()),
        ];
        shared.log.event("reject", &fields);
        response::pair_refused(reason, retry, &cors)
    };
    // A body without a code is no guess at one: 400, and the attempts are not counted.
    let Some(code) = pairing::code_from_body(&body) else {
        let answer = refused(Reason::MalformedRequest, None);
        return answer_and_close(stream, &answer, LINGER_BYTES).await;
    };
    let attempt = match desk.attempt(&code) {
        Ok(attempt) => attempt,
        Err(message) => {
            shared
                .log
                .event("pairing-error", &[("message", Value::Str(&message))]);
            let answer = refused(Reason::StoreFailed, None);
            return answer_and_close(stream, &answer, LINGER_BYTES).await;
        }
    };
    let answer = match attempt {
        Attempt::Paused(left) => refused(Reason::RateLimited, Some(left.as_secs().max(1))),
        Attempt::Refused { rotated } => {
            if rotated {
                announce_code(shared).await;
            }
            refused(Reason::InvalidCode, None)
        }
        Attempt::Accepted => {
            announce_code(shared).await;
            match managed
                .store_paired(&desk.config, asked.agent.as_deref())
                .await
            {
                Ok((token, secret, expires)) => {
                    let fields = [
                        ("conn", conn.into()),
                        ("peer", Value::Str(&peer_text)),
                        ("mode", mode.into()),
                        ("reason", "paired".into()),
                        ("token_id", Value::Str(&token.id)),
                        ("token_name", Value::Str(&token.name)),
                    ];
                    shared.log.event("pair", &fields);
                    response::paired(
                        &paired_json(&token, &secret, desk.config.scopes, expires),
                        &cors,
                    )
                }
                Err(message) => {
                    shared
                        .log
                        .event("store-error", &[("message", Value::Str(&message))]);
                    refused(Reason::StoreFailed, None)
                }
            }
        }
    };
    answer_and_close(stream, &answer, LINGER_BYTES).await;
}

/// Shows the operator the current pairing code, off the executor's threads (the
/// runtime file is flushed to disk).
async fn announce_code(shared: &Shared) {
    let Some(managed) = shared.managed.clone() else {
        return;
    };
    let (announcer, log) = (shared.announcer.clone(), shared.log.clone());
    async_std::task::spawn_blocking(move || {
        if let Some(desk) = &managed.pairing {
            announcer.code(desk, &log);
        }
    })
    .await;
}

/// Every credential a request presents, in the query or in the headers.
fn presented(request: &crate::request::Request<'_>) -> Vec<Secret> {
    let query = token::query_of(request.target);
    token::credential_values(query)
        .into_iter()
        .chain(crate::bearer::presented(request.headers))
        .map(Secret::new)
        .collect()
}

/// `{"token":…,"id":…,"scopes":[…],"expires":…}`.
fn paired_json(token: &TokenRef, secret: &Secret, scopes: Grants, expires: Option<u64>) -> String {
    let mut json = String::from("{\"token\":");
    log::json_string(&mut json, &String::from_utf8_lossy(secret.expose()));
    json.push_str(",\"id\":");
    log::json_string(&mut json, &token.id);
    json.push_str(",\"scopes\":[");
    for (i, name) in scopes.names().into_iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        log::json_string(&mut json, name);
    }
    json.push_str("],\"expires\":");
    match expires {
        Some(at) => log::json_string(&mut json, &date::format(at)),
        None => json.push_str("null"),
    }
    json.push('}');
    json
}

/// Reads a request body of exactly `length` bytes, the first of which may have come
/// with the head. Whatever follows it, in the same read or later, is not read as part
/// of it (the connection is closed after the answer). `None` if the client closes
/// first.
async fn read_body(stream: &mut TcpStream, mut body: Vec<u8>, length: usize) -> Option<Vec<u8>> {
    body.truncate(length);
    let mut chunk = [0u8; 512];
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        match stream.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(body)
}

/// Bytes drained after an error answer before giving up on a graceful close.
const LINGER_BYTES: usize = 64 * 1024;

/// A request target as it may appear in a log line: credential values redacted, and
/// the whole target hidden if a secret still hides in it, percent-encoded or in
/// another parameter. Targets that are not visible ASCII are not logged at all.
fn target_for_log(target: &str, secrets: &[Secret], presented: &[Secret]) -> Option<String> {
    if !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    let redacted = token::redact(target);
    let decoded = token::decode_lossy(redacted.as_bytes());
    if secrets
        .iter()
        .chain(presented)
        .any(|s| token::contains(&decoded, s.expose()))
    {
        return Some(token::REDACTED.to_owned());
    }
    Some(redacted)
}

async fn reject(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
    reason: Reason,
    target: Option<String>,
) {
    let peer = peer.to_string();
    let mut fields = vec![
        ("conn", conn.into()),
        ("peer", Value::Str(&peer)),
        ("mode", shared.gate.authority.mode().as_str().into()),
        ("status", reason.status().code().into()),
        ("reason", reason.as_str().into()),
    ];
    if let Some(target) = &target {
        fields.push(("target", Value::Str(target)));
    }
    shared.log.event("reject", &fields);
    let answer = response::reject(reason, shared.gate.authority.mode());
    answer_and_close(stream, &answer, LINGER_BYTES).await;
}

async fn answer_and_close(mut stream: TcpStream, answer: &[u8], drain: usize) {
    if let Ok(Ok(())) = timeout(WRITE_TIMEOUT, stream.write_all(answer)).await {
        linger(&stream, drain).await;
    }
}

/// Closes our side and reads (for a bounded time and amount) until the client closes
/// its own, so our last bytes are read rather than lost to a reset.
async fn linger(stream: &TcpStream, limit: usize) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut sink = vec![0u8; 4096];
    let mut stream = stream;
    let drain = async {
        let mut total = 0usize;
        while total < limit {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = Secret::new("a b+c");
        let url = |addr: &str, mode| connect_url(addr.parse().unwrap(), mode, Some(&s));
        assert_eq!(
            url("127.0.0.1:7331", Mode::QueryToken),
            "ws://127.0.0.1:7331/?token=a%20b%2Bc"
        );
        assert_eq!(
            url("[::1]:1", Mode::QueryToken),
            "ws://[::1]:1/?token=a%20b%2Bc"
        );
        assert_eq!(
            url("0.0.0.0:2", Mode::QueryToken),
            "ws://127.0.0.1:2/?token=a%20b%2Bc"
        );
        assert_eq!(url("127.0.0.1:7331", Mode::Bearer), "ws://127.0.0.1:7331/");
        assert_eq!(url("[::]:3", Mode::Jwt), "ws://[::1]:3/");
    }

    #[test]
    fn log_targets() {
        let s = [Secret::new("sekrit-sekrit")];
        let t = |target| target_for_log(target, &s, &[]);
        assert_eq!(t("/?token=abc").as_deref(), Some("/?token=REDACTED"));
        assert_eq!(
            t("/?token=sekrit-sekrit").as_deref(),
            Some("/?token=REDACTED")
        );
        assert_eq!(t("/?x=sekrit%2Dsekrit").as_deref(), Some("REDACTED"));
        assert_eq!(t("/sekrit-sekrit").as_deref(), Some("REDACTED"));
        assert_eq!(t("/\u{1}?token=abc"), None);
    }
}
