//! What the daemon is configured with: a plain value, built by the command line (or
//! by a test) and handed to the server, which never reads arguments itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::backend::Spec;
use crate::jwt;
use crate::log::Format;
use crate::outcome::Mode;
use crate::pairing::PairingConfig;
use crate::policy::Policy;
use crate::secret::{Digest, Secret};

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
    /// Whether `/_wsgate/console` is served: `--console`, `--no-console`, or by
    /// default for the echo only.
    pub console: bool,
    /// Host and Origin rules, including what the listen address implies.
    pub policy: Policy,
    /// `--protocol`: the subprotocols the backend speaks.
    pub protocols: Vec<String>,
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--max-message-size`.
    pub max_message_size: usize,
    /// `--ping-interval`, `--ping-timeout` and `--idle-timeout`.
    pub liveness: crate::backend::Liveness,
    /// `--log-format`.
    pub log_format: Format,
    /// What connections are relayed to.
    pub backend: Spec,
    /// The config file the options were read from, if any.
    pub config_file: Option<PathBuf>,
}
