//! Authority: a listener's one mode, and the [`Decision`] it reaches for a request.
//!
//! Every outcome is explained by the mode plus one [`Reason`]. Connection authority is
//! all a decision grants: having connected gives a client the [`Grants`] listed here
//! and nothing more.

use std::fmt;

use crate::outcome::Reason;
use crate::request::Upgrade;
use crate::token::{self, Digest, Presented, Secret};

/// How a listener authenticates upgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One secret, presented as `?token=`.
    QueryToken,
}

impl Mode {
    /// The mode's name in logs, health output and the runtime file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::QueryToken => "query-token",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes an accepted connection holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grants(u8);

impl Grants {
    /// Receive from the backend.
    pub const READ: Grants = Grants(1);
    /// Send to the backend.
    pub const WRITE: Grants = Grants(2);
    /// Have a process started for the connection.
    pub const EXEC: Grants = Grants(4);
    /// All scopes: what a single shared secret grants.
    pub const ALL: Grants = Grants(7);

    /// Whether every scope in `other` is held.
    pub fn contains(self, other: Grants) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Display for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Grants::READ, "read"),
            (Grants::WRITE, "write"),
            (Grants::EXEC, "exec"),
        ];
        let mut first = true;
        for (scope, name) in names {
            if self.contains(scope) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// What the authority decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let the connection through.
    Accept {
        /// `valid-token` or `token-check-disabled`.
        reason: Reason,
        /// What the connection may do.
        grants: Grants,
    },
    /// Refuse it.
    Reject(Reason),
}

/// A listener's authority: its mode, what it checks against, and whether it enforces.
pub struct Authority {
    mode: Mode,
    digest: Digest,
    enforce: bool,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("mode", &self.mode)
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// The default mode: `?token=` checked against one secret. With `enforce` false
    /// (`--no-token-check`) every well-formed request is accepted, with reason
    /// `token-check-disabled`.
    pub fn query_token(secret: &Secret, enforce: bool) -> Authority {
        Authority {
            mode: Mode::QueryToken,
            digest: secret.digest(),
            enforce,
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether credentials are checked (false under `--no-token-check`).
    pub fn enforced(&self) -> bool {
        self.enforce
    }

    /// Decides an upgrade. A malformed query is rejected in every mode, checked or
    /// not: it is not a question of credentials.
    pub fn decide(&self, upgrade: &Upgrade<'_>) -> Decision {
        let presented = match token::from_query(token::query_of(upgrade.target()).as_bytes()) {
            Ok(presented) => presented,
            Err(_) => return Decision::Reject(Reason::MalformedRequest),
        };
        if !self.enforce {
            return Decision::Accept {
                reason: Reason::TokenCheckDisabled,
                grants: Grants::ALL,
            };
        }
        match presented {
            Presented::Missing => Decision::Reject(Reason::MissingToken),
            Presented::Duplicate => Decision::Reject(Reason::DuplicateToken),
            Presented::One(secret) if secret.digest().matches(&self.digest) => Decision::Accept {
                reason: Reason::ValidToken,
                grants: Grants::ALL,
            },
            Presented::One(_) => Decision::Reject(Reason::InvalidToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Common, Upgrade};

    const SECRET: &str = "correct-horse-battery-staple";

    fn decide(enforce: bool, target: &str) -> Decision {
        let auth = Authority::query_token(&Secret::new(SECRET), enforce);
        auth.decide(&Upgrade {
            common: Common {
                target,
                host: b"localhost",
                origin: None,
            },
            key: b"dGhlIHNhbXBsZSBub25jZQ==",
            headers: &[],
        })
    }

    const VALID: Decision = Decision::Accept {
        reason: Reason::ValidToken,
        grants: Grants::ALL,
    };
    const DISABLED: Decision = Decision::Accept {
        reason: Reason::TokenCheckDisabled,
        grants: Grants::ALL,
    };

    #[test]
    fn enforced() {
        let cases = [
            ("/?token=correct-horse-battery-staple", VALID),
            ("/x?a=1&token=correct-horse-battery-staple", VALID),
            ("/?token=correct%2Dhorse-battery-staple", VALID),
            ("/", Decision::Reject(Reason::MissingToken)),
            ("/?token=", Decision::Reject(Reason::MissingToken)),
            ("/?token=wrong", Decision::Reject(Reason::InvalidToken)),
            (
                "/?token=correct-horse-battery-stapl",
                Decision::Reject(Reason::InvalidToken),
            ),
            (
                "/?token=correct-horse-battery-staplee",
                Decision::Reject(Reason::InvalidToken),
            ),
            (
                "/?token=correct+horse",
                Decision::Reject(Reason::InvalidToken),
            ),
            (
                "/?token=correct-horse-battery-staple&tok%65n=x",
                Decision::Reject(Reason::DuplicateToken),
            ),
            ("/?token=%zz", Decision::Reject(Reason::MalformedRequest)),
        ];
        for (target, want) in cases {
            assert_eq!(decide(true, target), want, "{target}");
        }
    }

    #[test]
    fn not_enforced() {
        assert_eq!(decide(false, "/"), DISABLED);
        assert_eq!(decide(false, "/?token=wrong"), DISABLED);
        assert_eq!(decide(false, "/?token=a&token=b"), DISABLED);
        assert_eq!(
            decide(false, "/?token=%4"),
            Decision::Reject(Reason::MalformedRequest)
        );
    }

    #[test]
    fn grants_display() {
        assert_eq!(Grants::ALL.to_string(), "read,write,exec");
        assert_eq!(Grants::READ.to_string(), "read");
        assert!(Grants::ALL.contains(Grants::EXEC));
        assert!(!Grants::READ.contains(Grants::WRITE));
    }

    #[test]
    fn debug_hides_digest() {
        let auth = Authority::query_token(&Secret::new(SECRET), true);
        let printed = format!("{auth:?}");
        assert!(!printed.contains(SECRET));
        assert!(printed.contains("query-token") || printed.contains("QueryToken"));
    }
}
