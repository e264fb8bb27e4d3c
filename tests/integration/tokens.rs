//! Managed tokens in a first hour: a token works the moment `wsgate token create`
//! prints it, while wrong tokens cannot make the daemon read its store over and over.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::util::*;

/// The daemon's `store-reloaded` events so far: one for every time it read the store.
fn reloads(d: &Daemon) -> usize {
    d.events()
        .iter()
        .filter(|e| e["event"] == "store-reloaded")
        .count()
}

#[test]
fn a_token_created_while_the_daemon_runs_works_at_once() {
    let scratch = Scratch::new("fresh-token");
    let config = scratch.path().join("config");
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    // `T=$(wsgate token create); websocat …`: no sleep in between, twenty times.
    for i in 0..20 {
        let token = create_token(&config, &["--name", &format!("fresh {i}")]);
        let r = upgrade(d.addr, &format!("/?token={token}"), "");
        assert_eq!(status(&r), 101, "token {i}: {r}");
    }
    // The credential check answers the same way.
    let token = create_token(&config, &["--name", "checked"]);
    let check = raw(
        d.addr,
        format!("GET /_wsgate/auth/check?token={token} HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(status(&check), 200, "{check}");
    let log = d.stderr();
    assert!(!log.contains(&token), "{log}");
}

#[test]
fn wrong_tokens_cannot_make_the_daemon_read_its_store() {
    let scratch = Scratch::new("wrong-flood");
    let config = scratch.path().join("config");
    let good = create_token(&config, &["--name", "good"]);
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    let wrong = |i: usize| format!("wrong-token-{i:04}-not-in-any-store-at-all");
    let refused = |i: usize| {
        let r = upgrade(d.addr, &format!("/?token={}", wrong(i)), "");
        assert_eq!(status(&r), 401, "{r}");
    };

    // While the store does not change, wrong tokens read nothing.
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || (0..25).for_each(|i| refused(t * 100 + i)));
        }
    });
    assert_eq!(reloads(&d), 0, "{}", d.stderr());

    // While it changes all the time, reads are bounded by time, not by the number of
    // wrong tokens: a rewrite every 2 ms, wrong tokens from 8 threads for 2 s.
    let store = config.join("tokens");
    let bytes = std::fs::read(&store).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let rewriter = {
        let (stop, store, bytes) = (stop.clone(), store.clone(), bytes.clone());
        std::thread::spawn(move || {
            let temporary = store.with_extension("test-tmp");
            while !stop.load(Ordering::SeqCst) {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&temporary)
                    .unwrap();
                f.write_all(&bytes).unwrap();
                drop(f);
                std::fs::rename(&temporary, &store).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let before = reloads(&d);
    let started = Instant::now();
    let sent = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let sent = &sent;
            s.spawn(move || {
                let mut i = 0;
                while started.elapsed() < Duration::from_secs(2) {
                    refused(10_000 + t * 10_000 + i);
                    sent.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
            });
        }
    });
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    rewriter.join().unwrap();
    // At most one look every 20 ms for the misses, one every 400 ms for the poll.
    let reads = reloads(&d) - before;
    let bound = (elapsed.as_millis() / 20 + elapsed.as_millis() / 400 + 3) as usize;
    let sent = sent.load(Ordering::SeqCst);
    assert!(
        reads <= bound,
        "{reads} reads of the store for {sent} wrong tokens in {elapsed:?} (at most {bound})"
    );
    // The right token still works, and no presented token reached the log.
    let r = upgrade(d.addr, &format!("/?token={good}"), "");
    assert_eq!(status(&r), 101, "{r}");
    let log = d.stderr();
    assert!(
        !log.contains("wrong-token-") && !log.contains(&good),
        "{log}"
    );
}
