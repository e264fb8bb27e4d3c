//! The runtime file: where the token-bearing connect URL and console link go for the
//! operator, and what `wsgate list` reads.
//!
//! Each running instance writes `<pid>.instance` (mode 0600) into a per-user
//! directory (mode 0700, owned by the user): `$WSGATE_RUNTIME_DIR`, else
//! `$XDG_RUNTIME_DIR/wsgate`, else `${TMPDIR:-/tmp}/wsgate-<uid>`. A directory that is
//! not private to the user is refused rather than used or repaired: in a shared `/tmp`
//! someone else may have created it first.

use std::ffi::OsString;
use std::fs;
use std::io;

use crate::fs::{Links, check_private_dir, ensure_private_dir, write_atomically};
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".instance";

/// The runtime directory, from the environment (see the module docs).
pub fn dir() -> PathBuf {
    dir_from(
        std::env::var_os("WSGATE_RUNTIME_DIR"),
        std::env::var_os("XDG_RUNTIME_DIR"),
        std::env::var_os("TMPDIR"),
    )
}

fn dir_from(own: Option<OsString>, xdg: Option<OsString>, tmp: Option<OsString>) -> PathBuf {
    let nonempty = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(own) = nonempty(own) {
        return own;
    }
    if let Some(xdg) = nonempty(xdg) {
        return xdg.join("wsgate");
    }
    let tmp = nonempty(tmp).unwrap_or_else(|| PathBuf::from("/tmp"));
    tmp.join(format!("wsgate-{}", rustix::process::getuid().as_raw()))
}

/// A running instance as its runtime file describes it. Its `Debug` shows the pid
/// only: the URL may hold the token, and the pairing fields hold the code.
#[derive(Clone, PartialEq, Eq)]
pub struct Instance {
    /// The daemon's process id.
    pub pid: u32,
    /// The connect URL (with the token in query-token mode).
    pub url: String,
    /// The console link, when the console is on (with the token in its fragment when
    /// the operator is shown the token).
    pub console_url: Option<String>,
    /// The current pairing code, with `--pairing`.
    pub pair_code: Option<String>,
    /// The pairing link (with the code in its fragment).
    pub pair_url: Option<String>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// This instance's runtime file; removed by [`RuntimeFile::remove`] on a clean exit.
#[derive(Debug)]
pub struct RuntimeFile {
    path: PathBuf,
    pid: u32,
}

impl RuntimeFile {
    /// Writes `<pid>.instance` in `dir` atomically (a temporary file, flushed, then
    /// renamed), mode 0600, as `key=value` lines.
    pub fn create(dir: &Path, pid: u32, fields: &[(&str, &str)]) -> Result<RuntimeFile, String> {
        ensure_private_dir(dir, "runtime directory")?;
        let path = dir.join(format!("{pid}{SUFFIX}"));
        let mut text = format!("pid={pid}\n");
        for (key, value) in fields {
            debug_assert!(!value.contains('\n'));
            text.push_str(&format!("{key}={value}\n"));
        }
        write_atomically(&path, text.as_bytes())
            .map_err(|e| format!("cannot write runtime file {}: {e}", path.display()))?;
        Ok(RuntimeFile { path, pid })
    }

    /// Replaces the file's content (the pid line stays first).
    pub fn rewrite(&self, fields: &[(&str, &str)]) -> Result<(), String> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        RuntimeFile::create(dir, self.pid, fields).map(|_| ())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file.
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Instance {
    /// The instance in `wsgate list`: the connect URL, alone on its line so that
    /// `$(wsgate list)` is a URL; for a person (on a terminal), then the console link
    /// when the console is on.
    pub fn listing(&self, terminal: bool) -> String {
        match (&self.console_url, terminal) {
            (Some(console), true) => format!("{}\n  console: {console}", self.url),
            _ => self.url.clone(),
        }
    }
}

/// Reads a runtime file's text.
pub fn parse(text: &str) -> Option<Instance> {
    let mut pid = None;
    let mut url = None;
    let mut console_url = None;
    let (mut pair_code, mut pair_url) = (None, None);
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => pid = v.parse().ok(),
            Some(("url", v)) => url = Some(v.to_owned()),
            Some(("console_url", v)) => console_url = Some(v.to_owned()),
            Some(("pair_code", v)) => pair_code = Some(v.to_owned()),
            Some(("pair_url", v)) => pair_url = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(Instance {
        pid: pid?,
        url: url?,
        console_url,
        pair_code,
        pair_url,
    })
}

/// The instances with runtime files in `dir` whose process is still running, by pid.
/// Files of processes that are gone are removed.
pub fn list(dir: &Path) -> Result<Vec<Instance>, String> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(format!(
                "cannot read runtime directory {}: {e}",
                dir.display()
            ));
        }
    };
    check_private_dir(dir, "runtime directory", Links::Refuse)?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(SUFFIX) && !n.starts_with('.'));
        if !is_ours {
            continue;
        }
        let Some(instance) = fs::read_to_string(&path).ok().and_then(|t| parse(&t)) else {
            continue;
        };
        if is_running(instance.pid) {
            found.push(instance);
        } else {
            let _ = fs::remove_file(&path);
        }
    }
    found.sort_by_key(|i| i.pid);
    Ok(found)
}

