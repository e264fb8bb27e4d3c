//! The token store under crashes, contention and failing writes: `token create`
//! killed at random moments among concurrent writers, writes that the file system
//! refuses, and daemons that share the store's `last-used` file.

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::*;

/// The rounds of `token create` killed at a random moment.
const ROUNDS: usize = 500;
/// Processes creating and revoking at the same time.
const WRITERS: usize = 8;
/// The latest moment of a kill, after the start.
const KILL_WITHIN_MICROS: u64 = 20_000;

/// xorshift64: a replayable sequence from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The seed: `WSGATE_CRASH_SEED` to replay a run, else from the clock.
fn seed() -> u64 {
    if let Some(seed) = std::env::var("WSGATE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    nanos | 1
}

fn sha256_hex(token: &str) -> String {
    use sha2::Digest as _;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(token.as_bytes()))
}

/// A token whose `create` printed it, and what it was created with.
struct Printed {
    secret: String,
    name: String,
    scopes: &'static str,
}

/// The names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The temporary files of the store's writers in `dir` (`.tokens.PID.tmp`,
/// `.last-used.PID.tmp`).
fn temporaries(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| {
            (n.starts_with(".tokens.") || n.starts_with(".last-used.")) && n.ends_with(".tmp")
        })
        .collect()
}

/// `wsgate token list --json`, parsed, by id.
fn listed_by_id(config: &Path) -> std::collections::HashMap<String, serde_json::Value> {
    let out = wsgate(config, &["token", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("token list --json parses");
    items
        .into_iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i))
        .collect()
}

