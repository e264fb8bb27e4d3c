//! The load: the kinds of client mixed, what each must get, the workers that draw
//! them, the task that revokes tokens of live sessions, and the tally of outcomes.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_std::future::timeout;
use async_tungstenite::tungstenite::Message;
use futures_lite::io::AsyncWriteExt as _;

use crate::daemon::Tokens;
use crate::wire::{
    ANSWER_TIMEOUT, Credential, client_frame, close_frame, close_normally, connect, echo, head,
    malformed, read_reply, refused, upgrade, websocket,
};

/// The daemons' `--max-message-size`: small, so oversized messages are cheap.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// How long one client of the mix may take before it counts as a failure.
pub const OP_TIMEOUT: Duration = Duration::from_secs(20);

/// A revoked token's sessions must be closed within this.
pub const REVOKE_WITHIN: Duration = Duration::from_secs(2);

/// What one client of the mix does, and what it must get.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    Good,
    WrongToken,
    MissingToken,
    Malformed,
    ByteAtATime,
    VanishInHandshake,
    VanishInMessage,
    NeverReads,
    Oversized,
    Revoked,
}

impl Kind {
    /// The kinds the workers draw from, with their weights. Revocations have a task of
    /// their own.
    pub const MIX: [(Kind, u64); 9] = [
        (Kind::Good, 30),
        (Kind::WrongToken, 8),
        (Kind::MissingToken, 8),
        (Kind::Malformed, 10),
        (Kind::ByteAtATime, 4),
        (Kind::VanishInHandshake, 10),
        (Kind::VanishInMessage, 8),
        (Kind::NeverReads, 3),
        (Kind::Oversized, 6),
    ];

    pub const ALL: [Kind; 10] = [
        Kind::Good,
        Kind::WrongToken,
        Kind::MissingToken,
        Kind::Malformed,
        Kind::ByteAtATime,
        Kind::VanishInHandshake,
        Kind::VanishInMessage,
        Kind::NeverReads,
        Kind::Oversized,
        Kind::Revoked,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Kind::Good => "good: 3 messages echoed, closed with 1000",
            Kind::WrongToken => "wrong token",
            Kind::MissingToken => "no token",
            Kind::Malformed => "malformed head (6 kinds)",
            Kind::ByteAtATime => "head a byte at a time, 1 echo, close",
            Kind::VanishInHandshake => {
                "vanishes mid-handshake (part of the head, or all of it unanswered)"
            }
            Kind::VanishInMessage => "vanishes mid-message (frame header and part of the payload)",
            Kind::NeverReads => "never reads: sends 16 KiB messages for 1 s, then vanishes",
            Kind::Oversized => "message of 64 KiB + 1",
            Kind::Revoked => "token revoked while the session is open",
        }
    }

    pub fn expected(self) -> &'static str {
        match self {
            Kind::Good => "101, echoes, 1000 back",
            Kind::WrongToken => "401 invalid-token",
            Kind::MissingToken => "401 missing-token",
            Kind::Malformed => "400",
            Kind::ByteAtATime => "101, echo, 1000 back",
            Kind::VanishInHandshake | Kind::VanishInMessage => "nothing (the daemon cleans up)",
            Kind::NeverReads => "101, then backpressure",
            Kind::Oversized => "close 1009",
            Kind::Revoked => "close 1008 `token revoked` within 2 s",
        }
    }

    pub fn pick(rng: &mut Rng) -> Kind {
        let total: u64 = Kind::MIX.iter().map(|(_, w)| w).sum();
        let mut at = rng.below(total);
        for (kind, weight) in Kind::MIX {
            if at < weight {
                return kind;
            }
            at -= weight;
        }
        Kind::Good
    }
}

/// A small xorshift generator: the mix needs variety, not unpredictability.
pub struct Rng(pub u64);

