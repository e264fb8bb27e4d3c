//! Arguments → [`Command`]. Every flag is defined once, in [`flags::FLAGS`]: the
//! parser below (lexopt does the lexing), `--help` ([`help`]) and the README check all
//! read that table. The parser takes its arguments as a value, so tests call it
//! without starting a process; its errors are one-line [`UsageError`]s (exit 2).

mod complete;
mod file;
mod flags;
mod help;
mod man;

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::{Options, Spec};
use crate::jwt;
use crate::manage::TokenCommand;
use crate::outcome::Mode;
use crate::pairing::PairingConfig;
use crate::policy::Policy;
use crate::secret::{self, Digest, Secret};

use crate::config::{Auth, Config, TokenSource};
use flags::{FLAGS, Flag, Low, Place, Section};

pub use flags::Generate;

pub use file::parse as parse_config;
pub use help::help;

/// The document `--generate` prints.
pub fn generate(what: Generate) -> String {
    match what {
        Generate::Man => man::page(),
        Generate::Bash => complete::bash(),
        Generate::Zsh => complete::zsh(),
        Generate::Fish => complete::fish(),
    }
}

/// The address used when `--listen` is not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7331";
/// The environment variable that may carry the token.
pub const TOKEN_ENV: &str = "WSGATE_AUTH_TOKEN";
/// The environment variable that may name a config file.
pub const CONFIG_FILE_ENV: &str = "WSGATE_CONFIG_FILE";

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
    /// `--generate WHAT`.
    Generate(Generate),
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

/// A value every command line has once the table's defaults are applied.
fn required<T>(value: Option<T>, name: &str) -> Result<T, UsageError> {
    value.ok_or_else(|| usage(format!("{name} has no value and no default")))
}

/// What the command line reads from the environment.
#[derive(Debug, Default)]
pub struct Env {
    /// `WSGATE_AUTH_TOKEN`.
    pub token: Option<OsString>,
    /// `WSGATE_CONFIG_FILE`.
    pub config_file: Option<OsString>,
}

impl Env {
    /// The variables of this process's environment.
    pub fn from_process() -> Env {
        Env {
            token: std::env::var_os(TOKEN_ENV),
            config_file: std::env::var_os(CONFIG_FILE_ENV),
        }
    }
}

/// Parses the arguments (without the program name) in the environment `env`; a
/// config file is read from the file system.
pub fn parse(args: Vec<OsString>, env: Env) -> Result<Command, UsageError> {
    parse_with(args, env, read_config)
}

/// [`parse`], with config files read by `read`.
pub fn parse_with(
    args: Vec<OsString>,
    env: Env,
    read: impl FnOnce(&Path) -> Result<String, String>,
) -> Result<Command, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let first = parser
        .try_raw_args()
        .and_then(|raw| raw.peek().map(|a| a.to_owned()));
    match first.as_ref().and_then(|a| a.to_str()) {
        Some(word @ ("list" | "pair")) => {
            let rest = raw(&mut parser);
            return match rest.len() {
                1 if word == "list" => Ok(Command::List),
                1 => Ok(Command::Pair),
                _ => Err(usage(format!("'{word}' takes no arguments"))),
            };
        }
        Some("token") => {
            let _ = parser.next();
            return parse_token(parser).map(Command::Token);
        }
        _ => {}
    }
    let serve = |place| matches!(place, Place::Serve(_));
    let (given, command) = read_args(&mut parser, serve, true)?;
    if given.iter().any(|(flag, _)| flag.stops) {
        // Done without a config file: `--help` works whatever the file says.
        let mut low = Low::default();
        apply(&mut low, given)?;
        return Ok(match (low.help, low.version, low.generate) {
            (true, ..) => Command::Help,
            (_, true, _) => Command::Version,
            (_, _, Some(what)) => Command::Generate(what),
            _ => return Err(usage("nothing to do")),
        });
    }
    let mut low = Low::default();
    let named = |name: &str| given.iter().find(|(f, _)| f.long == name);
    let config = match named("--config") {
        Some((_, value)) => value.clone().map(PathBuf::from),
        None => env.config_file.filter(|v| !v.is_empty()).map(PathBuf::from),
    };
    if let Some(path) = &config {
        let at = |line: usize| format!("{} line {line}", path.display());
        let text = read(path).map_err(|e| usage(format!("config file {e}")))?;
        let file = file::parse(&text)
            .map_err(|bad| usage(format!("{}: {}", at(bad.line), bad.message)))?;
        // A backend on the command line replaces the file's, with its options.
        let backend =
            command.is_some() || named("--echo").is_some() || named("--upstream").is_some();
        for entry in file.entries {
            let replaced = (!entry.flag.repeatable && named(entry.flag.long).is_some())
                || opposite(entry.flag.long).is_some_and(|o| named(o).is_some())
                || (backend && entry.flag.place == Place::Serve(Section::Backend));
            if !replaced {
                (entry.flag)
                    .record(&mut low, entry.value)
                    .map_err(|e| usage(format!("{}: {e}", at(entry.line))))?;
                low.given.push(entry.flag.long);
            }
        }
        if !backend {
            low.command = file.command.map(|(_, words)| words);
        }
    }
    apply(&mut low, given)?;
    low.config_file = config;
    if command.is_some() {
        low.command = command;
    }
    defaults(&mut low, serve)?;
    finish(low, env.token).map(|config| Command::Serve(Box::new(config)))
}

