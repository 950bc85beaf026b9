//! Walking a shared root: which files are indexed, and what is skipped and why.
//!
//! The rules, in the order they are applied to each entry of a folder:
//!
//! 1. a weft data folder (see [`crate::data_folder`]) is never entered, whatever its name;
//! 2. hidden names, [`super::ignore_rules::DEFAULT_PATTERNS`] and `.weftignore` patterns
//!    leave the entry out (an ignored folder is one entry, not one per file in it);
//! 3. a symbolic link is followed only to a regular file inside the same shared root, which is
//!    indexed under the link's path; a link that leads outside the root, into a data folder,
//!    nowhere, or round in a loop is skipped, and so is a link to a folder inside the root
//!    (its files are indexed under their own paths, once);
//! 4. FIFOs, sockets and devices are skipped, and so is a hard link to the node's own
//!    `identity.key` or `api.token`;
//! 5. a folder or file that is a shared root of its own is left to that root.
//!
//! Every path left out by rules 1 to 4 is reported with its reason.

use std::fs::{FileType, Metadata};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::ignore_rules::{IGNORE_FILE, RuleMatch, Rules};
use super::{Listed, SkipReason, Skipped, Unreadable};
use crate::data_folder::DataFolders;

/// Folders deeper than this below a root are skipped.
pub const MAX_DEPTH: usize = 256;

/// What identifies a version of a file without reading it: size, modification and inode
/// change times, inode and device. The inode change time (ctime) cannot be set back by a
/// user, so an edit that keeps size and mtime still changes the stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: i64,
    pub dev: i64,
}

fn ns_since_epoch(t: std::io::Result<std::time::SystemTime>) -> i64 {
    let Ok(t) = t else { return 0 };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

impl Stamp {
    /// The stamp of a file's metadata (of the file a link leads to, if `meta` followed it).
    pub fn of(meta: &Metadata) -> Stamp {
        #[cfg(unix)]
        let (ctime_ns, ino, dev) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(meta.ctime_nsec()),
                meta.ino().cast_signed(),
                meta.dev().cast_signed(),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, ino, dev) = (0, 0, 0);
        Stamp {
            size: meta.len(),
            mtime_ns: ns_since_epoch(meta.modified()),
            ctime_ns,
            ino,
            dev,
        }
    }
}

impl Stamp {
    /// The stamp stored in a row's columns; `None` for a row recorded before stamps had
    /// ctime, inode and device (it matches no file, so the file is hashed again).
    pub fn from_columns(
        size: i64,
        mtime_ns: i64,
        ctime_ns: Option<i64>,
        ino: Option<i64>,
        dev: Option<i64>,
    ) -> Option<Stamp> {
        Some(Stamp {
            size: u64::try_from(size).unwrap_or(u64::MAX),
            mtime_ns,
            ctime_ns: ctime_ns?,
            ino: ino?,
            dev: dev?,
        })
    }
}

/// A file found on disk.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub root_id: i64,
    /// Where it is read from (a link's path for a file reached through a link).
    pub abs: PathBuf,
    /// Path relative to the root, '/'-separated; empty when the root is this file.
    pub rel: String,
    pub name: String,
    pub stamp: Stamp,
}

/// What a walk found and left out.
#[derive(Default)]
pub(crate) struct Walked {
    pub found: Vec<Found>,
    pub skipped: Listed<Skipped>,
    pub unreadable: Listed<Unreadable>,
}

/// What kind of non-regular file `ft` is, for a reason text.
pub(crate) fn special_kind(ft: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_char_device() {
            return "a character device";
        }
    }
    let _ = ft;
    "not a regular file"
}

/// True if `e` says a chain of symbolic links loops.
pub(crate) fn is_link_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Walks the root `root` (canonical; a folder or a file), leaving out the shared roots
/// `nested` inside it.
pub(crate) fn walk(root_id: i64, root: &Path, nested: &[PathBuf], guard: &DataFolders) -> Walked {
    let mut out = Walked::default();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            out.unreadable.push(Unreadable {
                path: root.to_path_buf(),
                reason: e.to_string(),
            });
            return out;
        }
    };
    if meta.is_file() {
        let name = root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        out.found.push(Found {
            root_id,
            abs: root.to_path_buf(),
            rel: String::new(),
            name: name.to_string(),
            stamp: Stamp::of(&meta),
        });
        return out;
    }
    if !meta.is_dir() {
        out.skipped.push(Skipped {
            path: root.to_path_buf(),
            reason: SkipReason::Special(special_kind(meta.file_type())),
        });
        return out;
    }
    let mut w = Walker {
        root_id,
        root,
        nested,
        guard,
        rules: Rules::new(root),
        out,
    };
    w.dir(root, "", 0);
    w.out
}

