//! Persistence on disk: the file is read once at startup ([`load`]), and written by a saver
//! task that encodes each snapshot and writes it on the blocking pool, so the driver only
//! pays for taking the snapshot (a copy of its maps; payloads are shared).
//!
//! A save writes `<path>.new` (mode 0600), fsyncs it, renames it over `<path>` and fsyncs the
//! directory ([`culex_compat::file::replace`]), so a crash leaves either the old file or the
//! new one. A failed save is logged
//! and leaves the old file as it was; the broker keeps running. A file in Mosquitto's format
//! is never overwritten: it is imported once into `<path>.culex` (`persist/import.rs`).

mod import;

pub(crate) mod journal;
pub(crate) mod shards;

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use culex_compat::file::{self, Step};
use culex_compat::strerror;
use mqtt_core::snapshot::mosquitto::ImportError;
use mqtt_core::snapshot::{self, FormatError, MOSQUITTO_MAGIC, Snapshot};
use tokio::sync::Notify;

use crate::config::{Config, PersistenceSettings};
use crate::log;
use crate::log::Logger;

/// The persistence settings of `config` (`None` when persistence is off), with the file
/// culex reads and writes: `<file>.culex` when the configured file is Mosquitto's (see
/// `import`).
pub(crate) fn settings(config: &Config) -> Option<PersistenceSettings> {
    let mut settings = PersistenceSettings::of(config)?;
    settings.path = import::own_path(&settings.path);
    Some(settings)
}

/// Why the persistence file could not be loaded. The file is left as it is.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file exists but cannot be read.
    #[error("Error: Unable to read persistence file {path}: {reason}.")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The state recovered at startup cannot be written back to the file (see
    /// `persist::journal`).
    #[error("Error: Unable to write persistence file {path}: {reason}.")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The file is not one culex can load.
    #[error("Error: Unable to load persistence file {path}: {source}.")]
    Format {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: FormatError,
    },
    /// The file is Mosquitto's and cannot be imported.
    #[error("Error: Unable to import Mosquitto persistence file {path}: {source}.")]
    Import {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: ImportError,
    },
}

impl LoadError {
    /// The lines to log before exiting: what is wrong, what to do, and Mosquitto's line.
    pub fn log_lines(&self) -> Vec<String> {
        let advice = match self {
            Self::Format { .. } | Self::Import { .. } => {
                "Error: The file is kept as it is: move it away to start with an empty database."
            }
            Self::Read { .. } | Self::Write { .. } => "Error: Check the file's permissions.",
        };
        vec![self.to_string(), advice.to_owned(), "Error: Couldn't open database.".to_owned()]
    }
}

/// Reads the persistence file of `config` at startup: `None` when persistence is off, the
/// file does not exist yet, or it is empty (Mosquitto's warning is logged then). A Mosquitto
/// file is imported once into `<path>.culex` (`persist/import.rs`). With the journal, every
/// shard's pair of files is read, and the state is dealt out again to the shards this run
/// starts (`persist/journal.rs`); without it, pairs such a run left are folded into the file.
///
/// # Errors
/// [`LoadError`] when the file cannot be read or decoded; the caller must not start (and
/// must not touch the file).
pub fn load(config: &Config, logger: &Logger) -> Result<Option<Snapshot>, LoadError> {
    let Some(configured) = config.persistence_path() else { return Ok(None) };
    let path = import::own_path(&configured);
    // With the journal, each shard has files of its own, dealt out at startup.
    let count = crate::shard_count(config.routers);
    if import::pending(&configured, &path) {
        let snapshot = import::import(&configured, &path, config, logger)?;
        if config.persistence_journal {
            journal::deal(&path, Some(&snapshot), count, &[])?;
        }
        return Ok(Some(snapshot));
    }
    if config.persistence_journal {
        return journal::load(&path, count, logger);
    }
    // The pairs a run with the journal on several routers left are folded into the one file.
    if !journal::other_pairs(&path).is_empty() {
        return journal::load(&path, 1, logger);
    }
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(LoadError::Read { path, reason: strerror(&err) }),
    };
    match snapshot::decode(&bytes) {
        Ok(snapshot) => Ok(Some(snapshot)),
        Err(FormatError::Empty) => {
            log!(logger, WARNING, "Warning: Persistence file is empty.");
            Ok(None)
        }
        Err(source) => Err(LoadError::Format { path, source }),
    }
}

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
enum SaveError {
    #[error("Error saving in-memory database, unable to open {new_path} for writing.")]
    Open { new_path: String },
    #[error("Error saving in-memory database to {path}: {reason}.")]
    Io { path: String, reason: String },
    #[error("Error saving in-memory database to {path}: {source}.")]
    Encode { path: String, source: FormatError },
    #[error(
        "Error saving in-memory database: {path} is a Mosquitto persistence file, which culex does not overwrite."
    )]
    Mosquitto { path: String },
}

