//! Files that must stay private: directories of mode 0700 and files of mode 0600,
//! owned by the user, checked rather than repaired; and writes that replace a file
//! atomically (a temporary file, flushed, renamed, the directory flushed). The token
//! store and the runtime file both use these.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Creates a directory (mode 0700) if needed and checks that it is private: a real
/// directory (not a symbolic link), owned by this user, with no access for group or
/// others. `what` names it in errors ("runtime directory").
pub fn ensure_private_dir(dir: &Path, what: &str) -> Result<(), String> {
    create_dir(dir, what)?;
    check_private_dir(dir, what, Links::Refuse).map(|_| ())
}

/// Whether a directory that is a symbolic link is followed (to a private directory
/// of this user's) or refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// For a directory in a shared place such as `/tmp`.
    Refuse,
    /// For a directory under the user's home, which dotfile managers often link.
    Follow,
}

/// Creates a directory, mode 0700, with its parents.
pub fn create_dir(dir: &Path, what: &str) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {what} {}: {e}", dir.display()))
}

/// Checks that a directory is private to this user; `Ok(false)` if it does not exist.
pub fn check_private_dir(dir: &Path, what: &str, links: Links) -> Result<bool, String> {
    let meta = match links {
        Links::Refuse => fs::symlink_metadata(dir),
        Links::Follow => fs::metadata(dir),
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A link to nothing is a mistake to point out, not a missing directory.
            if fs::symlink_metadata(dir).is_ok() {
                return Err(format!(
                    "{what} {} is a symbolic link to nothing",
                    dir.display()
                ));
            }
            return Ok(false);
        }
        Err(e) => return Err(format!("cannot inspect {what} {}: {e}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{what} {} is a symbolic link; it must be a directory of its own",
            dir.display()
        ));
    }
    if !meta.is_dir() {
        return Err(format!("{what} {} is not a directory", dir.display()));
    }
    check_owner_and_mode(dir, &meta, what, "700")?;
    Ok(true)
}

/// That `path` (described by `meta`) belongs to this user and is private to them;
/// else an error that says how to fix it (`chmod MODE PATH`).
pub fn check_owner_and_mode(
    path: &Path,
    meta: &fs::Metadata,
    what: &str,
    chmod: &str,
) -> Result<(), String> {
    if meta.uid() != rustix::process::getuid().as_raw() {
        return Err(format!("{what} {} belongs to another user", path.display()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{what} {} has mode {:o}; it must be private to you (chmod {chmod} {})",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        ));
    }
    Ok(())
}

/// Replaces `path` with `bytes`: a temporary file in the same directory, mode 0600,
/// flushed to disk, renamed over `path`, and the directory flushed too (as far as the
/// file system allows: see [`sync_dir`]). The temporary file is removed on failure;
/// a writer killed mid-write leaves it behind (see [`remove_stale_temporaries`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(temporary_name(path, std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        sync_file(&file)?;
        fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The name of the temporary file process `pid` writes `path`'s next content to:
/// `.NAME.PID.tmp`, beside it.
fn temporary_name(path: &Path, pid: u32) -> String {
    format!(".{}.{pid}.tmp", file_name(path))
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
}

/// Whether `name` is the name of a temporary file of [`write_atomically`] for a file
/// named `of`, whatever process wrote it.
fn is_temporary_of(name: &str, of: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(of))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temporary files that writers of `path` left beside it when they were
/// killed mid-write; returns how many went. Only for a file whose writers all take a
/// lock before they create their temporary file, and only while holding that lock:
/// then none of these files belongs to a write under way. A file that cannot be
/// removed stays (the write that follows reports what is wrong with the directory).
pub fn remove_stale_temporaries(path: &Path) -> usize {
    let dir = path.parent().unwrap_or(Path::new("."));
    let of = file_name(path);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| is_temporary_of(n, of))
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Flushes a file to stable storage. On macOS the strongest flush (`F_FULLFSYNC`) is
/// tried first and a plain `fsync` after it when the volume refuses it (network,
/// WebDAV and FUSE volumes, some external disks do); where the file system supports
/// no flush at all, the write stands without it.
pub fn sync_file(file: &fs::File) -> io::Result<()> {
    use rustix::io::Errno;
    #[cfg(target_vendor = "apple")]
    if rustix::fs::fcntl_fullfsync(file).is_ok() {
        return Ok(());
    }
    match rustix::fs::fsync(file) {
        Err(e) if [Errno::INVAL, Errno::NOTSUP, Errno::OPNOTSUPP, Errno::NOTTY].contains(&e) => {
            Ok(())
        }
        other => other.map_err(io::Error::from),
    }
}

/// Flushes a directory's entries after a rename, as far as the file system allows:
/// the rename has happened either way, so a directory that cannot be flushed (some
/// network volumes refuse) does not make the write fail.
pub fn sync_dir(dir: &Path) {
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names() {
        let path = Path::new("/config/tokens");
        assert_eq!(temporary_name(path, 4321), ".tokens.4321.tmp");
        assert!(is_temporary_of(".tokens.4321.tmp", "tokens"));
        for other in [
            ".tokens..tmp",
            ".tokens.x1.tmp",
            ".tokens.1.tmp.swp",
            "tokens.1.tmp",
            ".tokens.lock.1.tmp",
            ".last-used.1.tmp",
            "tokens",
        ] {
            assert!(!is_temporary_of(other, "tokens"), "{other}");
        }
        assert!(is_temporary_of(".last-used.1.tmp", "last-used"));
    }

    #[test]
    fn stale_temporaries_go_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("wsgate-fs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        let keep = [
            ".tokens.lock.7.tmp",
            ".last-used.7.tmp",
            "tokens.lock",
            ".tokens.7",
        ];
        for name in [".tokens.7.tmp", ".tokens.123456.tmp"].iter().chain(&keep) {
            fs::write(dir.join(name), b"partial").unwrap();
        }
        write_atomically(&path, b"whole\n").unwrap();
        assert_eq!(remove_stale_temporaries(&path), 2);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want: Vec<String> = keep.iter().map(|n| n.to_string()).collect();
        want.push("tokens".into());
        want.sort();
        assert_eq!(left, want);
        assert_eq!(fs::read(&path).unwrap(), b"whole\n");
        let _ = fs::remove_dir_all(&dir);
    }
}
