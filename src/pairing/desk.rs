//! The pairing desk of a running daemon: the current code behind a lock, drawn from
//! the operating system's generator and judged against the clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::PairingConfig;
use super::{Attempt, Code, Pairing};
use crate::page::Page;
use crate::scope::Scopes;

/// Pairing: the current code and what a pairing hands out.
pub struct Desk {
    /// `--pair-scopes`, `--pair-expires`, `--pair-code-ttl`.
    pub config: PairingConfig,
    /// The scopes a paired token gets: `--pair-scopes`, else what the backend
    /// requires plus reading and writing.
    pub scopes: Scopes,
    state: Mutex<Pairing>,
    /// The pairing page.
    pub page: Page,
    /// The pairing link without its code: `http://HOST:PORT/_wsgate/pair#code=`.
    link: String,
}

impl Desk {
    /// A desk with a fresh code, linked from `link` (which the code completes), for a
    /// backend that requires `required` of every connection.
    pub fn new(config: PairingConfig, required: Scopes, link: String) -> Result<Desk, String> {
        let code = fresh_code()?;
        Ok(Desk {
            state: Mutex::new(Pairing::new(code, Instant::now(), config.code_lifetime)),
            scopes: config
                .scopes
                .unwrap_or_else(|| super::default_scopes(required)),
            config,
            page: super::page::page(),
            link,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Pairing> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
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
        Ok(self.state().attempt(presented, Instant::now(), fresh))
    }

    /// Replaces the code when it has expired; returns whether it did.
    pub fn refresh(&self) -> Result<bool, String> {
        let fresh = fresh_code()?;
        Ok(self.state().refresh(Instant::now(), fresh))
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
