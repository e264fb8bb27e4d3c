//! The `wsgate` command: parse arguments, run, map errors to exit codes
//! (2 for usage, 1 for failures).

use std::process::ExitCode;

use wsgate::cli::{self, Command};
use wsgate::{VERSION, manage, runtime, server};

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
    let command = match cli::parse(args, std::env::var_os(cli::TOKEN_ENV)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("wsgate: {e} (see 'wsgate --help')");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
        Command::Version => {
            println!("wsgate {VERSION}");
            Ok(())
        }
        Command::List => runtime::list(&runtime::dir()).map(|instances| {
            for instance in instances {
                println!("{}", instance.url);
            }
        }),
        Command::Pair => manage::pair(&mut std::io::stdout()),
        Command::Token(command) => {
            manage::token(command, &mut std::io::stdout(), &mut std::io::stderr())
        }
        Command::Serve(config) => server::run(*config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsgate: {e}");
            ExitCode::FAILURE
        }
    }
}
