//! Startup: the credentials and the backend, the listener, what the operator is shown,
//! and the state every connection shares. Every error is a one-line startup failure
//! that names what failed.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use async_signal::{Signal, Signals};
use async_std::net::TcpListener;
use event_listener::Event;

use super::Shared;
use super::announce::{self, Announcer};
use super::managed::Managed;
use crate::auth::Authority;
use crate::backend::{self, Settings};
use crate::config::{Auth, Config, TokenSource};
use crate::console;
use crate::gate::Gate;
use crate::jwt;
use crate::log::{Event as LogEvent, Log, Value};
use crate::outcome::Mode;
use crate::pairing::desk::Desk;
use crate::redact::Secrets;
use crate::request;
use crate::runtime::{self, RuntimeFile};
use crate::scope::Scopes;
use crate::secret::{self, Secret};
use crate::shutdown::Stop;

/// A daemon ready to accept.
pub struct Started {
    /// What every connection shares.
    pub shared: Arc<Shared>,
    /// The bound listener.
    pub listener: TcpListener,
    /// SIGINT and SIGTERM.
    pub signals: Signals,
}

/// Starts the daemon `config` describes, up to the point of accepting connections.
pub async fn start(config: Config) -> Result<Started, String> {
    let log = Log::new(config.log_format);
    let descriptors = raise_descriptor_limit();
    // Before anything that must be undone, so a signal always finds its handler.
    let signals = Signals::new([Signal::Term, Signal::Int])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let pairing = match &config.auth {
        Auth::Store { pairing } => Some(pairing.clone()),
        _ => None,
    };
    let store = match pairing {
        Some(_) => Some(Managed::open()?),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let Credentials {
        authority,
        shown,
        hidden,
    } = resolve(config.auth, config.token_check, &log, store.as_ref())?;
    let secrets = Arc::new(Secrets::of(&hidden));
    drop(hidden);
    let log = log.hiding(secrets.clone());
    let backend = backend::build(
        config.backend,
        Settings {
            protocols: config.protocols,
            max_message_size: config.max_message_size,
            env: std::env::vars_os().collect(),
            secrets: Secrets::clone(&secrets),
        },
    )?;
    let managed = match (store, pairing.flatten()) {
        (Some(store), Some(pairing)) => {
            let link = format!("{}{}#code=", announce::origin(local), request::PAIR_PATH);
            let desk = Desk::new(pairing, backend.requires(), link)?;
            Some(Arc::new(store.with_pairing(desk)))
        }
        (store, _) => store.map(Arc::new),
    };
    let mode = authority.mode();
    let url = announce::connect_url(local, mode, shown.as_ref());
    let console = config
        .console
        .then(|| announce::console_url(local, shown.as_ref()));
    let token_check = if config.token_check { "true" } else { "false" };
    let mut fields = vec![
        ("listen", local.to_string()),
        ("mode", mode.as_str().to_owned()),
        ("token_check", token_check.to_owned()),
        ("url", url.clone()),
    ];
    if let Some(console) = &console {
        fields.push(("console_url", console.clone()));
    }
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
    let (addr, name) = (local.to_string(), backend.name());
    let config_file = config.config_file.as_ref().map(|p| p.display().to_string());
    let mut listening = vec![
        ("addr", Value::Str(&addr)),
        ("mode", mode.as_str().into()),
        ("token_check", config.token_check.into()),
        ("backend", Value::Str(&name)),
        ("pid", u64::from(std::process::id()).into()),
        ("max_fds", descriptors.into()),
    ];
    if let Some(file) = &config_file {
        listening.push(("config", Value::Str(file)));
    }
    // What a paired browser will be able to do, said before anyone pairs.
    let pair_scopes = managed
        .as_ref()
        .and_then(|m| m.pairing.as_ref())
        .map(|desk| desk.scopes.to_string());
    if let Some(scopes) = &pair_scopes {
        listening.push(("pair_scopes", Value::Str(scopes)));
    }
    log.event(LogEvent::Listening, &listening);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let file = runtime_file.path();
    let announcement = announce::Announcement {
        mode,
        url: &url,
        console: console.as_deref(),
        shown: shown.as_ref(),
        runtime_file: file,
        local,
    };
    announce::announce(&log, terminal, &announcement);
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
    // Only the query carries the token as it is given; a header carries it as it is.
    let encoded = mode == Mode::QueryToken
        && shown
            .as_ref()
            .is_some_and(|s| crate::form::needs_encoding(s.expose()));
    warn(&log, managed.as_deref(), config.token_check, local, encoded);
    warn_pair_scopes(&log, managed.as_deref(), backend.requires());
    drop(shown);
    let console_page = config
        .console
        .then(|| console::page(mode, config.token_check).answer());
    let gate = Gate {
        policy: config.policy,
        authority,
        required: backend.requires(),
        console: console_page.is_some(),
    };
    let shared = Arc::new(Shared {
        gate,
        log,
        backend,
        secrets,
        max_connections: config.max_connections,
        max_message_size: config.max_message_size,
        liveness: config.liveness,
        local,
        active: AtomicUsize::new(0),
        handshakes: AtomicUsize::new(0),
        sessions: AtomicUsize::new(0),
        rejecting: AtomicUsize::new(0),
        stop: Stop::default(),
        idle: Event::new(),
        managed,
        announcer: Arc::new(announcer),
        console: console_page,
    });
    Ok(Started {
        shared,
        listener,
        signals,
    })
}

/// The warnings a configuration deserves: an empty token store, the check disabled,
/// a listener beyond loopback, a query token that a URL carries percent-encoded.
fn warn(log: &Log, managed: Option<&Managed>, token_check: bool, local: SocketAddr, encoded: bool) {
    let warning = |message: &str| log.event(LogEvent::Warning, &[("message", Value::Str(message))]);
    if encoded {
        warning(
            "the token needs percent-encoding in a query (it holds characters other than \
             A-Z a-z 0-9 - . _ ~): connect with the URL in the runtime file or `wsgate list`, \
             which carries it encoded; ?token= with the token as it is can fail (a + reads \
             as a space)",
        );
    }
    if managed.is_some_and(|m| m.view.current().entries().is_empty()) {
        warning("the token store has no tokens yet: create one with `wsgate token create`");
    }
    if !token_check {
        warning(
            "token check disabled (--no-token-check): every connection is accepted, with or without the token",
        );
    }
    if !local.ip().is_loopback() {
        warning("listening beyond loopback: anyone who can reach this address can try tokens");
    }
}

/// A warning when `--pair-scopes` leaves out a scope the backend requires: every
/// token paired here would then be refused here (`403 insufficient-scope`). Not an
/// error, since the store is shared: such tokens may be meant for another daemon.
fn warn_pair_scopes(log: &Log, managed: Option<&Managed>, required: Scopes) {
    let Some(desk) = managed.and_then(|m| m.pairing.as_ref()) else {
        return;
    };
    let lacking = desk.scopes.lacking(required);
    if lacking != Scopes::NONE {
        let message = format!(
            "--pair-scopes {} lacks {lacking}, which this backend requires: paired tokens \
             will be refused here (403 insufficient-scope); leave --pair-scopes out to pair \
             with {}",
            desk.scopes,
            crate::pairing::default_scopes(required)
        );
        log.event(LogEvent::Warning, &[("message", Value::Str(&message))]);
    }
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
    store: Option<&Managed>,
) -> Result<Credentials, String> {
    let (mode, source) = match auth {
        Auth::Store { .. } => {
            let view = store
                .map(|m| m.view.clone())
                .ok_or("the token store is not open")?;
            return Ok(Credentials {
                authority: Authority::store(view, enforce),
                shown: None,
                hidden: Vec::new(),
            });
        }
        Auth::Jwt { key_file, rules } => {
            let key = read_jwt_key(&key_file)?;
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
            let secret = secret::generate().map_err(|e| format!("cannot generate a token: {e}"))?;
            (secret, true)
        }
        TokenSource::Env(secret) => (secret, false),
        TokenSource::Flag(secret) => {
            log.event(
                LogEvent::Warning,
                &[(
                    "message",
                    "--auth-token is visible to every user in the process list; prefer --auth-token-file or WSGATE_AUTH_TOKEN".into(),
                )],
            );
            (secret, false)
        }
        TokenSource::File(path) => {
            let secret = read_token_file(&path)?;
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
            log.event(LogEvent::Warning, &[("message", Value::Str(&message))]);
        }
    }
}

/// Reads a JWT key file: raw bytes, one trailing newline trimmed, at least
/// [`jwt::MIN_KEY_LEN`] bytes. Errors name the file, never its content.
fn read_jwt_key(path: &Path) -> Result<Secret, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read JWT secret file {}: {e}", path.display()))?;
    let trimmed = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(&bytes);
    if trimmed.len() < jwt::MIN_KEY_LEN {
        return Err(format!(
            "the JWT secret in {} is shorter than {} bytes",
            path.display(),
            jwt::MIN_KEY_LEN
        ));
    }
    Ok(Secret::new(trimmed))
}

