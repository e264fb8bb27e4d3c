//! Arguments → [`Command`]: an explicit loop over the arguments, taking them as a value
//! so tests call it without starting a process.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::log::Format;
use crate::policy::Policy;
use crate::token::{self, Secret};

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

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
wsgate: a token gate in front of a local tool's WebSocket

Usage:
  wsgate [OPTIONS] --echo                  gate a built-in echo (try it, benchmark it)
  wsgate [OPTIONS] -- COMMAND [ARGS...]    gate a program: one process per connection,
                                           messages over its stdin/stdout
  wsgate list                              print the connect URLs of your running instances

Options:
  --listen ADDR            IPv4 or [IPv6] address with port; port 0 picks a free one
                           (default 127.0.0.1:7331)
  --auth-token-file PATH   read the token from PATH (one trailing newline is trimmed)
  --auth-token VALUE       the token itself (visible in the process list: prefer the file
                           or WSGATE_AUTH_TOKEN)
                           With none of these nor WSGATE_AUTH_TOKEN, a 256-bit token is
                           generated. A supplied token has at least 16 bytes and no
                           whitespace or control characters.
  --no-token-check         accept connections with or without the token (loopback only)
  --allow-origin ORIGIN    also accept pages from ORIGIN (scheme://host[:port], 'null' or
                           '*'); repeatable. Loopback origins are always accepted.
  --allow-host HOST        also answer to Host HOST (any port); repeatable. Loopback names
                           are always accepted.
  --max-connections N      open connections at most (default 1024); more get 503
  --max-message-size N     largest message in bytes (default 1048576); larger closes 1009
  --binary                 program backend: raw bytes both ways instead of lines
  --log-format FORMAT      text (default) or json
  -h, --help               print this help
  -V, --version            print the version

Environment:
  WSGATE_AUTH_TOKEN        the token (instead of --auth-token-file / --auth-token)
  WSGATE_RUNTIME_DIR       where runtime files go (default $XDG_RUNTIME_DIR/wsgate, else
                           ${TMPDIR:-/tmp}/wsgate-$UID)
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the daemon.
    Serve(Box<Config>),
    /// `wsgate list`.
    List,
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// What each connection is relayed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The built-in echo.
    Echo,
    /// A program started per connection.
    Program {
        /// The program to run.
        program: OsString,
        /// Its arguments.
        args: Vec<OsString>,
        /// Raw bytes instead of lines.
        binary: bool,
    },
}

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
}

/// The daemon's configuration.
#[derive(Debug)]
pub struct Config {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Where the token comes from.
    pub token: TokenSource,
    /// `false` with `--no-token-check`.
    pub token_check: bool,
    /// Host and Origin rules, including what the listen address implies.
    pub policy: Policy,
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--max-message-size`.
    pub max_message_size: usize,
    /// `--log-format`.
    pub log_format: Format,
    /// What connections are relayed to.
    pub backend: Backend,
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
    let mut token_check = true;
    let mut allow_origins: Vec<String> = Vec::new();
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
            .map_err(|a| usage(format!("argument {a:?} is not valid UTF-8")))?;
        if first && arg == "list" {
            return match args.next() {
                None => Ok(Command::List),
                Some(extra) => Err(usage(format!("'list' takes no arguments, got {extra:?}"))),
            };
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
                token::validate(&v)
                    .map_err(|e| usage(format!("the token given with --auth-token {e}")))?;
                once(&name, token_flag.replace(Secret::new(v)).is_some())?;
            }
            "--allow-origin" => allow_origins.push(value("ORIGIN")?),
            "--allow-host" => allow_hosts.push(value("HOST")?),
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

    let backend = match (echo, command) {
        (true, Some(_)) => return Err(usage("choose either --echo or -- COMMAND, not both")),
        (false, None) => {
            return Err(usage(
                "nothing to gate: add --echo, or -- COMMAND [ARGS...]",
            ));
        }
        (false, Some(cmd)) if cmd.is_empty() => {
            return Err(usage("'--' must be followed by a COMMAND"));
        }
        (true, None) => {
            if binary {
                return Err(usage("--binary applies to a program backend, not --echo"));
            }
            Backend::Echo
        }
        (false, Some(mut cmd)) => {
            let program = cmd.remove(0);
            Backend::Program {
                program,
                args: cmd,
                binary,
            }
        }
    };

    let token = match (token_file, env_token, token_flag) {
        (None, None, None) => TokenSource::Generate,
        (Some(path), None, None) => TokenSource::File(path),
        (None, Some(env), None) => {
            let env = env
                .into_string()
                .map_err(|_| usage(format!("{TOKEN_ENV} is not valid UTF-8")))?;
            token::validate(&env).map_err(|e| usage(format!("the token in {TOKEN_ENV} {e}")))?;
            TokenSource::Env(Secret::new(env))
        }
        (None, None, Some(secret)) => TokenSource::Flag(secret),
        (file, env, flag) => {
            let mut given = Vec::new();
            if file.is_some() {
                given.push("--auth-token-file");
            }
            if env.is_some() {
                given.push(TOKEN_ENV);
            }
            if flag.is_some() {
                given.push("--auth-token");
            }
            return Err(usage(format!(
                "more than one token source ({}): use one",
                given.join(", ")
            )));
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
        token,
        token_check,
        policy,
        max_connections: max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_message_size: max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
        log_format: log_format.unwrap_or(Format::Text),
        backend,
    })))
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
    token::validate(trimmed).map_err(|e| format!("the token in {} {e}", path.display()))?;
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
        assert!(matches!(c.token, TokenSource::Generate));
        assert!(c.token_check);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.max_message_size, 1 << 20);
        assert_eq!(c.log_format, Format::Text);
        assert_eq!(c.backend, Backend::Echo);
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
            Backend::Program {
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
        let c = config(&["--echo", "--auth-token", "0123456789abcdef"]);
        assert!(matches!(c.token, TokenSource::Flag(_)));
        let c = config(&["--echo", "--auth-token-file", "/x"]);
        assert!(matches!(c.token, TokenSource::File(_)));
        let env = parse(vec!["--echo".into()], Some("0123456789abcdef".into())).unwrap();
        assert!(matches!(env, Command::Serve(c) if matches!(c.token, TokenSource::Env(_))));
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
