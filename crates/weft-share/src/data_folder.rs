//! Recognising weft data folders, which hold a node's secrets and are never shared.
//!
//! A data folder holds `identity.key` (the node's private key), `api.token` (the bearer
//! token of its local API), `weft.sqlite` and `weft.lock`. The node writes [`MARKER`] into
//! its folder at every start (in the spirit of `CACHEDIR.TAG`), so even a folder that is not
//! complete yet is recognised. [`is_data_folder`] says a folder is one if it holds *any* of
//! [`DATA_FOLDER_FILES`]: a false alarm costs one skipped folder, a miss costs a leaked key.
//!
//! [`DataFolders`] adds the node's own folder, compared by canonical path and by device and
//! inode (so a bind mount or a second path to it is caught too), and answers the questions the
//! index asks: is this path inside a data folder, and which one.

use std::path::{Path, PathBuf};

/// The marker file the node writes into its data folder at every start.
pub const MARKER: &str = "WEFT-DATA-FOLDER.TAG";

/// What the marker file says, for a person who finds it.
pub const MARKER_TEXT: &str = "This folder is a weft node's data folder: it holds the node's \
private key and API token. weft never shares it, nor anything under it.\n";

/// Names whose presence makes a folder a weft data folder (see [`is_data_folder`]).
pub const DATA_FOLDER_FILES: &[&str] = &[
    MARKER,
    "identity.key",
    "api.token",
    "weft.sqlite",
    "weft.lock",
];

/// True if `dir` holds any of [`DATA_FOLDER_FILES`] (a file, a link or anything else of that
/// name; one `lstat` each).
pub fn is_data_folder(dir: &Path) -> bool {
    DATA_FOLDER_FILES
        .iter()
        .any(|name| std::fs::symlink_metadata(dir.join(name)).is_ok())
}

/// Device and inode of a file or folder (Unix); `None` elsewhere or if it cannot be read.
pub(crate) fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The secrets of a data folder, whose hard links elsewhere are never shared either.
pub const SECRET_FILES: &[&str] = &["identity.key", "api.token"];

/// The node's own data folder, and the test every path to share or serve goes through.
#[derive(Clone, Debug, Default)]
pub struct DataFolders {
    /// The node's own folder, canonical, with its device and inode.
    own: Option<(PathBuf, Option<(u64, u64)>)>,
    /// Device and inode of the node's own [`SECRET_FILES`] (a hard link has the same).
    secrets: Vec<(u64, u64)>,
}

impl DataFolders {
    /// Only folders recognised by what they hold (no own folder known).
    pub fn recognised() -> Self {
        DataFolders::default()
    }

    /// The data folder `dir` of this node, and any folder recognised by what it holds.
    pub fn with_own(dir: &Path) -> Self {
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let id = std::fs::metadata(&canonical).ok().and_then(|m| file_id(&m));
        let secrets = SECRET_FILES
            .iter()
            .filter_map(|name| std::fs::metadata(canonical.join(name)).ok())
            .filter_map(|m| file_id(&m))
            .collect();
        DataFolders {
            own: Some((canonical, id)),
            secrets,
        }
    }

    /// True if `meta` is the metadata of one of the node's own secrets, by whatever name (a
    /// hard link to `identity.key` in a shared folder, say).
    pub fn is_own_secret(&self, meta: &std::fs::Metadata) -> bool {
        file_id(meta).is_some_and(|id| self.secrets.contains(&id))
    }

    /// The node's own data folder (canonical), if known.
    pub fn own(&self) -> Option<&Path> {
        self.own.as_ref().map(|(p, _)| p.as_path())
    }

    /// True if the folder `dir` is a data folder: the node's own (by path, or by device and
    /// inode as read from `meta`, the folder's metadata) or one recognised by what it holds.
    pub fn is_data_folder(&self, dir: &Path, meta: Option<&std::fs::Metadata>) -> bool {
        if let Some((own, id)) = &self.own {
            if dir == own {
                return true;
            }
            if let (Some(id), Some(m)) = (id, meta)
                && file_id(m) == Some(*id)
            {
                return true;
            }
        }
        is_data_folder(dir)
    }

    /// The data folder that `canonical` (a canonical path) is, or lies in: itself or its
    /// nearest ancestor that is one; `None` if there is none.
    pub fn containing(&self, canonical: &Path) -> Option<PathBuf> {
        if let Some((own, _)) = &self.own
            && canonical.starts_with(own)
        {
            return Some(own.clone());
        }
        let start = match std::fs::metadata(canonical) {
            Ok(m) if m.is_dir() => Some(canonical),
            _ => canonical.parent(),
        };
        let mut dir = start;
        while let Some(d) = dir {
            let meta = std::fs::metadata(d).ok();
            if self.is_data_folder(d, meta.as_ref()) {
                return Some(d.to_path_buf());
            }
            dir = d.parent();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_known_name_makes_a_data_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let plain = root.join("plain");
        std::fs::create_dir_all(plain.join("deep")).unwrap();
        assert!(!is_data_folder(&plain));
        for name in DATA_FOLDER_FILES {
            let d = root.join(format!("with-{name}"));
            std::fs::create_dir_all(d.join("sub")).unwrap();
            std::fs::write(d.join(name), b"x").unwrap();
            assert!(is_data_folder(&d), "{name}");
            let guard = DataFolders::recognised();
            assert_eq!(guard.containing(&d.join("sub")), Some(d.clone()), "{name}");
            assert_eq!(guard.containing(&d.join(name)), Some(d.clone()), "{name}");
        }
        assert_eq!(
            DataFolders::recognised().containing(&plain.join("deep")),
            None
        );
    }

    #[test]
    fn the_own_folder_is_known_by_path_and_by_inode() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let own = root.join("home");
        std::fs::create_dir_all(own.join("downloads")).unwrap();
        let guard = DataFolders::with_own(&own);
        // Empty, so not recognised by content: only as the node's own.
        assert_eq!(guard.containing(&own.join("downloads")), Some(own.clone()));
        assert!(DataFolders::recognised().containing(&own).is_none());
        let meta = std::fs::metadata(&own).unwrap();
        assert!(guard.is_data_folder(Path::new("/elsewhere/by/a/bind/mount"), Some(&meta)));
        assert!(!guard.is_data_folder(&root, std::fs::metadata(&root).ok().as_ref()));
        // A hard link to a secret is the secret.
        std::fs::write(own.join("identity.key"), b"key").unwrap();
        std::fs::hard_link(own.join("identity.key"), root.join("photo.jpg")).unwrap();
        let guard = DataFolders::with_own(&own);
        assert!(guard.is_own_secret(&std::fs::metadata(root.join("photo.jpg")).unwrap()));
        assert!(!guard.is_own_secret(&std::fs::metadata(&root).unwrap()));
    }
}
