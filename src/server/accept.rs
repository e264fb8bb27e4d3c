//! The accept loop: it only accepts and spawns. Connections still reading their head
//! are limited apart from sessions, so clients that never finish a request cannot keep
//! authenticated ones out; beyond the limit a connection is answered 503 at once, by at
//! most [`MAX_REJECTING`] small tasks, and closed beyond that.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_signal::Signals;
use async_std::net::{TcpListener, TcpStream};
use futures_lite::{FutureExt as _, StreamExt as _};

use super::Shared;
use super::connection::{connection, reject};
use crate::log::{Event, Value};
use crate::outcome::Reason;

/// Connections being turned away with 503 at once; beyond this they are dropped.
const MAX_REJECTING: usize = 64;

/// Accepts until SIGINT or SIGTERM; each connection runs in a task of its own.
pub async fn run(shared: &Arc<Shared>, listener: TcpListener, mut signals: Signals) {
    let log = &shared.log;
    let next_conn = AtomicU64::new(1);
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                signals.next().await;
                None
            })
            .await;
        let Some(accepted) = accepted else { break };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors, most likely: let some connections end.
                log.event(Event::AcceptError, &[("error", Value::Str(&e.to_string()))]);
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        // Heads being read are limited apart from sessions, so clients that never
        // finish a request cannot keep authenticated ones out.
        if shared.handshakes.load(Ordering::SeqCst) >= shared.max_connections {
            turn_away(shared, stream, peer, conn);
            continue;
        }
        shared.handshakes.fetch_add(1, Ordering::SeqCst);
        shared.active.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        async_std::task::spawn(async move {
            let _active = Active(&shared);
            let task = AssertUnwindSafe(connection(&shared, stream, peer, conn));
            if task.catch_unwind().await.is_err() {
                shared.log.event(Event::Panic, &[("conn", conn.into())]);
            }
        });
    }
}

/// Holds one unit of a counter, released on drop.
pub struct Counted<'a>(pub &'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a connection task as active for as long as it lives.
struct Active<'a>(&'a Shared);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify(usize::MAX);
        }
    }
}

/// Answers 503 without reading the request, for connections over the limit, in a
/// bounded number of small tasks.
fn turn_away(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr, conn: u64) {
    if shared.rejecting.fetch_add(1, Ordering::SeqCst) >= MAX_REJECTING {
        shared.rejecting.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let shared = shared.clone();
    async_std::task::spawn(async move {
        reject(
            &shared,
            stream,
            peer,
            conn,
            Reason::TooManyConnections,
            None,
        )
        .await;
        shared.rejecting.fetch_sub(1, Ordering::SeqCst);
    });
}
