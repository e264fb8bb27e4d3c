//! The pure path of one request, measured alone: parse a typical browser upgrade head,
//! route it, check Host and Origin, extract and percent-decode the token, compare its
//! digest. No sockets, no allocation beyond what a real request does.
//!
//! `pure_path [ITERATIONS]` prints `ns_per_request=…`. Under
//! `valgrind --tool=callgrind --toggle-collect='*one_request*'` the collected
//! instruction count divided by ITERATIONS is the instructions per request.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use wsgate::internal::auth::Authority;
use wsgate::internal::gate::{Gate, Verdict};
use wsgate::internal::policy::Policy;
use wsgate::internal::request::{self, Head};
use wsgate::internal::scope::Scopes;
use wsgate::internal::secret::Secret;

/// The token the daemon holds: 43 characters, like a generated one.
pub const TOKEN: &str = "Kj8vN2Qw1xYzM4P7R6Sf9T3Uc0Vd5We8Xf1Yg4Zh7Ai";

/// What Chromium sends for `new WebSocket("ws://127.0.0.1:7331/ws?session=4&token=…")`
/// from a page on http://localhost:5173, with the token as wsgate prints it (base64url:
/// nothing in it needs percent-encoding, but the decoder still reads it). With
/// `escaped`, every `8` in the token is sent as `%38`, which the decoder must undo.
pub fn typical_head(escaped: bool) -> Vec<u8> {
    let token = match escaped {
        true => TOKEN.replace('8', "%38"),
        false => TOKEN.to_owned(),
    };
    format!(
        "GET /ws?session=4&token={} HTTP/1.1\r\n\
         Host: 127.0.0.1:7331\r\n\
         Connection: Upgrade\r\n\
         Pragma: no-cache\r\n\
         Cache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n\
         Upgrade: websocket\r\n\
         Origin: http://localhost:5173\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        token
    )
    .into_bytes()
}

/// The opening handshake of RFC 6455 §1.2 as a client of wsgate sends it: the RFC's
/// own headers (its sample key, a subprotocol offer) with the token in the query and
/// loopback Host and Origin.
pub fn rfc_head() -> Vec<u8> {
    format!(
        "GET /chat?token={TOKEN} HTTP/1.1\r\n\
         Host: 127.0.0.1:7331\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: http://localhost:5173\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// One request through every check before the response.
#[inline(never)]
pub fn one_request(gate: &Gate, head: &[u8], now: SystemTime) -> bool {
    let mut storage = request::header_storage();
    let Ok(Head::Complete { request, .. }) = request::parse(head, &mut storage) else {
        return false;
    };
    matches!(gate.decide(&request, now), Verdict::Accept { .. })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args
        .next()
        .map(|n| n.parse().expect("ITERATIONS is a number"))
        .unwrap_or(1_000_000);
    let kind = args.next().unwrap_or_else(|| "browser".into());
    let gate = Gate {
        policy: Policy::default(),
        authority: Authority::query_token(&Secret::new(TOKEN), true).expect("a short enough token"),
        required: Scopes::NONE,
        console: true,
    };
    let head = match kind.as_str() {
        "browser" => typical_head(false),
        "escaped" => typical_head(true),
        "rfc" => rfc_head(),
        other => panic!("unknown head {other:?}: browser, escaped or rfc"),
    };
    let now = SystemTime::now();
    assert!(
        one_request(&gate, &head, now),
        "the typical request must be accepted"
    );
    for _ in 0..iterations.min(10_000) {
        black_box(one_request(&gate, black_box(&head), now));
    }
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(one_request(&gate, black_box(&head), now));
    }
    let ns = started.elapsed().as_nanos() as f64 / iterations as f64;
    // Every call of `one_request`, for dividing an instruction count collected in it.
    let calls = 1 + iterations.min(10_000) + iterations;
    println!(
        "head={kind} iterations={iterations} calls={calls} ns_per_request={ns:.0} head_bytes={}",
        head.len()
    );
}
