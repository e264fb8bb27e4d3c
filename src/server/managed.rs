//! The daemon's side of `--auth store`: the token store kept current while it runs,
//! when tokens were last used, and pairing.
//!
//! - The store file is polled (its metadata, every [`POLL`]): a change is read and
//!   swapped in whole, which wakes every session to look at its own token again. A
//!   store that cannot be read or parsed keeps the last good copy and logs an error;
//!   it never lets everyone in.
//! - A lookup that misses looks at the file again before it refuses
//!   ([`Managed::look_again`]), so a token created a moment ago works at once. Those
//!   looks are shared: at most one every [`MISS_GAP`], each a `stat` that reads the
//!   file only when it changed, and a miss waits for the look after it rather than
//!   start its own. A flood of wrong tokens costs a few `stat`s a second, no reads.
//! - Last use is kept in memory and merged into its own file now and then, under the
//!   store's lock (so daemons sharing the store keep each other's entries), never
//!   into the store, which only `wsgate token` and pairing change.
//! - Pairing's desk holds the current code (see [`crate::pairing::desk`]); a paired
//!   browser's token is stored here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::TokenRef;
use crate::date;
use crate::log::{Event, Log, Value};
use crate::pairing;
use crate::pairing::desk::Desk;
use crate::secret::Secret;
use crate::shutdown::Stop;
use crate::store::{self, Files, Store, StoreView};

/// How often the store file is looked at.
pub const POLL: Duration = Duration::from_millis(400);
/// The shortest time between two looks at the store file for lookups that missed.
pub const MISS_GAP: Duration = Duration::from_millis(20);
/// How often last use is written down, when something was used.
const USED_FLUSH: Duration = Duration::from_secs(30);

/// What `--auth store` keeps while the daemon runs.
pub struct Managed {
    /// The store's files.
    pub files: Files,
    /// The current store.
    pub view: Arc<StoreView>,
    used: Mutex<HashMap<String, u64>>,
    used_dirty: AtomicBool,
    /// Held while the file is looked at and the view replaced, so that a reload and a
    /// pairing's own update replace it in the order the file changed, and so that
    /// lookups that missed share one look.
    watch: async_std::sync::Mutex<Watch>,
    /// Set by a pairing after it put its own copy in the view: the next poll reads the
    /// file whether or not it changed since, so a change another process made between
    /// the pairing's write and its swap (a revocation) is not lost.
    reread: AtomicBool,
    /// Pairing, with `--pairing`.
    pub pairing: Option<Desk>,
}

/// What the looks at the store file share.
struct Watch {
    /// The file as the view last saw it; `None` after a failed read, so that the next
    /// look reads it again.
    stamp: Option<store::Stamp>,
    /// Whether the last read failed (said once, not at every poll).
    failing: bool,
    /// When the last look started.
    looked: Option<Instant>,
}

impl Managed {
    /// Reads the store at startup: a store that cannot be read is a startup error.
    pub fn open() -> Result<Managed, String> {
        Managed::open_in(store::config_dir()?)
    }

    /// Reads the store in `dir`.
    pub fn open_in(dir: std::path::PathBuf) -> Result<Managed, String> {
        let files = Files::new(dir);
        // The file as it was just before it was read: looks start from it, so a
        // change made while the daemon starts is still noticed.
        let stamp = files.stamp();
        let entries = files.load()?;
        Ok(Managed {
            files,
            view: Arc::new(StoreView::new(Store::new(entries))),
            used: Mutex::new(HashMap::new()),
            used_dirty: AtomicBool::new(false),
            watch: async_std::sync::Mutex::new(Watch {
                stamp,
                failing: false,
                looked: None,
            }),
            reread: AtomicBool::new(false),
            pairing: None,
        })
    }

    /// Turns pairing on.
    pub fn with_pairing(mut self, desk: Desk) -> Managed {
        self.pairing = Some(desk);
        self
    }