/// Encodes and writes `snapshot` to `path` through `<path>.new`. Blocking.
fn save(path: &str, snapshot: &Snapshot) -> Result<(), SaveError> {
    let bytes = snapshot::encode(snapshot)
        .map_err(|source| SaveError::Encode { path: path.to_owned(), source })?;
    if is_mosquitto_file(path) {
        return Err(SaveError::Mosquitto { path: path.to_owned() });
    }
    let new_path = format!("{path}.new");
    let _ = std::fs::remove_file(&new_path);
    file::replace(Path::new(path), Path::new(&new_path), &bytes, None).map_err(|err| {
        match err.step {
            Step::Create => SaveError::Open { new_path },
            _ => SaveError::Io { path: path.to_owned(), reason: strerror(&err.io) },
        }
    })
}

/// Whether `path` holds a file in Mosquitto's format.
fn is_mosquitto_file(path: &str) -> bool {
    let mut start = [0; MOSQUITTO_MAGIC.len()];
    File::open(path).and_then(|mut file| file.read_exact(&mut start)).is_ok()
        && &start == MOSQUITTO_MAGIC
}

/// A save waiting for the saver task; a newer one replaces it (it holds later state).
#[derive(Default)]
struct Pending {
    job: Option<(String, Snapshot)>,
    closing: bool,
}

/// What the driver and the saver task share.
#[derive(Default)]
struct Slot {
    pending: Mutex<Pending>,
    wake: Notify,
}

/// The task that writes snapshots one at a time, in the order they were taken.
pub(crate) struct Saver {
    slot: Arc<Slot>,
    task: tokio::task::JoinHandle<()>,
}

impl Saver {
    /// Starts the task (idle until the first request).
    pub(crate) fn spawn(logger: Arc<Logger>) -> Self {
        let slot = Arc::new(Slot::default());
        let task = tokio::spawn(write_loop(Arc::clone(&slot), logger));
        Self { slot, task }
    }

    /// Asks for `snapshot` to be written to `path`, replacing a request not started yet.
    pub(crate) fn request(&self, path: String, snapshot: Snapshot) {
        self.slot.pending.lock().unwrap_or_else(PoisonError::into_inner).job =
            Some((path, snapshot));
        self.slot.wake.notify_one();
    }

    /// Writes `last` (if any) after whatever is pending, and returns when everything is on
    /// disk (or has failed and been logged).
    pub(crate) async fn finish(self, last: Option<(String, Snapshot)>) {
        {
            let mut pending = self.slot.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some() {
                pending.job = last;
            }
            pending.closing = true;
        }
        self.slot.wake.notify_one();
        let _ = self.task.await;
    }
}

