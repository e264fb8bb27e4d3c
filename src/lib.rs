//! wsgate: a token gate in front of a local tool's WebSocket.
//!
//! The library is the `wsgate` command: [`run`] is all `main` calls. Its modules are
//! private; what wsgate's own fuzz targets, benchmarks and tests need of them is
//! re-exported in [`internal`], which is not a stable interface.
//!
//! Imports flow one way, and no two modules import each other. At the bottom, values
//! and pure parsers: `request` (the opening handshake), `form` (the query codec),
//! `secret` (secrets held and presented), `frames` (frame boundaries in a relayed
//! byte stream), `redact` (the one place that decides whether
//! bytes hold a secret), `scope`, `bearer`, `jwt`, `policy`, `outcome` (modes, reasons
//! and statuses), `response`, `page` (the pages wsgate serves itself, and their
//! policy), `console` (the console page and its link), `date`, `log`, `user_agent`
//! (the browser and platform a `User-Agent` names), and `store`'s format and lookup (its files,
//! through `fs`, are `store::files`). Above them, decisions: `auth` (the authority
//! modes), `gate` (route, policy, authority), `pairing`. Then I/O: `runtime`, `fs`,
//! `backend` (what a connection is relayed to), `shutdown`, `server`, `manage` (the
//! commands that are not the daemon). `config` is what the daemon is configured with, a
//! value made of the others' values (a `backend::Spec` among them) that the server
//! receives; on top, `cli` builds it from the command line.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod backend;
mod bearer;
mod cli;
mod config;
mod console;
mod date;
mod form;
mod frames;
mod fs;
mod gate;
mod jwt;
mod log;
mod manage;
mod outcome;
mod page;
mod pairing;
mod policy;
mod redact;
mod request;
mod response;
mod runtime;
mod scope;
mod secret;
mod server;
mod shutdown;
mod store;
mod user_agent;

use std::ffi::OsString;
use std::process::ExitCode;

use cli::Command;
pub use cli::Env;

/// The version printed by `--version` and reported by the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the `wsgate` command line: `args` without the program name, in the
/// environment `env` (what it reads of it). Errors print once, on stderr; the exit
/// status is 2 for a usage error, 1 for a failure.
pub fn run(args: Vec<OsString>, env: cli::Env) -> ExitCode {
    // The program reaper, started by the daemon itself: not a command line anyone
    // types.
    if args.first().is_some_and(|a| a == backend::reaper::ARG) && args.len() == 1 {
        return backend::reaper::run();
    }
    let command = match cli::parse(args, env) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("wsgate: {e} (see 'wsgate --help')");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", cli::help());
            Ok(())
        }
        Command::Version => {
            println!("wsgate {VERSION}");
            Ok(())
        }
        Command::Generate(what) => {
            print!("{}", cli::generate(what));
            Ok(())
        }
        Command::List => runtime::list(&runtime::dir()).map(|instances| {
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
            for instance in instances {
                println!("{}", instance.listing(terminal));
            }
        }),
        Command::Pair => manage::pair(&mut std::io::stdout()),
        Command::Token(command) => {
            manage::token(command, &mut std::io::stdout(), &mut std::io::stderr())
        }
        Command::Serve(config) => server::run(*config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsgate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What wsgate's own fuzz targets, benchmarks and tests use of the library's private
/// modules, under the same module names. **Not a stable interface**: anything here may
/// change or go in any release.
#[doc(hidden)]
pub mod internal {
    /// See the crate's `backend` module.
    pub mod backend {
        pub use crate::backend::{
            Address, BadAnswer, Kind, Offered, Target, parse_answer, parse_timeout,
        };
    }
    /// See the crate's `auth` module.
    pub mod auth {
        pub use crate::auth::{Authority, Decision, Grant};
    }
    /// See the crate's `bearer` module.
    pub mod bearer {
        pub use crate::bearer::{
            MARKER, SUBPROTOCOL_PREFIX, credential, is_credential_entry, parse_authorization,
            parse_subprotocols, select, subprotocol_for, without_credential,
        };
    }
    /// See the crate's `cli` module.
    pub mod cli {
        pub use crate::cli::{Command, Env, parse, parse_config, parse_with};
    }
    /// See the crate's `date` module.
    pub mod date {
        pub use crate::date::parse;
    }
    /// See the crate's `form` module.
    pub mod form {
        pub use crate::form::{
            MalformedQuery, decode, decode_lossy, path_of, percent_encode, query_of, without,
        };
    }
    /// See the crate's `frames` module.
    pub mod frames {
        pub use crate::frames::{Head, Invalid, MAX_HEAD, Step, Tracker, close_frame, opcode};
    }
    /// See the crate's `gate` module.
    pub mod gate {
        pub use crate::gate::{Gate, Verdict};
    }
    /// See the crate's `jwt` module.
    pub mod jwt {
        pub use crate::jwt::{JwtError, Rules, encode, sign, split, verify};
    }
    /// See the crate's `outcome` module.
    pub mod outcome {
        pub use crate::outcome::{Mode, Reason};
    }
    /// See the crate's `pairing` module.
    pub mod pairing {
        pub use crate::pairing::{code_from_body, paired_name, return_from_body, return_origin};
    }
    /// See the crate's `policy` module.
    pub mod policy {
        pub use crate::policy::{Policy, is_loopback_name, split_port};
    }
    /// See the crate's `redact` module.
    pub mod redact {
        pub use crate::redact::{MAX_DECODINGS, MIN_BASE64, REDACTED, Secrets, pairs, target};
    }
    /// See the crate's `request` module.
    pub mod request {
        pub use crate::request::{Head, Header, Route, header_storage, parse, route};
    }
    /// See the crate's `response` module.
    pub mod response {
        pub use crate::response::{check, health, reject, switching_protocols};
    }
    /// See the crate's `scope` module.
    pub mod scope {
        pub use crate::scope::Scopes;
    }
    /// See the crate's `secret` module.
    pub mod secret {
        pub use crate::secret::{Credential, PARAM, Presented, Secret, from_query};
    }
    /// See the crate's `user_agent` module.
    pub mod user_agent {
        pub use crate::user_agent::{Agent, BROWSERS, MAX_PRODUCT, PLATFORMS, describe};
    }
    /// See the crate's `store` module.
    pub mod store {
        pub use crate::store::{MAX_NAME, parse, serialize, valid_id, valid_name};
    }
}
