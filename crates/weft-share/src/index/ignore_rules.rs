//! What a walk leaves out by rule: hidden files, the built-in defaults and `.weftignore` files.
//!
//! Patterns use gitignore syntax (matched by the `ignore` crate, ripgrep's). A `.weftignore`
//! in a shared folder or any folder below it adds patterns for that folder's subtree; a
//! deeper file takes precedence over a shallower one, and within a file the last matching
//! line wins, so `!pattern` re-includes. Below them all come [`DEFAULT_PATTERNS`], which
//! start with `.*` (hidden files and folders): `!.config` in a `.weftignore` shares `.config`.

use std::io::Read;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The ignore file read in every shared folder and subfolder.
pub const IGNORE_FILE: &str = ".weftignore";

/// Largest `.weftignore` read; the rest of a longer one is not read (and reported).
pub const MAX_IGNORE_FILE_BYTES: u64 = 256 * 1024;

/// Patterns applied below every `.weftignore` (gitignore syntax).
pub const DEFAULT_PATTERNS: &[&str] = &[
    // Hidden files and folders (.git, .ssh, .config, .DS_Store, ._resource forks, ...).
    ".*",
    // Partial downloads and temporary files.
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "*.!qB",
    "*.!ut",
    "*.tmp",
    "*.temp",
    // Editor swap, backup and lock files.
    "*.swp",
    "*.swo",
    "*~",
    "\\#*#",
    // Operating-system junk.
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "Desktop.ini",
    "$RECYCLE.BIN/",
    "System Volume Information/",
    "lost+found/",
];

/// Why a rule left a path out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleMatch {
    /// The name starts with `.` (the default `.*`).
    Hidden,
    /// A pattern matched: from a `.weftignore` (its path) or the defaults (`None`).
    Pattern {
        /// The `.weftignore` it came from; `None` for [`DEFAULT_PATTERNS`].
        file: Option<PathBuf>,
        /// The pattern as written.
        pattern: String,
    },
}

/// The rules in force in one folder of a walk: the defaults, then one matcher per folder
/// from the shared root down that has a `.weftignore`.
pub(crate) struct Rules {
    defaults: Gitignore,
    /// Matchers of the folders on the current path, shallowest first.
    stack: Vec<Gitignore>,
}

/// A problem reading a `.weftignore` (the walk goes on without the part it could not use).
pub(crate) struct RuleProblem {
    pub path: PathBuf,
    pub reason: String,
}

impl Rules {
    /// The defaults, for a walk of `root`.
    pub fn new(root: &Path) -> Self {
        let mut b = GitignoreBuilder::new(root);
        for p in DEFAULT_PATTERNS {
            // The defaults are fixed and tested to parse.
            let _ = b.add_line(None, p);
        }
        Rules {
            defaults: b.build().unwrap_or_else(|_| Gitignore::empty()),
            stack: Vec::new(),
        }
    }

    /// Enters folder `dir`: reads its `.weftignore`, if any. Returns whether a matcher was
    /// pushed (pass it to [`Rules::leave`]).
    pub fn enter(&mut self, dir: &Path, problems: &mut Vec<RuleProblem>) -> bool {
        let path = dir.join(IGNORE_FILE);
        let Ok(file) = std::fs::File::open(&path) else {
            return false;
        };
        let mut text = String::new();
        let mut reader = file.take(MAX_IGNORE_FILE_BYTES);
        if let Err(e) = reader.read_to_string(&mut text) {
            problems.push(RuleProblem {
                reason: format!("cannot read it: {e}"),
                path,
            });
            return false;
        }
        if reader.limit() == 0 {
            problems.push(RuleProblem {
                reason: format!("only its first {MAX_IGNORE_FILE_BYTES} bytes are used"),
                path: path.clone(),
            });
        }
        let mut b = GitignoreBuilder::new(dir);
        for (n, line) in text.lines().enumerate() {
            if let Err(e) = b.add_line(Some(path.clone()), line) {
                problems.push(RuleProblem {
                    reason: format!("line {}: {e}; the line is not used", n + 1),
                    path: path.clone(),
                });
            }
        }
        match b.build() {
            Ok(g) => {
                self.stack.push(g);
                true
            }
            Err(e) => {
                problems.push(RuleProblem {
                    reason: format!("{e}; the file is not used"),
                    path,
                });
                false
            }
        }
    }

    /// Leaves the folder entered last, if [`Rules::enter`] pushed a matcher for it.
    pub fn leave(&mut self, pushed: bool) {
        if pushed {
            self.stack.pop();
        }
    }

    /// Why `path` (in the current folder) is left out, if it is.
    pub fn matched(&self, path: &Path, is_dir: bool) -> Option<RuleMatch> {
        for g in self.stack.iter().rev() {
            match g.matched(path, is_dir) {
                Match::None => continue,
                Match::Whitelist(_) => return None,
                Match::Ignore(glob) => {
                    return Some(RuleMatch::Pattern {
                        file: glob.from().map(Path::to_path_buf),
                        pattern: glob.original().to_string(),
                    });
                }
            }
        }
        match self.defaults.matched(path, is_dir) {
            Match::Ignore(glob) if glob.original() == ".*" => Some(RuleMatch::Hidden),
            Match::Ignore(glob) => Some(RuleMatch::Pattern {
                file: None,
                pattern: glob.original().to_string(),
            }),
            Match::None | Match::Whitelist(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_match() {
        let root = Path::new("/r");
        let mut b = GitignoreBuilder::new(root);
        for p in DEFAULT_PATTERNS {
            b.add_line(None, p).unwrap();
        }
        assert_eq!(b.build().unwrap().len(), DEFAULT_PATTERNS.len());
        let rules = Rules::new(root);
        assert_eq!(
            rules.matched(Path::new("/r/a/.git"), true),
            Some(RuleMatch::Hidden)
        );
        assert!(matches!(
            rules.matched(Path::new("/r/x.iso.part"), false),
            Some(RuleMatch::Pattern { file: None, .. })
        ));
        assert!(matches!(
            rules.matched(Path::new("/r/d/Thumbs.db"), false),
            Some(RuleMatch::Pattern { file: None, .. })
        ));
        assert_eq!(rules.matched(Path::new("/r/song.flac"), false), None);
        assert_eq!(rules.matched(Path::new("/r/notes.txt"), false), None);
    }

    #[test]
    fn deeper_files_win_and_bang_re_includes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join(IGNORE_FILE), "*.log\n!.keep\na{b\n").unwrap();
        std::fs::write(root.join("sub").join(IGNORE_FILE), "!important.log\n").unwrap();
        let mut rules = Rules::new(root);
        let mut problems = Vec::new();
        let top = rules.enter(root, &mut problems);
        assert!(top);
        assert_eq!(problems.len(), 1, "the bad line is reported");
        assert!(
            problems[0].reason.starts_with("line 3"),
            "{}",
            problems[0].reason
        );
        assert!(matches!(
            rules.matched(&root.join("a.log"), false),
            Some(RuleMatch::Pattern { file: Some(_), .. })
        ));
        assert_eq!(rules.matched(&root.join(".keep"), false), None);
        let sub = rules.enter(&root.join("sub"), &mut problems);
        assert_eq!(rules.matched(&root.join("sub/important.log"), false), None);
        assert!(rules.matched(&root.join("sub/other.log"), false).is_some());
        rules.leave(sub);
        rules.leave(top);
        assert_eq!(
            rules.matched(&root.join(".keep"), false),
            Some(RuleMatch::Hidden)
        );
    }
}
