//! Every flag, defined once: its name, its value and what kind of value it is, its
//! default, where it applies, its help, and what it does. The parser, `--help` and the
//! README check read [`FLAGS`], so a flag cannot be documented one way and parsed
//! another; [`Kind`] is there for the man page and shell completions to be generated
//! from the same table.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{UsageError, usage};
use crate::backend::{HostRule, OriginRule, Target, header_safe, parse_timeout};
use crate::date;
use crate::log::Format;
use crate::outcome::Mode;
use crate::scope::Scopes;
use crate::secret::{self, Digest, Secret};

/// Largest `--max-message-size` accepted: 1 GiB.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 1 << 30;
/// Largest `--jwt-leeway` accepted, in seconds.
pub const MAX_JWT_LEEWAY: u64 = 3600;
/// Longest `--pair-code-ttl` accepted, in seconds.
pub const MAX_PAIR_CODE_TTL: u64 = 3600;

/// One flag.
pub struct Flag {
    /// Its long name, with the dashes: `--listen`.
    pub long: &'static str,
    /// Another long name it is accepted under.
    pub alias: Option<&'static str>,
    /// Its short name, if it has one.
    pub short: Option<char>,
    /// The name of its value in help (`ADDR`), or `None` for a switch.
    pub value: Option<&'static str>,
    /// What its value may be, for completions and help.
    pub kind: Kind,
    /// The default, as it would be written on the command line.
    pub default: Option<&'static str>,
    /// Whether it may be given more than once (each adds).
    pub repeatable: bool,
    /// The command it belongs to, and where in that command's help it goes.
    pub place: Place,
    /// What it does, in one or two sentences.
    pub help: &'static str,
    /// Whether reading the command line ends at it: `--help`, `--version` and
    /// `--generate` do what they say whatever else is given, config file included.
    pub stops: bool,
    /// Records it: takes the flag's name (for messages) and its value (`None` for a
    /// switch).
    apply: Apply,
}

/// What a flag does with its value.
type Apply = fn(&mut Low, &'static str, Option<String>) -> Result<(), UsageError>;

impl Flag {
    /// A switch of `place`'s command.
    const fn switch(long: &'static str, place: Place) -> Flag {
        Flag {
            long,
            alias: None,
            short: None,
            value: None,
            kind: Kind::Switch,
            default: None,
            repeatable: false,
            place,
            help: "",
            stops: false,
            apply: |_, _, _| Ok(()),
        }
    }

    /// A flag of `place`'s command that takes a value named `value`, of `kind`.
    const fn value(long: &'static str, value: &'static str, kind: Kind, place: Place) -> Flag {
        Flag {
            value: Some(value),
            kind,
            ..Flag::switch(long, place)
        }
    }

    const fn short(self, short: char) -> Flag {
        Flag {
            short: Some(short),
            ..self
        }
    }

    const fn alias(self, alias: &'static str) -> Flag {
        Flag {
            alias: Some(alias),
            ..self
        }
    }

    const fn default(self, default: &'static str) -> Flag {
        Flag {
            default: Some(default),
            ..self
        }
    }

    const fn repeatable(self) -> Flag {
        Flag {
            repeatable: true,
            ..self
        }
    }

    const fn stops(self) -> Flag {
        Flag {
            stops: true,
            ..self
        }
    }

    const fn help(self, help: &'static str) -> Flag {
        Flag { help, ..self }
    }

    const fn apply(self, apply: Apply) -> Flag {
        Flag { apply, ..self }
    }

    /// Whether `name` (with its dashes) names this flag.
    pub fn named(&self, name: &str) -> bool {
        self.long == name || self.alias == Some(name)
    }

    /// Records the flag with its value.
    pub fn record(&self, low: &mut Low, value: Option<String>) -> Result<(), UsageError> {
        (self.apply)(low, self.long, value)
    }
}

/// What a flag's value may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A switch: no value.
    Switch,
    /// Free text.
    Text,
    /// A file's path.
    Path,
    /// A whole number.
    Number,
    /// `IPv4:PORT` or `[IPv6]:PORT`.
    Address,
    /// A duration: `30m`, `12h`, `90d`, `2w` or `never`.
    Duration,
    /// Scopes: `read`, `write`, `exec`, comma-separated.
    Scopes,
    /// One of these words, each with what it means.
    Choices(&'static [(&'static str, &'static str)]),
}

/// Which command a flag belongs to, and in what part of its help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The daemon.
    Serve(Section),
    /// `wsgate token create`.
    TokenCreate,
    /// `wsgate token list`.
    TokenList,
    /// `wsgate token prune`.
    TokenPrune,
}

