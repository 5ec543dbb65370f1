//! The store of imported profiles in the service's state directory.
//!
//! Layout: `<root>/<id>/profile.toml` plus copies of the files the profile references
//! (certificates, CA files), with the paths in the stored copy rewritten to those copies. So an
//! imported profile keeps working when the originals move or the USB stick is gone, and the
//! user's comments and formatting survive (the rewrite edits only the path values).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::Profile;
use crate::parse::{self, ProfileError};

/// Longest profile id (the file stem).
pub const MAX_ID_LEN: usize = 64;

const PROFILE_FILE: &str = "profile.toml";

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The profile itself is invalid.
    #[error(transparent)]
    Invalid(#[from] ProfileError),
    /// The id (file stem) cannot be used.
    #[error("'{id}' cannot be a profile id: {why}")]
    BadId {
        /// The rejected id.
        id: String,
        /// Why.
        why: &'static str,
    },
    /// No profile with this id.
    #[error("there is no profile '{0}'; `strait list` shows the imported ones")]
    NotFound(String),
    /// A file the profile references is missing or unreadable.
    #[error("the profile references {path}, which cannot be read: {source}")]
    MissingFile {
        /// The referenced path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The store directory could not be read or written.
    #[error("profile store {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// What [`ProfileStore::import`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The profile's id.
    pub id: String,
    /// Whether a profile with this id existed and was replaced.
    pub replaced: bool,
    /// The profile as stored.
    pub profile: Profile,
}

/// The profile store rooted at a directory.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Checks that `id` is usable as a directory name on every OS and in URLs/keychain accounts.
pub fn validate_id(id: &str) -> Result<(), StoreError> {
    let bad = |why| {
        Err(StoreError::BadId {
            id: id.to_owned(),
            why,
        })
    };
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("it is longer than 64 characters");
    }
    if id.starts_with('.') {
        return bad("it starts with a dot");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only letters, digits, '-', '_' and '.' are allowed (rename the file)");
    }
    Ok(())
}

impl ProfileStore {
    /// A store at `root` (created on first import).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProfileStore { root: root.into() }
    }

    /// The directory holding the profiles.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Validates the profile at `source` and copies it, and the files it references, into the
    /// store under its file stem. A profile with the same id is replaced.
    pub fn import(&self, source: &Path) -> Result<Imported, StoreError> {
        let id = source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        validate_id(&id)?;
        let profile = parse::load(source)?;
        let text = fs::read_to_string(source).map_err(io_err(source))?;

        // Stage everything in a fresh directory, then swap it in, so a failed import never
        // leaves a half-copied profile behind or damages the one it replaces.
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let staging = self
            .root
            .join(format!(".import-{id}-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        }
        fs::create_dir(&staging).map_err(io_err(&staging))?;
        let result = self.stage(&staging, &text, &profile, source);
        let stored = match result {
            Ok(stored) => stored,
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let target = self.dir(&id);
        let replaced = target.exists();
        if replaced {
            fs::remove_dir_all(&target).map_err(io_err(&target))?;
        }
        fs::rename(&staging, &target).map_err(io_err(&target))?;
        let profile = parse::load(&target.join(PROFILE_FILE)).map_err(StoreError::Invalid)?;
        debug_assert_eq!(profile.name, stored.name);
        Ok(Imported {
            id,
            replaced,
            profile,
        })
    }

    fn stage(
        &self,
        staging: &Path,
        text: &str,
        profile: &Profile,
        source: &Path,
    ) -> Result<Profile, StoreError> {
        let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            StoreError::Invalid(ProfileError {
                file: source.display().to_string(),
                line: None,
                message: e.to_string(),
            })
        })?;
        let mut used = Vec::new();
        let mut copy = |path: &Path| -> Result<String, StoreError> {
            let base = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file")
                .to_owned();
            let mut name = base.clone();
            let mut n = 1;
            while used.contains(&name) || name == PROFILE_FILE {
                name = format!("{n}-{base}");
                n += 1;
            }
            fs::copy(path, staging.join(&name)).map_err(|source| StoreError::MissingFile {
                path: path.to_owned(),
                source,
            })?;
            used.push(name.clone());
            Ok(name)
        };
        if let Some(auth) = doc.get_mut("auth").and_then(|a| a.as_table_like_mut()) {
            if let Some(cert) = &profile.auth.certificate {
                let name = copy(cert)?;
                auth.insert("certificate", toml_edit::value(name));
            }
            if !profile.auth.ca.is_empty() {
                let mut list = toml_edit::Array::new();
                for ca in &profile.auth.ca {
                    list.push(copy(ca)?);
                }
                auth.insert("ca", toml_edit::value(list));
            }
        }
        let stored = staging.join(PROFILE_FILE);
        fs::write(&stored, doc.to_string()).map_err(io_err(&stored))?;
        Ok(parse::load(&stored)?)
    }

    /// The ids of all stored profiles, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.root)(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_id(&name).is_ok() && entry.path().join(PROFILE_FILE).is_file() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Loads a stored profile.
    pub fn get(&self, id: &str) -> Result<Profile, StoreError> {
        validate_id(id)?;
        let path = self.dir(id).join(PROFILE_FILE);
        if !path.is_file() {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        Ok(parse::load(&path)?)
    }

    /// Removes a stored profile and its copied files.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        validate_id(id)?;
        let dir = self.dir(id);
        if !dir.join(PROFILE_FILE).is_file() {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        fs::remove_dir_all(&dir).map_err(io_err(&dir))
    }
}
