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
/// file system allows: see [`sync_dir`]). The temporary file is removed on failure.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
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
