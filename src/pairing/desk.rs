//! The pairing desk of a running daemon: the current code behind a lock, drawn from
//! the operating system's generator, judged against the clock, and kept among the
//! secrets the daemon hides for as long as it is the code.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PairingConfig;
use super::page::Page;
use super::{Attempt, Code, Pairing};
use crate::redact::{Held, Secrets};

/// Pairing: the current code and what a pairing hands out.
pub struct Desk {
    /// `--pair-scopes`, `--pair-expires`, `--pair-code-ttl`.
    pub config: PairingConfig,
    state: Mutex<Pairing>,
    /// The pairing page.
    pub page: Page,
    /// The pairing link without its code: `http://HOST:PORT/_wsgate/pair#code=`.
    link: String,
    /// Where the current code is hidden from logs and backends.
    held: Arc<Held>,
}

impl Desk {
    /// A desk with a fresh code, linked from `link` (which the code completes). The
    /// code is hidden through `held` for as long as it is current.
    pub fn new(config: PairingConfig, link: String, held: Arc<Held>) -> Result<Desk, String> {
        let code = fresh_code()?;
        let desk = Desk {
            state: Mutex::new(Pairing::new(code, Instant::now(), config.code_lifetime)),
            config,
            page: Page::new(),
            link,
            held,
        };
        desk.hide(&desk.state());
        Ok(desk)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Pairing> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Makes the code in `state` the one hidden (called under the state's lock, so the
    /// code is hidden before anyone can be shown it).
    fn hide(&self, state: &Pairing) {
        let mut code = Secrets::new();
        code.add(state.code().reveal().as_bytes());
        self.held.replace_current(code);
    }

    /// The current code, its link and how long it has left.
    pub fn current(&self) -> Shown {
        let state = self.state();
        Shown {
            code: state.code(),
            link: format!("{}{}", self.link, state.code().reveal()),
            expires_in: state.expires().saturating_duration_since(Instant::now()),
            generation: state.generation,
        }
    }

    /// Judges a presented code.
    pub fn attempt(&self, presented: &[u8]) -> Result<Attempt, String> {
        let fresh = fresh_code()?;
        let mut state = self.state();
        let attempt = state.attempt(presented, Instant::now(), fresh);
        self.hide(&state);
        Ok(attempt)
    }

    /// Replaces the code when it has expired; returns whether it did.
    pub fn refresh(&self) -> Result<bool, String> {
        let fresh = fresh_code()?;
        let mut state = self.state();
        let replaced = state.refresh(Instant::now(), fresh);
        if replaced {
            self.hide(&state);
        }
        Ok(replaced)
    }

    /// How long until the current code expires.
    pub fn remaining(&self) -> Duration {
        self.state()
            .expires()
            .saturating_duration_since(Instant::now())
    }
}

fn fresh_code() -> Result<Code, String> {
    Code::draw(getrandom::u32).map_err(|e| format!("cannot draw a pairing code: {e}"))
}

/// A code as the operator is shown it.
pub struct Shown {
    /// The code.
    pub code: Code,
    /// `http://HOST:PORT/_wsgate/pair#code=NNNNNN`.
    pub link: String,
    /// Time left.
    pub expires_in: Duration,
    /// Which code this is.
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scopes;

    #[test]
    fn the_current_code_is_hidden() {
        let held = Arc::new(Held::default());
        let config = PairingConfig {
            scopes: Scopes::READ_WRITE,
            expires: None,
            code_lifetime: Duration::from_secs(60),
        };
        let desk = Desk::new(config, "http://x/_wsgate/pair#code=".into(), held.clone()).unwrap();
        let first = desk.current();
        assert!(held.holds(format!("code={}", first.code.reveal()).as_bytes()));
        assert!(first.link.ends_with(first.code.reveal()));
        // Five wrong guesses replace it: the new one is hidden, the old one no longer.
        let wrong = if first.code.reveal() == "000000" {
            "111111"
        } else {
            "000000"
        };
        for _ in 0..crate::pairing::MAX_FAILURES {
            desk.attempt(wrong.as_bytes()).unwrap();
        }
        let second = desk.current();
        assert_ne!(second.generation, first.generation);
        assert!(held.holds(second.code.reveal().as_bytes()));
        if second.code != first.code {
            assert!(!held.holds(first.code.reveal().as_bytes()));
        }
    }
}