struct Walker<'a> {
    root_id: i64,
    root: &'a Path,
    nested: &'a [PathBuf],
    guard: &'a DataFolders,
    rules: Rules,
    out: Walked,
}

impl Walker<'_> {
    fn skip(&mut self, path: PathBuf, reason: SkipReason) {
        self.out.skipped.push(Skipped { path, reason });
    }

    fn unreadable(&mut self, path: PathBuf, reason: String) {
        self.out.unreadable.push(Unreadable { path, reason });
    }

    fn ruled_out(&mut self, path: &Path, is_dir: bool) -> bool {
        match self.rules.matched(path, is_dir) {
            None => false,
            Some(RuleMatch::Hidden) => {
                self.skip(path.to_path_buf(), SkipReason::Hidden);
                true
            }
            Some(RuleMatch::Pattern { file, pattern }) => {
                self.skip(path.to_path_buf(), SkipReason::Ignored { file, pattern });
                true
            }
        }
    }

    fn dir(&mut self, dir: &Path, prefix: &str, depth: usize) {
        let mut problems = Vec::new();
        let pushed = self.rules.enter(dir, &mut problems);
        for p in problems {
            self.unreadable(p.path, p.reason);
        }
        let mut names = match std::fs::read_dir(dir) {
            Ok(rd) => {
                let mut names = Vec::new();
                for entry in rd {
                    match entry {
                        Ok(e) => names.push(e.file_name()),
                        Err(e) => self.unreadable(dir.to_path_buf(), e.to_string()),
                    }
                }
                names
            }
            Err(e) => {
                self.unreadable(dir.to_path_buf(), e.to_string());
                Vec::new()
            }
        };
        names.sort();
        for name in names {
            if name == IGNORE_FILE {
                continue;
            }
            let path = dir.join(&name);
            if self.nested.contains(&path) {
                continue;
            }
            let Some(name) = name.to_str() else {
                self.skip(path, SkipReason::NotUtf8);
                continue;
            };
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let lmeta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.unreadable(path, e.to_string());
                    continue;
                }
            };
            let ft = lmeta.file_type();
            if ft.is_dir() {
                if self.guard.is_data_folder(&path, Some(&lmeta)) {
                    self.skip(path, SkipReason::DataFolder);
                    continue;
                }
                if self.ruled_out(&path, true) {
                    continue;
                }
                if depth + 1 >= MAX_DEPTH {
                    self.skip(path, SkipReason::TooDeep);
                    continue;
                }
                self.dir(&path, &rel, depth + 1);
            } else if self.ruled_out(&path, false) {
                continue;
            } else if ft.is_symlink() {
                self.link(path, rel, name);
            } else if ft.is_file() {
                self.file(path, rel, name, &lmeta);
            } else {
                self.skip(path, SkipReason::Special(special_kind(ft)));
            }
        }
        self.rules.leave(pushed);
    }

    /// A symbolic link met in the walk: indexed if it leads to a regular file inside the root.
    fn link(&mut self, path: PathBuf, rel: String, name: &str) {
        let target = match std::fs::canonicalize(&path) {
            Ok(t) => t,
            Err(e) if is_link_loop(&e) => return self.skip(path, SkipReason::LinkLoop),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let to = std::fs::read_link(&path).unwrap_or_default();
                return self.skip(path, SkipReason::LinkBroken { target: to });
            }
            Err(e) => return self.unreadable(path, e.to_string()),
        };
        if self.guard.containing(&target).is_some() {
            return self.skip(path, SkipReason::LinkIntoDataFolder { target });
        }
        if !target.starts_with(self.root) {
            return self.skip(path, SkipReason::LinkOutside { target });
        }
        let meta = match std::fs::metadata(&target) {
            Ok(m) => m,
            Err(e) => return self.unreadable(path, e.to_string()),
        };
        if meta.is_dir() {
            let reason = if path.starts_with(&target) {
                SkipReason::LinkLoop
            } else {
                SkipReason::LinkToFolder { target }
            };
            return self.skip(path, reason);
        }
        if !meta.is_file() {
            return self.skip(path, SkipReason::Special(special_kind(meta.file_type())));
        }
        self.file(path, rel, name, &meta);
    }

    /// A regular file met in the walk (directly or through a link), with the metadata of the
    /// file itself: found, unless it is one of the node's own secrets.
    fn file(&mut self, path: PathBuf, rel: String, name: &str, meta: &Metadata) {
        if self.guard.is_own_secret(meta) {
            return self.skip(path, SkipReason::Secret);
        }
        self.out.found.push(Found {
            root_id: self.root_id,
            abs: path,
            rel,
            name: name.to_string(),
            stamp: Stamp::of(meta),
        });
    }
}