    /// Notes that a token was just used.
    pub fn record_use(&self, id: &str) {
        if let Ok(mut used) = self.used.lock() {
            used.insert(id.to_owned(), date::now());
            self.used_dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Keeps the view current until the daemon stops: polls the file, reads it when
    /// it changed, swaps it in, and writes last use down now and then.
    pub async fn maintain(&self, log: &Log, stop: &Stop) {
        let mut flushed = Instant::now();
        let work = async {
            loop {
                async_std::task::sleep(POLL).await;
                let mut watch = self.watch.lock().await;
                self.look(&mut watch, log).await;
                drop(watch);
                if flushed.elapsed() >= USED_FLUSH {
                    flushed = Instant::now();
                    self.flush_used(log).await;
                }
            }
        };
        futures_lite::FutureExt::or(work, stop.wait()).await;
        self.flush_used(log).await;
    }

    /// For a lookup that missed in the view of generation `seen`, decided at `missed`:
    /// makes sure the file has been looked at since, and says whether the view is
    /// another one now (so that deciding again can change the answer).
    ///
    /// A look that started after the miss serves it. Otherwise this one looks, but
    /// not sooner than [`MISS_GAP`] after the last look, holding the watch meanwhile
    /// so that the misses behind it wait for its look instead of starting their own.
    pub async fn look_again(&self, seen: u64, missed: Instant, log: &Log) -> bool {
        let mut watch = self.watch.lock().await;
        if watch.looked.is_none_or(|looked| looked < missed) {
            if let Some(looked) = watch.looked {
                let wait = (looked + MISS_GAP).saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    async_std::task::sleep(wait).await;
                }
            }
            self.look(&mut watch, log).await;
        }
        drop(watch);
        self.view.generation() != seen
    }

    /// Looks at the file once: reads it and swaps it in when it changed since the
    /// last look (or a pairing asked for it to be read again).
    async fn look(&self, watch: &mut Watch, log: &Log) {
        watch.looked = Some(Instant::now());
        let now = self.files.stamp();
        if !self.reread.swap(false, Ordering::SeqCst) && now == watch.stamp {
            return;
        }
        watch.stamp = now;
        let files = self.files.clone();
        match async_std::task::spawn_blocking(move || files.load()).await {
            Ok(entries) => {
                let count = entries.len() as u64;
                self.view.replace(Store::new(entries));
                watch.failing = false;
                log.event(Event::StoreReloaded, &[("tokens", count.into())]);
            }
            Err(message) => {
                if !watch.failing {
                    log.event(Event::StoreError, &[("message", Value::Str(&message))]);
                }
                watch.failing = true;
                // Look again at the next poll even if nothing changes.
                watch.stamp = None;
            }
        }
    }

    async fn flush_used(&self, log: &Log) {
        if !self.used_dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let used = self.used.lock().map(|u| u.clone()).unwrap_or_default();
        let files = self.files.clone();
        let written = async_std::task::spawn_blocking(move || files.record_used(&used)).await;
        if let Err(message) = written {
            // Still in memory: the next flush writes it.
            self.used_dirty.store(true, Ordering::Relaxed);
            log.event(Event::StoreError, &[("message", Value::Str(&message))]);
        }
    }

    /// Makes what this daemon just wrote to the file the view. A reload that started
    /// before the write waits for the watch and cannot undo it; a change another
    /// process made after the write (a revocation) is read at the next poll, even if
    /// the reload that saw it ran before this.
    async fn install_written(&self, entries: Vec<store::Entry>) {
        let _watch = self.watch.lock().await;
        self.view.replace(Store::new(entries));
        self.reread.store(true, Ordering::SeqCst);
    }

    /// Stores a new token for a paired browser; the view is updated at once.
    pub async fn store_paired(
        &self,
        desk: &Desk,
        user_agent: Option<&[u8]>,
    ) -> Result<(TokenRef, Secret, Option<u64>), String> {
        let name = pairing::paired_name(user_agent, date::now());
        let files = self.files.clone();
        let (scopes, expires) = (desk.scopes, desk.config.expires);
        // What was written, under the store's lock, is what the view becomes: no
        // second read that could fail or see something else.
        let (entry, token, entries) = async_std::task::spawn_blocking(move || {
            files.update(|entries| {
                let now = date::now();
                let name = store::unused_name(entries, &name, now);
                let (entry, token) = store::mint(entries, Some(&name), scopes, expires, now)?;
                entries.push(entry.clone());
                Ok((entry, token, entries.clone()))
            })
        })
        .await?;
        self.install_written(entries).await;
        let token_ref = TokenRef {
            id: entry.id.clone(),
            name: entry.name.clone(),
        };
        Ok((token_ref, token, entry.expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new store in a temporary directory holding one token, `victim`: the
    /// directory, its files, the token's id and the entries as written.
    fn store_with_victim(tag: &str) -> (std::path::PathBuf, Files, String, Vec<store::Entry>) {
        let dir = std::env::temp_dir().join(format!("wsgate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = Files::new(dir.clone());
        let (id, written) = files
            .update(|entries| {
                let all = crate::scope::Scopes::ALL;
                let (entry, _) = store::mint(entries, Some("victim"), all, None, date::now())?;
                entries.push(entry.clone());
                Ok((entry.id, entries.clone()))
            })
            .unwrap();
        (dir, files, id, written)
    }

    /// What `wsgate token revoke` does to the victim, from another process.
    fn revoke_victim(files: &Files) {
        files
            .update(|entries| {
                entries[0].revoked = Some(date::now());
                Ok(())
            })
            .unwrap();
    }

    /// Keeps `managed` maintained while `work` runs, then stops.
    fn maintained(managed: &Managed, work: impl std::future::Future<Output = ()>) {
        let (log, stop) = (Log::new(crate::log::Format::Text), Stop::default());
        async_std::task::block_on(futures_lite::future::zip(
            managed.maintain(&log, &stop),
            async {
                work.await;
                stop.trigger();
            },
        ));
    }

    #[test]
    fn a_change_made_while_starting_is_noticed() {
        let (dir, files, id, _) = store_with_victim("managed");
        let managed = Managed::open_in(dir.clone()).unwrap();
        // Revoked after the daemon read the store, before it started polling.
        revoke_victim(&files);
        maintained(&managed, async_std::task::sleep(POLL * 3));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            managed.view.status(&id, date::now()),
            store::Status::Revoked
        );
    }

    #[test]
    fn a_revocation_read_before_a_pairing_swaps_its_copy_in_is_not_lost() {
        // What a pairing wrote: the victim, not revoked.
        let (dir, files, id, written) = store_with_victim("managed-swap");
        let managed = Managed::open_in(dir.clone()).unwrap();
        maintained(&managed, async {
            // Another process revokes it, and the daemon reads that...
            revoke_victim(&files);
            async_std::task::sleep(POLL * 3).await;
            assert_eq!(
                managed.view.status(&id, date::now()),
                store::Status::Revoked
            );
            // ...before the pairing swaps in its older copy.
            managed.install_written(written).await;
            async_std::task::sleep(POLL * 3).await;
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            managed.view.status(&id, date::now()),
            store::Status::Revoked
        );
    }
}
