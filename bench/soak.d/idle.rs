//! Idle sessions: thousands held open at once against a fresh `--echo` daemon with
//! `--max-connections` that many, each still answering at the end.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_std::future::timeout;
use async_tungstenite::tungstenite::Message;
use futures_lite::{FutureExt as _, StreamExt as _};

use crate::daemon::{Daemon, private_dir};
use crate::look::{Probe, RECOVER_WATCH, probe_all};
use crate::wire::{Credential, Ws, close_normally, echo, head, upgrade};

/// Every this many idle sessions, one is asked to echo once more at the end.
pub const IDLE_SAMPLE_EVERY: usize = 100;

pub struct IdleResult {
    pub count: usize,
    pub served: usize,
    pub failures: BTreeMap<String, u64>,
    pub open_secs: f64,
    pub before: Option<Probe>,
    pub held: Option<Probe>,
    pub lost: u64,
    pub checked: usize,
    pub echoed: usize,
    pub fds_back_after: Option<Duration>,
    pub stopped: Result<Duration, String>,
    pub troubles: Vec<String>,
}

/// What ends a held session's wait.
pub enum Wake {
    Frame(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Check,
    Quit,
}

/// Holds one idle session, reading (so the daemon's pings are answered) until told to
/// quit; a sampled one echoes once more when the check starts.
pub async fn hold(
    mut ws: Ws,
    check: Option<async_std::channel::Receiver<()>>,
    quit: async_std::channel::Receiver<()>,
    results: async_std::channel::Sender<Result<(), String>>,
    lost: Arc<AtomicU64>,
) {
    let mut check = check;
    loop {
        let checking = check.clone();
        let wake = async { Wake::Frame(ws.next().await) }
            .or(async {
                match checking {
                    Some(c) => {
                        let _ = c.recv().await;
                        Wake::Check
                    }
                    None => std::future::pending().await,
                }
            })
            .or(async {
                let _ = quit.recv().await;
                Wake::Quit
            })
            .await;
        match wake {
            Wake::Frame(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Wake::Frame(_) => {
                lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Wake::Check => {
                check = None;
                let _ = results
                    .send(echo(&mut ws, "still here".to_owned()).await)
                    .await;
            }
            Wake::Quit => return,
        }
    }
}

pub async fn idle_sessions(
    wsgate: &Path,
    scratch: &Path,
    config: &Path,
    token: &str,
    count: usize,
    keep_log: Option<std::path::PathBuf>,
) -> Result<IdleResult, String> {
    let run = scratch.join("run-idle");
    private_dir(&run)?;
    let args: Vec<String> = [
        "--auth",
        "store",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--max-connections",
        &count.to_string(),
        "--echo",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut daemon = Daemon::start(
        "idle",
        wsgate,
        &args,
        &[("WSGATE_CONFIG_DIR", config), ("WSGATE_RUNTIME_DIR", &run)],
        keep_log,
    )?;
    let pid = daemon.pid();
    let addr = daemon.addr;
    // Warm up, then the idle baseline.
    for i in 0..4 {
        let mut ws = upgrade(addr, head(addr, Credential::Query(token)).as_bytes()).await?;
        echo(&mut ws, format!("warm-up {i}")).await?;
        close_normally(ws).await?;
    }
    async_std::task::sleep(Duration::from_secs(1)).await;
    let before = probe_all(&[pid])[0];

    let (quit_tx, quit) = async_std::channel::bounded::<()>(1);
    let (results_tx, results) = async_std::channel::unbounded();
    let lost = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let mut checks = Vec::new();
    let opening = Instant::now();
    let openers: Vec<_> = (0..64)
        .map(|_| {
            let (next, served, failures) = (next.clone(), served.clone(), failures.clone());
            let (quit, results_tx, lost) = (quit.clone(), results_tx.clone(), lost.clone());
            let token = token.to_owned();
            async_std::task::spawn(async move {
                let mut sampled = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let session = async {
                        let mut ws =
                            upgrade(addr, head(addr, Credential::Query(&token)).as_bytes()).await?;
                        echo(&mut ws, format!("idle {i}")).await?;
                        Ok::<_, String>(ws)
                    };
                    match session.await {
                        Ok(ws) => {
                            served.fetch_add(1, Ordering::Relaxed);
                            let check = (i % IDLE_SAMPLE_EVERY == 0).then(|| {
                                let (tx, rx) = async_std::channel::bounded::<()>(1);
                                sampled.push(tx);
                                rx
                            });
                            async_std::task::spawn(hold(
                                ws,
                                check,
                                quit.clone(),
                                results_tx.clone(),
                                lost.clone(),
                            ));
                        }
                        Err(e) => {
                            if let Ok(mut f) = failures.lock() {
                                *f.entry(e).or_default() += 1;
                            }
                        }
                    }
                }
                sampled
            })
        })
        .collect();
    for opener in openers {
        checks.extend(opener.await);
    }
    let open_secs = opening.elapsed().as_secs_f64();
    drop(results_tx);
    async_std::task::sleep(Duration::from_secs(2)).await;
    let held = probe_all(&[pid])[0];

    // Every sampled session echoes once more.
    let checked = checks.len();
    drop(checks);
    let mut echoed = 0;
    let collect = async {
        for _ in 0..checked {
            match results.recv().await {
                Ok(Ok(())) => echoed += 1,
                Ok(Err(e)) => {
                    if let Ok(mut f) = failures.lock() {
                        *f.entry(format!("at the end: {e}")).or_default() += 1;
                    }
                }
                Err(_) => break,
            }
        }
    };
    let _ = timeout(Duration::from_secs(30), collect).await;

    // Gone: every client vanishes at once; the daemon must let go of them all.
    drop(quit_tx);
    let gone = Instant::now();
    let mut fds_back_after = None;
    while gone.elapsed() < RECOVER_WATCH {
        if let (Some(now), Some(before)) = (probe_all(&[pid])[0], before) {
            if now.fds <= before.fds {
                fds_back_after = Some(gone.elapsed());
                break;
            }
        }
        async_std::task::sleep(Duration::from_millis(100)).await;
    }
    let stopped = daemon.terminate();
    let troubles = daemon
        .logged
        .troubles
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    Ok(IdleResult {
        count,
        served: served.load(Ordering::Relaxed),
        failures,
        open_secs,
        before,
        held,
        lost: lost.load(Ordering::Relaxed),
        checked,
        echoed,
        fds_back_after,
        stopped,
        troubles,
    })
}
