//! Startup: the checkpoint, then the journal replayed onto it, whatever a crash or a damaged
//! disk left behind. A torn tail is dropped; a damaged file is moved aside (never
//! overwritten) and everything still readable is kept; what happened is reported as
//! [`RecoveryEvent`]s for the log. When the journal held anything, the recovered state is
//! written as a new checkpoint and the journal emptied, so the next crash starts from there.

use mqtt_core::snapshot::journal::{Replay, Tail, read_records};
use mqtt_core::snapshot::{self, FormatError, Snapshot};

use crate::fs::FileSystem;
use crate::{Names, StoreError};

/// Something recovery did that the log should say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// The checkpoint exists but is empty (Mosquitto's "Persistence file is empty" case).
    EmptyCheckpoint,
    /// The checkpoint could not be decoded; it was renamed to `moved_to` and the broker
    /// starts from the journal alone.
    CheckpointDamaged {
        /// Its new name.
        moved_to: String,
        /// What was wrong.
        error: FormatError,
    },
    /// Records were applied from the journal.
    Replayed {
        /// How many.
        records: usize,
        /// How many named something unknown (only damage produces them) and were ignored.
        skipped: u64,
    },
    /// The last record was cut short by a crash: `dropped` bytes were not used.
    TornTail {
        /// Bytes dropped.
        dropped: usize,
    },
    /// A record in the middle of the journal is damaged: the journal was renamed to
    /// `moved_to`; the records before `at` were used, the `lost` bytes from it on were not.
    JournalDamaged {
        /// Its new name.
        moved_to: String,
        /// Offset of the damaged record.
        at: usize,
        /// Bytes not used.
        lost: usize,
        /// What was wrong.
        error: FormatError,
    },
}

/// What startup found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The state to restore; `None` when there was nothing on disk.
    pub snapshot: Option<Snapshot>,
    /// What happened, for the log, in order.
    pub events: Vec<RecoveryEvent>,
}

/// Reads the checkpoint and the journal named by `names` in `fs`. `stamp` names a damaged
/// file's new name (`<name>.corrupt-<stamp>`).
///
/// # Errors
/// [`StoreError::Mosquitto`] when the checkpoint is a Mosquitto file (the caller imports it
/// or refuses it; it is not touched); [`StoreError::Io`] when a file exists but cannot be
/// read, or the new checkpoint cannot be written (nothing was moved or removed then).
pub fn recover<F: FileSystem>(fs: &F, names: &Names, stamp: &str) -> Result<Recovered, StoreError> {
    let io = |file: &str| {
        let file = file.to_owned();
        move |source| StoreError::Io { file, source }
    };
    let mut events = Vec::new();
    let mut rewrite = false;
    let checkpoint = match fs.read(&names.checkpoint).map_err(io(&names.checkpoint))? {
        None => None,
        Some(bytes) => match snapshot::decode(&bytes) {
            Ok(snapshot) => Some(snapshot),
            Err(FormatError::Empty) => {
                events.push(RecoveryEvent::EmptyCheckpoint);
                None
            }
            Err(FormatError::Mosquitto) => {
                return Err(StoreError::Mosquitto { file: names.checkpoint.clone() });
            }
            Err(error) => {
                let moved_to = format!("{}.corrupt-{stamp}", names.checkpoint);
                fs.rename(&names.checkpoint, &moved_to).map_err(io(&names.checkpoint))?;
                events.push(RecoveryEvent::CheckpointDamaged { moved_to, error });
                rewrite = true;
                None
            }
        },
    };
    let had_checkpoint = checkpoint.is_some();
    let mut replay = Replay::new(checkpoint.unwrap_or_default());
    let journal = fs.read(&names.journal).map_err(io(&names.journal))?.unwrap_or_default();
    let records = read_records(&journal);
    let count = records.changes.len();
    for change in records.changes {
        replay.apply(change);
    }
    if count > 0 {
        events.push(RecoveryEvent::Replayed { records: count, skipped: replay.skipped() });
        rewrite = true;
    }
    match records.tail {
        Tail::Clean => {}
        Tail::Torn { dropped, .. } => {
            events.push(RecoveryEvent::TornTail { dropped });
            rewrite = true;
        }
        Tail::Corrupt { at, error } => {
            let moved_to = format!("{}.corrupt-{stamp}", names.journal);
            fs.rename(&names.journal, &moved_to).map_err(io(&names.journal))?;
            let lost = journal.len() - at;
            events.push(RecoveryEvent::JournalDamaged { moved_to, at, lost, error });
            rewrite = true;
        }
    }
    if !rewrite {
        let snapshot = had_checkpoint.then(|| replay.finish());
        return Ok(Recovered { snapshot, events });
    }
    let snapshot = replay.finish();
    let bytes = snapshot::encode(&snapshot)
        .map_err(|error| StoreError::Encode { file: names.checkpoint.clone(), error })?;
    fs.replace(&names.checkpoint, &bytes).map_err(io(&names.checkpoint))?;
    fs.create_empty(&names.journal).map_err(io(&names.journal))?;
    Ok(Recovered { snapshot: Some(snapshot), events })
}
