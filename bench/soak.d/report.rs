//! The report: what the clients got, the daemons over time, and the targets met or
//! MISSED, as Markdown tables.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::Options;
use crate::daemon::Daemon;
use crate::idle::{IDLE_SAMPLE_EVERY, IdleResult};
use crate::look::{Probe, RECOVER_WATCH, RECOVER_WITHIN, Recovery, Sample, rss_around};
use crate::mix::{Kind, Load};

/// RSS may grow by at most this between the start of the window and the end.
pub const GROWTH_LIMIT_KIB: u64 = 2048;

/// The idle test's RSS bound.
pub const IDLE_RSS_LIMIT_KIB: u64 = 100 * 1024;

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn signed_mib(kib: i64) -> String {
    format!("{:+.2} MiB", kib as f64 / 1024.0)
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A target line: met or MISSED.
pub struct Verdicts {
    pub rows: Vec<(String, String, bool)>,
}

impl Verdicts {
    pub fn add(&mut self, what: impl Into<String>, measured: impl Into<String>, met: bool) {
        self.rows.push((what.into(), measured.into(), met));
    }

    pub fn missed(&self) -> usize {
        self.rows.iter().filter(|r| !r.2).count()
    }
}

/// How long the load ran, and what it cost the client.
pub struct Span {
    pub secs: f64,
    pub client_cpu_ms: Option<u64>,
}

/// Prints the tables; returns how many targets were missed.
#[allow(clippy::too_many_arguments)]
pub fn report(
    o: &Options,
    load: &Load,
    span: &Span,
    daemons: &[Daemon],
    idle: &[Probe],
    samples: &[Sample],
    recovery: &[Recovery],
    exits: &[Result<Duration, String>],
    idle_result: Option<&Result<IdleResult, String>>,
) -> usize {
    let tally = &load.tally;
    let names: Vec<&str> = daemons.iter().map(|d| d.name).collect();
    // Each daemon by its backend, as on its command line.
    let columns: Vec<&str> = names
        .iter()
        .map(|n| match *n {
            "echo" => "`--echo`",
            "cat" => "`-- cat`",
            _ => "`--upstream ws://`",
        })
        .collect();
    let header = |first: &str| {
        println!("| {first} | {} |", columns.join(" | "));
        println!("| --- |{}", " ---: |".repeat(columns.len()));
    };

    // What the clients did and got.
    println!();
    println!(
        "Clients over {:.0} s ({} workers per daemon, {}; the client used {} of CPU): expected outcomes, and unexplained ones in parentheses.",
        span.secs,
        o.workers,
        if o.revoke {
            "one revoking task"
        } else {
            "no revoking task"
        },
        span.client_cpu_ms
            .map_or("—".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
    );
    println!();
    println!("| client | must get | {} |", columns.join(" | "));
    println!("| --- | --- |{}", " ---: |".repeat(columns.len()));
    let mut totals = vec![(0u64, 0u64); daemons.len()];
    for kind in Kind::ALL
        .into_iter()
        .filter(|&k| o.revoke || k != Kind::Revoked)
    {
        let cells: Vec<String> = (0..daemons.len())
            .map(|d| {
                let (ok, bad) = tally.count(d, kind);
                totals[d].0 += ok;
                totals[d].1 += bad;
                if bad > 0 {
                    format!("{} (**{}**)", thousands(ok), thousands(bad))
                } else {
                    thousands(ok)
                }
            })
            .collect();
        println!(
            "| {} | {} | {} |",
            kind.title(),
            kind.expected(),
            cells.join(" | ")
        );
    }
    println!(
        "| all (unexplained) | | {} |",
        totals
            .iter()
            .map(|(ok, bad)| format!("{} ({})", thousands(ok + bad), thousands(*bad)))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let revoke_ms = tally
        .revoke_ms
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    if !revoke_ms.is_empty() {
        let mut sorted = revoke_ms.clone();
        sorted.sort_unstable();
        println!();
        println!(
            "Revocation to close: median {} ms, max {} ms, over {} sessions.",
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
            sorted.len()
        );
    }

    // The daemons over time.
    let step = if o.seconds >= 300 {
        60
    } else if o.seconds >= 30 {
        10
    } else {
        1
    };
    println!();
    println!(
        "The daemons from outside, every {step} s of the load (RSS · descriptors · threads · processes under it):"
    );
    println!();
    header("t");
    let row = |label: String, probes: &[Option<Probe>]| {
        let cells: Vec<String> = probes
            .iter()
            .map(|p| match p {
                Some(p) => format!(
                    "{} · {} · {} · {}",
                    mib(p.rss_kib),
                    p.fds,
                    p.threads,
                    p.children
                ),
                None => "gone".to_owned(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    row(
        "idle, before".to_owned(),
        &idle.iter().copied().map(Some).collect::<Vec<_>>(),
    );
    for s in samples
        .iter()
        .filter(|s| s.at % step == 0 || s.at + 1 == samples.len() as u64)
    {
        row(format!("{}:{:02}", s.at / 60, s.at % 60), &s.probes);
    }
    row(
        "after (last look)".to_owned(),
        &recovery.iter().map(|r| r.last).collect::<Vec<_>>(),
    );

    // The summary and the targets.
    let from = (o.seconds / 3).min(120);
    let end = samples
        .iter()
        .map(|s| s.at)
        .filter(|&at| at <= o.seconds)
        .max()
        .unwrap_or(0);
    let mut v = Verdicts { rows: Vec::new() };
    println!();
    header("per daemon");
    let per =
        |f: &dyn Fn(usize) -> String| (0..daemons.len()).map(f).collect::<Vec<_>>().join(" | ");
    let max_of = |d: usize, f: fn(&Probe) -> u64| {
        samples
            .iter()
            .filter_map(|s| s.probes[d].as_ref().map(f))
            .max()
            .unwrap_or(0)
    };
    let growth: Vec<Option<i64>> = (0..daemons.len())
        .map(|d| Some(rss_around(samples, d, end)? as i64 - rss_around(samples, d, from)? as i64))
        .collect();
    println!(
        "| RSS at {}:{:02} / at {}:{:02} (medians of 5 s) | {} |",
        from / 60,
        from % 60,
        end / 60,
        end % 60,
        per(&|d| format!(
            "{} / {}",
            rss_around(samples, d, from).map_or("—".into(), mib),
            rss_around(samples, d, end).map_or("—".into(), mib)
        ))
    );
    println!(
        "| RSS growth | {} |",
        per(&|d| growth[d].map_or("—".into(), signed_mib))
    );
    println!(
        "| most under load: RSS · descriptors · threads · processes under it | {} |",
        per(&|d| format!(
            "{} · {} · {} · {}",
            mib(max_of(d, |p| p.rss_kib)),
            max_of(d, |p| p.fds),
            max_of(d, |p| p.threads),
            max_of(d, |p| p.children)
        ))
    );
    // A zombie seen in two samples in a row was not reaped for a second or more.
    let lingering: Vec<usize> = (0..daemons.len())
        .map(|d| {
            samples
                .windows(2)
                .map(|w| {
                    w[1].zombies[d]
                        .iter()
                        .filter(|z| w[0].zombies[d].contains(z))
                        .count()
                })
                .sum()
        })
        .collect();
    println!(
        "| zombies: most in one look · unreaped for 1 s or more | {} |",
        per(&|d| format!("{} · {}", max_of(d, |p| p.zombies), lingering[d]))
    );
    let after = |x: Option<Duration>| {
        x.map_or(format!("not within {} s", RECOVER_WATCH.as_secs()), |t| {
            format!("{:.1} s", t.as_secs_f64())
        })
    };
    println!(
        "| descriptors back to idle ({}) after the load | {} |",
        idle.iter()
            .map(|p| p.fds.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        per(&|d| after(recovery[d].fds_after))
    );
    println!(
        "| processes under it back to idle ({}) after the load | {} |",
        idle.iter()
            .map(|p| p.children.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        per(&|d| after(recovery[d].children_after))
    );
    println!(
        "| zombies after the load | {} |",
        per(&|d| recovery[d].zombies.len().to_string())
    );
    println!(
        "| SIGTERM to exit 0 | {} |",
        per(&|d| match &exits[d] {
            Ok(t) => format!("{:.2} s", t.as_secs_f64()),
            Err(e) => e.clone(),
        })
    );
    println!(
        "| CPU time used under load (user + system; the daemon alone, not its programs) | {} |",
        per(&|d| {
            let cpu = |s: Option<&Sample>| s.and_then(|s| s.probes[d]).and_then(|p| p.cpu_ms);
            match (cpu(samples.first()), cpu(samples.last())) {
                (Some(a), Some(b)) => format!(
                    "{:.1} s ({:.0} %)",
                    b.saturating_sub(a) as f64 / 1000.0,
                    b.saturating_sub(a) as f64 / 10.0 / span.secs
                ),
                _ => "—".into(),
            }
        })
    );
    println!(
        "| log lines: accept · reject · close | {} |",
        per(&|d| {
            let l = &daemons[d].logged;
            format!(
                "{} · {} · {}",
                thousands(l.count("accept")),
                thousands(l.count("reject")),
                thousands(l.count("close"))
            )
        })
    );
    println!(
        "| log lines that say the daemon failed (panic, accept-error, store-error, …) | {} |",
        per(&|d| daemons[d]
            .logged
            .trouble_count
            .load(Ordering::Relaxed)
            .to_string())
    );

    let unexplained = tally.unexpected.load(Ordering::Relaxed);
    let operations = tally.operations.load(Ordering::Relaxed);
    v.add(
        "every client got what its kind must get: 0 unexplained failures",
        format!("{} of {}", thousands(unexplained), thousands(operations)),
        unexplained == 0 && operations > 0,
    );
    v.add(
        format!(
            "RSS growth from {}:{:02} to {}:{:02} ≤ 2 MiB",
            from / 60,
            from % 60,
            end / 60,
            end % 60
        ),
        growth
            .iter()
            .map(|g| g.map_or("—".into(), signed_mib))
            .collect::<Vec<_>>()
            .join(" / "),
        growth
            .iter()
            .all(|g| g.is_some_and(|g| g <= GROWTH_LIMIT_KIB as i64)),
    );
    v.add(
        "descriptors back to the idle baseline within 5 s",
        recovery
            .iter()
            .map(|r| after(r.fds_after))
            .collect::<Vec<_>>()
            .join(" / "),
        recovery
            .iter()
            .all(|r| r.fds_after.is_some_and(|t| t <= RECOVER_WITHIN)),
    );
    v.add(
        "processes under the daemons (programs, and the reaper) back to the idle baseline within 5 s",
        recovery
            .iter()
            .map(|r| after(r.children_after))
            .collect::<Vec<_>>()
            .join(" / "),
        recovery
            .iter()
            .all(|r| r.children_after.is_some_and(|t| t <= RECOVER_WITHIN)),
    );
    let zombies_left: usize = recovery.iter().map(|r| r.zombies.len()).sum();
    let lingering_all: usize = lingering.iter().sum();
    v.add(
        "no zombies: none left after the load, none unreaped for 1 s under it",
        format!("{zombies_left} left, {lingering_all} unreaped for 1 s"),
        zombies_left == 0 && lingering_all == 0,
    );
    let troubles: u64 = daemons
        .iter()
        .map(|d| d.logged.trouble_count.load(Ordering::Relaxed))
        .sum();
    let exit_failures = exits.iter().filter(|e| e.is_err()).count();
    v.add(
        "the daemons: no failure in their logs, exit 0 on SIGTERM",
        format!("{troubles} failure lines, {exit_failures} bad exits"),
        troubles == 0 && exit_failures == 0,
    );

    if let Some(idle_result) = idle_result {
        println!();
        match idle_result {
            Err(e) => {
                println!("Idle sessions: not measured: {e}");
                v.add(format!("{} idle sessions", o.idle), "not measured", false);
            }
            Ok(r) => {
                let before = r.before.unwrap_or_default();
                let held = r.held.unwrap_or_default();
                println!(
                    "| {} idle sessions to `wsgate --echo --max-connections {}` | |",
                    thousands(r.count as u64),
                    r.count
                );
                println!("| --- | ---: |");
                println!(
                    "| served: 101 and one echo | {} in {:.1} s |",
                    thousands(r.served as u64),
                    r.open_secs
                );
                println!("| closed by the daemon while idle | {} |", r.lost);
                println!(
                    "| still echoing at the end (every {IDLE_SAMPLE_EVERY}th) | {} of {} |",
                    r.echoed, r.checked
                );
                println!(
                    "| daemon RSS idle → all open | {} → {} ({:.1} KiB a session) |",
                    mib(before.rss_kib),
                    mib(held.rss_kib),
                    held.rss_kib.saturating_sub(before.rss_kib) as f64 / r.count.max(1) as f64
                );
                println!(
                    "| daemon descriptors · threads, all open | {} · {} |",
                    thousands(held.fds),
                    held.threads
                );
                println!(
                    "| descriptors back to idle ({}) once the clients vanish | {} |",
                    before.fds,
                    after(r.fds_back_after)
                );
                println!(
                    "| SIGTERM to exit 0 | {} |",
                    match &r.stopped {
                        Ok(t) => format!("{:.2} s", t.as_secs_f64()),
                        Err(e) => e.clone(),
                    }
                );
                for (reason, n) in &r.failures {
                    println!("idle sessions: {n} × {reason}");
                }
                for line in &r.troubles {
                    println!("idle daemon log: {line}");
                }
                v.add(
                    format!(
                        "{} idle sessions all served, held and still echoing",
                        thousands(r.count as u64)
                    ),
                    format!(
                        "{} served, {} closed, {} of {} echoed",
                        thousands(r.served as u64),
                        r.lost,
                        r.echoed,
                        r.checked
                    ),
                    r.served == r.count
                        && r.lost == 0
                        && r.echoed == r.checked
                        && r.failures.is_empty(),
                );
                v.add(
                    format!(
                        "daemon RSS with {} idle sessions < 100 MiB",
                        thousands(r.count as u64)
                    ),
                    mib(held.rss_kib),
                    held.rss_kib > 0 && held.rss_kib < IDLE_RSS_LIMIT_KIB,
                );
                v.add(
                    "its descriptors back to idle within 5 s, exit 0 on SIGTERM",
                    format!(
                        "{}, {}",
                        after(r.fds_back_after),
                        if r.stopped.is_ok() {
                            "exit 0"
                        } else {
                            "bad exit"
                        }
                    ),
                    r.fds_back_after.is_some_and(|t| t <= RECOVER_WITHIN)
                        && r.stopped.is_ok()
                        && r.troubles.is_empty(),
                );
            }
        }
    }

    println!();
    println!("| target | measured (echo / cat / upstream) | |");
    println!("| --- | --- | --- |");
    for (what, measured, met) in &v.rows {
        println!(
            "| {what} | {measured} | {} |",
            if *met { "met" } else { "MISSED" }
        );
    }

    // What went wrong, in detail.
    let reasons = tally.reasons.lock().map(|r| r.clone()).unwrap_or_default();
    if !reasons.is_empty() {
        println!();
        println!("Unexplained failures by reason:");
        for ((d, kind, reason), n) in reasons {
            println!("- {}, {kind:?}: {n} × {reason}", names[d]);
        }
        if let Ok(first) = tally.first.lock() {
            println!("The first ones:");
            for line in first.iter() {
                println!("- {line}");
            }
        }
    }
    if let Ok(problems) = tally.problems.lock() {
        for p in problems.iter() {
            println!("harness step failed: {p}");
        }
    }
    for d in daemons {
        if let Ok(troubles) = d.logged.troubles.lock() {
            for line in troubles.iter() {
                println!("{} log: {line}", d.name);
            }
        }
    }
    println!();
    let missed = v.missed();
    if missed == 0 {
        println!("All {} targets met.", v.rows.len());
    } else {
        println!("MISSED {missed} of {} targets.", v.rows.len());
    }
    missed
}
