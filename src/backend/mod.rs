//! Backends: what an accepted WebSocket is relayed to.
//!
//! A backend is a value behind [`Backend`]: the scopes it requires, [`Backend::open`]
//! before the 101 (start a program; a failure is answered 502 and nothing is
//! upgraded), what the 101 selects ([`Session::selected`]), [`Session::relay`] after
//! it, and a shutdown hook. [`Spec`] names one as the command line does, and [`build`]
//! makes it: the one place that knows every kind. The server calls `open` once and
//! `relay` once per connection, and never asks which kind it has.
//!
//! - [`echo`]: every message back to its sender.
//! - [`exec`]: a program per connection over stdin/stdout (websocketd's model).
//! - [`upstream`]: an existing WebSocket server, or a byte stream, over TCP or a Unix
//!   socket (a reverse proxy).
//!
//! A new backend is one file here, one [`Spec`] variant and one arm in [`build`].

mod echo;
mod exec;
pub use exec::reaper;
mod race;
mod session;
mod upstream;

use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::auth::Grant;
use crate::log::Owned;
use crate::outcome::Reason;
use crate::redact::Secrets;
use crate::request::Upgrade;
use crate::scope::Scopes;

pub use session::{Context, Liveness, Outcome, Revocation, Upgraded, linger};
pub use upstream::{
    Address, BadAnswer, HostRule, Kind, Offered, Options, OriginRule, Target, header_safe,
    parse_answer, parse_timeout,
};

/// A future a backend returns, boxed so that [`Backend`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend as the command line names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `--echo`: the built-in echo.
    Echo,
    /// `-- COMMAND [ARGS...]`: a program started per connection.
    Program {
        /// The program to run.
        program: OsString,
        /// Its arguments.
        args: Vec<OsString>,
        /// `--binary`: raw bytes instead of lines.
        binary: bool,
    },
    /// `--upstream URL`: an existing server.
    Upstream {
        /// Where it is and what it speaks.
        target: Target,
        /// How it is reached.
        options: Options,
    },
}

impl Spec {
    /// The one backend a command line names: `--echo`, `--upstream` (`upstream`, with
    /// its options) or `-- COMMAND [ARGS...]` (`command`, everything after `--`),
    /// exactly one; `binary` is `--binary`, which only a program takes. Errors are
    /// usage errors.
    pub fn from_command_line(
        echo: bool,
        upstream: Option<(Target, Options)>,
        command: Option<Vec<OsString>>,
        binary: bool,
    ) -> Result<Spec, String> {
        let named =
            usize::from(echo) + usize::from(upstream.is_some()) + usize::from(command.is_some());
        if named > 1 {
            return Err("choose one backend: --echo, --upstream URL or -- COMMAND".into());
        }
        if binary && command.is_none() {
            if named == 0 {
                return Err("--binary needs a program: add -- COMMAND [ARGS...]".into());
            }
            return Err("--binary applies to a program backend (-- COMMAND)".into());
        }
        if echo {
            return Ok(Spec::Echo);
        }
        if let Some((target, options)) = upstream {
            return Ok(Spec::Upstream { target, options });
        }
        match command {
            None => {
                Err("nothing to gate: add --echo, --upstream URL, or -- COMMAND [ARGS...]".into())
            }
            Some(command) if command.is_empty() => Err("'--' must be followed by a COMMAND".into()),
            Some(mut command) => {
                let program = command.remove(0);
                Ok(Spec::Program {
                    program,
                    args: command,
                    binary,
                })
            }
        }
    }
}

/// What every backend is built with. No `Debug`: the daemon's environment may hold a
/// secret (it is filtered only when a program's environment is made from it).
pub struct Settings {
    /// `--protocol`: the subprotocols the backend speaks.
    pub protocols: Vec<String>,
    /// `--max-message-size`.
    pub max_message_size: usize,
    /// The daemon's environment (for a program's).
    pub env: Vec<(OsString, OsString)>,
    /// The daemon's own secrets, fixed at startup: kept from anything a backend is
    /// given.
    pub secrets: Secrets,
}

/// Builds the backend `spec` names: the one place that knows every kind. Errors are
/// startup failures (a program not found), in one line.
pub fn build(spec: Spec, settings: Settings) -> Result<Arc<dyn Backend>, String> {
    Ok(match spec {
        Spec::Echo => Arc::new(echo::Echo::new(settings)),
        Spec::Program {
            program,
            args,
            binary,
        } => Arc::new(exec::Exec::new(&program, args, binary, settings)?),
        Spec::Upstream { target, options } => {
            Arc::new(upstream::Upstream::new(target, options, settings))
        }
    })
}

/// What a connection is relayed to.
pub trait Backend: Send + Sync {
    /// How the `listening` line names it (`echo`, `exec:/bin/cat`).
    fn name(&self) -> String;

    /// Its kind alone, for the health answer: `echo`, `program` or `upstream`.
    fn kind(&self) -> &'static str;

    /// The scopes every connection needs (`exec` for a program).
    fn requires(&self) -> Scopes;

    /// Prepares the backend for one accepted upgrade, before the 101 is written.
    fn open<'s: 'o, 'o>(
        &'s self,
        opening: Opening<'o>,
    ) -> BoxFuture<'o, Result<Box<dyn Session + 's>, Failed>>;

    /// Ends whatever is still running for sessions the daemon could not wait for, as it
    /// exits.
    fn shutdown(&self) {}
}

/// A backend opened for one connection.
pub trait Session: Send {
    /// What the 101 selects.
    fn selected(&self) -> Selected<'_>;

    /// What the `accept` and `close` lines say of it besides (the upstream's address,
    /// the time to connect to it); never a secret.
    fn fields(&self) -> Vec<(&'static str, Owned)> {
        Vec::new()
    }

    /// Relays the upgraded connection until either side ends it, then closes both.
    fn relay<'a>(self: Box<Self>, upgraded: Upgraded, cx: Context<'a>) -> BoxFuture<'a, Outcome>;
}

/// What the 101 selects for a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selected<'a> {
    /// The subprotocol: one of wsgate's own names, never client bytes.
    pub protocol: Option<&'a str>,
    /// The extensions agreed on, when the backend negotiates them.
    pub extensions: Option<&'a str>,
    /// The `Sec-WebSocket-Accept` value, when the backend computed it already.
    pub accept: Option<&'a str>,
}

/// What [`Backend::open`] knows of the connection.
#[derive(Clone, Copy, Debug)]
pub struct Opening<'a> {
    /// The accepted upgrade.
    pub upgrade: &'a Upgrade<'a>,
    /// What the gate granted.
    pub grant: &'a Grant,
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the daemon listens on.
    pub local: SocketAddr,
    /// The connection id.
    pub conn: u64,
    /// Everything this connection must not pass on: the daemon's secrets and every
    /// credential the request presented.
    pub secrets: &'a Secrets,
}

/// Why a backend could not be opened: the reason the client is answered with, and
/// what the log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    /// The rejection's reason (`backend-failed`).
    pub reason: Reason,
    /// What went wrong, for the log (never client bytes).
    pub error: String,
    /// What else the log lines about it say (the upstream's address).
    pub fields: Vec<(&'static str, Owned)>,
}
