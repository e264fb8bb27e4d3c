//! A program's process: found once at startup, started in a process group of its
//! own, tracked so the daemon can end every group it started, and ended gently (stdin
//! closed, then SIGTERM [`TERM_AFTER`] later, SIGKILL [`KILL_AFTER`] after that) and
//! always reaped.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_process::{Child, Command, Stdio};
use rustix::process::{Pid, Signal};

/// How long a program may run after its stdin is closed before SIGTERM.
pub const TERM_AFTER: Duration = Duration::from_secs(2);
/// How long after SIGTERM before SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(1);

/// The process groups of every running program, so that a daemon that has to exit
/// before its sessions end can still end them, and the reaper (see
/// [`super::reaper`]) can end them if the daemon dies first.
#[derive(Debug)]
pub struct Programs {
    groups: Mutex<HashSet<i32>>,
    reaper: Option<super::reaper::Reaper>,
}

impl Programs {
    /// No programs yet; `reaper` is told of each group.
    pub fn new(reaper: Option<super::reaper::Reaper>) -> Programs {
        Programs {
            groups: Mutex::default(),
            reaper,
        }
    }

    /// SIGKILLs every group still registered.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = self
            .groups
            .lock()
            .map(|g| g.iter().copied().collect())
            .unwrap_or_default();
        for group in groups {
            kill_group(group, Signal::KILL);
        }
    }

    fn add(&self, group: i32) {
        if let Some(reaper) = &self.reaper {
            reaper.add(group);
        }
        if let Ok(mut groups) = self.groups.lock() {
            groups.insert(group);
        }
    }

    fn remove(&self, group: i32) {
        if let Ok(mut groups) = self.groups.lock() {
            groups.remove(&group);
        }
        if let Some(reaper) = &self.reaper {
            reaper.remove(group);
        }
    }
}

fn kill_group(group: i32, signal: Signal) -> bool {
    Pid::from_raw(group).is_some_and(|pid| rustix::process::kill_process_group(pid, signal).is_ok())
}

fn group_alive(group: i32) -> bool {
    Pid::from_raw(group).is_some_and(|pid| rustix::process::test_kill_process_group(pid).is_ok())
}

/// A started program, the leader of its own process group. Dropping it kills the
/// group; [`relay`] ends it gracefully first.
pub struct Program {
    pub(super) child: Child,
    group: i32,
    registry: Arc<Programs>,
    /// The leader's exit status has been collected. Until then its zombie keeps the
    /// group's id reserved, so signalling the group cannot reach a stranger; after,
    /// the id may be reused and wsgate no longer signals it.
    reaped: bool,
}

impl Drop for Program {
    fn drop(&mut self) {
        if !self.reaped {
            kill_group(self.group, Signal::KILL);
        }
        self.registry.remove(self.group);
    }
}

/// Finds a program once, at startup, the way a shell would: a name with a `/` is used
/// as it is; a bare name is looked up in `path`, in its absolute entries only (an
/// empty or relative entry would name whatever the working directory holds), taking
/// the first regular file this user may execute. Besides failing early and clearly, a
/// resolved path lets the standard library start each program with `posix_spawn`
/// instead of `fork`: with a cleared environment and a bare name it must fork, and
/// forking a busy daemon costs a copy of its page tables every time.
pub fn resolve(program: &OsStr, path: Option<OsString>) -> Result<PathBuf, String> {
    if program.as_encoded_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return match std::fs::metadata(&path) {
            Err(e) => Err(format!("program {}: {e}", path.display())),
            Ok(m) if !m.is_file() => Err(format!("program {} is not a file", path.display())),
            Ok(_) if !executable(&path) => Err(format!(
                "program {} is not executable by this user (chmod +x?)",
                path.display()
            )),
            Ok(_) => Ok(path),
        };
    }
    let dirs = path.unwrap_or_default();
    for dir in std::env::split_paths(&dirs).filter(|d| d.is_absolute()) {
        let candidate = dir.join(program);
        if std::fs::metadata(&candidate).is_ok_and(|m| m.is_file()) && executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!(
        "program {:?} not found in PATH (absolute entries only)",
        program.to_string_lossy()
    ))
}