#[test]
fn killed_creates_among_concurrent_writers_lose_nothing_printed() {
    let scratch = Scratch::new("crash");
    let config = scratch.path().join("config");
    let seed = seed();
    eprintln!("store crash test: seed {seed} (WSGATE_CRASH_SEED={seed} replays the kill times)");
    let mut rng = Rng(seed);

    // A daemon serves all along, with a token made before.
    let before = create_token(&config, &["--name", "before", "--scope", "read"]);
    let d = Daemon::with(Options::store(&config, &["--echo"]));
    let target = format!("/?token={before}");
    assert_eq!(status(&upgrade(d.addr, &target, "")), 101);

    let done = Arc::new(AtomicBool::new(false));
    let printed: Arc<Mutex<Vec<Printed>>> = Arc::default();
    let writes = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (config, done, printed, writes) = (
                config.clone(),
                done.clone(),
                printed.clone(),
                writes.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0;
                while !done.load(Ordering::SeqCst) {
                    let name = format!("writer-{w}-{i}");
                    let secret = create_token(&config, &["--name", &name]);
                    printed.lock().unwrap().push(Printed {
                        secret,
                        name: name.clone(),
                        scopes: "read,write,exec",
                    });
                    let out = wsgate(&config, &["token", "revoke", &name]);
                    assert!(
                        out.status.success(),
                        "revoke {name}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    writes.fetch_add(2, Ordering::SeqCst);
                    i += 1;
                }
            })
        })
        .collect();
    // The daemon keeps letting the old token in while all this goes on.
    let checker = {
        let (done, addr, target) = (done.clone(), d.addr, target.clone());
        std::thread::spawn(move || {
            let mut checks = 0;
            while !done.load(Ordering::SeqCst) {
                let answer = upgrade(addr, &target, "");
                assert_eq!(status(&answer), 101, "mid-test: {answer}");
                checks += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            checks
        })
    };

    let scopes = ["read", "read,write", "read,write,exec", "write", "exec"];
    let (mut finished, mut killed_printed, mut killed_silent, mut left_temporary) = (0, 0, 0, 0);
    let started = Instant::now();
    for round in 0..ROUNDS {
        let name = format!("crash-{round}");
        let scope = scopes[round % scopes.len()];
        let mut child = Command::new(BIN)
            .args(["token", "create", "--name", &name, "--scope", scope])
            .env("WSGATE_CONFIG_DIR", &config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % (KILL_WITHIN_MICROS + 1)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        if config.join(format!(".tokens.{}.tmp", child.id())).exists() {
            left_temporary += 1;
        }
        let killed = status.signal() == Some(rustix::process::Signal::KILL.as_raw());
        match (status.success(), killed, out.is_empty()) {
            (true, _, _) => finished += 1,
            (false, true, true) => killed_silent += 1,
            (false, true, false) => killed_printed += 1,
            (false, false, _) => panic!("round {round} (seed {seed}): {status}: {err}"),
        }
        if !out.is_empty() {
            let secret = out.strip_suffix('\n').unwrap_or(&out);
            assert_eq!(secret.len(), 43, "round {round}: a whole token: {out:?}");
            printed.lock().unwrap().push(Printed {
                secret: secret.to_owned(),
                name,
                scopes: scope,
            });
        }
    }
    let rounds_took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    let checks = checker.join().unwrap();

    // Nothing blocks the next command, and the store parses.
    let next = Instant::now();
    let listed = listed_by_id(&config);
    let after = create_token(&config, &["--name", "after"]);
    assert!(
        next.elapsed() < Duration::from_secs(5),
        "the next commands took {:?}",
        next.elapsed()
    );

    // Every token whose create printed it is in the store, with its name and scopes.
    let store = std::fs::read_to_string(config.join("tokens")).unwrap();
    let by_digest: std::collections::HashMap<&str, &str> = store
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some((l.split(' ').nth(1)?, l)))
        .collect();
    let printed = printed.lock().unwrap();
    for p in printed.iter() {
        let line = by_digest
            .get(sha256_hex(&p.secret).as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{} (seed {seed}) was printed but is not in the store",
                    p.name
                )
            });
        let id = line.split(' ').next().unwrap();
        let item = &listed[id];
        assert_eq!(item["name"], p.name.as_str(), "{line}");
        let scopes: Vec<&str> = p.scopes.split(',').collect();
        assert_eq!(item["scopes"], json!(scopes), "{line}");
    }

    // Killed between the write and the print: stored, never shown, harmless.
    let stored_silently = listed
        .values()
        .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with("crash-")))
        .count()
        - printed
            .iter()
            .filter(|p| p.name.starts_with("crash-"))
            .count();

    // The next write removed what the killed writes left.
    assert_eq!(temporaries(&config), Vec::<String>::new());

    // The daemon kept its last good copy all along and still reads the store.
    assert_eq!(status(&upgrade(d.addr, &target, "")), 101);
    d.expect_event(Duration::from_secs(5), |e| {
        e["event"] == "store-reloaded"
            && e["tokens"].as_u64().unwrap_or(0) as usize >= printed.len() + 2
    });
    assert_eq!(
        status(&upgrade(d.addr, &format!("/?token={after}"), "")),
        101
    );
    let errors: Vec<_> = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "store-error")
        .collect();
    assert!(errors.is_empty(), "the daemon saw a bad store: {errors:?}");

    assert!(
        killed_printed + killed_silent > 0,
        "no create was killed (seed {seed})"
    );
    eprintln!(
        "store crash test: seed {seed}, {ROUNDS} rounds in {:.1} s: {finished} finished, \
         {killed_printed} killed after printing, {killed_silent} killed before printing \
         ({stored_silently} of them after their write), at least {left_temporary} \
         mid-write (a temporary file left); {} writes by {WRITERS} writers, \
         {} tokens printed, {checks} connections through the daemon meanwhile",
        rounds_took.as_secs_f64(),
        writes.load(Ordering::SeqCst),
        printed.len(),
    );
}

/// Whether the tests run as root, whom permission bits do not stop.
fn root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A store of several tokens with long names (more than 2 KiB) in `config`.
fn a_large_store(config: &Path) -> PathBuf {
    for i in 0..12 {
        create_token(config, &["--name", &format!("{i:02} {}", "n".repeat(60))]);
    }
    let store = config.join("tokens");
    assert!(std::fs::metadata(&store).unwrap().len() > 2048);
    store
}

