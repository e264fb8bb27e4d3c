//! The daemon's stop signal: set once, on SIGINT or SIGTERM, and seen by the accept
//! loop, every connection and session, and the chores beside them.

use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::Event;

/// A one-shot stop signal shared by every task: set once, on SIGINT or SIGTERM.
#[derive(Debug, Default)]
pub struct Stop {
    set: AtomicBool,
    event: Event,
}

impl Stop {
    /// Signals every waiter, now and later.
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    /// Whether the signal was given.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Completes once the signal is given.
    pub async fn wait(&self) {
        loop {
            if self.is_set() {
                return;
            }
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}
