//! Programs never outlive the daemon (Linux). A program that ignores its stdin would
//! keep running after a daemon killed with SIGKILL, which has no chance to end it; and
//! a parent-death signal set on the program itself would not reach what it starts (a
//! shell's children). So on Linux each program is started through a small supervisor,
//! wsgate itself run as `wsgate __wsgate-supervise PARENT PROGRAM ARGS…`: it leads the
//! session's process group, asks the kernel for SIGUSR1 when the daemon dies
//! (`PR_SET_PDEATHSIG`), starts the program in its group with its own stdio and
//! environment, and waits. SIGUSR1 makes it SIGKILL the whole group, itself included;
//! the program's exit makes it exit the same way. Everything else (the daemon's own
//! SIGTERM and SIGKILL of the group at the end of a session) works as without it.
//!
//! The kernel sends the parent-death signal when the *thread* that started the process
//! ends: programs are started from the runtime's worker threads and the main thread,
//! which live as long as the daemon.
//!
//! On macOS there is no parent-death signal: a program learns that the daemon is gone
//! from the end of its stdin (and EOF on stdout writes), and must exit then.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitCode;

use futures_lite::{FutureExt as _, StreamExt as _};
use rustix::process::Signal;

/// The first argument that makes `wsgate` a supervisor.
pub const ARG: &str = "__wsgate-supervise";

/// Runs the supervisor with the arguments after [`ARG`]: the daemon's pid, then the
/// program and its arguments.
pub fn run(args: Vec<OsString>) -> ExitCode {
    let mut args = args.into_iter();
    let parent = args
        .next()
        .and_then(|p| p.into_string().ok())
        .and_then(|p| p.parse::<i32>().ok());
    let (Some(parent), Some(program)) = (parent, args.next()) else {
        eprintln!("wsgate: {ARG} PARENT PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    // The handlers first, so the signal cannot arrive before they are in place.
    let Ok(mut signals) =
        async_signal::Signals::new([async_signal::Signal::Usr1, async_signal::Signal::Term])
    else {
        return ExitCode::from(126);
    };
    if rustix::process::set_parent_process_death_signal(Some(Signal::USR1)).is_err() {
        return ExitCode::from(126);
    }
    // The daemon may have died before the request: then nothing is started.
    let parent_now = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    if parent_now != parent {
        return ExitCode::from(125);
    }
    let mut child = match async_process::Command::new(&program).args(args).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("wsgate: cannot start {}: {e}", program.to_string_lossy());
            return ExitCode::from(127);
        }
    };
    futures_lite::future::block_on(async {
        loop {
            let status = async { Some(child.status().await) }.or(async {
                // The daemon's SIGTERM to the group is for the program, which got it
                // too; the supervisor stays to report how it ends.
                if let Some(Ok(async_signal::Signal::Usr1)) = signals.next().await {
                    kill_group();
                }
                None
            });
            match status.await {
                Some(Ok(status)) => return exit_like(status),
                Some(Err(_)) => return ExitCode::from(126),
                None => continue,
            }
        }
    })
}

/// The daemon is gone: ends the whole group, this process included.
fn kill_group() {
    let _ = rustix::process::kill_current_process_group(Signal::KILL);
}

/// Exits as the program did: with its status, or by its signal when that can be
/// raised again here (else with 128 + the signal's number, as a shell reports it).
fn exit_like(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let number = status.signal().unwrap_or(0);
    let handled = [Signal::USR1.as_raw(), Signal::TERM.as_raw()];
    if !handled.contains(&number)
        && let Some(signal) = Signal::from_named_raw(number)
    {
        let _ = rustix::process::kill_process(rustix::process::getpid(), signal);
    }
    ExitCode::from(u8::try_from(128 + number).unwrap_or(1))
}
