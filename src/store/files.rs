//! The store's files: `tokens`, `tokens.lock` and `last-used` in a private directory.
//! Every change takes the lock, reads the store, and replaces it atomically; a store
//! that does not parse is an error naming the file and line, and is never written
//! over. The daemon's `last-used` file is merged under the same lock.
//!
//! Crashes: the lock is an `flock` on `tokens.lock`, which the kernel releases when
//! its holder dies, so a killed command never leaves the store locked (the file's
//! existence means nothing). A writer killed mid-write leaves only its temporary
//! file; since temporary files are created only under the lock, whoever holds it
//! next removes them before writing.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::{Entry, parse, serialize, valid_id};
use crate::date;

/// The configuration directory: `$WSGATE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/wsgate`,
/// else `~/.config/wsgate`.
pub fn config_dir() -> Result<PathBuf, String> {
    config_dir_from(
        std::env::var_os("WSGATE_CONFIG_DIR"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

fn config_dir_from(
    own: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    let nonempty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(own) = nonempty(own) {
        return Ok(own);
    }
    if let Some(xdg) = nonempty(xdg) {
        return Ok(xdg.join("wsgate"));
    }
    match nonempty(home) {
        Some(home) => Ok(home.join(".config").join("wsgate")),
        None => {
            Err("no configuration directory: set WSGATE_CONFIG_DIR, XDG_CONFIG_HOME or HOME".into())
        }
    }
}

/// What identifies a version of the store file, for noticing changes by polling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The largest store file read: about 100,000 tokens.
pub const MAX_STORE_BYTES: u64 = 16 << 20;

/// How long a change waits for another process's lock on the store.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The store's files in one directory: `tokens`, `tokens.lock`, `last-used`.
#[derive(Clone, Debug)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// The store in `dir`.
    pub fn new(dir: PathBuf) -> Files {
        Files { dir }
    }

    /// The store file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("tokens")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("tokens.lock")
    }

    fn used_path(&self) -> PathBuf {
        self.dir.join("last-used")
    }

    /// The stamp of the store file now, if it exists.
    pub fn stamp(&self) -> Option<Stamp> {
        let m = fs::metadata(self.path()).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Reads the store: no directory or no file is an empty store; a directory or file
    /// that is not private to the user, a file that is not a regular file (a symbolic
    /// link, a FIFO), cannot be read or does not parse is an error naming it (and the
    /// line). The file is checked as opened, so it cannot be swapped in between.
    pub fn load(&self) -> Result<Vec<Entry>, String> {
        use crate::fs::{Links, check_private_dir};
        if !check_private_dir(&self.dir, "configuration directory", Links::Follow)? {
            return Ok(Vec::new());
        }
        let path = self.path();
        let flags = rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC;
        let mut file = match rustix::fs::open(&path, flags, rustix::fs::Mode::empty()) {
            Ok(fd) => fs::File::from(fd),
            Err(rustix::io::Errno::NOENT) => return Ok(Vec::new()),
            Err(rustix::io::Errno::LOOP) => {
                return Err(format!(
                    "token store {} is a symbolic link; it must be a regular file",
                    path.display()
                ));
            }
            Err(e) => return Err(format!("cannot read token store {}: {e}", path.display())),
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read token store {}: {e}", path.display()))?;
        check_private_file(&path, &meta)?;
        if meta.len() > MAX_STORE_BYTES {
            return Err(format!(
                "token store {} is {} bytes, more than a store of tokens can be ({} MiB at most)",
                path.display(),
                meta.len(),
                MAX_STORE_BYTES >> 20
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut file, MAX_STORE_BYTES + 1),
            &mut bytes,
        )
        .map_err(|e| format!("cannot read token store {}: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_STORE_BYTES {
            return Err(format!(
                "token store {} grew past {} MiB while it was read",
                path.display(),
                MAX_STORE_BYTES >> 20
            ));
        }
        parse(&bytes).map_err(|e| match e.line {
            0 => format!("token store {} is not valid: {}", path.display(), e.message),
            n => format!("token store {}:{n}: {}", path.display(), e.message),
        })
    }

    /// Changes the store under an exclusive lock: reads it, lets `change` edit the
    /// entries, and replaces the file atomically. Nothing is written if reading or
    /// `change` fails, or if the lock is not had within [`LOCK_WAIT`].
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<Entry>) -> Result<T, String>,
    ) -> Result<T, String> {
        self.prepare_dir()?;
        let held = self.lock()?;
        let mut entries = self.load()?;
        let out = change(&mut entries)?;
        self.write(&held, &entries)?;
        Ok(out)
    }

    /// Creates the directory if needed and checks that it is private.
    fn prepare_dir(&self) -> Result<(), String> {
        use crate::fs::{Links, check_private_dir, create_dir};
        create_dir(&self.dir, "configuration directory")?;
        check_private_dir(&self.dir, "configuration directory", Links::Follow).map(|_| ())
    }

    fn lock(&self) -> Result<Held, String> {
        use rustix::fs::FlockOperation;
        let path = self.lock_path();
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => format!(
                    "lock file {} is a symbolic link; it must be a regular file",
                    path.display()
                ),
                _ => format!("cannot open lock file {}: {e}", path.display()),
            })?;
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Held { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(format!(
                        "the token store is locked by another process ({}) for more than {} s; try again",
                        path.display(),
                        LOCK_WAIT.as_secs()
                    ));
                }
                Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
            }
        }
    }

    fn write(&self, held: &Held, entries: &[Entry]) -> Result<(), String> {
        let path = self.path();
        self.replace(held, &path, serialize(entries).as_bytes())
            .map_err(|e| format!("cannot write token store {}: {e}", path.display()))
    }

    /// Replaces one of the store's files, under the lock: first the temporary files
    /// that killed writers left go (those of the store and of `last-used`: only
    /// holders of the lock create them, so none is a write under way), then the file
    /// is written atomically. On failure the file is as it was and no temporary file
    /// of this write is left.
    fn replace(&self, _held: &Held, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        for file in [self.path(), self.used_path()] {
            crate::fs::remove_stale_temporaries(&file);
        }
        crate::fs::write_atomically(path, bytes)
    }

    /// When each token was last used, from the daemon's `last-used` file.
    pub fn last_used(&self) -> HashMap<String, u64> {
        let text = fs::read_to_string(self.used_path()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (id, at) = line.split_once(' ')?;
                valid_id(id).then_some(())?;
                Some((id.to_owned(), date::parse(at)?))
            })
            .collect()
    }

    /// Adds when tokens were last used to the daemon's `last-used` file (the store
    /// itself is never written for this). Under the store's lock the file is read
    /// again and each token keeps the later of its two times, so daemons that share
    /// the store never lose each other's entries.
    pub fn record_used(&self, used: &HashMap<String, u64>) -> Result<(), String> {
        self.prepare_dir()?;
        let held = self.lock()?;
        let mut all = self.last_used();
        merge_used(&mut all, used);
        let mut ids: Vec<_> = all.iter().collect();
        ids.sort();
        let text: String = ids
            .into_iter()
            .map(|(id, at)| format!("{id} {}\n", date::format(*at)))
            .collect();
        let path = self.used_path();
        self.replace(&held, &path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// This process's hold on the store's lock: what writing needs. Closing the file
/// (dropping this, or the process ending however it ends) releases it.
struct Held {
    _file: fs::File,
}

/// Adds `used` to `all`, each token keeping its later time.
fn merge_used(all: &mut HashMap<String, u64>, used: &HashMap<String, u64>) {
    for (id, &at) in used {
        let kept = all.entry(id.clone()).or_insert(at);
        *kept = (*kept).max(at);
    }
}

fn check_private_file(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    if !meta.is_file() {
        return Err(format!(
            "token store {} is not a regular file",
            path.display()
        ));
    }
    crate::fs::check_owner_and_mode(path, meta, "token store", "600")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_use_keeps_the_later_time() {
        let dir = std::env::temp_dir().join(format!("wsgate-used-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let files = Files::new(dir.clone());
        let times = |pairs: &[(&str, u64)]| -> HashMap<String, u64> {
            pairs.iter().map(|&(id, at)| (id.to_owned(), at)).collect()
        };
        // Two daemons: each knows only its own uses, one of them an older one.
        files
            .record_used(&times(&[("0000000a", 2_000), ("0000000c", 3_000)]))
            .unwrap();
        files
            .record_used(&times(&[("0000000b", 1_000), ("0000000c", 1_000)]))
            .unwrap();
        let all = files.last_used();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(
            all,
            times(&[
                ("0000000a", 2_000),
                ("0000000b", 1_000),
                ("0000000c", 3_000)
            ])
        );
    }

    #[test]
    fn directory_choice() {
        let d = |a: Option<&str>, b: Option<&str>, c: Option<&str>| {
            config_dir_from(a.map(Into::into), b.map(Into::into), c.map(Into::into))
        };
        assert_eq!(d(Some("/own"), Some("/x"), Some("/h")), Ok("/own".into()));
        assert_eq!(d(None, Some("/x"), Some("/h")), Ok("/x/wsgate".into()));
        assert_eq!(
            d(None, Some(""), Some("/h")),
            Ok("/h/.config/wsgate".into())
        );
        assert!(d(None, None, None).is_err());
    }
}
