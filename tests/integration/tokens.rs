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

/// `wsgate token list --json`, parsed.
fn listed(config: &std::path::Path) -> Vec<serde_json::Value> {
    let out = wsgate(config, &["token", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_live_name_is_one_token() {
    let scratch = Scratch::new("names-unique");
    let config = scratch.path().join("config");
    let laptop = create_token(&config, &["--name", "laptop"]);
    // A second live token of that name is refused, saying which has it; the store
    // is left as it was.
    let before = std::fs::read(config.join("tokens")).unwrap();
    let out = wsgate(&config, &["token", "create", "--name", "laptop"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let id = listed(&config)[0]["id"].as_str().unwrap().to_owned();
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("token {id} already has the name \"laptop\""))
            && err.contains("rename or revoke"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no token printed");
    assert_eq!(std::fs::read(config.join("tokens")).unwrap(), before);
    // Revoked, or expired, it leaves the name free.
    assert!(
        wsgate(&config, &["token", "revoke", "laptop"])
            .status
            .success()
    );
    let _ = create_token(&config, &["--name", "laptop"]);
    let _ = create_token(&config, &["--name", "brief", "--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(1100));
    let _ = create_token(&config, &["--name", "brief"]);
    assert_eq!(listed(&config).len(), 4);
    assert!(!stderr_of(&wsgate(&config, &["token", "list"])).contains(&laptop));
}

#[test]
fn rename() {
    let scratch = Scratch::new("names-rename");
    let config = scratch.path().join("config");
    let token = create_token(&config, &["--name", "old name"]);
    let _ = create_token(&config, &["--name", "phone"]);
    let id = listed(&config)[0]["id"].as_str().unwrap().to_owned();
    let d = Daemon::with(Options::store(&config, &["--echo"]));

    // By name.
    let out = wsgate(&config, &["token", "rename", "old name", "my laptop"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stderr_of(&out),
        format!("token {id} renamed from \"old name\" to \"my laptop\"\n")
    );
    // By id, to a name starting with a dash (taken as it is).
    let out = wsgate(&config, &["token", "rename", &id, "-laptop-"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let item = listed(&config).into_iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(item["name"], "-laptop-");
    // To its own name: nothing changes, nothing is refused.
    assert!(
        wsgate(&config, &["token", "rename", &id, "-laptop-"])
            .status
            .success()
    );
    // To a name another live token has: refused (1), nothing written.
    let store = std::fs::read(config.join("tokens")).unwrap();
    let out = wsgate(&config, &["token", "rename", &id, "phone"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("already has the name \"phone\""),
        "{out:?}"
    );
    assert_eq!(std::fs::read(config.join("tokens")).unwrap(), store);
    // Unknown, or a name that is not one: 1 and 2.
    let out = wsgate(&config, &["token", "rename", "nobody", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("\"nobody\""), "{out:?}");
    for bad in [
        &["token", "rename", &id][..],
        &["token", "rename", &id, " x"],
    ] {
        let out = wsgate(&config, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    // The token still works, and once the daemon has seen the store change (within a
    // poll, as a revocation), its log uses the new name.
    assert!(eventually(Duration::from_secs(3), || {
        let r = upgrade(d.addr, &format!("/?token={token}"), "");
        assert_eq!(status(&r), 101, "{r}");
        d.events()
            .iter()
            .any(|e| is_event(e, "accept", &json!({"token_name": "-laptop-"})))
    }));
    // The help and the man page name the command.
    let help = String::from_utf8(run_wsgate(&["--help"], &[]).stdout).unwrap();
    assert!(
        help.contains("wsgate token rename ID|NAME NEW-NAME"),
        "{help}"
    );
    let man = String::from_utf8(run_wsgate(&["--generate", "man"], &[]).stdout).unwrap();
    assert!(
        man.contains("wsgate token rename ID|NAME NEW\\-NAME"),
        "{man}"
    );
    let bash = String::from_utf8(run_wsgate(&["--generate", "complete-bash"], &[]).stdout).unwrap();
    assert!(bash.contains("'create list revoke rename prune'"), "{bash}");
}

#[test]
fn token_list_fits_100_columns() {
    let scratch = Scratch::new("list-width");
    let config = scratch.path().join("config");
    let long = "a name of eighty characters for a token that someone typed in with great care ..";
    assert_eq!(long.chars().count(), 80);
    let _ = create_token(&config, &["--name", long, "--expires", "never"]);
    let _ = create_token(
        &config,
        &["--name", "paired Firefox on Windows 2026-11-29 14:02 UTC"],
    );
    let _ = create_token(
        &config,
        &["--name", "ro", "--scope", "read", "--expires", "1s"],
    );
    assert!(wsgate(&config, &["token", "revoke", "ro"]).status.success());
    let out = wsgate(&config, &["token", "list"]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().count(), 4, "{table}");
    for line in table.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    // The long name is cut in the table, whole in JSON; the rest are whole.
    assert!(
        table.contains("a name of eighty characters") && table.contains('…'),
        "{table}"
    );
    assert!(!table.contains(long), "{table}");
    assert!(
        table.contains("paired Firefox on Windows 2026-11-29 14:02 UTC"),
        "{table}"
    );
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "NAME", "SCOPES", "EXPIRES", "USED", "STATUS"]
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains(" never ") && l.ends_with("active")),
        "{table}"
    );
    // 90 days, or a second less.
    assert!(
        table
            .lines()
            .any(|l| l.contains(" in 90d ") || l.contains(" in 89d ")),
        "{table}"
    );
    assert!(table.lines().any(|l| l.ends_with("revoked")), "{table}");
    let names: Vec<String> = listed(&config)
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == long), "{names:?}");
}