/// The switch that says the opposite of `long`: `--no-console` for `--console` and
/// the reverse, when both exist. On the command line, it replaces the file's.
fn opposite(long: &str) -> Option<&'static str> {
    let other = match long.strip_prefix("--no-") {
        Some(rest) => format!("--{rest}"),
        None => format!("--no-{}", long.strip_prefix("--")?),
    };
    FLAGS.iter().find(|f| f.long == other).map(|f| f.long)
}

/// Reads a config file, refusing one larger than [`file::MAX_SIZE`]; errors start with
/// its path.
fn read_config(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let fail = |e: &dyn fmt::Display| format!("{}: {e}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(file::MAX_SIZE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(&e))?;
    if bytes.len() as u64 > file::MAX_SIZE {
        return Err(fail(&format!("larger than {} bytes", file::MAX_SIZE)));
    }
    String::from_utf8(bytes).map_err(|_| fail(&"not UTF-8 text"))
}

/// Every argument left, as it is: no option is read among them.
fn raw(parser: &mut lexopt::Parser) -> Vec<OsString> {
    parser
        .try_raw_args()
        .map(|raw| raw.collect())
        .unwrap_or_default()
}

/// A flag as given, with its value.
type Given = (&'static Flag, Option<String>);

/// Reads the flags of one command (those whose place `of` accepts); with `command`,
/// everything after `--` is the program to run. A flag that [`Flag::stops`] ends the
/// reading at once.
fn read_args(
    parser: &mut lexopt::Parser,
    of: impl Fn(Place) -> bool + Copy,
    command: bool,
) -> Result<(Vec<Given>, Option<Vec<OsString>>), UsageError> {
    let mut given = Vec::new();
    loop {
        if command {
            if let Some(mut raw) = parser.try_raw_args() {
                if raw.peek().is_some_and(|a| a == "--") {
                    raw.next();
                    return Ok((given, Some(raw.collect())));
                }
            }
        }
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => return Err(usage(e.to_string())),
        };
        let Some(flag) = flags::find(of, &arg) else {
            return Err(match arg {
                lexopt::Arg::Value(value) if command => usage(format!(
                    "unexpected argument {:?}: a program to run goes after '--'",
                    value.to_string_lossy()
                )),
                lexopt::Arg::Value(value) => {
                    usage(format!("unexpected argument {:?}", value.to_string_lossy()))
                }
                other => usage(format!("unknown option {}", shown(&other))),
            });
        };
        let value = match flag.value {
            Some(what) => {
                let value = parser
                    .value()
                    .map_err(|_| usage(format!("{} needs a value ({what})", flag.long)))?;
                let value = value
                    .into_string()
                    .map_err(|_| usage(format!("the value of {} is not valid UTF-8", flag.long)))?;
                Some(value)
            }
            // `--switch=value`; a short switch is followed by the next of its cluster.
            None if matches!(arg, lexopt::Arg::Long(_)) && parser.optional_value().is_some() => {
                return Err(usage(format!("{} takes no value", flag.long)));
            }
            None => None,
        };
        given.push((flag, value));
        if flag.stops {
            break;
        }
    }
    Ok((given, None))
}

/// Records the flags as given.
fn apply(low: &mut Low, given: Vec<Given>) -> Result<(), UsageError> {
    for (flag, value) in given {
        flag.record(low, value)?;
        low.given.push(flag.long);
    }
    Ok(())
}

/// Records the table's defaults of the flags of one command that were not given.
fn defaults(low: &mut Low, of: impl Fn(Place) -> bool) -> Result<(), UsageError> {
    for flag in FLAGS.iter().filter(|f| of(f.place)) {
        if let Some(default) = flag.default.filter(|_| !low.given.contains(&flag.long)) {
            flag.record(low, Some(default.to_owned()))?;
        }
    }
    Ok(())
}

/// An option as it was written.
fn shown(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        lexopt::Arg::Long(name) => format!("--{name}"),
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Value(value) => value.to_string_lossy().into_owned(),
    }
}

