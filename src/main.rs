//! The `wsgate` command: see [`wsgate::run`].

use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic message could quote data a client sent; say only where it happened.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("wsgate: internal error at {at}");
    }));
    let args = std::env::args_os().skip(1).collect();
    wsgate::run(args, wsgate::Env::from_process())
}
