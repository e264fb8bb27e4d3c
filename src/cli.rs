//! Arguments → [`Command`]: an explicit loop over the arguments, taking them as a value
//! so tests call it without starting a process.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::auth::Mode;
use crate::backend::Spec;
use crate::date;
use crate::jwt;
use crate::log::Format;
use crate::pairing::PairingConfig;
use crate::policy::Policy;
use crate::scope::Scopes;
use crate::secret::{self, Digest, Secret};

/// The address used when `--listen` is not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7331";
/// Default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default `--max-message-size`: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
/// Largest `--max-message-size` accepted: 1 GiB.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 1 << 30;
/// The environment variable that may carry the token.
pub const TOKEN_ENV: &str = "WSGATE_AUTH_TOKEN";
/// Default `--jwt-leeway`, in seconds.
pub const DEFAULT_JWT_LEEWAY: u64 = 30;
/// Largest `--jwt-leeway` accepted, in seconds.
pub const MAX_JWT_LEEWAY: u64 = 3600;

/// The usage text printed by `--help`.
const USAGE: &str = "\
wsgate: a token gate in front of a local tool's WebSocket

Usage:
  wsgate [OPTIONS] --echo                  gate a built-in echo (try it, benchmark it)
  wsgate [OPTIONS] -- COMMAND [ARGS...]    gate a program: one process per connection,
                                           messages over its stdin/stdout
  wsgate list                              print the connect URLs of your running instances
  wsgate pair                              print the pairing code of a running instance
  wsgate token create [--name NAME] [--scope read,write,exec] [--expires 90d|12h|never]
  wsgate token list [--json]               the store's tokens (never a secret)
  wsgate token revoke ID|NAME              open sessions of the token close within a second
  wsgate token prune [--revoked]           remove expired tokens (and revoked ones)

Options:
  --listen ADDR            IPv4 or [IPv6] address with port; port 0 picks a free one
                           (default 127.0.0.1:7331)
  --auth-token-file PATH   read the token from PATH (one trailing newline is trimmed)
  --auth-token VALUE       the token itself (visible in the process list: prefer the file
                           or WSGATE_AUTH_TOKEN)
                           With none of these nor WSGATE_AUTH_TOKEN, a 256-bit token is
                           generated. A supplied token has at least 16 bytes and no
                           whitespace or control characters.
  --auth MODE              how clients authenticate (default query-token):
                             query-token  ?token= in the URL
                             bearer       Authorization: Bearer TOKEN, or (browsers) the
                                          subprotocol wsgate.bearer.<base64url(TOKEN)>
                             jwt          an HS256 JWT, sent like bearer
                             store        a token from 'wsgate token create', in ?token=
                                          or sent like bearer; scopes and expiry apply
  --auth-token-sha256 HEX  bearer: the token's SHA-256 (64 hex digits) instead of the
                           token; the daemon then never holds the token itself
  --jwt-secret-file PATH   jwt: the HMAC key (at least 32 bytes; a trailing newline is
                           trimmed)
  --jwt-issuer ISS         jwt: require this iss claim
  --jwt-audience AUD       jwt: require this aud entry (without it, tokens with aud are
                           refused)
  --jwt-leeway SECONDS     jwt: allowed clock skew on exp/nbf/iat (default 30, max 3600)
  --pairing                store: show a 6-digit code that a browser exchanges for a token
                           at /_wsgate/pair
  --pair-scopes SCOPES     store: scopes of paired tokens (default read,write)
  --pair-expires DURATION  store: lifetime of paired tokens (default 30d)
  --pair-code-ttl DURATION store: lifetime of a pairing code (default 5m, at most 1h)
  --no-token-check         accept connections with or without a credential (loopback
                           only; the mode stays, the check goes)
  --allow-origin ORIGIN    also accept pages from ORIGIN (scheme://host[:port], 'null' or
                           '*'); repeatable. Loopback origins are always accepted.
  --allow-host HOST        also answer to Host HOST (any port); repeatable. Loopback names
                           are always accepted.
  --protocol NAME[,NAME]   subprotocols the backend speaks; the 101 selects the first the
                           client offers (the marker 'wsgate' is always spoken);
                           repeatable
  --max-connections N      open connections at most (default 1024); more get 503
  --max-message-size N     largest message in bytes (default 1048576); larger closes 1009
  --binary                 program backend: raw bytes both ways instead of lines
  --log-format FORMAT      text (default) or json
  -h, --help               print this help
  -V, --version            print the version

