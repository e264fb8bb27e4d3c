//! The processes the soak starts: daemons whose address is read from their
//! `listening` line and whose log is tallied as it comes, the token commands, and the
//! run's private temporary directory.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Token commands, run from the load's tasks.
#[derive(Clone)]
pub struct Tokens {
    pub wsgate: PathBuf,
    pub config: PathBuf,
}

impl Tokens {
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.wsgate)
            .args(args)
            .env("WSGATE_CONFIG_DIR", &self.config)
            .env_remove("WSGATE_AUTH_TOKEN")
            .env_remove("WSGATE_CONFIG_FILE")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("wsgate {}: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "wsgate {}: {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub fn create(&self, name: &str) -> Result<String, String> {
        self.command(&[
            "token",
            "create",
            "--name",
            name,
            "--scope",
            "read,write,exec",
        ])
    }

    pub async fn run(&self, args: &[&str]) -> Result<String, String> {
        let (me, args) = (
            self.clone(),
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        );
        async_std::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            me.command(&args)
        })
        .await
    }
}

/// What a daemon wrote to stderr: each event counted; lines that say something went
/// wrong on its side kept.
#[derive(Default)]
pub struct Logged {
    pub events: Mutex<BTreeMap<String, u64>>,
    pub troubles: Mutex<Vec<String>>,
    pub trouble_count: AtomicU64,
}

/// Events that mean the daemon itself had a problem.
pub const TROUBLE: [&str; 5] = [
    "panic",
    "accept-error",
    "store-error",
    "runtime-error",
    "pairing-error",
];

impl Logged {
    pub fn line(&self, line: &str) {
        let event = line
            .split_once("\"event\":\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(event, _)| event);
        let trouble = match event {
            Some(event) => {
                if let Ok(mut events) = self.events.lock() {
                    *events.entry(event.to_owned()).or_default() += 1;
                }
                TROUBLE.contains(&event)
            }
            // Not a JSON log line: a panic's location, or worse.
            None => true,
        };
        if trouble {
            self.trouble_count.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut troubles) = self.troubles.lock() {
                if troubles.len() < 10 {
                    troubles.push(line.chars().take(300).collect());
                }
            }
        }
    }

    pub fn count(&self, event: &str) -> u64 {
        self.events
            .lock()
            .map(|e| e.get(event).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// A process this harness started: killed and reaped on drop.
pub struct Daemon {
    pub name: &'static str,
    pub child: Child,
    pub addr: SocketAddr,
    pub logged: Arc<Logged>,
}

impl Daemon {
    /// Starts `program` with `args`, and reads the address it reports in its
    /// `listening` line (JSON or `key=value`).
    pub fn start(
        name: &'static str,
        program: &Path,
        args: &[String],
        env: &[(&str, &Path)],
        keep_log: Option<PathBuf>,
    ) -> Result<Daemon, String> {
        let mut child = Command::new(program)
            .args(args)
            .env_remove("WSGATE_AUTH_TOKEN")
            .env_remove("WSGATE_CONFIG_FILE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {}: {e}", program.display()))?;
        let logged = Arc::new(Logged::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().ok_or("no stderr")?;
        let reader = logged.clone();
        let mut kept = match keep_log {
            Some(path) => Some(std::io::BufWriter::new(
                std::fs::File::create(&path)
                    .map_err(|e| format!("create {}: {e}", path.display()))?,
            )),
            None => None,
        };
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(file) = kept.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                if tx.is_some() && line.contains("listening") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(line.clone());
                    }
                    continue;
                }
                reader.line(&line);
            }
        });
        let mut daemon = Daemon {
            name,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            logged,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("{name} did not report its address within 10 s"))?;
        let addr = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(event) => event["addr"].as_str().map(str::to_owned),
            Err(_) => line
                .split(' ')
                .find_map(|kv| kv.strip_prefix("addr="))
                .map(str::to_owned),
        };
        daemon.addr = addr
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{name}: no address in {line}"))?;
        Ok(daemon)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits: wsgate closes its sessions and exits 0 within 5 s.
    pub fn terminate(&mut self) -> Result<Duration, String> {
        let asked = Instant::now();
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).ok_or("no pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .map_err(|e| format!("SIGTERM: {e}"))?;
        while asked.elapsed() < Duration::from_secs(6) {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(asked.elapsed()),
                Ok(Some(status)) => return Err(format!("exited with {status} after SIGTERM")),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting: {e}")),
            }
        }
        Err("still running 6 s after SIGTERM".to_owned())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private directory (mode 0700), as wsgate wants for its store and runtime files.
pub fn private_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("create {}: {e}", path.display()))
}

/// The temporary directory of one run, removed on drop.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
