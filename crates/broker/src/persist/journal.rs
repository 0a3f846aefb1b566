//! The journal side of persistence (`persistence_journal true`, the default): startup recovery
//! through `culex_store` with its events logged, and the journal writer threads, whose reports
//! reach the drivers over channels.
//!
//! Each driver shard has a pair of files of its own, a checkpoint and its journal
//! ([`pair_path`]): shard 0's is `<path>` and `<path>.journal` (a one-router broker's files),
//! shard `i`'s `<path>.shard<i>` and `<path>.shard<i>.journal`. At startup ([`load`]) every
//! pair found is recovered and the states merged, then dealt out to the shards of this run,
//! each step an atomic replace: (1) when pairs other than shard 0's were found, the merged
//! state becomes shard 0's checkpoint (its journal emptied) and the others' files are removed;
//! (2) each shard `i >= 1` gets its part as its checkpoint, with an empty journal; (3) shard 0
//! gets its part. A crash anywhere in between leaves a merged file and whole parts, whose
//! sessions are identical copies, which the next start merges again (one session per client
//! id, see [`Snapshot::merge`]). So the router count may change between runs.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use culex_store::fs::{DiskDir, FileSystem as _};
use culex_store::{
    Journal, Names, RecoveryEvent, StoreError, SyncPolicy, Writer, WriterReport, recover,
};
use mqtt_core::ShardId;
use mqtt_core::snapshot::{self, FormatError, Snapshot};
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

/// The checkpoint of shard `shard`'s pair of files, for the persistence file `path`: `path`
/// itself for shard 0, `<path>.shard<shard>` for the others (the journal adds `.journal`).
pub(crate) fn pair_path(path: &str, shard: usize) -> String {
    if shard == 0 { path.to_owned() } else { format!("{path}.shard{shard}") }
}

/// Recovers every pair of files of the persistence file `path` (see the module header),
/// logging what each recovery did, and deals the merged state out to `count` shards on disk.
/// The merged state is returned; each shard restores its part of it
/// ([`Snapshot::split`], which deals the same parts).
///
/// # Errors
/// [`LoadError`] when a file cannot be read or the recovered state cannot be written back.
pub(super) fn load(
    path: &str,
    count: usize,
    logger: &Logger,
) -> Result<Option<Snapshot>, LoadError> {
    let others = other_pairs(path);
    let mut parts = Vec::new();
    for shard in std::iter::once(0).chain(others.iter().copied()) {
        parts.extend(recover_pair(&pair_path(path, shard), logger)?);
    }
    let merged = (!parts.is_empty()).then(|| Snapshot::merge(parts));
    deal(path, merged.as_ref(), count, &others)?;
    Ok(merged)
}

/// The shards other than 0 whose pair of files (of the persistence file `path`) exists.
pub(super) fn other_pairs(path: &str) -> Vec<usize> {
    (1..ShardId::MAX)
        .filter(|&shard| {
            let pair = pair_path(path, shard);
            Path::new(&pair).exists() || Path::new(&format!("{pair}.journal")).exists()
        })
        .collect()
}

/// Writes `merged` out as the pairs of `count` shards (steps 1 to 3 of the module header);
/// `others`: the shards other than 0 whose pairs exist, folded into shard 0's first and
/// removed.
///
/// # Errors
/// [`LoadError::Write`] when a file cannot be written or removed.
pub(super) fn deal(
    path: &str,
    merged: Option<&Snapshot>,
    count: usize,
    others: &[usize],
) -> Result<(), LoadError> {
    if !others.is_empty() {
        write_pair(path, 0, merged.unwrap_or(&Snapshot::default()))?;
        for &shard in others {
            let (dir, names) = place(&pair_path(path, shard));
            for name in [&names.journal, &names.checkpoint] {
                dir.remove(name).map_err(|err| write_error(path, name, &err))?;
            }
        }
    }
    let Some(merged) = merged.filter(|_| count > 1) else { return Ok(()) };
    let mut parts = merged.clone().split(count);
    // Shard 0's part last: until then, its checkpoint holds everything.
    parts.rotate_left(1);
    for (part, shard) in parts.iter().zip((1..count).chain([0])) {
        write_pair(path, shard, part)?;
    }
    Ok(())
}

