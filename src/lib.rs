//! wsgate: a token gate in front of a local tool's WebSocket.
//!
//! Every step before the response is a pure function of bytes and configuration
//! (`request`, `token`, `policy`, `auth`, `gate`, `response`), so it can be unit-tested
//! and fuzzed without sockets. Only `server` and `backend` do I/O, and only they call
//! the async runtime.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod backend;
pub mod bearer;
pub mod cli;
pub mod date;
pub mod gate;
pub mod jwt;
pub mod log;
pub mod manage;
pub mod outcome;
pub mod page;
pub mod pairing;
pub mod policy;
pub mod request;
pub mod response;
pub mod runtime;
pub mod server;
pub mod store;
pub mod token;

/// The version printed by `--version` and reported by the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
