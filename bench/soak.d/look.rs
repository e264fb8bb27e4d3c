//! Looking at a daemon from outside, as an operator would: RSS, open descriptors,
//! threads, the processes under it and zombies among them (`/proc` on Linux; `ps` and
//! `lsof` elsewhere), every second, and after the load until they are back to idle.
//!
//! "Under it" is the whole tree, not only its children: a program may start processes
//! of its own, and a program backend's daemon has its reaper (`wsgate
//! __wsgate-reaper`) as a child for its whole life, which the idle baseline counts.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Descriptors and processes under a daemon must be back to the idle baseline within this.
pub const RECOVER_WITHIN: Duration = Duration::from_secs(5);

/// How long the recovery is watched, to say how long it took even when too long.
pub const RECOVER_WATCH: Duration = Duration::from_secs(15);

/// One look at a process.
#[derive(Clone, Copy, Default, Debug)]
pub struct Probe {
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    /// Processes under it: its children, theirs, and so on.
    pub children: u64,
    /// Zombies among them.
    pub zombies: u64,
    /// CPU time used so far (user and system), where it can be read (Linux).
    pub cpu_ms: Option<u64>,
}

/// Every process's id, parent and state.
pub fn process_table() -> Vec<(u32, u32, char)> {
    if Path::new("/proc/self/stat").exists() {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // After the command name, which is in parentheses and may hold anything.
                let (_, rest) = stat.rsplit_once(')')?;
                let mut fields = rest.split_whitespace();
                let state = fields.next()?.chars().next()?;
                let ppid = fields.next()?.parse().ok()?;
                Some((pid, ppid, state))
            })
            .collect()
    } else {
        let Ok(out) = Command::new("ps")
            .args(["-A", "-o", "pid=,ppid=,stat="])
            .output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let pid = fields.next()?.parse().ok()?;
                let ppid = fields.next()?.parse().ok()?;
                let state = fields.next()?.chars().next()?;
                Some((pid, ppid, state))
            })
            .collect()
    }
}

/// The processes under `pid` in `table` (children, theirs, and so on), with their
/// states.
pub fn descendants(pid: u32, table: &[(u32, u32, char)]) -> Vec<(u32, char)> {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for &(child, ppid, state) in table {
            if ppid == parent && child != pid {
                found.push((child, state));
                parents.push(child);
            }
        }
    }
    found
}

/// Zombies under `pid` in `table`.
fn zombies_in(pid: u32, table: &[(u32, u32, char)]) -> Vec<u32> {
    descendants(pid, table)
        .into_iter()
        .filter(|&(_, state)| state == 'Z')
        .map(|(zombie, _)| zombie)
        .collect()
}

/// RSS, descriptors and threads of `pid`, and the processes under it and zombies among
/// them in `table`; `None` when it is gone. Linux: /proc. Elsewhere (macOS): `ps` and
/// `lsof`.
pub fn probe(pid: u32, table: &[(u32, u32, char)]) -> Option<Probe> {
    let under = descendants(pid, table);
    let mut p = Probe {
        children: under.len() as u64,
        zombies: under.iter().filter(|&&(_, state)| state == 'Z').count() as u64,
        ..Probe::default()
    };
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        p.rss_kib = field("VmRSS:")?;
        p.threads = field("Threads:")?;
        p.fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        p.cpu_ms = cpu_ms(pid);
        return Some(p);
    }
    if Path::new("/proc/self/status").exists() {
        return None;
    }
    let pid_text = pid.to_string();
    let ps = Command::new("ps")
        .args(["-o", "rss=", "-p", &pid_text])
        .output()
        .ok()?;
    p.rss_kib = String::from_utf8_lossy(&ps.stdout).trim().parse().ok()?;
    // macOS's `ps -M` prints a header and one line per thread.
    let threads = Command::new("ps")
        .args(["-M", "-p", &pid_text])
        .output()
        .ok()?;
    p.threads = String::from_utf8_lossy(&threads.stdout)
        .lines()
        .count()
        .saturating_sub(1) as u64;
    let lsof = Command::new("lsof")
        .args(["-n", "-P", "-p", &pid_text, "-F", "f"])
        .output()
        .ok()?;
    p.fds = String::from_utf8_lossy(&lsof.stdout)
        .lines()
        .filter(|l| {
            l.strip_prefix('f')
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .count() as u64;
    Some(p)
}

/// User and system CPU time of `pid` from /proc, in ms (Linux's USER_HZ is 100).
pub fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) * 10)
}

pub fn probe_all(pids: &[u32]) -> Vec<Option<Probe>> {
    let table = process_table();
    pids.iter().map(|&pid| probe(pid, &table)).collect()
}

/// Zombies under `pid` now.
pub fn zombies_of(pid: u32) -> Vec<u32> {
    zombies_in(pid, &process_table())
}

/// One second's look at every daemon.
pub struct Sample {
    pub at: u64,
    pub probes: Vec<Option<Probe>>,
    /// Zombies under each daemon, by pid, to tell one reaped late from one never.
    pub zombies: Vec<Vec<u32>>,
}

/// Looks at `pids` every second from `started` until `stop` is set; the samples are
/// returned when the thread is joined.
pub fn sampler(
    pids: Vec<u32>,
    started: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Sample>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        let mut at = 0u64;
        loop {
            let due = started + Duration::from_secs(at);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            // Only samples taken under load.
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let table = process_table();
            let probes = pids.iter().map(|&pid| probe(pid, &table)).collect();
            let zombies = pids.iter().map(|&pid| zombies_in(pid, &table)).collect();
            samples.push(Sample {
                at,
                probes,
                zombies,
            });
            at += 1;
        }
        samples
    })
}

/// The median RSS of daemon `d` over the five samples up to second `at`.
pub fn rss_around(samples: &[Sample], d: usize, at: u64) -> Option<u64> {
    let mut values: Vec<u64> = samples
        .iter()
        .filter(|s| s.at <= at && s.at + 5 > at)
        .filter_map(|s| s.probes[d].map(|p| p.rss_kib))
        .collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

/// How long after the load stopped daemon `d`'s descriptors and children were both
/// back to `idle`, watched for at most [`RECOVER_WATCH`]; and the last look.
pub struct Recovery {
    pub fds_after: Option<Duration>,
    pub children_after: Option<Duration>,
    pub last: Option<Probe>,
    pub zombies: Vec<u32>,
}

pub fn recover(pids: &[u32], idle: &[Probe], stopped: Instant) -> Vec<Recovery> {
    let mut out: Vec<Recovery> = pids
        .iter()
        .map(|_| Recovery {
            fds_after: None,
            children_after: None,
            last: None,
            zombies: Vec::new(),
        })
        .collect();
    loop {
        let probes = probe_all(pids);
        for (d, probe) in probes.into_iter().enumerate() {
            let r = &mut out[d];
            r.last = probe;
            let Some(p) = probe else { continue };
            if r.fds_after.is_none() && p.fds <= idle[d].fds {
                r.fds_after = Some(stopped.elapsed());
            }
            if r.children_after.is_none() && p.children <= idle[d].children {
                r.children_after = Some(stopped.elapsed());
            }
        }
        let done = out
            .iter()
            .all(|r| r.fds_after.is_some() && r.children_after.is_some());
        if done || stopped.elapsed() >= RECOVER_WATCH {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (d, &pid) in pids.iter().enumerate() {
        out[d].zombies = zombies_of(pid);
    }
    out
}