/// Commands that rewrite the store, each of which must fail the same way.
const WRITES: [&[&str]; 4] = [
    &["token", "create", "--name", "new"],
    &[
        "token",
        "revoke",
        "01 nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    ],
    &[
        "token",
        "rename",
        "02 nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
        "x",
    ],
    &["token", "prune", "--revoked"],
];

/// `wsgate ARGS` run by `sh -c SCRIPT` (which ends by exec'ing it) in `config`.
fn through_sh(config: &Path, script: &str, args: &[&str]) -> (std::process::Output, u32) {
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("{script}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .env("WSGATE_CONFIG_DIR", config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

#[test]
fn a_write_past_the_file_size_limit_fails_and_changes_nothing() {
    let scratch = Scratch::new("efbig");
    let config = scratch.path().join("config");
    let store = a_large_store(&config);
    let bytes = std::fs::read(&store).unwrap();
    let files = listing(&config);
    // A limit of one block (512 bytes, 1024 in some shells) and SIGXFSZ ignored: the
    // write gets EFBIG instead of the signal.
    for args in WRITES {
        let (out, _) = through_sh(&config, "trap '' XFSZ; ulimit -c 0; ulimit -f 1", args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let want = format!(
            "cannot write token store {}: File too large",
            store.display()
        );
        assert!(err.contains(&want), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed a token");
        assert_eq!(std::fs::read(&store).unwrap(), bytes, "{args:?}");
        assert_eq!(listing(&config), files, "{args:?} left a file");
    }

    // With the signal as it is by default, the writer dies of it mid-write: the
    // store is still as it was, and the half-written temporary file is removed by
    // the next write.
    let (out, pid) = through_sh(&config, "ulimit -c 0; ulimit -f 1", WRITES[0]);
    let xfsz = rustix::process::Signal::XFSZ.as_raw();
    assert_eq!(out.status.signal(), Some(xfsz), "{:?}", out.status);
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&store).unwrap(), bytes);
    assert_eq!(temporaries(&config), [format!(".tokens.{pid}.tmp")]);
    create_token(&config, &["--name", "after"]);
    assert_eq!(temporaries(&config), Vec::<String>::new());
}

/// Makes a directory refuse new files, and lets it go again on drop: mode 0500, or
/// for root, whom modes do not stop, the immutable attribute where the system has
/// it (`chattr +i`).
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn make(dir: &Path) -> Option<ReadOnly> {
        if !root() {
            set_mode(dir, 0o500);
            return Some(ReadOnly(dir.to_owned()));
        }
        let made = in_path("chattr")
            && Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        made.then(|| ReadOnly(dir.to_owned()))
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if root() {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        } else {
            set_mode(&self.0, 0o700);
        }
    }
}

#[test]
fn a_write_into_a_read_only_directory_fails_and_changes_nothing() {
    let scratch = Scratch::new("read-only");
    let config = scratch.path().join("config");
    let store = a_large_store(&config);
    let bytes = std::fs::read(&store).unwrap();
    let files = listing(&config);
    let Some(_read_only) = ReadOnly::make(&config) else {
        // Not `needs`: CI may well run as root in a container without the attribute.
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: running as root, and chattr +i is not available to make a \
             directory read-only (the file-size limit test covers a failing write)"
        );
        return;
    };
    for args in WRITES {
        let out = wsgate(&config, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let want = format!("cannot write token store {}: ", store.display());
        assert!(
            err.contains(&want) && err.contains("(os error "),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed a token");
        assert_eq!(std::fs::read(&store).unwrap(), bytes, "{args:?}");
        assert_eq!(listing(&config), files, "{args:?} left a file");
    }
}

#[test]
fn daemons_sharing_a_store_keep_each_others_last_use() {
    // Two daemons stop at the same moment, and each writes down the token used
    // through it. Without a merge under the lock, one often writes over the other.
    for round in 0..4 {
        let scratch = Scratch::new("last-used");
        let config = scratch.path().join("config");
        let first = create_token(&config, &["--name", "first"]);
        let second = create_token(&config, &["--name", "second"]);
        let mut daemons = [
            Daemon::with(Options::store(&config, &["--echo"])),
            Daemon::with(Options::store(&config, &["--echo"])),
        ];
        for (d, (token, name)) in daemons.iter().zip([(&first, "first"), (&second, "second")]) {
            assert_eq!(
                status(&upgrade(d.addr, &format!("/?token={token}"), "")),
                101
            );
            // The daemon notes a use before it logs the accept.
            d.expect_fields(
                "accept",
                json!({"token_name": name}),
                Duration::from_secs(5),
            );
        }
        for d in &daemons {
            d.signal(rustix::process::Signal::TERM);
        }
        for d in &mut daemons {
            let deadline = Instant::now() + Duration::from_secs(10);
            while d.child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "a daemon did not stop");
                std::thread::sleep(Duration::from_millis(10));
            }
            let errors: Vec<_> = d
                .events()
                .into_iter()
                .filter(|e| e["event"] == "store-error")
                .collect();
            assert!(errors.is_empty(), "{errors:?}");
        }
        let listed = listed_by_id(&config);
        for item in listed.values() {
            assert!(
                item["last_used"].is_string(),
                "round {round}: {} has no last use: {item}",
                item["name"]
            );
        }
        assert_eq!(temporaries(&config), Vec::<String>::new());
    }
}