/// The daemon's configuration from its flags, checked together.
fn finish(low: Low, env_token: Option<OsString>) -> Result<Config, UsageError> {
    let given = |name: &str| low.given.contains(&name);
    let mode = required(low.mode, "--auth")?;
    let upstream = low.upstream.map(|target| {
        let defaults = Options::default();
        let options = Options {
            timeout: low.upstream_timeout.unwrap_or(defaults.timeout),
            origin: low.upstream_origin.unwrap_or(defaults.origin),
            host: low.upstream_host.unwrap_or(defaults.host),
        };
        (target, options)
    });
    if upstream.is_none()
        && let Some(flag) = ["--upstream-timeout", "--upstream-origin", "--upstream-host"]
            .into_iter()
            .find(|f| given(f))
    {
        return Err(usage(format!("{flag} applies to --upstream URL")));
    }
    let backend =
        Spec::from_command_line(low.echo, upstream, low.command, low.binary).map_err(usage)?;
    // A page that can drive a program or a server is execution authority: only the
    // echo has it unless asked.
    let console = match (low.console, low.no_console) {
        (true, true) => return Err(usage("--console and --no-console contradict each other")),
        (true, false) => true,
        (false, true) => false,
        (false, false) => backend == Spec::Echo,
    };
    // A flag of another mode is refused, naming the mode it needs.
    for flag in FLAGS {
        let needs = match flag.place {
            Place::Serve(Section::Jwt) if mode != Mode::Jwt => "--auth jwt",
            Place::Serve(Section::Pairing) if flag.long == "--pairing" && mode != Mode::Store => {
                "--auth store"
            }
            Place::Serve(Section::Pairing) if flag.long != "--pairing" && !low.pairing => {
                "--pairing (with --auth store)"
            }
            _ if flag.long == "--auth-token-sha256" && mode != Mode::Bearer => "--auth bearer",
            _ => continue,
        };
        if given(flag.long) {
            return Err(usage(format!("{} needs {needs}", flag.long)));
        }
    }
    if matches!(mode, Mode::Jwt | Mode::Store) {
        let given = [
            ("--auth-token-file", low.token_file.is_some()),
            (TOKEN_ENV, env_token.is_some()),
            ("--auth-token", low.token_flag.is_some()),
        ];
        if let Some((source, _)) = given.iter().find(|(_, given)| *given) {
            let from = match mode {
                Mode::Jwt => "key comes from --jwt-secret-file",
                _ => "tokens come from the token store (wsgate token create)",
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
            pairing: match low.pairing {
                true => Some(PairingConfig {
                    scopes: low.pair_scopes,
                    expires: required(low.pair_expires, "--pair-expires")?,
                    code_lifetime: Duration::from_secs(required(
                        low.pair_code_ttl,
                        "--pair-code-ttl",
                    )?),
                }),
                false => None,
            },
        }
    } else if mode == Mode::Jwt {
        Auth::Jwt {
            key_file: low
                .jwt_key
                .ok_or_else(|| usage("--auth jwt needs --jwt-secret-file PATH"))?,
            rules: jwt::Rules {
                issuer: low.jwt_issuer,
                audience: low.jwt_audience,
                leeway: required(low.jwt_leeway, "--jwt-leeway")?,
            },
        }
    } else {
        Auth::Secret {
            mode,
            source: token_source(low.token_file, env_token, low.token_flag, low.token_digest)?,
        }
    };

    let listen = required(low.listen, "--listen")?;
    let loopback = listen.ip().is_loopback();
    let token_check = !low.no_token_check;
    if !token_check && !loopback {
        return Err(usage(format!(
            "--no-token-check is refused on the non-loopback address {listen}"
        )));
    }

    let mut policy = Policy::default();
    for origin in &low.allow_origins {
        policy
            .allow_origin(origin)
            .map_err(|e| usage(format!("--allow-origin {origin:?}: {e}")))?;
    }
    for host in &low.allow_hosts {
        policy
            .allow_host(host)
            .map_err(|e| usage(format!("--allow-host {host:?}: {e}")))?;
    }
    if !loopback {
        if listen.ip().is_unspecified() {
            // Any address of this machine: its names are not known here.
            policy.any_host = low.allow_hosts.is_empty();
        } else {
            let literal = match listen {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            };
            policy.hosts.push(literal);
        }
    }

    Ok(Config {
        listen,
        auth,
        token_check,
        console,
        policy,
        protocols: low.protocols,
        max_connections: required(low.max_connections, "--max-connections")?,
        max_message_size: required(low.max_message_size, "--max-message-size")?,
        liveness: crate::backend::Liveness {
            interval: required(low.ping_interval, "--ping-interval")?,
            timeout: required(low.ping_timeout, "--ping-timeout")?,
            idle: required(low.idle_timeout, "--idle-timeout")?,
        },
        log_format: required(low.log_format, "--log-format")?,
        backend,
        config_file: low.config_file,
    })
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

/// `wsgate token` and what follows it.
fn parse_token(mut parser: lexopt::Parser) -> Result<TokenCommand, UsageError> {
    let what =
        "'wsgate token' needs create, list, revoke ID|NAME, rename ID|NAME NEW-NAME or prune";
    let sub = match parser.next() {
        Ok(Some(lexopt::Arg::Value(sub))) => sub.into_string().unwrap_or_default(),
        _ => return Err(usage(what)),
    };
    let place = match sub.as_str() {
        "create" => Place::TokenCreate,
        "list" => Place::TokenList,
        "prune" => Place::TokenPrune,
        "revoke" => {
            // A name may start with `-`: the one argument is taken as it is.
            let who = match <[OsString; 1]>::try_from(raw(&mut parser)) {
                Ok([who]) => who.into_string().ok(),
                Err(_) => None,
            };
            return who
                .map(TokenCommand::Revoke)
                .ok_or_else(|| usage("'token revoke' takes one ID or NAME"));
        }
        "rename" => {
            // Like revoke's, both arguments are taken as they are.
            let args: Option<Vec<String>> = raw(&mut parser)
                .into_iter()
                .map(|a| a.into_string().ok())
                .collect();
            let [who, name] = args
                .and_then(|args| <[String; 2]>::try_from(args).ok())
                .ok_or_else(|| usage("'token rename' takes an ID or NAME and a NEW-NAME"))?;
            if !crate::store::valid_name(&name) {
                return Err(usage(format!(
                    "'token rename': the new name must be 1 to {} characters without control \
                     or bidirectional formatting characters or spaces at either end",
                    crate::store::MAX_NAME
                )));
            }
            return Ok(TokenCommand::Rename { who, name });
        }
        _ => return Err(usage(what)),
    };
    let of = |p| p == place;
    let low = read_args(&mut parser, of, false)
        .and_then(|(given, _)| {
            let mut low = Low::default();
            apply(&mut low, given)?;
            defaults(&mut low, of)?;
            Ok(low)
        })
        .map_err(|e| usage(format!("{e} (in 'token {sub}')")))?;
    Ok(match place {
        Place::TokenCreate => TokenCommand::Create {
            name: low.name,
            scopes: required(low.scopes, "--scope")?,
            expires: required(low.expires, "--expires")?,
        },
        Place::TokenList => TokenCommand::List { json: low.json },
        _ => TokenCommand::Prune {
            revoked: low.revoked,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Format;

    fn run(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from).collect(), Env::default())
    }

    fn with_token(args: Vec<OsString>, token: &str) -> Result<Command, UsageError> {
        let env = Env {
            token: Some(token.into()),
            ..Env::default()
        };
        parse(args, env)
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
    fn subcommands_read_their_arguments_as_before() {
        let revoke = |who: &str| run(&["token", "revoke", who]);
        assert_eq!(
            revoke("-laptop").ok().map(|c| format!("{c:?}")),
            Some("Token(Revoke(\"-laptop\"))".to_owned())
        );
        assert_eq!(
            run(&["token", "rename", "-old", "--new"])
                .ok()
                .map(|c| format!("{c:?}")),
            Some("Token(Rename { who: \"-old\", name: \"--new\" })".to_owned())
        );
        for args in [
            &["token", "revoke", "--", "x"][..],
            &["token", "revoke", "x", "--"],
            &["token", "revoke"],
            &["token", "rename", "x"],
            &["token", "rename", "x", "y", "z"],
            &["token", "rename", "x", ""],
            &["token", "rename", "x", " padded"],
            &["token", "rename", "x", "a\u{202e}b"],
            &["list", "--"],
            &["pair", "x"],
        ] {
            assert!(run(args).is_err(), "{args:?}");
        }
        assert!(matches!(
            run(&["--version", "--bogus"]),
            Ok(Command::Version)
        ));
        assert!(matches!(run(&["-V", "-h"]), Ok(Command::Version)));
        assert!(matches!(run(&["-hV"]), Ok(Command::Help)));
    }

    /// The daemon's configuration from `args` and a config file holding `file`.
    fn with_file(file: &str, args: &[&str]) -> Result<Config, UsageError> {
        let mut all = vec!["--config".into(), "f.conf".into()];
        all.extend(args.iter().map(OsString::from));
        match parse_with(all, Env::default(), |_| Ok(file.to_owned()))? {
            Command::Serve(config) => Ok(*config),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_file_then_command_line() {
        let c = with_file(
            "--listen 127.0.0.1:1\n--echo\n--allow-origin https://a.example\n",
            &[
                "--listen",
                "127.0.0.1:2",
                "--allow-origin",
                "https://b.example",
            ],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.policy.origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.config_file, Some(PathBuf::from("f.conf")));
        // A switch's opposite on the command line replaces it.
        assert!(
            !with_file("--echo\n--console\n", &["--no-console"])
                .unwrap()
                .console
        );
        assert!(
            with_file("--no-console\n-- cat\n", &["--console"])
                .unwrap()
                .console
        );
        // A backend on the command line replaces the file's, with its options.
        let c = with_file(
            "--upstream ws://127.0.0.1:9\n--upstream-timeout 2s\n",
            &["--echo"],
        )
        .unwrap();
        assert_eq!(c.backend, Spec::Echo);
        let c = with_file("--echo\n", &["--", "cat", "-u"]).unwrap();
        assert!(matches!(c.backend, Spec::Program { ref program, .. } if program == "cat"));
        let c = with_file("--binary\n-- sh -c 'exec cat'\n", &[]).unwrap();
        assert_eq!(
            c.backend,
            Spec::Program {
                program: "sh".into(),
                args: vec!["-c".into(), "exec cat".into()],
                binary: true
            }
        );
        // Within the file, a second --listen is an error naming its line.
        let e = with_file("--echo\n--listen 127.0.0.1:1\n--listen 127.0.0.1:2\n", &[]);
        assert!(
            matches!(e, Err(UsageError(m)) if m == "f.conf line 3: --listen given more than once")
        );
        // The environment names a file when --config does not.
        let env = Env {
            config_file: Some("env.conf".into()),
            ..Env::default()
        };
        let read = |p: &Path| match p == Path::new("env.conf") {
            true => Ok("--echo\n".to_owned()),
            false => Err(format!("{}: not there", p.display())),
        };
        assert!(matches!(
            parse_with(vec![], env, read),
            Ok(Command::Serve(_))
        ));
    }

    #[test]
    fn console_defaults() {
        let console = |args: &[&str]| config(args).console;
        assert!(console(&["--echo"]));
        assert!(!console(&["--echo", "--no-console"]));
        assert!(!console(&["--", "cat"]));
        assert!(console(&["--console", "--", "cat"]));
        assert!(
            !console(&["--", "cat", "--console"]),
            "the program's argument"
        );
        assert!(!console(&["--no-console", "--", "cat", "--console"]));
        assert!(!console(&["--upstream", "ws://127.0.0.1:9"]));
        assert!(console(&["--upstream", "tcp://127.0.0.1:9", "--console"]));
        assert!(console(&["--echo", "--console", "--console"]));
        let both = error(&["--echo", "--console", "--no-console"]);
        assert!(both.contains("--console and --no-console"), "{both}");
        assert!(error(&["--no-console", "--console", "--", "cat"]).contains("contradict"));
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
        let Ok(Command::Serve(env)) = with_token(vec!["--echo".into()], "0123456789abcdef") else {
            panic!("no config")
        };
        assert!(matches!(source(*env), TokenSource::Env(_)));
        let hex = "ab".repeat(32);
        let c = config(&["--echo", "--auth", "bearer", "--auth-token-sha256", &hex]);
        assert!(matches!(source(c), TokenSource::Digest(_)));
        let both = with_token(
            vec!["--echo".into(), "--auth-token-file".into(), "/x".into()],
            "0123456789abcdef",
        );
        assert!(matches!(both, Err(UsageError(m)) if m.contains("more than one token source")));
        let short = with_token(vec!["--echo".into()], "short");
        assert!(matches!(short, Err(UsageError(m)) if m.contains("WSGATE_AUTH_TOKEN is shorter")));
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "nothing to gate"),
            (&["--listen", "127.0.0.1:0"], "nothing to gate"),
            (&["--echo", "--", "cat"], "choose one backend"),
            (
                &["--echo", "--upstream", "ws://127.0.0.1:1"],
                "choose one backend",
            ),
            (
                &["--upstream", "ws://127.0.0.1:1", "--", "cat"],
                "choose one backend",
            ),
            (&["--upstream", "wss://127.0.0.1:1"], "TLS"),
            (
                &["--upstream", "ftp://h:1"],
                "--upstream ftp: is not an upstream scheme",
            ),
            (
                &["--upstream", "tcp://h:1", "--binary"],
                "--binary applies to a program",
            ),
            (
                &["--echo", "--upstream-timeout", "1s"],
                "--upstream-timeout applies to --upstream",
            ),
            (
                &["--upstream", "ws://h:1", "--upstream-timeout", "0s"],
                "not a timeout",
            ),
            (
                &["--upstream", "ws://h:1", "--upstream-origin", "x y"],
                "--upstream-origin must be",
            ),
            (
                &["--upstream", "ws://h:1", "--upstream-host", "a/b"],
                "--upstream-host must be",
            ),
            (&["--binary"], "--binary needs a program"),
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
                "--auth-token-file does not apply to --auth jwt, whose key comes from --jwt-secret-file",
            ),
            (
                &["--echo", "--auth", "store", "--auth-token-file", "/t"],
                "--auth-token-file does not apply to --auth store, whose tokens come from the token store",
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
        let env = with_token(
            vec![
                "--echo".into(),
                "--auth".into(),
                "jwt".into(),
                "--jwt-secret-file".into(),
                "/k".into(),
            ],
            "0123456789abcdef",
        );
        assert!(
            matches!(env, Err(UsageError(m)) if m.contains("WSGATE_AUTH_TOKEN does not apply"))
        );
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
}