async fn write_loop(slot: Arc<Slot>, logger: Arc<Logger>) {
    loop {
        let (job, closing) = {
            let mut pending = slot.pending.lock().unwrap_or_else(PoisonError::into_inner);
            (pending.job.take(), pending.closing)
        };
        match job {
            Some((path, snapshot)) => {
                let logger = Arc::clone(&logger);
                let _ = tokio::task::spawn_blocking(move || {
                    log!(logger, INFORMATION, "Saving in-memory database to {path}.");
                    if let Err(err) = save(&path, &snapshot) {
                        log!(logger, ERROR, "{err}");
                    }
                })
                .await;
            }
            None if closing => return,
            // A request made since the lock was released left a permit: no wake-up is lost.
            None => slot.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::config::LogTypes;

    /// An empty directory of this test process's own, `name` telling it apart.
    pub(super) fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("culex-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn config(dir: &Path) -> Config {
        Config {
            persistence: true,
            persistence_location: Some(dir.display().to_string()),
            ..Config::default()
        }
    }

    fn quiet() -> Logger {
        Logger::new(LogTypes::NONE, false, false)
    }

    #[test]
    fn a_saved_file_loads_back_with_mode_0600_and_no_leftovers() {
        let dir = temp_dir("roundtrip");
        let config = config(&dir);
        let path = config.persistence_path().expect("persistence on");
        assert_eq!(load(&config, &quiet()).expect("no file yet"), None);
        let snapshot = Snapshot::default();
        save(&path, &snapshot).expect("saves");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!Path::new(&format!("{path}.new")).exists());
        assert_eq!(load(&config, &quiet()).expect("loads"), Some(snapshot));
        std::fs::write(&path, b"").expect("truncate");
        assert_eq!(load(&config, &quiet()).expect("empty is fine"), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_mosquitto_file_is_imported_once_and_never_overwritten() {
        let dir = temp_dir("mosquitto");
        let config = config(&dir);
        let path = config.persistence_path().expect("persistence on");
        let own = format!("{path}.culex");
        // A header, then fewer bytes than a chunk header: an empty database.
        let mut original = MOSQUITTO_MAGIC.to_vec();
        original.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6, 1, 2, 3]);
        std::fs::write(&path, &original).expect("write");
        assert_eq!(settings(&config).map(|s| s.path), Some(own.clone()));
        assert_eq!(load(&config, &quiet()).expect("imported"), Some(Snapshot::default()));
        assert_eq!(load(&config, &quiet()).expect("own file"), Some(Snapshot::default()));
        assert!(Path::new(&own).exists());
        assert_eq!(settings(&config).map(|s| s.path), Some(own.clone()));
        // culex's own file wins from now on, even if it differs from the Mosquitto one.
        std::fs::write(&own, b"").expect("truncate");
        assert_eq!(load(&config, &quiet()).expect("empty own file"), None);
        assert!(matches!(save(&path, &Snapshot::default()), Err(SaveError::Mosquitto { .. })));
        assert_eq!(std::fs::read(&path).expect("still there"), original);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_damaged_mosquitto_file_is_refused_and_kept() {
        let dir = temp_dir("mosquitto-damaged");
        let config = config(&dir);
        let path = config.persistence_path().expect("persistence on");
        let mut original = MOSQUITTO_MAGIC.to_vec();
        original.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        std::fs::write(&path, &original).expect("write");
        let err = load(&config, &quiet()).expect_err("refused");
        let lines = err.log_lines();
        assert!(lines[0].contains(&path) && lines[0].contains("version 7"), "{lines:?}");
        assert_eq!(lines.last().map(String::as_str), Some("Error: Couldn't open database."));
        assert!(!Path::new(&format!("{path}.culex")).exists());
        assert_eq!(std::fs::read(&path).expect("still there"), original);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_the_journal_a_corrupt_file_is_refused_naming_the_problem() {
        let dir = temp_dir("corrupt");
        let config = Config { persistence_journal: false, ..config(&dir) };
        let path = config.persistence_path().expect("persistence on");
        let mut bytes = snapshot::encode(&Snapshot::default()).expect("encodes");
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).expect("write");
        let err = load(&config, &quiet()).expect_err("refused");
        assert!(err.to_string().contains("truncated"), "{err}");
        assert_eq!(std::fs::read(&path).expect("kept"), bytes);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn with_the_journal_a_corrupt_checkpoint_is_moved_aside_and_the_broker_starts() {
        let dir = temp_dir("corrupt-journal");
        let config = config(&dir);
        let path = config.persistence_path().expect("persistence on");
        let mut bytes = snapshot::encode(&Snapshot::default()).expect("encodes");
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).expect("write");
        let state = load(&config, &quiet()).expect("starts");
        assert_eq!(state, Some(Snapshot::default()));
        let moved: Vec<_> = std::fs::read_dir(&dir)
            .expect("lists")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("mosquitto.db.corrupt-"))
            .collect();
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(std::fs::read(dir.join(&moved[0])).expect("kept"), bytes, "never overwritten");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failed_save_keeps_the_old_file() {
        let dir = temp_dir("readonly");
        let path = format!("{}/missing-dir/mosquitto.db", dir.display());
        let err = save(&path, &Snapshot::default()).expect_err("no such directory");
        assert_eq!(
            err.to_string(),
            format!("Error saving in-memory database, unable to open {path}.new for writing.")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
