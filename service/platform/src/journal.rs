//! A write-ahead record of the changes a connection made to the system.
//!
//! Each change is appended *before* it is made. A clean disconnect undoes the changes and deletes
//! the record; after a crash the record is still there and [`crate::recover`] undoes it at the
//! next start. Undoing a change that never happened is harmless (deleting a route that is not
//! there is not an error), which is what makes writing ahead safe.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::PlatformError;

/// One change to the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A route (`ip route replace <dest> [via <via>] dev <dev>`).
    Route {
        /// Destination prefix.
        dest: String,
        /// Next hop, for the pinned gateway route.
        via: Option<String>,
        /// Device.
        dev: String,
    },
    /// `/etc/resolv.conf` was replaced; `original` is what to put back.
    ResolvConf {
        /// The file.
        path: String,
        /// Its content before.
        original: String,
    },
    /// DNS was set on a link through systemd-resolved.
    Resolved {
        /// The link.
        link: String,
    },
    /// A kill-switch firewall table was loaded (`nft` table `inet <table>` on Linux).
    Firewall {
        /// The table's name.
        table: String,
    },
}

/// The record of one connection's changes.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    changes: Vec<Change>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PlatformError + '_ {
    move |source| PlatformError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Journal {
    fn dir(state_dir: &Path) -> PathBuf {
        state_dir.join("network")
    }

    /// A new, empty journal for `connection`.
    pub fn new(state_dir: &Path, connection: &str) -> Self {
        Self::named(state_dir, connection, "")
    }

    /// A new, empty journal for one part of `connection` (`part` like `.firewall`), kept in its
    /// own file: the kill switch lives across attempts and outlasts the tunnel's routes and
    /// DNS, so it must not share their record (undoing one would undo the other).
    pub fn new_part(state_dir: &Path, connection: &str, part: &str) -> Self {
        Self::named(state_dir, connection, part)
    }

    fn named(state_dir: &Path, connection: &str, part: &str) -> Self {
        let name: String = connection
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Journal {
            path: Self::dir(state_dir).join(format!("{name}{part}.json")),
            changes: Vec::new(),
        }
    }

    /// Records `change` durably, before the caller makes it.
    pub fn record(&mut self, change: Change) -> Result<(), PlatformError> {
        self.changes.push(change);
        self.save()
    }

    fn save(&self) -> Result<(), PlatformError> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let text = serde_json::to_string_pretty(&self.changes)
            .map_err(|e| io_err(&self.path)(std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("tmp");
        fs::write(&tmp, text).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &self.path).map_err(io_err(&self.path))
    }

    /// The changes, oldest first.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Takes the changes out (newest first, the order to undo them in) and deletes the record.
    pub fn drain_for_undo(&mut self) -> Result<Vec<Change>, PlatformError> {
        let mut changes = std::mem::take(&mut self.changes);
        changes.reverse();
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(changes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(changes),
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }

    /// Journals left behind by earlier runs. Unreadable ones are removed (they cannot be acted
    /// on, and keeping them would fail every start).
    pub fn leftovers(state_dir: &Path) -> Result<Vec<Journal>, PlatformError> {
        let dir = Self::dir(state_dir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<Vec<Change>>(&t).ok());
            match parsed {
                Some(changes) => out.push(Journal { path, changes }),
                None => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_are_found_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::new(dir.path(), "acme/hq");
        j.record(Change::Route {
            dest: "10.0.0.0/8".into(),
            via: None,
            dev: "strait0".into(),
        })
        .unwrap();
        j.record(Change::Resolved {
            link: "strait0".into(),
        })
        .unwrap();
        drop(j); // the "crash"
        std::fs::write(dir.path().join("network/garbage.json"), "{").unwrap();
        let mut left = Journal::leftovers(dir.path()).unwrap();
        assert_eq!(left.len(), 1);
        let undo = left[0].drain_for_undo().unwrap();
        assert!(matches!(undo[0], Change::Resolved { .. }), "newest first");
        assert!(Journal::leftovers(dir.path()).unwrap().is_empty());
    }
}