Environment:
  WSGATE_AUTH_TOKEN        the token (instead of --auth-token-file / --auth-token)
  WSGATE_CONFIG_DIR        where the token store is (default $XDG_CONFIG_HOME/wsgate, else
                           ~/.config/wsgate)
  WSGATE_RUNTIME_DIR       where runtime files go (default $XDG_RUNTIME_DIR/wsgate, else
                           ${TMPDIR:-/tmp}/wsgate-$UID)
";

/// The text `--help` prints.
pub fn help() -> String {
    USAGE.to_owned()
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the daemon.
    Serve(Box<Config>),
    /// `wsgate list`.
    List,
    /// `wsgate pair`.
    Pair,
    /// `wsgate token …`.
    Token(TokenCommand),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// `wsgate token …`: managing the token store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCommand {
    /// `create [--name NAME] [--scope SCOPES] [--expires DURATION]`.
    Create {
        /// The name; the id when not given.
        name: Option<String>,
        /// The scopes.
        scopes: Scopes,
        /// Seconds until expiry; `None` for never.
        expires: Option<u64>,
    },
    /// `list [--json]`.
    List {
        /// JSON instead of a table.
        json: bool,
    },
    /// `revoke ID|NAME`.
    Revoke(String),
    /// `prune [--revoked]`: removes expired entries, and revoked ones too with
    /// `--revoked`.
    Prune {
        /// Also remove revoked entries.
        revoked: bool,
    },
}

/// Default `--expires` of `wsgate token create`: 90 days.
pub const DEFAULT_TOKEN_EXPIRES: u64 = 90 * 86_400;
/// Default `--pair-expires`: 30 days.
pub const DEFAULT_PAIR_EXPIRES: u64 = 30 * 86_400;

/// Where the token comes from.
#[derive(Debug)]
pub enum TokenSource {
    /// Generate one at startup.
    Generate,
    /// `--auth-token-file`.
    File(PathBuf),
    /// `WSGATE_AUTH_TOKEN`, already checked.
    Env(Secret),
    /// `--auth-token`, already checked.
    Flag(Secret),
    /// `--auth-token-sha256`: only the digest is known.
    Digest(Digest),
}

/// How the listener authenticates, with what it needs to.
#[derive(Debug)]
pub enum Auth {
    /// `query-token` or `bearer`: one shared secret.
    Secret {
        /// [`Mode::QueryToken`] or [`Mode::Bearer`].
        mode: Mode,
        /// Where the secret comes from.
        source: TokenSource,
    },
    /// `jwt`: HS256 tokens under a key read from a file.
    Jwt {
        /// `--jwt-secret-file`.
        key_file: PathBuf,
        /// `--jwt-issuer`, `--jwt-audience`, `--jwt-leeway`.
        rules: jwt::Rules,
    },
    /// `store`: the managed tokens of the token store.
    Store {
        /// `--pairing` and its options.
        pairing: Option<PairingConfig>,
    },
}

impl Auth {
    /// The mode.
    pub fn mode(&self) -> Mode {
        match self {
            Auth::Secret { mode, .. } => *mode,
            Auth::Jwt { .. } => Mode::Jwt,
            Auth::Store { .. } => Mode::Store,
        }
    }
}