/// The parts of the daemon's help, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// What is relayed to.
    Backend,
    /// Where to listen, and who may connect.
    Listener,
    /// How clients authenticate.
    Auth,
    /// `--auth jwt`.
    Jwt,
    /// `--auth store --pairing`.
    Pairing,
    /// Limits.
    Limits,
    /// The config file, log output, help, version and generated documents.
    Output,
}

impl Section {
    /// Every section, in the order help shows them.
    pub const ALL: [Section; 7] = [
        Section::Backend,
        Section::Listener,
        Section::Auth,
        Section::Jwt,
        Section::Pairing,
        Section::Limits,
        Section::Output,
    ];

    /// The section's heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::Backend => "Backend",
            Section::Listener => "Listener",
            Section::Auth => "Authentication",
            Section::Jwt => "JWT (--auth jwt)",
            Section::Pairing => "Pairing (--auth store)",
            Section::Limits => "Limits",
            Section::Output => "Configuration and output",
        }
    }
}

/// The authority modes, as `--auth` takes them: each mode's word and what it means.
pub const MODES: &[(&str, &str)] = &[
    (Mode::QueryToken.as_str(), "?token= in the URL"),
    (
        Mode::Bearer.as_str(),
        "Authorization: Bearer TOKEN, or (browsers) the subprotocol wsgate.bearer.<base64url(TOKEN)>",
    ),
    (Mode::Jwt.as_str(), "an HS256 JWT, sent like bearer"),
    (
        Mode::Store.as_str(),
        "a token from 'wsgate token create', in ?token= or sent like bearer; scopes and expiry apply",
    ),
];

/// The log formats, as `--log-format` takes them.
pub const LOG_FORMATS: &[(&str, &str)] = &[
    (Format::Text.as_str(), "key=value pairs, one event a line"),
    (Format::Json.as_str(), "one JSON object a line"),
];

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generate {
    /// A roff man page, section 1.
    Man,
    /// A bash completion script.
    Bash,
    /// A zsh completion script.
    Zsh,
    /// A fish completion script.
    Fish,
}

impl Generate {
    /// Every document, in the order `--help` lists them.
    pub const ALL: [Generate; 4] = [Generate::Man, Generate::Bash, Generate::Zsh, Generate::Fish];

    /// Its word, as `--generate` takes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Generate::Man => "man",
            Generate::Bash => "complete-bash",
            Generate::Zsh => "complete-zsh",
            Generate::Fish => "complete-fish",
        }
    }
}

/// What `--generate` takes.
pub const GENERATE: &[(&str, &str)] = &[
    (
        Generate::Man.as_str(),
        "the man page (roff), for man1/wsgate.1",
    ),
    (Generate::Bash.as_str(), "bash completions"),
    (
        Generate::Zsh.as_str(),
        "zsh completions, for a directory in $fpath as _wsgate",
    ),
    (Generate::Fish.as_str(), "fish completions"),
];

