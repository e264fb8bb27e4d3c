//! wsgate driven from outside: the built binary, real sockets, real clients.
//! Every daemon binds 127.0.0.1 on a free port and is killed and reaped on drop.

mod auth_modes;
mod browser;
mod chromium;
mod cli;
mod config_file;
mod console;
mod echo;
mod generate;
mod handshake;
mod heartbeat;
mod lifecycle;
mod other_origin;
mod pairing;
mod program;
mod redaction;
mod robustness;
mod secrets;
mod snippets;
mod store;
mod store_crash;
mod tokens;
mod upstream;
mod util;
mod workflow;
