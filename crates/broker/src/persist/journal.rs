//! The journal side of persistence (`persistence_journal true`, the default): startup recovery
//! through `culex_store` with its events logged, and the journal writer thread, whose reports
//! reach the driver over a channel.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use culex_store::fs::DiskDir;
use culex_store::{
    Journal, Names, RecoveryEvent, StoreError, SyncPolicy, Writer, WriterReport, recover,
};
use mqtt_core::snapshot::{FormatError, Snapshot};
use tokio::sync::mpsc;

use super::LoadError;
use crate::config::PersistenceSettings;
use crate::log;
use crate::log::Logger;

/// The directory and the store's file names of the persistence file `path`.
fn place(path: &str) -> (DiskDir, Names) {
    let path = Path::new(path);
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name =
        path.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    (DiskDir::new(dir), Names::of(&name))
}

/// Reads the checkpoint at `path` and replays its journal (`<path>.journal`) onto it, logging
/// what recovery did.
///
/// # Errors
/// [`LoadError`] when a file cannot be read or the recovered state cannot be written back;
/// nothing was moved or removed then.
pub(super) fn load(path: &str, logger: &Logger) -> Result<Option<Snapshot>, LoadError> {
    let (dir, names) = place(path);
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let recovered = recover(&dir, &names, &stamp.to_string()).map_err(|err| match err {
        StoreError::Io { file, source } => {
            LoadError::Read { path: dir_join(path, &file), reason: culex_compat::strerror(&source) }
        }
        StoreError::Mosquitto { .. } => {
            LoadError::Format { path: path.to_owned(), source: FormatError::Mosquitto }
        }
        StoreError::Encode { error, .. } => {
            LoadError::Format { path: path.to_owned(), source: error }
        }
    })?;
    let journal = format!("{path}.journal");
    for event in recovered.events {
        match event {
            RecoveryEvent::EmptyCheckpoint => {
                log!(logger, WARNING, "Warning: Persistence file is empty.");
            }
            RecoveryEvent::CheckpointDamaged { moved_to, error } => log!(
                logger,
                ERROR,
                "Error: Persistence file {path} is damaged ({error}); it was moved to {} and the state is rebuilt from the journal.",
                dir_join(path, &moved_to)
            ),
            RecoveryEvent::Replayed { records, skipped } => {
                log!(logger, NOTICE, "Recovered {records} changes from the journal {journal}.");
                if skipped > 0 {
                    log!(
                        logger,
                        WARNING,
                        "Warning: {skipped} journal records named state that was lost and were ignored."
                    );
                }
            }
            RecoveryEvent::TornTail { dropped } => log!(
                logger,
                WARNING,
                "Warning: Dropped an incomplete record at the end of the journal {journal} ({dropped} bytes, a write cut short by a crash)."
            ),
            RecoveryEvent::JournalDamaged { moved_to, at, lost, error } => log!(
                logger,
                ERROR,
                "Error: The journal {journal} is damaged at byte {at} ({error}); it was moved to {} and the {lost} bytes from there on were not recovered.",
                dir_join(path, &moved_to)
            ),
        }
    }
    Ok(recovered.snapshot)
}

/// `name` in the directory of `path`.
fn dir_join(path: &str, name: &str) -> String {
    match path.rfind('/') {
        Some(at) => format!("{}{name}", &path[..=at]),
        None => name.to_owned(),
    }
}

/// Opens the journal of `settings` (after [`load`]) and starts its writer thread; the
/// writer's reports arrive on the returned channel.
///
/// # Errors
/// The OS error when the journal cannot be opened or the thread cannot start.
pub(crate) fn start_writer(
    settings: &PersistenceSettings,
) -> std::io::Result<(Writer, mpsc::UnboundedReceiver<WriterReport>)> {
    let (dir, names) = place(&settings.path);
    let journal = Journal::open(dir, names)?;
    let policy = match settings.sync_interval {
        0 => SyncPolicy::EveryBatch,
        secs => SyncPolicy::Every(Duration::from_secs(u64::from(secs))),
    };
    let (reports, reported) = mpsc::unbounded_channel();
    let writer = Writer::spawn(journal, policy, move |report| {
        let _ = reports.send(report);
    })?;
    Ok((writer, reported))
}
