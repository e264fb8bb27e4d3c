//! The daemon: bind, announce, accept, decide, relay, shut down.
//!
//! - [`startup`]: credentials, the backend, the listener, the announcement.
//! - [`accept`]: the accept loop, which only accepts and spawns, and its limits.
//! - [`connection`]: one connection's request head, the [`Gate`]'s verdict, the answer.
//! - [`session`]: one upgraded connection, relayed by the backend.
//! - [`pairing`]: the pairing endpoint and the codes shown to the operator.
//! - [`managed`]: in `store` mode, the token store kept current.
//! - [`announce`]: what only the operator may see.
//!
//! Nothing a client does can end another client's task or the loop: every
//! client-controlled read has a deadline, and a panic in a task is caught and logged
//! as that connection's end. Shutdown ([`crate::shutdown::Stop`]) stops accepting,
//! drops handshakes, ends sessions, and gives them [`SHUTDOWN_GRACE`] to finish.

mod accept;
mod announce;
mod connection;
mod managed;
mod pairing;
mod session;
mod startup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_std::future::timeout;
use event_listener::Event;

use crate::backend::Backend;
use crate::config::Config;
use crate::gate::Gate;
use crate::log::{Event as LogEvent, Log};
use crate::redact::Secrets;
use crate::shutdown::Stop;
use announce::Announcer;
use managed::Managed;

/// How long shutdown waits for sessions to close and programs to exit.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(4500);

/// What every connection task shares.
struct Shared {
    gate: Gate,
    log: Log,
    backend: Arc<dyn Backend>,
    /// The daemon's own secrets: kept out of logs and backends.
    secrets: Arc<Secrets>,
    max_connections: usize,
    max_message_size: usize,
    /// `--ping-interval`, `--ping-timeout`, `--idle-timeout`.
    liveness: crate::backend::Liveness,
    local: SocketAddr,
    /// Connection tasks alive, for shutdown to wait on.
    active: AtomicUsize,
    /// Connections still reading or deciding their head.
    handshakes: AtomicUsize,
    /// Upgraded connections.
    sessions: AtomicUsize,
    rejecting: AtomicUsize,
    stop: Stop,
    idle: Event,
    /// The token store and pairing, in `store` mode.
    managed: Option<Arc<Managed>>,
    /// The runtime file and the terminal, for what only the operator may see.
    announcer: Arc<Announcer>,
    /// The console page's answer, when the console is on.
    console: Option<Vec<u8>>,
}

/// Runs the daemon until SIGINT or SIGTERM. Errors are startup failures, described
/// in one line that names what failed.
pub fn run(config: Config) -> Result<(), String> {
    async_std::task::block_on(serve(config))
}

async fn serve(config: Config) -> Result<(), String> {
    let startup::Started {
        shared,
        listener,
        signals,
    } = startup::start(config).await?;
    let chores = Chores::start(&shared);
    accept::run(&shared, listener, signals).await;
    shut_down(&shared, chores).await;
    Ok(())
}

/// After the accept loop ended: signals every task, waits (bounded) for them, ends
/// whatever the backend still runs, removes the runtime file.
async fn shut_down(shared: &Shared, chores: Chores) {
    shared.log.event(
        LogEvent::Shutdown,
        &[(
            "sessions",
            (shared.active.load(Ordering::SeqCst) as u64).into(),
        )],
    );
    shared.stop.trigger();
    let drained = async {
        loop {
            let listener = shared.idle.listen();
            if shared.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    };
    let _ = timeout(SHUTDOWN_GRACE, drained).await;
    // Sessions that did not end in time end with the process; their programs too.
    shared.backend.shutdown();
    let _ = timeout(Duration::from_millis(300), chores.finish()).await;
    shared.announcer.remove();
    shared.log.event(LogEvent::Exit, &[]);
}

/// What runs beside the connections: in `store` mode, keeping the store current and
/// replacing pairing codes that expire.
struct Chores {
    tasks: Vec<async_std::task::JoinHandle<()>>,
}

impl Chores {
    fn start(shared: &Arc<Shared>) -> Chores {
        let mut tasks = Vec::new();
        if shared.managed.is_some() {
            let shared = shared.clone();
            tasks.push(async_std::task::spawn(async move {
                if let Some(managed) = &shared.managed {
                    managed.maintain(&shared.log, &shared.stop).await;
                }
            }));
        }
        if shared.managed.as_ref().is_some_and(|m| m.pairing.is_some()) {
            let shared = shared.clone();
            tasks.push(async_std::task::spawn(async move {
                pairing::renew_codes(&shared).await
            }));
        }
        Chores { tasks }
    }

    async fn finish(self) {
        for task in self.tasks {
            task.await;
        }
    }
}
