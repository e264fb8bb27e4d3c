//! wsgate's soak: does it hold under a long mixed load? One daemon per kind of
//! backend, a load client that mixes what good and bad clients do, the daemons sampled
//! every second from outside, then thousands of idle sessions held at once.
//!
//! ```text
//! soak [--seconds 600] [--idle 10000] [--workers 6] [--check] [--logs DIR] [--no-revoke]
//! ```
//!
//! `--idle 0` leaves out the idle sessions, `--no-revoke` the revoking task; `--logs`
//! keeps each daemon's log (JSON lines) in `DIR`, which is left in place.
//!
//! - Three daemons, `--auth store` over one token store, `--max-message-size 65536`:
//!   `--echo`, `-- cat`, and `--upstream ws://` to a plain echo server
//!   (bench/plain_echo.rs).
//! - For `--seconds`, `--workers` tasks per daemon loop over a weighted mix of
//!   [`mix::Kind`]s, and one task revokes tokens of live sessions on all three. Every
//!   outcome is checked against what that kind of client must get; anything else is
//!   an unexplained failure, counted with its reason.
//! - Every second, each daemon's RSS, open descriptors, threads, the processes under
//!   it (children and theirs) and zombies among them are read (`/proc` on Linux; `ps`
//!   and `lsof` elsewhere): the harness looks, the product is not asked.
//! - After the load: descriptors and processes must be back to the idle baseline
//!   (taken before the load, after a warm-up) within 5 s, with no zombie; each daemon
//!   must exit 0 on SIGTERM.
//! - Then `--idle` sessions to a fresh `--echo` daemon with `--max-connections` that
//!   many: all must be served, stay open and still echo; its RSS must stay under
//!   100 MiB.
//!
//! It prints Markdown tables and the targets met or MISSED. Exit status: 1 when the
//! soak could not run (a daemon or a token command failed to start), or with
//! `--check` when a target was missed; otherwise 0. bench/soak builds and runs it
//! (see the README's Reliability section). Loopback only; every process it starts is
//! killed and reaped; its files are in one temporary directory, removed at the end.
//!
//! The parts: [`wire`] (what a client sends and reads), [`mix`] (the load),
//! [`daemon`] (the processes), [`look`] (sampling them), [`idle`] (idle sessions),
//! [`report`] (the tables).

mod daemon;
mod idle;
mod look;
mod mix;
mod report;
mod wire;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use daemon::{Daemon, Scratch, Tokens, private_dir};
use idle::idle_sessions;
use look::{Probe, cpu_ms, probe_all, recover, sampler};
use mix::{Kind, Load, MAX_MESSAGE, Rng, Tally, Target, client, revocations, worker};
use report::{Span, report};

/// What the command line asks for.
pub struct Options {
    pub seconds: u64,
    pub idle: usize,
    pub workers: usize,
    pub check: bool,
    /// Where each daemon's log is kept, if anywhere.
    pub logs: Option<PathBuf>,
    /// Whether tokens of live sessions are revoked: without, the RSS a daemon keeps
    /// for each token it has seen used is left out.
    pub revoke: bool,
}

fn options() -> Result<Options, String> {
    let usage = "usage: soak [--seconds 600] [--idle 10000] [--workers 6] [--check] [--logs DIR] [--no-revoke]";
    let mut o = Options {
        seconds: 600,
        idle: 10_000,
        workers: 6,
        check: false,
        logs: None,
        revoke: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(usage);
        match arg.as_str() {
            "--seconds" => o.seconds = value()?.parse().map_err(|_| usage)?,
            "--idle" => o.idle = value()?.parse().map_err(|_| usage)?,
            "--workers" => o.workers = value()?.parse().map_err(|_| usage)?,
            "--check" => o.check = true,
            "--logs" => o.logs = Some(PathBuf::from(value()?)),
            "--no-revoke" => o.revoke = false,
            _ => return Err(usage.to_owned()),
        }
    }
    if o.seconds < 10 || o.workers == 0 {
        return Err(format!("{usage}: at least 10 s and 1 worker"));
    }
    Ok(o)
}

/// Raises this process's soft limit on descriptors as far as allowed: the idle test
/// holds one socket per session. Returns the limit now.
fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    // macOS refuses more than OPEN_MAX (10240) even when the hard limit is unlimited.
    for want in [limit.maximum, Some(10_240)] {
        let Some(want) = want.filter(|&w| w > current) else {
            continue;
        };
        let raised = Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return want;
        }
    }
    current
}