/// What the flags of one command line set, before they are checked together.
#[derive(Default)]
pub struct Low {
    /// The flags given on the command line (by their long names), in order.
    pub given: Vec<&'static str>,
    /// Everything after `--`: the program to run.
    pub command: Option<Vec<std::ffi::OsString>>,
    pub help: bool,
    pub version: bool,
    pub generate: Option<Generate>,
    pub config_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub token_file: Option<PathBuf>,
    pub token_flag: Option<Secret>,
    pub token_digest: Option<Digest>,
    pub mode: Option<Mode>,
    pub jwt_key: Option<PathBuf>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_leeway: Option<u64>,
    pub pairing: bool,
    pub pair_scopes: Option<Scopes>,
    pub pair_expires: Option<Option<u64>>,
    pub pair_code_ttl: Option<u64>,
    pub no_token_check: bool,
    pub console: bool,
    pub no_console: bool,
    pub allow_origins: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub protocols: Vec<String>,
    pub max_connections: Option<usize>,
    pub max_message_size: Option<usize>,
    pub ping_interval: Option<std::time::Duration>,
    pub ping_timeout: Option<std::time::Duration>,
    pub idle_timeout: Option<Option<std::time::Duration>>,
    pub binary: bool,
    pub echo: bool,
    pub upstream: Option<Target>,
    pub upstream_timeout: Option<std::time::Duration>,
    pub upstream_origin: Option<OriginRule>,
    pub upstream_host: Option<HostRule>,
    pub log_format: Option<Format>,
    pub name: Option<String>,
    pub scopes: Option<Scopes>,
    pub expires: Option<Option<u64>>,
    pub json: bool,
    pub revoked: bool,
}

/// The value of a flag that takes one (the parser only passes `None` to switches).
fn given(value: Option<String>) -> String {
    value.unwrap_or_default()
}

/// Sets `slot` once; a second time is a usage error.
fn once<T>(name: &str, slot: &mut Option<T>, value: T) -> Result<(), UsageError> {
    match slot.replace(value) {
        Some(_) => Err(usage(format!("{name} given more than once"))),
        None => Ok(()),
    }
}

