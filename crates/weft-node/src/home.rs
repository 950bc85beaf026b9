//! The data folder: where a node keeps its identity, API token, database, settings and the
//! addresses it actually bound.
//!
//! | file | what |
//! |---|---|
//! | `identity.key` | ed25519 key (libp2p protobuf encoding), mode 0600, made on first start |
//! | `api.token` | random bearer token for the local API, mode 0600 |
//! | `weft.sqlite` | the database (WAL mode) |
//! | `config.toml` | optional settings |
//! | `addrs.json` | written once listening: peer id, listen addresses, API address |
//! | `weft.lock` | held while a node runs here |
//! | `WEFT-DATA-FOLDER.TAG` | written at every start: marks the folder as one weft never shares |
//!
//! The file names that make a folder a data folder are
//! [`weft_share::data_folder::DATA_FOLDER_FILES`]; the index never shares such a folder.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::NodeConfig;
use weft_net::Keypair;

/// The environment variable that names the data folder.
pub const HOME_ENV: &str = "WEFT_HOME";

/// A problem with the data folder, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No data folder was given and the platform has none.
    #[error("cannot find a data folder for this platform; pass --home DIR or set WEFT_HOME")]
    NoDefault,
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// Another node runs on this folder.
    #[error(
        "another weft node is already running with data folder {0} (stop it, or use --home DIR for a second node)"
    )]
    Locked(PathBuf),
    /// The identity key is unreadable.
    #[error("{0}: not a valid identity key ({1}); move it away to make a new identity")]
    BadKey(PathBuf, String),
    /// `config.toml` is invalid.
    #[error("{0}: {1}")]
    BadConfig(PathBuf, String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |error| HomeError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Resolves the data folder: `explicit` (from `--home` or `WEFT_HOME`, which clap merges)
/// or the platform's data directory.
///
/// # Errors
/// [`HomeError::NoDefault`] if neither exists.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, HomeError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    directories::ProjectDirs::from("org", "weft", "weft")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(HomeError::NoDefault)
}

pub use weft_api::running::{Addrs, read_running};

/// An open data folder, locked for one node.
pub struct Home {
    dir: PathBuf,
    _lock: File,
}

impl Home {
    /// Creates the folder if needed and takes its lock.
    ///
    /// # Errors
    /// [`HomeError::Locked`] if another node holds it; [`HomeError::Io`] otherwise.
    pub fn open(dir: &Path) -> Result<Self, HomeError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("weft.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(HomeError::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        // Marks the folder before anything secret is written into it, so that no index
        // shares it, whatever path leads to it.
        let marker = dir.join(weft_share::data_folder::MARKER);
        if fs::read(&marker).ok().as_deref()
            != Some(weft_share::data_folder::MARKER_TEXT.as_bytes())
        {
            fs::write(&marker, weft_share::data_folder::MARKER_TEXT).map_err(io_err(&marker))?;
        }
        // A stale addrs.json from a previous run would point clients at a dead node.
        let _ = fs::remove_file(dir.join("addrs.json"));
        Ok(Home {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads `identity.key`, creating it (mode 0600) on first start.
    ///
    /// # Errors
    /// [`HomeError`] if the file cannot be read, written or decoded.
    pub fn identity(&self) -> Result<Keypair, HomeError> {
        let path = self.dir.join("identity.key");
        match fs::read(&path) {
            Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
                .map_err(|e| HomeError::BadKey(path.clone(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Keypair::generate_ed25519();
                let bytes = key
                    .to_protobuf_encoding()
                    .map_err(|e| HomeError::BadKey(path.clone(), e.to_string()))?;
                write_private(&path, &bytes)?;
                Ok(key)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Loads `api.token`, creating a random one (mode 0600) on first start.
    ///
    /// # Errors
    /// [`HomeError::Io`] if the file cannot be read or written.
    pub fn api_token(&self) -> Result<String, HomeError> {
        let path = self.dir.join("api.token");
        match fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            // Missing or empty: make a new one.
            _ => {
                let token = hex::encode(rand::random::<[u8; 32]>());
                write_private(&path, token.as_bytes())?;
                Ok(token)
            }
        }
    }

    /// Reads `config.toml` if present; defaults otherwise.
    ///
    /// # Errors
    /// [`HomeError::BadConfig`] naming the line and key at fault.
    pub fn config(&self) -> Result<NodeConfig, HomeError> {
        let path = self.dir.join("config.toml");
        match fs::read_to_string(&path) {
            Ok(text) => NodeConfig::from_toml(&text)
                .map_err(|e| HomeError::BadConfig(path.clone(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NodeConfig::default()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Writes `addrs.json` atomically (temporary file, then rename).
    ///
    /// # Errors
    /// [`HomeError::Io`] if it cannot be written.
    pub fn write_addrs(&self, addrs: &Addrs) -> Result<(), HomeError> {
        let path = self.dir.join("addrs.json");
        let tmp = self.dir.join("addrs.json.tmp");
        let json = serde_json::to_vec_pretty(addrs).map_err(|e| io_err(&path)(e.into()))?;
        fs::write(&tmp, json).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Removes `addrs.json` (on shutdown, so clients see that the node stopped).
    pub fn clear_addrs(&self) {
        let _ = fs::remove_file(self.dir.join("addrs.json"));
    }

    /// The database path.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("weft.sqlite")
    }
}

/// Writes `bytes` to a new file readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_private_files_and_second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(dir.path()).unwrap();
        let k1 = home.identity().unwrap();
        let t1 = home.api_token().unwrap();
        assert_eq!(home.identity().unwrap().public(), k1.public());
        assert_eq!(home.api_token().unwrap(), t1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["identity.key", "api.token"] {
                let mode = fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        assert!(matches!(Home::open(dir.path()), Err(HomeError::Locked(_))));
        drop(home);
        assert!(Home::open(dir.path()).is_ok());
    }

    #[test]
    fn every_secret_the_folder_holds_marks_it_as_a_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(dir.path()).unwrap();
        assert!(
            weft_share::data_folder::is_data_folder(dir.path()),
            "marked at open"
        );
        home.identity().unwrap();
        home.api_token().unwrap();
        let names = [
            "identity.key".to_string(),
            "api.token".to_string(),
            "weft.lock".to_string(),
            home.db_path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        ];
        for name in &names {
            assert!(
                weft_share::data_folder::DATA_FOLDER_FILES.contains(&name.as_str()),
                "{name} alone does not mark a data folder"
            );
        }
    }

    #[test]
    fn bad_config_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.toml"), "mdns = true\nbogus = 1\n").unwrap();
        let home = Home::open(dir.path()).unwrap();
        let e = home.config().unwrap_err().to_string();
        assert!(
            e.contains("config.toml") && e.contains("line 2") && e.contains("bogus"),
            "{e}"
        );
    }
}
