//! A program per connection, websocketd's model: messages from the client go to the
//! program's stdin, its stdout comes back as messages, its stderr goes to the log.
//!
//! - Text mode: each client message is written followed by `\n`; each line of stdout
//!   (without `\n` or `\r\n`) is one text message, or a binary one when it is not
//!   UTF-8. A line longer than `--max-message-size` is sent in pieces of that size.
//! - `--binary`: bytes both ways, each stdout read one binary message.
//!
//! The two directions run concurrently and each waits for its writer, so a slow client
//! or a slow program makes the other side wait and nothing buffers without bound.
//! The client is pinged like every session's (see `session::Pulse`), so a client that
//! went away is noticed even when the program says and reads nothing.
//!
//! The program runs in a process group of its own, and the whole group ends with the
//! session. When the program exits its remaining output is delivered (for at most
//! [`relay::OUTPUT_GRACE`] if something it started still holds its stdout), then the
//! socket closes with 1000 (status 0) or 1011. When the client goes away the program's
//! stdin is closed; the group gets SIGTERM [`process::TERM_AFTER`] later and SIGKILL
//! [`process::KILL_AFTER`] after that. The program is always reaped, and a
//! [`process::Program`] that is dropped early (a cancelled handshake, a panic) kills
//! its group.
//!
//! Parts: [`process`] (finding, starting and ending programs), [`env`] (what a program
//! is told), [`relay`] (the session), [`lines`] (reading its output).

mod env;
mod lines;
mod process;
pub mod reaper;
mod relay;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::Arc;

use super::{
    Backend, BoxFuture, Context, Failed, Opening, Outcome, Selected, Session, Settings, Upgraded,
};
use crate::bearer;
use crate::outcome::Reason;
use crate::redact::Secrets;
use crate::scope::Scopes;
use process::{Program, Programs};
use relay::Framing;

/// The program backend.
pub struct Exec {
    program: PathBuf,
    args: Vec<OsString>,
    binary: bool,
    protocols: Vec<String>,
    max_message: usize,
    base_env: Vec<(OsString, OsString)>,
    programs: Arc<Programs>,
}

impl Exec {
    /// A backend starting `program` with `args` for each connection; a bare name is
    /// looked up in the `PATH` of `settings.env` now, once.
    pub fn new(
        program: &OsStr,
        args: Vec<OsString>,
        binary: bool,
        settings: Settings,
    ) -> Result<Exec, String> {
        let path = settings
            .env
            .iter()
            .find(|(name, _)| name == "PATH")
            .map(|(_, value)| value.clone());
        let program = process::resolve(program, path)?;
        let own = std::env::current_exe().map_err(|e| {
            format!("cannot find wsgate's own file to start the program reaper: {e}")
        })?;
        Ok(Exec {
            program,
            args,
            binary,
            protocols: settings.protocols,
            max_message: settings.max_message_size,
            base_env: env::base(settings.env.into_iter(), &settings.secrets),
            programs: Arc::new(Programs::new(Some(reaper::Reaper::start(&own)?))),
        })
    }
}

impl Backend for Exec {
    fn name(&self) -> String {
        format!("exec:{}", self.program.display())
    }

    fn kind(&self) -> &'static str {
        "program"
    }

    fn requires(&self) -> Scopes {
        Scopes::EXEC
    }

    fn open<'s: 'o, 'o>(
        &'s self,
        opening: Opening<'o>,
    ) -> BoxFuture<'o, Result<Box<dyn Session + 's>, Failed>> {
        let protocol = bearer::select(opening.upgrade.common.headers, &self.protocols);
        let env = env::environment(&self.base_env, &opening, protocol);
        let started = process::spawn(self.program.as_os_str(), &self.args, env, &self.programs);
        let hidden = opening.secrets.clone();
        Box::pin(async move {
            let program = started.map_err(|e| Failed {
                reason: Reason::BackendFailed,
                error: e.to_string(),
                fields: Vec::new(),
            })?;
            let session: Box<dyn Session + 's> = Box::new(Running {
                program,
                protocol,
                binary: self.binary,
                max_message: self.max_message,
                hidden,
            });
            Ok(session)
        })
    }

    fn shutdown(&self) {
        self.programs.kill_all();
    }
}

/// A started program, waiting for the 101 to be written.
struct Running<'b> {
    /// Killed with its group if dropped before the relay.
    program: Program,
    protocol: Option<&'b str>,
    binary: bool,
    max_message: usize,
    hidden: Secrets,
}

impl Session for Running<'_> {
    fn selected(&self) -> Selected<'_> {
        Selected {
            protocol: self.protocol,
            extensions: None,
            accept: None,
        }
    }

    fn relay<'a>(self: Box<Self>, upgraded: Upgraded, cx: Context<'a>) -> BoxFuture<'a, Outcome> {
        let Running {
            program,
            binary,
            max_message,
            hidden,
            ..
        } = *self;
        let framing = Framing {
            binary,
            max_message,
            scopes: cx.scopes,
        };
        Box::pin(async move {
            upgraded
                .relay_messages(max_message, &cx, |ws| {
                    relay::relay(ws, program, framing, hidden, cx)
                })
                .await
        })
    }
}