/// A switch given twice is harmless, as with most tools.
fn switch(slot: &mut bool) -> Result<(), UsageError> {
    *slot = true;
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

fn path(name: &str, value: String) -> Result<PathBuf, UsageError> {
    if value.is_empty() {
        return Err(usage(format!("{name} needs a non-empty PATH")));
    }
    Ok(PathBuf::from(value))
}

/// One of `choices`, by its word.
fn choice(
    name: &str,
    value: &str,
    choices: &[(&'static str, &str)],
) -> Result<&'static str, UsageError> {
    if let Some(&(word, _)) = choices.iter().find(|(word, _)| *word == value) {
        return Ok(word);
    }
    let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
    let list = match words.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(usage(format!("{name} must be {list}, not {value:?}")))
}

/// The one of `all` whose word (`word`) the value is, among `choices`.
fn pick<T: Copy, const N: usize>(
    name: &str,
    value: Option<String>,
    choices: &[(&'static str, &str)],
    all: [T; N],
    word: fn(T) -> &'static str,
) -> Result<T, UsageError> {
    let chosen = choice(name, &given(value), choices)?;
    all.into_iter()
        .find(|&t| word(t) == chosen)
        .ok_or_else(|| usage(format!("{name} {chosen}?")))
}

fn scopes(name: &str, value: &str) -> Result<Scopes, UsageError> {
    Scopes::parse(value).ok_or_else(|| {
        usage(format!(
            "{name} must be read, write or exec, comma-separated, not {value:?}"
        ))
    })
}

/// A span of time: a whole number with `ms`, `s`, `m` or `h`, from 1 ms to `max`.
fn span(
    name: &str,
    value: &str,
    max: std::time::Duration,
) -> Result<std::time::Duration, UsageError> {
    use std::time::Duration;
    let units = [
        ("ms", Duration::from_millis(1)),
        ("s", Duration::from_secs(1)),
        ("m", Duration::from_secs(60)),
        ("h", Duration::from_secs(3600)),
    ];
    let parsed = units.iter().find_map(|(suffix, unit)| {
        let digits = value.strip_suffix(suffix)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        unit.checked_mul(digits.parse().ok()?)
    });
    match parsed {
        Some(d) if !d.is_zero() && d <= max => Ok(d),
        _ => Err(usage(format!(
            "{name} must be a whole number with ms, s, m or h (such as 500ms, 20s or 8h), \
             from 1ms to {}h, not {value:?}",
            max.as_secs() / 3600
        ))),
    }
}

/// `IPv4:PORT` or `[IPv6]:PORT`.
pub fn parse_listen(value: &str) -> Result<SocketAddr, UsageError> {
    value.parse().map_err(|_| {
        usage(format!(
            "--listen {value:?}: expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:7331"
        ))
    })
}

/// Every flag of every command.
pub static FLAGS: &[Flag] = &[
    Flag::switch("--echo", Place::Serve(Section::Backend))
        .help(
            "relay to the built-in echo, which sends every message back (try it, benchmark \
            it); instead of --upstream or -- COMMAND",
        )
        .apply(|low, _, _| switch(&mut low.echo)),
    Flag::value("--upstream", "URL", Kind::Text, Place::Serve(Section::Backend))
        .help(
            "relay to an existing server: ws://HOST:PORT[/PREFIX] or ws+unix:PATH (a WebSocket \
            server), tcp://HOST:PORT or unix:PATH (a byte stream); instead of --echo or -- COMMAND",
        )
        .apply(|low, name, value| {
            let target = Target::parse(&given(value)).map_err(|e| usage(format!("{name} {e}")))?;
            once(name, &mut low.upstream, target)
        }),
    Flag::value(
        "--upstream-timeout",
        "DURATION",
        Kind::Text,
        Place::Serve(Section::Backend),
    )
    .default("5s")
    .help("time to connect to the upstream and get its answer (500ms, 5s, 1m); then 504")
    .apply(|low, name, value| {
        let d = parse_timeout(&given(value)).map_err(|e| usage(format!("{name}: {e}")))?;
        once(name, &mut low.upstream_timeout, d)
    }),
    Flag::value(
        "--upstream-origin",
        "pass|strip|ORIGIN",
        Kind::Text,
        Place::Serve(Section::Backend),
    )
    .default("pass")
    .help("the Origin a WebSocket upstream sees: the client's, none, or this one")
    .apply(|low, name, value| {
        let v = given(value);
        let rule = match v.as_str() {
            "pass" => OriginRule::Pass,
            "strip" => OriginRule::Strip,
            _ if header_safe(&v) && !v.contains(' ') && v.contains("://") => {
                OriginRule::Fixed(v)
            }
            _ => {
                return Err(usage(format!(
                    "{name} must be pass, strip or an origin such as http://localhost:8888, not {v:?}"
                )));
            }
        };
        once(name, &mut low.upstream_origin, rule)
    }),
    Flag::value(
        "--upstream-host",
        "upstream|pass|HOST",
        Kind::Text,
        Place::Serve(Section::Backend),
    )
    .default("upstream")
    .help(
        "the Host a WebSocket upstream sees: its own address (as nginx sends), the client's, \
        or this one",
    )
    .apply(|low, name, value| {
        let v = given(value);
        let rule = match v.as_str() {
            "upstream" => HostRule::Upstream,
            "pass" => HostRule::Pass,
            _ if header_safe(&v) && !v.contains([' ', '\t', '/', '@']) => HostRule::Fixed(v),
            _ => {
                return Err(usage(format!(
                    "{name} must be upstream, pass or a host such as localhost:8888, not {v:?}"
                )));
            }
        };
        once(name, &mut low.upstream_host, rule)
    }),
    Flag::switch("--binary", Place::Serve(Section::Backend))
        .help("program backend: raw bytes both ways instead of lines")
        .apply(|low, _, _| switch(&mut low.binary)),
    Flag::value(
        "--protocol",
        "NAME[,NAME]",
        Kind::Text,
        Place::Serve(Section::Backend),
    )
    .repeatable()
    .help(
        "subprotocols the backend speaks; the 101 selects the first the client offers \
            (the marker 'wsgate' is always spoken)",
    )
    .apply(|low, name, value| {
        for protocol in given(value).split(',').map(str::trim) {
            if !crate::bearer::valid_protocol_name(protocol) {
                return Err(usage(format!(
                    "{name} {protocol:?} is not a subprotocol name (an HTTP token, \
                     not a wsgate.bearer. entry)"
                )));
            }
            if !low.protocols.iter().any(|p| p == protocol) {
                low.protocols.push(protocol.to_owned());
            }
        }
        Ok(())
    }),
    Flag::value(
        "--listen",
        "ADDR",
        Kind::Address,
        Place::Serve(Section::Listener),
    )
    .default(super::DEFAULT_LISTEN)
    .help("IPv4:PORT or [IPv6]:PORT to listen on; port 0 picks a free one")
    .apply(|low, name, value| once(name, &mut low.listen, parse_listen(&given(value))?)),
    Flag::value(
        "--allow-origin",
        "ORIGIN",
        Kind::Text,
        Place::Serve(Section::Listener),
    )
    .repeatable()
    .help(
        "also accept pages from ORIGIN (scheme://host[:port], 'null' or '*'); loopback \
            origins are always accepted",
    )
    .apply(|low, _, value| {
        low.allow_origins.push(given(value));
        Ok(())
    }),
    Flag::value(
        "--allow-host",
        "HOST",
        Kind::Text,
        Place::Serve(Section::Listener),
    )
    .repeatable()
    .help("also answer to Host HOST (any port); loopback names are always accepted")
    .apply(|low, _, value| {
        low.allow_hosts.push(given(value));
        Ok(())
    }),
    Flag::switch("--console", Place::Serve(Section::Listener))
        .help(
            "serve the console at /_wsgate/console, a page that connects to the backend \
            from a browser; on by default for --echo only (a page that can drive a program \
            is execution authority)",
        )
        .apply(|low, _, _| switch(&mut low.console)),
    Flag::switch("--no-console", Place::Serve(Section::Listener))
        .help("do not serve the console, even for --echo")
        .apply(|low, _, _| switch(&mut low.no_console)),
    Flag::value(
        "--auth",
        "MODE",
        Kind::Choices(MODES),
        Place::Serve(Section::Auth),
    )
    .default(Mode::QueryToken.as_str())
    .help("how clients authenticate")
    .apply(|low, name, value| {
        let mode = pick(name, value, MODES, Mode::ALL, Mode::as_str)?;
        once(name, &mut low.mode, mode)
    }),
    Flag::value(
        "--auth-token-file",
        "PATH",
        Kind::Path,
        Place::Serve(Section::Auth),
    )
    .help(
        "query-token, bearer: read the token from PATH (one trailing newline is \
            trimmed). With no token given at all, a 256-bit one is generated",
    )
    .apply(|low, name, value| once(name, &mut low.token_file, path(name, given(value))?)),
    Flag::value(
        "--auth-token",
        "VALUE",
        Kind::Text,
        Place::Serve(Section::Auth),
    )
    .help(
        "query-token, bearer: the token itself, at least 16 bytes without whitespace \
            (visible in the process list: prefer the file or WSGATE_AUTH_TOKEN)",
    )
    .apply(|low, name, value| {
        let value = given(value);
        secret::validate(&value).map_err(|e| usage(format!("the token given with {name} {e}")))?;
        once(name, &mut low.token_flag, Secret::new(value))
    }),
    Flag::value(
        "--auth-token-sha256",
        "HEX",
        Kind::Text,
        Place::Serve(Section::Auth),
    )
    .help(
        "bearer: the token's SHA-256 (64 hex digits) instead of the token; the daemon \
            then never holds the token itself",
    )
    .apply(|low, name, value| {
        let digest = Digest::from_hex(&given(value), &data_encoding::HEXLOWER_PERMISSIVE)
            .ok_or_else(|| usage(format!("{name} must be 64 hex digits (a SHA-256 digest)")))?;
        once(name, &mut low.token_digest, digest)
    }),
    Flag::switch("--no-token-check", Place::Serve(Section::Auth))
        .help(
            "accept connections with or without a credential (loopback only; the mode \
            stays, the check goes)",
        )
        .apply(|low, _, _| switch(&mut low.no_token_check)),
    Flag::value(
        "--jwt-secret-file",
        "PATH",
        Kind::Path,
        Place::Serve(Section::Jwt),
    )
    .help("the HMAC key (at least 32 bytes; a trailing newline is trimmed); required")
    .apply(|low, name, value| once(name, &mut low.jwt_key, path(name, given(value))?)),
    Flag::value(
        "--jwt-issuer",
        "ISS",
        Kind::Text,
        Place::Serve(Section::Jwt),
    )
    .help("require this iss claim")
    .apply(|low, name, value| once(name, &mut low.jwt_issuer, given(value))),
    Flag::value(
        "--jwt-audience",
        "AUD",
        Kind::Text,
        Place::Serve(Section::Jwt),
    )
    .help("require this aud entry (without it, tokens with aud are refused)")
    .apply(|low, name, value| once(name, &mut low.jwt_audience, given(value))),
    Flag::value(
        "--jwt-leeway",
        "SECONDS",
        Kind::Number,
        Place::Serve(Section::Jwt),
    )
    .default("30")
    .help("allowed clock skew on exp, nbf and iat, at most 3600")
    .apply(|low, name, value| {
        let n = number(name, &given(value), 0, MAX_JWT_LEEWAY as usize)?;
        once(name, &mut low.jwt_leeway, n as u64)
    }),
    Flag::switch("--pairing", Place::Serve(Section::Pairing))
        .help("show a 6-digit code that a browser exchanges for a token at /_wsgate/pair")
        .apply(|low, _, _| switch(&mut low.pairing)),
    Flag::value(
        "--pair-scopes",
        "SCOPES",
        Kind::Scopes,
        Place::Serve(Section::Pairing),
    )
    .help(
        "scopes of paired tokens (default read,write plus what the backend requires: \
         read,write,exec for a program or --upstream, read,write for --echo)",
    )
    .apply(|low, name, value| once(name, &mut low.pair_scopes, scopes(name, &given(value))?)),
    Flag::value(
        "--pair-expires",
        "DURATION",
        Kind::Duration,
        Place::Serve(Section::Pairing),
    )
    .default("30d")
    .help("lifetime of paired tokens")
    .apply(|low, name, value| {
        let d = date::parse_duration(&given(value)).map_err(|e| usage(format!("{name} {e}")))?;
        once(name, &mut low.pair_expires, d)
    }),
    Flag::value(
        "--pair-code-ttl",
        "DURATION",
        Kind::Duration,
        Place::Serve(Section::Pairing),
    )
    .default("5m")
    .help("lifetime of a pairing code, at most 1h")
    .apply(|low, name, value| {
        let v = given(value);
        let d = date::parse_duration(&v)
            .ok()
            .flatten()
            .filter(|&d| d <= MAX_PAIR_CODE_TTL)
            .ok_or_else(|| {
                usage(format!(
                    "{name} must be a duration up to 1h, such as 5m, not {v:?}"
                ))
            })?;
        once(name, &mut low.pair_code_ttl, d)
    }),
    Flag::value(
        "--max-connections",
        "N",
        Kind::Number,
        Place::Serve(Section::Limits),
    )
    .default("1024")
    .help("upgraded sessions at once; one more gets 503")
    .apply(|low, name, value| {
        let n = number(name, &given(value), 1, u32::MAX as usize)?;
        once(name, &mut low.max_connections, n)
    }),
    Flag::value(
        "--max-message-size",
        "BYTES",
        Kind::Number,
        Place::Serve(Section::Limits),
    )
    .default("1048576")
    .help("largest message or frame from a client; larger closes the session with 1009")
    .apply(|low, name, value| {
        let n = number(name, &given(value), 1, MAX_MESSAGE_SIZE_LIMIT)?;
        once(name, &mut low.max_message_size, n)
    }),
    Flag::value(
        "--ping-interval",
        "DURATION",
        Kind::Text,
        Place::Serve(Section::Limits),
    )
    .default("20s")
    .help("silence from a client after which it is pinged (500ms, 20s, 1m), in every session")
    .apply(|low, name, value| {
        let d = span(name, &given(value), std::time::Duration::from_secs(3600))?;
        once(name, &mut low.ping_interval, d)
    }),
    Flag::value(
        "--ping-timeout",
        "DURATION",
        Kind::Text,
        Place::Serve(Section::Limits),
    )
    .default("20s")
    .help(
        "how long a ping may go unanswered (by a pong or anything else); then the session \
        is closed with 1001 (ping-timeout)",
    )
    .apply(|low, name, value| {
        let d = span(name, &given(value), std::time::Duration::from_secs(3600))?;
        once(name, &mut low.ping_timeout, d)
    }),
    Flag::value(
        "--idle-timeout",
        "DURATION|off",
        Kind::Text,
        Place::Serve(Section::Limits),
    )
    .default("off")
    .help("close a session with no data message either way for this long with 1001 (idle-timeout)")
    .apply(|low, name, value| {
        let v = given(value);
        let d = match v.as_str() {
            "off" => None,
            _ => Some(span(name, &v, std::time::Duration::from_secs(7 * 24 * 3600))?),
        };
        once(name, &mut low.idle_timeout, d)
    }),
    Flag::value(
        "--log-format",
        "FORMAT",
        Kind::Choices(LOG_FORMATS),
        Place::Serve(Section::Output),
    )
    .default(Format::Text.as_str())
    .help("how events are written on stderr")
    .apply(|low, name, value| {
        let format = pick(name, value, LOG_FORMATS, Format::ALL, Format::as_str)?;
        once(name, &mut low.log_format, format)
    }),
    Flag::value("--config", "FILE", Kind::Path, Place::Serve(Section::Output))
        .help(
            "read options from FILE first, one a line ('--listen 127.0.0.1:7331'; '#' \
            comments; '-- COMMAND ARGS' last); options given here win, repeatable ones add. \
            Also $WSGATE_CONFIG_FILE",
        )
        .apply(|low, name, value| once(name, &mut low.config_file, path(name, given(value))?)),
    Flag::value(
        "--generate",
        "WHAT",
        Kind::Choices(GENERATE),
        Place::Serve(Section::Output),
    )
    .stops()
    .help("print a document made from these options, and exit")
    .apply(|low, name, value| {
        let what = pick(name, value, GENERATE, Generate::ALL, Generate::as_str)?;
        once(name, &mut low.generate, what)
    }),
    Flag::switch("--help", Place::Serve(Section::Output))
        .short('h')
        .stops()
        .help("print this help")
        .apply(|low, _, _| switch(&mut low.help)),
    Flag::switch("--version", Place::Serve(Section::Output))
        .short('V')
        .stops()
        .help("print the version")
        .apply(|low, _, _| switch(&mut low.version)),
    Flag::value("--name", "NAME", Kind::Text, Place::TokenCreate)
        .help(
            "a name for people (1 to 80 characters) that no other live token has; the id \
             when not given",
        )
        .apply(|low, name, value| {
            let value = given(value);
            if !crate::store::valid_name(&value) {
                return Err(usage(format!(
                    "{name} must be 1 to {} characters without control or bidirectional \
                 formatting characters or spaces at either end",
                    crate::store::MAX_NAME
                )));
            }
            once(name, &mut low.name, value)
        }),
    Flag::value("--scope", "SCOPES", Kind::Scopes, Place::TokenCreate)
        .alias("--scopes")
        .default("read,write,exec")
        .help("what the token allows: read, write, exec, comma-separated")
        .apply(|low, name, value| once(name, &mut low.scopes, scopes(name, &given(value))?)),
    Flag::value("--expires", "DURATION", Kind::Duration, Place::TokenCreate)
        .default("90d")
        .help("lifetime: 30m, 12h, 90d, 2w or never")
        .apply(|low, name, value| {
            let d =
                date::parse_duration(&given(value)).map_err(|e| usage(format!("{name} {e}")))?;
            once(name, &mut low.expires, d)
        }),
    Flag::switch("--json", Place::TokenList)
        .help("JSON instead of a table")
        .apply(|low, _, _| switch(&mut low.json)),
    Flag::switch("--revoked", Place::TokenPrune)
        .help("also remove revoked tokens")
        .apply(|low, _, _| switch(&mut low.revoked)),
];

/// An environment variable wsgate reads.
pub struct EnvVar {
    /// Its name.
    pub name: &'static str,
    /// What it is for.
    pub help: &'static str,
}

/// Every environment variable wsgate reads.
pub static ENV: &[EnvVar] = &[
    EnvVar {
        name: super::TOKEN_ENV,
        help: "the token (instead of --auth-token-file or --auth-token)",
    },
    EnvVar {
        name: super::CONFIG_FILE_ENV,
        help: "a config file read as --config FILE is (when --config is not given)",
    },
    EnvVar {
        name: "WSGATE_CONFIG_DIR",
        help: "where the token store is (default $XDG_CONFIG_HOME/wsgate, else ~/.config/wsgate)",
    },
    EnvVar {
        name: "WSGATE_RUNTIME_DIR",
        help: "where runtime files go (default $XDG_RUNTIME_DIR/wsgate, else \
               ${TMPDIR:-/tmp}/wsgate-$UID)",
    },
];

/// A command besides the daemon, or one way of running the daemon.
pub struct Usage {
    /// How it is written.
    pub synopsis: &'static str,
    /// What it does.
    pub help: &'static str,
}

/// Every way to run wsgate.
pub static USAGES: &[Usage] = &[
    Usage {
        synopsis: "wsgate [OPTIONS] --echo",
        help: "gate a built-in echo (try it, benchmark it)",
    },
    Usage {
        synopsis: "wsgate [OPTIONS] -- COMMAND [ARGS...]",
        help: "gate a program: one process per connection, messages over its stdin/stdout",
    },
    Usage {
        synopsis: "wsgate [OPTIONS] --upstream URL",
        help: "gate an existing server: ws://HOST:PORT[/PREFIX], ws+unix:PATH, tcp://HOST:PORT \
            or unix:PATH",
    },
    Usage {
        synopsis: "wsgate list",
        help: "print the connect URLs (and console links) of your running instances",
    },
    Usage {
        synopsis: "wsgate pair",
        help: "print the pairing code of a running instance",
    },
    Usage {
        synopsis: "wsgate token create [--name NAME] [--scope SCOPES] [--expires DURATION]",
        help: "create a token and print it, once",
    },
    Usage {
        synopsis: "wsgate token list [--json]",
        help: "the store's tokens (never a secret)",
    },
    Usage {
        synopsis: "wsgate token revoke ID|NAME",
        help: "revoke a token; its open sessions close within a second",
    },
    Usage {
        synopsis: "wsgate token rename ID|NAME NEW-NAME",
        help: "rename a token; no two live tokens share a name",
    },
    Usage {
        synopsis: "wsgate token prune [--revoked]",
        help: "remove expired tokens (and revoked ones)",
    },
];

/// The commands besides the daemon, for completions: each word and what it does.
pub static COMMANDS: &[(&str, &str)] = &[
    ("list", "print the connect URLs of your running instances"),
    ("pair", "print the pairing code of a running instance"),
    ("token", "manage the token store"),
];

/// `wsgate token`'s commands: each word, where its flags are, and what it does.
pub static TOKEN_COMMANDS: &[(&str, Option<Place>, &str)] = &[
    (
        "create",
        Some(Place::TokenCreate),
        "create a token and print it, once",
    ),
    (
        "list",
        Some(Place::TokenList),
        "the store's tokens (never a secret)",
    ),
    ("revoke", None, "revoke a token by ID or NAME"),
    ("rename", None, "rename a token: ID|NAME NEW-NAME"),
    (
        "prune",
        Some(Place::TokenPrune),
        "remove expired tokens (and revoked ones)",
    ),
];

/// The flag of a command (those whose place `of` accepts) that `arg` names.
pub fn find(of: impl Fn(Place) -> bool, arg: &lexopt::Arg<'_>) -> Option<&'static Flag> {
    FLAGS.iter().filter(|f| of(f.place)).find(|f| match arg {
        lexopt::Arg::Long(name) => f.named(&format!("--{name}")),
        lexopt::Arg::Short(c) => f.short == Some(*c),
        lexopt::Arg::Value(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_and_format_is_a_choice() {
        let words = |choices: &[(&str, &str)]| {
            choices
                .iter()
                .map(|(w, _)| w.to_string())
                .collect::<Vec<_>>()
        };
        let modes: Vec<String> = Mode::ALL.iter().map(|m| m.to_string()).collect();
        assert_eq!(words(MODES), modes);
        let formats: Vec<String> = Format::ALL.iter().map(|f| f.as_str().to_owned()).collect();
        assert_eq!(words(LOG_FORMATS), formats);
    }
}