/// Whether this user may execute `path`.
fn executable(path: &std::path::Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

/// Starts the program with exactly `env` as its environment, pipes for stdio, in a new
/// process group.
pub fn spawn(
    program: &OsStr,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
    registry: &Arc<Programs>,
) -> io::Result<Program> {
    let mut command = std::process::Command::new(program);
    command.args(args).env_clear().envs(env).process_group(0);
    let child = Command::from(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let group = i32::try_from(child.id()).unwrap_or(0);
    registry.add(group);
    Ok(Program {
        child,
        group,
        registry: registry.clone(),
        reaped: false,
    })
}

/// Ends the program and everything in its group, gently first: its stdin is already
/// closed; after [`TERM_AFTER`] the group gets SIGTERM, after [`KILL_AFTER`] more,
/// SIGKILL. Returns the program's exit status (`exited`, if it was already seen).
pub async fn end_program(program: &mut Program, exited: Option<ExitStatus>) -> Option<ExitStatus> {
    let status = stop_group(program, exited).await;
    if status.is_some() {
        program.reaped = true;
        program.registry.remove(program.group);
    }
    status
}

/// Waits for the leader, then makes sure the whole group is gone: TERM, then KILL.
async fn stop_group(program: &mut Program, exited: Option<ExitStatus>) -> Option<ExitStatus> {
    let group = program.group;
    let child = &mut program.child;
    let mut status = exited;
    if status.is_none() {
        if let Ok(Ok(s)) = async_std::future::timeout(TERM_AFTER, child.status()).await {
            status = Some(s);
        }
    }
    // The group's id stays reserved while any member lives, so signalling it never
    // reaches a stranger.
    if status.is_some() && !group_alive(group) {
        return status;
    }
    kill_group(group, Signal::TERM);
    let waited = async_std::future::timeout(KILL_AFTER, async {
        let s = child.status().await.ok();
        while group_alive(group) {
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
        s
    })
    .await;
    match waited {
        Ok(s) => status.or(s),
        Err(_) => {
            kill_group(group, Signal::KILL);
            let s = child.status().await.ok();
            status.or(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_resolved_once() {
        let path = Some(OsString::from("/nonexistent:/bin:/usr/bin"));
        let sh = resolve(OsStr::new("sh"), path.clone()).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        // A path is checked as it is, at startup too.
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let run = root.join("bench").join("run");
        assert_eq!(resolve(run.as_os_str(), None).unwrap(), run);
        let error = |p: &std::path::Path| resolve(p.as_os_str(), None).unwrap_err();
        let missing = root.join("no-such-dir").join("x");
        assert!(error(&missing).starts_with(&format!("program {}: ", missing.display())));
        assert!(error(&root.join("src")).ends_with("is not a file"));
        let text = root.join("Cargo.toml");
        assert!(
            error(&text).contains("is not executable"),
            "{}",
            error(&text)
        );
        let missing = resolve(OsStr::new("wsgate-no-such-program"), path).unwrap_err();
        assert!(
            missing.contains("wsgate-no-such-program") && missing.contains("PATH"),
            "{missing}"
        );
        assert!(resolve(OsStr::new("sh"), None).is_err());
        // Relative entries are skipped (tests run in the crate's directory, where
        // bench/run is executable), and so are files this user may not execute.
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let bench = root.join("bench");
        assert!(resolve(OsStr::new("run"), Some("bench".into())).is_err());
        assert!(resolve(OsStr::new("run"), Some(":.:bench".into())).is_err());
        assert_eq!(
            resolve(OsStr::new("run"), Some(bench.clone().into_os_string())),
            Ok(bench.join("run"))
        );
        assert!(resolve(OsStr::new("Cargo.toml"), Some(root.into_os_string())).is_err());
    }
}