/// target/release/examples/soak → target/release
fn exe_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| "not in target/release/examples".to_owned())
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match soak(&options) {
        Ok(missed) if missed > 0 && options.check => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs everything and prints the report; returns how many targets were missed.
fn soak(o: &Options) -> Result<usize, String> {
    let dir = exe_dir()?;
    let wsgate = dir.join("wsgate");
    let plain_echo = dir.join("examples/plain_echo");
    let fd_limit = raise_descriptor_limit();
    let scratch = Scratch(std::env::temp_dir().join(format!("wsgate-soak-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    private_dir(&scratch.0)?;
    let config = scratch.0.join("config");
    private_dir(&config)?;
    let tokens = Tokens {
        wsgate: wsgate.clone(),
        config: config.clone(),
    };
    let token = tokens.create("soak")?;

    if let Some(logs) = &o.logs {
        std::fs::create_dir_all(logs).map_err(|e| format!("create {}: {e}", logs.display()))?;
    }
    let keep_log = |name: &str| o.logs.as_ref().map(|d| d.join(format!("{name}.log")));
    let upstream = Daemon::start(
        "plain echo",
        &plain_echo,
        &["127.0.0.1:0".to_owned()],
        &[],
        keep_log("plain_echo"),
    )?;
    let backends: [(&'static str, Vec<String>); 3] = [
        ("echo", vec!["--echo".into()]),
        ("cat", vec!["--".into(), "cat".into()]),
        (
            "upstream",
            vec!["--upstream".into(), format!("ws://{}", upstream.addr)],
        ),
    ];
    let mut daemons = Vec::new();
    for (name, backend) in backends {
        let run = scratch.0.join(format!("run-{name}"));
        private_dir(&run)?;
        let mut args: Vec<String> = [
            "--auth",
            "store",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--max-message-size",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(MAX_MESSAGE.to_string());
        args.extend(backend);
        daemons.push(Daemon::start(
            name,
            &wsgate,
            &args,
            &[("WSGATE_CONFIG_DIR", &config), ("WSGATE_RUNTIME_DIR", &run)],
            keep_log(name),
        )?);
    }
    let pids: Vec<u32> = daemons.iter().map(Daemon::pid).collect();
    let targets: Vec<Target> = daemons
        .iter()
        .enumerate()
        .map(|(index, d)| Target {
            index,
            name: d.name,
            addr: d.addr,
        })
        .collect();
    eprintln!(
        "soak: {} s, {} workers per daemon; daemons {} (pids {pids:?}); descriptors: {fd_limit}",
        o.seconds,
        o.workers,
        targets
            .iter()
            .map(|t| format!("{} on {}", t.name, t.addr))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Warm-up: a few clients of each quick kind, so what a daemon sets up on first use
    // is in the baseline; then the idle baseline.
    async_std::task::block_on(async {
        let mut rng = Rng::seeded(7);
        for target in &targets {
            for (n, kind) in [
                Kind::Good,
                Kind::Good,
                Kind::WrongToken,
                Kind::MissingToken,
                Kind::Malformed,
                Kind::Oversized,
            ]
            .into_iter()
            .enumerate()
            {
                client(kind, target, &token, &mut rng, n as u64)
                    .await
                    .map_err(|e| format!("warm-up on {}: {kind:?}: {e}", target.name))?;
            }
        }
        Ok::<_, String>(())
    })?;
    std::thread::sleep(Duration::from_secs(3));
    let idle: Vec<Probe> = probe_all(&pids)
        .into_iter()
        .zip(&targets)
        .map(|(p, t)| p.ok_or_else(|| format!("{} is gone", t.name)))
        .collect::<Result<_, _>>()?;

    // The load.
    let load = Arc::new(Load {
        targets,
        token: token.clone(),
        stop: AtomicBool::new(false),
        started: Instant::now(),
        tally: Tally::default(),
    });
    let sampling = Arc::new(AtomicBool::new(false));
    let samples = sampler(pids.clone(), load.started, sampling.clone());
    let own_cpu = cpu_ms(std::process::id());
    async_std::task::block_on(async {
        let mut tasks = Vec::new();
        for t in 0..load.targets.len() {
            for w in 0..o.workers {
                tasks.push(async_std::task::spawn(worker(
                    load.clone(),
                    t,
                    (t * 100 + w) as u64 + 1,
                )));
            }
        }
        if o.revoke {
            tasks.push(async_std::task::spawn(revocations(
                load.clone(),
                tokens.clone(),
            )));
        }
        let end = load.started + Duration::from_secs(o.seconds);
        let mut last = 0;
        while Instant::now() < end {
            async_std::task::sleep(Duration::from_millis(200)).await;
            let at = load.started.elapsed().as_secs();
            if at / 10 > last / 10 {
                last = at;
                eprintln!(
                    "soak: {at} s: {} clients, {} unexplained",
                    load.tally.operations.load(Ordering::Relaxed),
                    load.tally.unexpected.load(Ordering::Relaxed)
                );
            }
        }
        load.stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await;
        }
    });
    let stopped = Instant::now();
    let span = Span {
        secs: load.started.elapsed().as_secs_f64(),
        client_cpu_ms: cpu_ms(std::process::id())
            .zip(own_cpu)
            .map(|(now, then)| now.saturating_sub(then)),
    };
    sampling.store(true, Ordering::Relaxed);
    let recovery = recover(&pids, &idle, stopped);
    let samples = samples.join().map_err(|_| "the sampler panicked")?;
    let mut exits = Vec::new();
    for daemon in &mut daemons {
        exits.push(daemon.terminate());
    }
    drop(upstream);

    let idle_result = match o.idle {
        0 => None,
        n if (n as u64) + 64 > fd_limit => Some(Err(format!(
            "{n} sessions need more descriptors than this process may open ({fd_limit}; ulimit -n)"
        ))),
        n => {
            eprintln!("soak: {n} idle sessions");
            Some(async_std::task::block_on(idle_sessions(
                &wsgate,
                &scratch.0,
                &config,
                &token,
                n,
                keep_log("idle"),
            )))
        }
    };

    let missed = report(
        o,
        &load,
        &span,
        &daemons,
        &idle,
        &samples,
        &recovery,
        &exits,
        idle_result.as_ref(),
    );
    Ok(missed)
}