/// Reads a token file: UTF-8, one trailing newline trimmed, checked like any supplied
/// token. Errors name the file, never its content.
fn read_token_file(path: &Path) -> Result<Secret, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("token file {} is not valid UTF-8", path.display()))?;
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    secret::validate(trimmed).map_err(|e| format!("the token in {} {e}", path.display()))?;
    Ok(Secret::new(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_key_files() {
        let dir = std::env::temp_dir().join(format!("wsgate-cli-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok");
        std::fs::write(
            &ok,
            [b'k'; 32].iter().chain(b"\n").copied().collect::<Vec<u8>>(),
        )
        .unwrap();
        assert_eq!(read_jwt_key(&ok).unwrap().expose(), [b'k'; 32]);
        let short = dir.join("short");
        std::fs::write(&short, [b'k'; 31]).unwrap();
        let err = read_jwt_key(&short).unwrap_err();
        assert!(
            err.contains("shorter than 32 bytes") && err.contains("short"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_files() {
        let dir = std::env::temp_dir().join(format!("wsgate-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, content: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, content).unwrap();
            p
        };
        let ok = read_token_file(&write("ok", b"0123456789abcdef\n")).unwrap();
        assert_eq!(ok.expose(), b"0123456789abcdef");
        let crlf = read_token_file(&write("crlf", b"0123456789abcdef\r\n")).unwrap();
        assert_eq!(crlf.expose(), b"0123456789abcdef");
        let two = read_token_file(&write("two", b"0123456789abcdef\n\n")).unwrap_err();
        assert!(two.contains("control character") && two.contains("two"));
        let short = read_token_file(&write("short", b"abc\n")).unwrap_err();
        assert!(short.contains("shorter") && !short.contains("abc"));
        let missing = read_token_file(&dir.join("missing")).unwrap_err();
        assert!(missing.contains("cannot read token file") && missing.contains("missing"));
        let bin = read_token_file(&write("bin", b"\xff0123456789abcdef")).unwrap_err();
        assert!(bin.contains("UTF-8"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