impl Rng {
    pub fn seeded(salt: u64) -> Rng {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((now ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Outcomes of the mix: per daemon and kind, expected and unexplained, with reasons.
#[derive(Default)]
pub struct Tally {
    pub counts: Mutex<HashMap<(usize, Kind), (u64, u64)>>,
    pub reasons: Mutex<BTreeMap<(usize, Kind, String), u64>>,
    /// The first unexplained failures, with when they happened.
    pub first: Mutex<Vec<String>>,
    /// Failures of the harness's own steps that are no daemon's (a token command).
    pub problems: Mutex<Vec<String>>,
    /// From `wsgate token revoke` returning to each session's 1008.
    pub revoke_ms: Mutex<Vec<u64>>,
    pub operations: AtomicU64,
    pub unexpected: AtomicU64,
}

impl Tally {
    pub fn record(
        &self,
        daemon: usize,
        name: &str,
        kind: Kind,
        result: Result<(), String>,
        at: f64,
    ) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let failed = result.is_err();
        if let Ok(mut counts) = self.counts.lock() {
            let entry = counts.entry((daemon, kind)).or_default();
            if failed {
                entry.1 += 1;
            } else {
                entry.0 += 1;
            }
        }
        if let Err(reason) = result {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first.lock() {
                if first.len() < 20 {
                    first.push(format!("{at:.1} s, {name}, {kind:?}: {reason}"));
                }
            }
            if let Ok(mut reasons) = self.reasons.lock() {
                *reasons.entry((daemon, kind, reason)).or_default() += 1;
            }
        }
    }

    pub fn problem(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut problems) = self.problems.lock() {
            if problems.len() < 20 {
                problems.push(what);
            }
        }
    }

    pub fn count(&self, daemon: usize, kind: Kind) -> (u64, u64) {
        self.counts
            .lock()
            .map(|c| c.get(&(daemon, kind)).copied().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// The query or the header, chosen at random: the store takes either.
pub fn either<'a>(token: &'a str, rng: &mut Rng) -> Credential<'a> {
    if rng.below(2) == 0 {
        Credential::Query(token)
    } else {
        Credential::Bearer(token)
    }
}

/// A daemon as the clients see it.
#[derive(Clone)]
pub struct Target {
    pub index: usize,
    pub name: &'static str,
    pub addr: SocketAddr,
}

/// One client of the mix against `target`.
pub async fn client(
    kind: Kind,
    target: &Target,
    token: &str,
    rng: &mut Rng,
    n: u64,
) -> Result<(), String> {
    let addr = target.addr;
    match kind {
        Kind::Good => {
            let mut ws = upgrade(addr, head(addr, either(token, rng)).as_bytes()).await?;
            for size in [16, 1000, 20_000] {
                echo(&mut ws, format!("{n}:{}", "x".repeat(size))).await?;
            }
            close_normally(ws).await
        }
        Kind::WrongToken => {
            let wrong = format!("soak-wrong-{n:032}");
            let head = head(addr, either(&wrong, rng));
            refused(addr, head.as_bytes(), 401, Some("invalid-token")).await
        }
        Kind::MissingToken => {
            let head = head(addr, Credential::Nothing);
            refused(addr, head.as_bytes(), 401, Some("missing-token")).await
        }
        Kind::Malformed => refused(addr, &malformed(addr, token, rng.next()), 400, None).await,
        Kind::ByteAtATime => {
            let head = head(addr, either(token, rng));
            let mut stream = connect(addr).await?;
            for byte in head.as_bytes() {
                stream
                    .write_all(std::slice::from_ref(byte))
                    .await
                    .map_err(|e| format!("sending the head: {e}"))?;
                async_std::task::sleep(Duration::from_millis(1)).await;
            }
            let reply = read_reply(&mut stream).await?;
            let mut ws = websocket(stream, reply).await?;
            echo(&mut ws, format!("{n}: slow")).await?;
            close_normally(ws).await
        }
        Kind::VanishInHandshake => {
            let head = head(addr, either(token, rng));
            // Half the time part of the head; else all of it, gone before the answer.
            let cut = match rng.below(2) {
                0 => 1 + rng.below(head.len() as u64 - 1) as usize,
                _ => head.len(),
            };
            let mut stream = connect(addr).await?;
            stream
                .write_all(&head.as_bytes()[..cut])
                .await
                .map_err(|e| format!("sending the head: {e}"))?;
            async_std::task::sleep(Duration::from_millis(rng.below(20))).await;
            Ok(())
        }
        Kind::VanishInMessage => {
            let mut ws = upgrade(addr, head(addr, either(token, rng)).as_bytes()).await?;
            echo(&mut ws, format!("{n}: before")).await?;
            let declared = 4000;
            let part = 1 + rng.below(declared as u64 - 1) as usize;
            let frame = client_frame(0x1, declared, &vec![b'v'; part]);
            ws.get_mut()
                .write_all(&frame)
                .await
                .map_err(|e| format!("sending part of a frame: {e}"))?;
            async_std::task::sleep(Duration::from_millis(rng.below(20))).await;
            Ok(())
        }
        Kind::NeverReads => {
            let mut ws = upgrade(addr, head(addr, either(token, rng)).as_bytes()).await?;
            let message = "n".repeat(16 * 1024);
            let until = Instant::now() + Duration::from_secs(1);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                match timeout(left, ws.send(Message::text(message.clone()))).await {
                    // Blocked: the daemon stopped reading, as backpressure wants.
                    Err(_) => break,
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(format!("sending: {e}")),
                }
            }
            Ok(())
        }
        Kind::Oversized => {
            let mut ws = upgrade(addr, head(addr, either(token, rng)).as_bytes()).await?;
            // The daemon may close while the message is still going out: what counts
            // is the close frame it sends.
            let _ = ws.send(Message::text("o".repeat(MAX_MESSAGE + 1))).await;
            match close_frame(&mut ws, ANSWER_TIMEOUT).await? {
                (1009, _) => Ok(()),
                (code, reason) => Err(format!("closed with {code} `{reason}`, wanted 1009")),
            }
        }
        Kind::Revoked => Err("revocations are not drawn from the mix".to_owned()),
    }
}

pub struct Load {
    pub targets: Vec<Target>,
    pub token: String,
    pub stop: AtomicBool,
    pub started: Instant,
    pub tally: Tally,
}

impl Load {
    pub fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

pub async fn worker(load: Arc<Load>, target: usize, seed: u64) {
    let target = &load.targets[target];
    let mut rng = Rng::seeded(seed);
    let mut n = seed << 32;
    while !load.stop.load(Ordering::Relaxed) {
        n += 1;
        let kind = Kind::pick(&mut rng);
        let result = timeout(OP_TIMEOUT, client(kind, target, &load.token, &mut rng, n))
            .await
            .unwrap_or_else(|_| Err("no outcome within 20 s".to_owned()));
        load.tally
            .record(target.index, target.name, kind, result, load.at());
        // A breath between clients: 2 cores hold the clients, the daemons and `cat`.
        async_std::task::sleep(Duration::from_millis(2 + rng.below(4))).await;
    }
}

/// Over and over: a new token, a session with it on every daemon, the token revoked;
/// each session must be closed with 1008 `token revoked` within [`REVOKE_WITHIN`].
/// Revoked tokens are pruned after each round, so the store stays small.
pub async fn revocations(load: Arc<Load>, tokens: Tokens) {
    let mut round = 0u64;
    let mut rng = Rng::seeded(u64::MAX);
    while !load.stop.load(Ordering::Relaxed) {
        round += 1;
        let name = format!("soak-revoke-{round}");
        let token = match tokens
            .run(&[
                "token",
                "create",
                "--name",
                &name,
                "--scope",
                "read,write,exec",
            ])
            .await
        {
            Ok(token) => token,
            Err(e) => {
                load.tally.problem(e);
                async_std::task::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut open = Vec::new();
        for target in &load.targets {
            let credential = either(&token, &mut rng);
            let session = async {
                let mut ws = upgrade(target.addr, head(target.addr, credential).as_bytes()).await?;
                echo(&mut ws, format!("{name}: live")).await?;
                Ok::<_, String>(ws)
            };
            match session.await {
                Ok(ws) => open.push((target.clone(), ws)),
                Err(e) => {
                    load.tally
                        .record(target.index, target.name, Kind::Revoked, Err(e), load.at())
                }
            }
        }
        if let Err(e) = tokens.run(&["token", "revoke", &name]).await {
            load.tally.problem(e);
        }
        let revoked = Instant::now();
        let waits: Vec<_> = open
            .into_iter()
            .map(|(target, mut ws)| async move {
                let result = match close_frame(&mut ws, REVOKE_WITHIN).await {
                    Ok((1008, reason)) if reason == "token revoked" => Ok(()),
                    Ok((code, reason)) => Err(format!(
                        "closed with {code} `{reason}`, wanted 1008 `token revoked`"
                    )),
                    Err(e) => Err(e),
                };
                (target, result, revoked.elapsed())
            })
            .map(async_std::task::spawn)
            .collect();
        for wait in waits {
            let (target, result, took) = wait.await;
            if result.is_ok() {
                if let Ok(mut ms) = load.tally.revoke_ms.lock() {
                    ms.push(took.as_millis() as u64);
                }
            }
            load.tally
                .record(target.index, target.name, Kind::Revoked, result, load.at());
        }
        if let Err(e) = tokens.run(&["token", "prune", "--revoked"]).await {
            load.tally.problem(e);
        }
        async_std::task::sleep(Duration::from_millis(300)).await;
    }
}
