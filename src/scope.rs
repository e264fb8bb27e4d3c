//! Scopes: what an accepted connection may do. A managed token carries them, pairing
//! hands them out, a backend requires some, and the relay enforces them.
//!
//! | scope | without it |
//! | --- | --- |
//! | `read` | the client receives nothing from the backend |
//! | `write` | the first data message the client sends closes the session (1008) |
//! | `exec` | a backend that starts a process or reaches another service refuses (403) |

use std::fmt;

/// A set of scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Receive from the backend.
    pub const READ: Scopes = Scopes(1);
    /// Send to the backend.
    pub const WRITE: Scopes = Scopes(2);
    /// Have a process started (or another service reached) for the connection.
    pub const EXEC: Scopes = Scopes(4);
    /// All scopes: what a single shared secret grants.
    pub const ALL: Scopes = Scopes(7);
    /// No scope at all.
    pub const NONE: Scopes = Scopes(0);
    /// Read and write, not exec.
    pub const READ_WRITE: Scopes = Scopes(3);
    /// Each scope and its name, in the order they are written.
    const NAMED: [(Scopes, &'static str); 3] = [
        (Scopes::READ, "read"),
        (Scopes::WRITE, "write"),
        (Scopes::EXEC, "exec"),
    ];

    /// Whether every scope in `other` is held.
    pub fn contains(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    /// The scopes held in either.
    pub const fn with(self, other: Scopes) -> Scopes {
        Scopes(self.0 | other.0)
    }

    /// The scopes of `other` not held here.
    pub const fn lacking(self, other: Scopes) -> Scopes {
        Scopes(other.0 & !self.0)
    }

    /// Reads `read,write,exec` (any non-empty subset, each once, any order).
    pub fn parse(text: &str) -> Option<Scopes> {
        let mut bits = 0u8;
        for name in text.split(',') {
            let (scope, _) = Scopes::NAMED.into_iter().find(|&(_, n)| n == name)?;
            let bit = scope.0;
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        Some(Scopes(bits))
    }

    /// The scope names held, in the order read, write, exec.
    pub fn names(self) -> Vec<&'static str> {
        (Scopes::NAMED.into_iter())
            .filter(|&(g, _)| self.contains(g))
            .map(|(_, n)| n)
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        assert_eq!(Scopes::parse("read,write,exec"), Some(Scopes::ALL));
        assert_eq!(Scopes::parse("exec,read"), Scopes::parse("read,exec"));
        assert_eq!(
            Scopes::parse("read").map(|g| g.to_string()).as_deref(),
            Some("read")
        );
        for bad in ["", "read,", "admin", "read,read", "Read", "read write"] {
            assert_eq!(Scopes::parse(bad), None, "{bad}");
        }
        assert_eq!(Scopes::ALL.names(), vec!["read", "write", "exec"]);
    }

    #[test]
    fn scopes_display() {
        assert_eq!(Scopes::ALL.to_string(), "read,write,exec");
        assert_eq!(Scopes::READ.to_string(), "read");
        assert!(Scopes::ALL.contains(Scopes::EXEC));
        assert!(!Scopes::READ.contains(Scopes::WRITE));
    }

    #[test]
    fn scopes_combine() {
        assert_eq!(Scopes::READ_WRITE.with(Scopes::EXEC), Scopes::ALL);
        assert_eq!(Scopes::READ.with(Scopes::NONE), Scopes::READ);
        assert_eq!(Scopes::READ_WRITE.lacking(Scopes::ALL), Scopes::EXEC);
        assert_eq!(Scopes::ALL.lacking(Scopes::EXEC), Scopes::NONE);
        assert_eq!(Scopes::READ.lacking(Scopes::NONE), Scopes::NONE);
    }
}