/// Makes `snapshot` the checkpoint of shard `shard`'s pair, with an empty journal.
fn write_pair(path: &str, shard: usize, snapshot: &Snapshot) -> Result<(), LoadError> {
    let pair = pair_path(path, shard);
    let (dir, names) = place(&pair);
    let bytes = snapshot::encode(snapshot)
        .map_err(|source| LoadError::Format { path: pair.clone(), source })?;
    dir.replace(&names.checkpoint, &bytes)
        .map_err(|err| write_error(path, &names.checkpoint, &err))?;
    dir.create_empty(&names.journal).map_err(|err| write_error(path, &names.journal, &err))
}

/// The error for file `name` (in the directory of `path`) that could not be written.
fn write_error(path: &str, name: &str, err: &std::io::Error) -> LoadError {
    LoadError::Write { path: dir_join(path, name), reason: culex_compat::strerror(err) }
}

/// Reads the checkpoint `pair` and replays its journal (`<pair>.journal`) onto it, logging
/// what recovery did.
fn recover_pair(path: &str, logger: &Logger) -> Result<Option<Snapshot>, LoadError> {
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

/// Opens the journal of `settings` (after [`load`]; a shard's settings name its own pair, see
/// [`pair_path`]) and starts its writer thread; the writer's reports arrive on the returned
/// channel.
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

#[cfg(test)]
mod tests {
    use mqtt_core::snapshot::StoredSession;

    use super::*;
    use crate::config::LogTypes;
    use crate::persist::tests::temp_dir;

    /// A state with a persistent session for each client id, in client id order.
    fn state(ids: &[&str]) -> Snapshot {
        Snapshot {
            messages: Vec::new(),
            retained: Vec::new(),
            sessions: ids.iter().map(|id| StoredSession::empty(id)).collect(),
        }
    }

    fn read(path: &str) -> Snapshot {
        snapshot::decode(&std::fs::read(path).expect("written")).expect("decodes")
    }

    #[test]
    fn every_pair_is_merged_and_dealt_out_to_any_shard_count() {
        let dir = temp_dir("pairs");
        let path = dir.join("culex.db").display().to_string();
        let logger = Logger::new(LogTypes::NONE, false, false);
        let whole = state(&["a", "b", "c", "d", "e", "f", "g"]);
        // What a crash while dealing out to two shards leaves: the merged state in pair 0,
        // and pair 1 written with its part (copies of sessions pair 0 holds too).
        let one = whole.clone().split(2).pop().expect("two parts");
        assert!(!one.sessions.is_empty());
        std::fs::write(&path, snapshot::encode(&whole).expect("encodes")).expect("writes");
        std::fs::write(pair_path(&path, 1), snapshot::encode(&one).expect("encodes"))
            .expect("writes");

        assert_eq!(
            load(&path, 3, &logger).expect("loads"),
            Some(whole.clone()),
            "each session once"
        );
        for (shard, part) in whole.clone().split(3).into_iter().enumerate() {
            let pair = pair_path(&path, shard);
            assert_eq!(read(&pair), part, "shard {shard}'s part");
            assert_eq!(std::fs::metadata(format!("{pair}.journal")).expect("journal").len(), 0);
        }

        assert_eq!(load(&path, 1, &logger).expect("loads"), Some(whole.clone()));
        assert_eq!(read(&path), whole);
        for shard in 1..3 {
            let pair = pair_path(&path, shard);
            assert!(!Path::new(&pair).exists() && !Path::new(&format!("{pair}.journal")).exists());
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_the_journal_the_pairs_a_journaled_run_left_are_folded_into_the_one_file() {
        let dir = temp_dir("unpaired");
        let config = crate::config::Config {
            persistence: true,
            persistence_journal: false,
            persistence_location: Some(format!("{}/", dir.display())),
            ..crate::config::Config::default()
        };
        let path = config.persistence_path().expect("persistence on");
        for (shard, ids) in [(0, ["a", "c"]), (1, ["b", "d"])] {
            let bytes = snapshot::encode(&state(&ids)).expect("encodes");
            std::fs::write(pair_path(&path, shard), bytes).expect("writes");
        }
        let logger = Logger::new(LogTypes::NONE, false, false);
        let whole = state(&["a", "b", "c", "d"]);
        assert_eq!(super::super::load(&config, &logger).expect("loads"), Some(whole.clone()));
        assert_eq!(read(&path), whole);
        assert!(other_pairs(&path).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