fn is_running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_debug_shows_no_url_or_code() {
        let instance = Instance {
            pid: 7,
            url: "ws://127.0.0.1:7331/?token=SECRET-TOKEN".into(),
            console_url: Some("http://127.0.0.1:7331/_wsgate/console#token=SECRET-TOKEN".into()),
            pair_code: Some("123456".into()),
            pair_url: Some("http://127.0.0.1:7331/_wsgate/pair#code=123456".into()),
        };
        let shown = format!("{instance:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("123456"),
            "{shown}"
        );
        assert!(shown.contains("pid: 7"), "{shown}");
    }
    use std::os::unix::fs::PermissionsExt as _;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wsgate-rt-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn directory_choice() {
        let uid = rustix::process::getuid().as_raw();
        assert_eq!(
            dir_from(Some("/own".into()), Some("/x".into()), None),
            PathBuf::from("/own")
        );
        assert_eq!(
            dir_from(None, Some("/run/user/1".into()), None),
            PathBuf::from("/run/user/1/wsgate")
        );
        assert_eq!(
            dir_from(Some("".into()), Some("".into()), None),
            PathBuf::from(format!("/tmp/wsgate-{uid}"))
        );
        assert_eq!(
            dir_from(None, None, Some("/t".into())),
            PathBuf::from(format!("/t/wsgate-{uid}"))
        );
    }

    #[test]
    fn file_round_trip_and_modes() {
        let dir = scratch("round");
        let pid = std::process::id();
        let file =
            RuntimeFile::create(&dir, pid, &[("url", "ws://127.0.0.1:1/?token=abc")]).unwrap();
        let dir_mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        let file_mode = fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!((dir_mode, file_mode), (0o700, 0o600));
        let listed = list(&dir).unwrap();
        assert_eq!(
            listed,
            vec![Instance {
                pid,
                url: "ws://127.0.0.1:1/?token=abc".into(),
                console_url: None,
                pair_code: None,
                pair_url: None,
            }]
        );
        file.rewrite(&[
            ("url", "ws://127.0.0.1:1/?token=abc"),
            (
                "console_url",
                "http://127.0.0.1:1/_wsgate/console#token=abc",
            ),
        ])
        .unwrap();
        let listed = list(&dir).unwrap();
        assert_eq!(
            listed[0].console_url.as_deref(),
            Some("http://127.0.0.1:1/_wsgate/console#token=abc")
        );
        assert_eq!(listed[0].listing(false), "ws://127.0.0.1:1/?token=abc");
        assert_eq!(
            listed[0].listing(true),
            "ws://127.0.0.1:1/?token=abc\n  console: http://127.0.0.1:1/_wsgate/console#token=abc"
        );
        let path = file.path().to_owned();
        file.remove();
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_files_removed() {
        let dir = scratch("stale");
        ensure_private_dir(&dir, "runtime directory").unwrap();
        // Pid 0x7fff_fff0 is above every kernel's pid limit.
        let stale = dir.join(format!("{}{SUFFIX}", 0x7fff_fff0));
        fs::write(&stale, "pid=2147483632\nurl=ws://x\n").unwrap();
        assert_eq!(list(&dir).unwrap(), vec![]);
        assert!(!stale.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shared_directory_refused() {
        let dir = scratch("open");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&dir, "runtime directory").unwrap_err();
        assert!(
            err.contains("mode 755") && err.contains("chmod 700"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_directory_lists_nothing() {
        assert_eq!(list(&scratch("none")).unwrap(), vec![]);
    }
}