/// The daemon's configuration.
#[derive(Debug)]
pub struct Config {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// How clients authenticate.
    pub auth: Auth,
    /// `false` with `--no-token-check`.
    pub token_check: bool,
    /// Host and Origin rules, including what the listen address implies.
    pub policy: Policy,
    /// `--protocol`: the subprotocols the backend speaks.
    pub protocols: Vec<String>,
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--max-message-size`.
    pub max_message_size: usize,
    /// `--log-format`.
    pub log_format: Format,
    /// What connections are relayed to.
    pub backend: Spec,
}

/// A command line that cannot be run; exits 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Parses the arguments (without the program name). `env_token` is the value of
/// `WSGATE_AUTH_TOKEN`, if set.
pub fn parse(args: Vec<OsString>, env_token: Option<OsString>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let mut listen: Option<SocketAddr> = None;
    let mut token_file: Option<PathBuf> = None;
    let mut token_flag: Option<Secret> = None;
    let mut token_digest: Option<Digest> = None;
    let mut mode: Option<Mode> = None;
    let mut jwt_key: Option<PathBuf> = None;
    let mut jwt_issuer: Option<String> = None;
    let mut jwt_audience: Option<String> = None;
    let mut jwt_leeway: Option<u64> = None;
    let mut pairing = false;
    let mut pair_scopes: Option<Scopes> = None;
    let mut pair_expires: Option<Option<u64>> = None;
    let mut pair_code_ttl: Option<u64> = None;
    let mut token_check = true;
    let mut allow_origins: Vec<String> = Vec::new();
    let mut protocols: Vec<String> = Vec::new();
    let mut allow_hosts: Vec<String> = Vec::new();
    let mut max_connections: Option<usize> = None;
    let mut max_message_size: Option<usize> = None;
    let mut binary = false;
    let mut echo = false;
    let mut log_format: Option<Format> = None;
    let mut command: Option<Vec<OsString>> = None;
    let mut first = true;

    while let Some(arg) = args.next() {
        if arg == "--" {
            command = Some(args.by_ref().collect());
            break;
        }
        let arg = arg
            .into_string()
            .map_err(|_| usage("an argument before '--' is not valid UTF-8"))?;
        if first && (arg == "list" || arg == "pair") {
            return match args.next() {
                None if arg == "list" => Ok(Command::List),
                None => Ok(Command::Pair),
                Some(_) => Err(usage(format!("'{arg}' takes no arguments"))),
            };
        }
        if first && arg == "token" {
            return parse_token(args.collect()).map(Command::Token);
        }
        first = false;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .ok_or_else(|| usage(format!("{name} needs a value ({what})")))?
                    .into_string()
                    .map_err(|_| usage(format!("the value of {name} is not valid UTF-8"))),
            }
        };
        let flag = |set: &mut bool| -> Result<(), UsageError> {
            if inline.is_some() {
                return Err(usage(format!("{name} takes no value")));
            }
            *set = true;
            Ok(())
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--echo" => flag(&mut echo)?,
            "--binary" => flag(&mut binary)?,
            "--no-token-check" => {
                let mut set = false;
                flag(&mut set)?;
                token_check = false;
            }
            "--listen" => {
                let v = value("ADDR")?;
                once(&name, listen.replace(parse_listen(&v)?).is_some())?;
            }
            "--auth-token-file" => {
                let v = value("PATH")?;
                if v.is_empty() {
                    return Err(usage("--auth-token-file needs a non-empty PATH"));
                }
                once(&name, token_file.replace(PathBuf::from(v)).is_some())?;
            }
            "--auth-token" => {
                let v = value("VALUE")?;
                secret::validate(&v)
                    .map_err(|e| usage(format!("the token given with --auth-token {e}")))?;
                once(&name, token_flag.replace(Secret::new(v)).is_some())?;
            }
            "--auth" => {
                let m = match value("MODE")?.as_str() {
                    "query-token" => Mode::QueryToken,
                    "bearer" => Mode::Bearer,
                    "jwt" => Mode::Jwt,
                    "store" => Mode::Store,
                    other => {
                        return Err(usage(format!(
                            "--auth must be query-token, bearer, jwt or store, not {other:?}"
                        )));
                    }
                };
                once(&name, mode.replace(m).is_some())?;
            }
            "--auth-token-sha256" => {
                let digest = parse_digest(&value("HEX")?)?;
                once(&name, token_digest.replace(digest).is_some())?;
            }
            "--jwt-secret-file" => {
                let v = value("PATH")?;
                if v.is_empty() {
                    return Err(usage("--jwt-secret-file needs a non-empty PATH"));
                }
                once(&name, jwt_key.replace(PathBuf::from(v)).is_some())?;
            }
            "--jwt-issuer" => {
                let v = value("ISS")?;
                once(&name, jwt_issuer.replace(v).is_some())?;
            }
            "--jwt-audience" => {
                let v = value("AUD")?;
                once(&name, jwt_audience.replace(v).is_some())?;
            }
            "--jwt-leeway" => {
                let n = number(&name, &value("SECONDS")?, 0, MAX_JWT_LEEWAY as usize)?;
                once(&name, jwt_leeway.replace(n as u64).is_some())?;
            }
            "--pairing" => flag(&mut pairing)?,
            "--pair-scopes" => {
                let v = value("SCOPES")?;
                let scopes = Scopes::parse(&v).ok_or_else(|| {
                    usage(format!(
                        "--pair-scopes must be read, write or exec, comma-separated, not {v:?}"
                    ))
                })?;
                once(&name, pair_scopes.replace(scopes).is_some())?;
            }
            "--pair-expires" => {
                let v = value("DURATION")?;
                let d =
                    date::parse_duration(&v).map_err(|e| usage(format!("--pair-expires {e}")))?;
                once(&name, pair_expires.replace(d).is_some())?;
            }
            "--pair-code-ttl" => {
                let v = value("DURATION")?;
                let d = date::parse_duration(&v)
                    .ok()
                    .flatten()
                    .filter(|&d| d <= 3600)
                    .ok_or_else(|| {
                        usage(format!(
                            "--pair-code-ttl must be a duration up to 1h, such as 5m, not {v:?}"
                        ))
                    })?;
                once(&name, pair_code_ttl.replace(d).is_some())?;
            }
            "--allow-origin" => allow_origins.push(value("ORIGIN")?),
            "--allow-host" => allow_hosts.push(value("HOST")?),
            "--protocol" => {
                for name in value("NAME")?.split(',').map(str::trim) {
                    if !crate::bearer::valid_protocol_name(name) {
                        return Err(usage(format!(
                            "--protocol {name:?} is not a subprotocol name (an HTTP token, \
                             not a wsgate.bearer. entry)"
                        )));
                    }
                    if !protocols.iter().any(|p| p == name) {
                        protocols.push(name.to_owned());
                    }
                }
            }
            "--max-connections" => {
                let n = number(&name, &value("N")?, 1, u32::MAX as usize)?;
                once(&name, max_connections.replace(n).is_some())?;
            }
            "--max-message-size" => {
                let n = number(&name, &value("BYTES")?, 1, MAX_MESSAGE_SIZE_LIMIT)?;
                once(&name, max_message_size.replace(n).is_some())?;
            }
            "--log-format" => {
                let format = match value("text|json")?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => {
                        return Err(usage(format!(
                            "--log-format must be 'text' or 'json', not {other:?}"
                        )));
                    }
                };
                once(&name, log_format.replace(format).is_some())?;
            }
            _ if name.starts_with('-') => {
                return Err(usage(format!("unknown option {name}")));
            }
            _ => {
                return Err(usage(format!(
                    "unexpected argument {name:?}: a program to run goes after '--'"
                )));
            }
        }
    }

    let backend = Spec::from_command_line(echo, command, binary).map_err(usage)?;

    let mode = mode.unwrap_or(Mode::QueryToken);
    let jwt_flags = [
        ("--jwt-secret-file", jwt_key.is_some()),
        ("--jwt-issuer", jwt_issuer.is_some()),
        ("--jwt-audience", jwt_audience.is_some()),
        ("--jwt-leeway", jwt_leeway.is_some()),
    ];
    if mode != Mode::Jwt {
        if let Some((flag, _)) = jwt_flags.iter().find(|(_, given)| *given) {
            return Err(usage(format!("{flag} needs --auth jwt")));
        }
    }
    if token_digest.is_some() && mode != Mode::Bearer {
        return Err(usage("--auth-token-sha256 needs --auth bearer"));
    }
    if pairing && mode != Mode::Store {
        return Err(usage("--pairing needs --auth store"));
    }
    let pair_flags = [
        ("--pair-scopes", pair_scopes.is_some()),
        ("--pair-expires", pair_expires.is_some()),
        ("--pair-code-ttl", pair_code_ttl.is_some()),
    ];
    if !pairing {
        if let Some((flag, _)) = pair_flags.iter().find(|(_, given)| *given) {
            return Err(usage(format!("{flag} needs --pairing (with --auth store)")));
        }
    }
    if matches!(mode, Mode::Jwt | Mode::Store) {
        let given = [
            ("--auth-token-file", token_file.is_some()),
            (TOKEN_ENV, env_token.is_some()),
            ("--auth-token", token_flag.is_some()),
        ];
        if let Some((source, _)) = given.iter().find(|(_, given)| *given) {
            let from = match mode {
                Mode::Jwt => "its key comes from --jwt-secret-file",
                _ => "its tokens come from the token store (wsgate token create)",
            };
            // Refused rather than ignored: whoever set it believes it is in force.
            let fix = match *source {
                TOKEN_ENV => format!("; unset {TOKEN_ENV} to run this mode"),
                _ => String::new(),
            };
            return Err(usage(format!(
                "{source} does not apply to --auth {mode}, whose {from}{fix}"
            )));
        }
    }
    let auth = if mode == Mode::Store {
        Auth::Store {
            pairing: pairing.then(|| PairingConfig {
                scopes: pair_scopes.unwrap_or(Scopes::READ_WRITE),
                expires: pair_expires.unwrap_or(Some(DEFAULT_PAIR_EXPIRES)),
                code_lifetime: pair_code_ttl
                    .map(std::time::Duration::from_secs)
                    .unwrap_or(crate::pairing::CODE_LIFETIME),
            }),
        }
    } else if mode == Mode::Jwt {
        Auth::Jwt {
            key_file: jwt_key.ok_or_else(|| usage("--auth jwt needs --jwt-secret-file PATH"))?,
            rules: jwt::Rules {
                issuer: jwt_issuer,
                audience: jwt_audience,
                leeway: jwt_leeway.unwrap_or(DEFAULT_JWT_LEEWAY),
            },
        }
    } else {
        Auth::Secret {
            mode,
            source: token_source(token_file, env_token, token_flag, token_digest)?,
        }
    };

    let listen = match listen {
        Some(addr) => addr,
        None => parse_listen(DEFAULT_LISTEN)?,
    };
    let loopback = listen.ip().is_loopback();
    if !token_check && !loopback {
        return Err(usage(format!(
            "--no-token-check is refused on the non-loopback address {listen}"
        )));
    }

    let mut policy = Policy::default();
    for origin in &allow_origins {
        policy
            .allow_origin(origin)
            .map_err(|e| usage(format!("--allow-origin {origin:?}: {e}")))?;
    }
    for host in &allow_hosts {
        policy
            .allow_host(host)
            .map_err(|e| usage(format!("--allow-host {host:?}: {e}")))?;
    }
    if !loopback {
        if listen.ip().is_unspecified() {
            // Any address of this machine: its names are not known here.
            policy.any_host = allow_hosts.is_empty();
        } else {
            let literal = match listen {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            };
            policy.hosts.push(literal);
        }
    }

    Ok(Command::Serve(Box::new(Config {
        listen,
        auth,
        token_check,
        policy,
        protocols,
        max_connections: max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_message_size: max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
        log_format: log_format.unwrap_or(Format::Text),
        backend,
    })))
}

/// The one source of the shared secret, or a usage error naming all that were given.
fn token_source(
    file: Option<PathBuf>,
    env: Option<OsString>,
    flag: Option<Secret>,
    digest: Option<Digest>,
) -> Result<TokenSource, UsageError> {
    let given: Vec<&str> = [
        ("--auth-token-file", file.is_some()),
        (TOKEN_ENV, env.is_some()),
        ("--auth-token", flag.is_some()),
        ("--auth-token-sha256", digest.is_some()),
    ]
    .iter()
    .filter(|(_, given)| *given)
    .map(|(name, _)| *name)
    .collect();
    if given.len() > 1 {
        return Err(usage(format!(
            "more than one token source ({}): use one",
            given.join(", ")
        )));
    }
    Ok(match (file, env, flag, digest) {
        (Some(path), ..) => TokenSource::File(path),
        (_, Some(env), ..) => {
            let env = env
                .into_string()
                .map_err(|_| usage(format!("{TOKEN_ENV} is not valid UTF-8")))?;
            secret::validate(&env).map_err(|e| usage(format!("the token in {TOKEN_ENV} {e}")))?;
            TokenSource::Env(Secret::new(env))
        }
        (_, _, Some(secret), _) => TokenSource::Flag(secret),
        (_, _, _, Some(digest)) => TokenSource::Digest(digest),
        (None, None, None, None) => TokenSource::Generate,
    })
}

/// 64 hex digits.
fn parse_digest(hex: &str) -> Result<Digest, UsageError> {
    Digest::from_hex(hex, &data_encoding::HEXLOWER_PERMISSIVE)
        .ok_or_else(|| usage("--auth-token-sha256 must be 64 hex digits (a SHA-256 digest)"))
}

/// `wsgate token` and what follows it.
fn parse_token(args: Vec<OsString>) -> Result<TokenCommand, UsageError> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|_| usage("an argument of 'token' is not valid UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    let mut args = args.into_iter();
    let what = "'wsgate token' needs create, list, revoke ID|NAME or prune";
    let sub = args.next().ok_or_else(|| usage(what))?;
    match sub.as_str() {
        "create" => {
            let (mut name, mut scopes, mut expires) = (None, None, None);
            while let Some(arg) = args.next() {
                let (flag, inline) = match arg.split_once('=') {
                    Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                    _ => (arg.clone(), None),
                };
                let mut value = || {
                    inline
                        .clone()
                        .or_else(|| args.next())
                        .ok_or_else(|| usage(format!("{flag} needs a value")))
                };
                match flag.as_str() {
                    "--name" => {
                        let v = value()?;
                        if !crate::store::valid_name(&v) {
                            return Err(usage(format!(
                                "--name must be 1 to {} characters without control or bidirectional formatting characters or spaces at either end",
                                crate::store::MAX_NAME
                            )));
                        }
                        once(&flag, name.replace(v).is_some())?;
                    }
                    "--scope" | "--scopes" => {
                        let v = value()?;
                        let g = Scopes::parse(&v).ok_or_else(|| {
                            usage(format!(
                                "--scope must be read, write or exec, comma-separated, not {v:?}"
                            ))
                        })?;
                        once(&flag, scopes.replace(g).is_some())?;
                    }
                    "--expires" => {
                        let v = value()?;
                        let d = date::parse_duration(&v)
                            .map_err(|e| usage(format!("--expires {e}")))?;
                        once(&flag, expires.replace(d).is_some())?;
                    }
                    other => {
                        return Err(usage(format!("unknown option {other} for 'token create'")));
                    }
                }
            }
            Ok(TokenCommand::Create {
                name,
                scopes: scopes.unwrap_or(Scopes::ALL),
                expires: expires.unwrap_or(Some(DEFAULT_TOKEN_EXPIRES)),
            })
        }
        "list" => match args.next().as_deref() {
            None => Ok(TokenCommand::List { json: false }),
            Some("--json") if args.next().is_none() => Ok(TokenCommand::List { json: true }),
            Some(_) => Err(usage("'token list' takes only --json")),
        },
        "revoke" => match (args.next(), args.next()) {
            (Some(who), None) => Ok(TokenCommand::Revoke(who)),
            _ => Err(usage("'token revoke' takes one ID or NAME")),
        },
        "prune" => match (args.next(), args.next()) {
            (None, _) => Ok(TokenCommand::Prune { revoked: false }),
            (Some(flag), None) if flag == "--revoked" => Ok(TokenCommand::Prune { revoked: true }),
            _ => Err(usage("'token prune' takes only --revoked")),
        },
        _ => Err(usage(what)),
    }
}

fn once(name: &str, repeated: bool) -> Result<(), UsageError> {
    if repeated {
        return Err(usage(format!("{name} given more than once")));
    }
    Ok(())
}

fn number(name: &str, value: &str, min: usize, max: usize) -> Result<usize, UsageError> {
    match value.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(usage(format!(
            "{name} must be a whole number from {min} to {max}, not {value:?}"
        ))),
    }
}

/// `IPv4:PORT` or `[IPv6]:PORT`.
fn parse_listen(value: &str) -> Result<SocketAddr, UsageError> {
    value.parse().map_err(|_| {
        usage(format!(
            "--listen {value:?}: expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:7331"
        ))
    })
}

/// Reads a JWT key file: raw bytes, one trailing newline trimmed, at least
/// [`jwt::MIN_KEY_LEN`] bytes. Errors name the file, never its content.
pub fn read_jwt_key(path: &Path) -> Result<Secret, String> {
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
pub fn read_token_file(path: &Path) -> Result<Secret, String> {
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

    fn run(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from).collect(), None)
    }

    fn config(args: &[&str]) -> Config {
        match run(args) {
            Ok(Command::Serve(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match run(args) {
            Err(UsageError(msg)) => msg,
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&["--echo"]);
        assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
        assert!(matches!(
            c.auth,
            Auth::Secret {
                mode: Mode::QueryToken,
                source: TokenSource::Generate
            }
        ));
        assert!(c.token_check);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.max_message_size, 1 << 20);
        assert_eq!(c.log_format, Format::Text);
        assert_eq!(c.backend, Spec::Echo);
        assert!(!c.policy.any_host && c.policy.hosts.is_empty());
    }

    #[test]
    fn program_backend() {
        let c = config(&[
            "--binary",
            "--listen=127.0.0.1:0",
            "--",
            "cat",
            "-u",
            "--echo",
        ]);
        assert_eq!(
            c.backend,
            Spec::Program {
                program: "cat".into(),
                args: vec!["-u".into(), "--echo".into()],
                binary: true
            }
        );
        assert_eq!(c.listen.port(), 0);
    }

    #[test]
    fn options() {
        let c = config(&[
            "--echo",
            "--listen",
            "[::1]:9000",
            "--max-connections",
            "5",
            "--max-message-size=64",
            "--allow-origin",
            "https://app.example",
            "--allow-host",
            "dev.example",
            "--log-format",
            "json",
            "--no-token-check",
        ]);
        assert_eq!(c.listen, "[::1]:9000".parse().unwrap());
        assert_eq!((c.max_connections, c.max_message_size), (5, 64));
        assert_eq!(c.policy.origins, vec!["https://app.example"]);
        assert_eq!(c.policy.hosts, vec!["dev.example"]);
        assert_eq!(c.log_format, Format::Json);
        assert!(!c.token_check);
    }

    #[test]
    fn commands() {
        assert!(matches!(run(&["list"]), Ok(Command::List)));
        assert!(matches!(run(&["-h"]), Ok(Command::Help)));
        assert!(matches!(run(&["--echo", "--help"]), Ok(Command::Help)));
        assert!(matches!(run(&["-V"]), Ok(Command::Version)));
        assert!(matches!(run(&["--version"]), Ok(Command::Version)));
    }

    #[test]
    fn token_sources() {
        let source = |c: Config| match c.auth {
            Auth::Secret { source, .. } => source,
            other => panic!("{other:?}"),
        };
        let c = config(&["--echo", "--auth-token", "0123456789abcdef"]);
        assert!(matches!(source(c), TokenSource::Flag(_)));
        let c = config(&["--echo", "--auth-token-file", "/x"]);
        assert!(matches!(source(c), TokenSource::File(_)));
        let Ok(Command::Serve(env)) = parse(vec!["--echo".into()], Some("0123456789abcdef".into()))
        else {
            panic!("no config")
        };
        assert!(matches!(source(*env), TokenSource::Env(_)));
        let hex = "ab".repeat(32);
        let c = config(&["--echo", "--auth", "bearer", "--auth-token-sha256", &hex]);
        assert!(matches!(source(c), TokenSource::Digest(_)));
        let both = parse(
            vec!["--echo".into(), "--auth-token-file".into(), "/x".into()],
            Some("0123456789abcdef".into()),
        );
        assert!(matches!(both, Err(UsageError(m)) if m.contains("more than one token source")));
        let short = parse(vec!["--echo".into()], Some("short".into()));
        assert!(matches!(short, Err(UsageError(m)) if m.contains("WSGATE_AUTH_TOKEN is shorter")));
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "nothing to gate"),
            (&["--listen", "127.0.0.1:0"], "nothing to gate"),
            (&["--echo", "--", "cat"], "not both"),
            (&["--"], "must be followed"),
            (&["--echo", "--binary"], "--binary"),
            (&["--echo", "--bogus"], "unknown option --bogus"),
            (&["--echo", "stray"], "unexpected argument"),
            (&["--echo", "--listen"], "--listen needs a value"),
            (&["--echo", "--listen", "localhost:80"], "--listen"),
            (&["--echo", "--listen", "127.0.0.1"], "--listen"),
            (&["--echo", "--listen", "::1:80"], "--listen"),
            (
                &[
                    "--echo",
                    "--listen",
                    "127.0.0.1:1",
                    "--listen",
                    "127.0.0.1:2",
                ],
                "more than once",
            ),
            (&["--echo", "--max-connections", "0"], "--max-connections"),
            (&["--echo", "--max-connections", "-1"], "--max-connections"),
            (
                &["--echo", "--max-message-size", "1k"],
                "--max-message-size",
            ),
            (&["--echo", "--log-format", "xml"], "--log-format"),
            (&["--echo", "--echo=yes"], "takes no value"),
            (&["--echo", "--auth-token", "short"], "shorter than 16"),
            (
                &["--echo", "--auth-token", "has space in the token"],
                "whitespace",
            ),
            (
                &[
                    "--echo",
                    "--auth-token",
                    "0123456789abcdef",
                    "--auth-token-file",
                    "/x",
                ],
                "more than one",
            ),
            (&["--echo", "--auth-token-file", ""], "non-empty"),
            (
                &["--echo", "--allow-origin", "example.com"],
                "--allow-origin",
            ),
            (&["--echo", "--allow-host", "a:1"], "--allow-host"),
            (
                &["--echo", "--no-token-check", "--listen", "0.0.0.0:1"],
                "non-loopback",
            ),
            (
                &["--echo", "--no-token-check", "--listen", "[::]:1"],
                "non-loopback",
            ),
            (&["list", "x"], "takes no arguments"),
        ];
        for (args, want) in cases {
            let msg = error(args);
            assert!(msg.contains(want), "{args:?}: {msg:?} lacks {want:?}");
            assert!(!msg.contains('\n'), "{args:?}: one line");
        }
    }

    #[test]
    fn modes() {
        let c = config(&["--echo", "--auth", "bearer"]);
        assert_eq!(c.auth.mode(), Mode::Bearer);
        let c = config(&[
            "--echo",
            "--auth",
            "jwt",
            "--jwt-secret-file",
            "/k",
            "--jwt-issuer",
            "i",
            "--jwt-audience",
            "a",
            "--jwt-leeway",
            "5",
        ]);
        match c.auth {
            Auth::Jwt { key_file, rules } => {
                assert_eq!(key_file, PathBuf::from("/k"));
                assert_eq!(
                    rules,
                    jwt::Rules {
                        issuer: Some("i".into()),
                        audience: Some("a".into()),
                        leeway: 5
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let c = config(&["--echo", "--auth", "jwt", "--jwt-secret-file", "/k"]);
        assert!(matches!(c.auth, Auth::Jwt { rules, .. } if rules.leeway == 30));
    }

    #[test]
    fn mode_errors() {
        let hex = "ab".repeat(32);
        let cases: &[(&[&str], &str)] = &[
            (&["--echo", "--auth", "magic"], "--auth must be"),
            (
                &["--echo", "--jwt-issuer", "x"],
                "--jwt-issuer needs --auth jwt",
            ),
            (
                &["--echo", "--auth", "bearer", "--jwt-audience", "x"],
                "--jwt-audience needs --auth jwt",
            ),
            (
                &["--echo", "--jwt-secret-file", "/k"],
                "--jwt-secret-file needs --auth jwt",
            ),
            (
                &["--echo", "--auth-token-sha256", &hex],
                "--auth-token-sha256 needs --auth bearer",
            ),
            (
                &["--echo", "--auth", "bearer", "--auth-token-sha256", "abc"],
                "64 hex digits",
            ),
            (&["--echo", "--auth", "jwt"], "needs --jwt-secret-file"),
            (
                &[
                    "--echo",
                    "--auth",
                    "jwt",
                    "--jwt-secret-file",
                    "/k",
                    "--auth-token-file",
                    "/t",
                ],
                "--auth-token-file does not apply to --auth jwt",
            ),
            (
                &[
                    "--echo",
                    "--auth",
                    "bearer",
                    "--auth-token-sha256",
                    &hex,
                    "--auth-token-file",
                    "/t",
                ],
                "more than one token source",
            ),
            (
                &[
                    "--echo",
                    "--auth",
                    "jwt",
                    "--jwt-secret-file",
                    "/k",
                    "--jwt-leeway",
                    "99999",
                ],
                "--jwt-leeway",
            ),
        ];
        for (args, want) in cases {
            let msg = error(args);
            assert!(msg.contains(want), "{args:?}: {msg:?} lacks {want:?}");
        }
        let env = parse(
            vec![
                "--echo".into(),
                "--auth".into(),
                "jwt".into(),
                "--jwt-secret-file".into(),
                "/k".into(),
            ],
            Some("0123456789abcdef".into()),
        );
        assert!(
            matches!(env, Err(UsageError(m)) if m.contains("WSGATE_AUTH_TOKEN does not apply"))
        );
    }

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
    fn token_values_never_in_errors() {
        let msg = error(&["--echo", "--auth-token", "shorty secret"]);
        assert!(!msg.contains("shorty"));
    }

    #[test]
    fn non_loopback_hosts() {
        let c = config(&["--echo", "--listen", "0.0.0.0:1"]);
        assert!(c.policy.any_host);
        let c = config(&["--echo", "--listen", "0.0.0.0:1", "--allow-host", "box.lan"]);
        assert!(!c.policy.any_host);
        let c = config(&["--echo", "--listen", "192.168.1.5:1"]);
        assert_eq!(c.policy.hosts, vec!["192.168.1.5"]);
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
