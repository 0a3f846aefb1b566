//! culex's durable state on disk, under `persistence true`: a checkpoint (the snapshot file,
//! `mqtt_core::snapshot`'s format) and a journal beside it (one record per change of durable
//! state, `mqtt_core::snapshot::journal`'s format). Once the broker acknowledges something,
//! its records are in the journal and synced.
//!
//! - [`fs`]: the file layer, a trait (so tests can cut the power) and the disk.
//! - [`recover`]: startup, from whatever a crash or a damaged disk left.
//! - [`Journal`]: appending, syncing, and checkpointing (the checkpoint replaces the journal).
//! - [`Writer`]: the thread that does it off the driver, with group commit.
//!
//! No tokio and no clock in the recovery path; the writer thread only times its sync
//! interval.

pub mod fs;
mod journal;
mod recovery;
mod writer;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use journal::Journal;
pub use recovery::{Recovered, RecoveryEvent, recover};
pub use writer::{SyncPolicy, Writer, WriterReport};

use mqtt_core::snapshot::FormatError;

/// The store's two file names, in one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The checkpoint (the persistence file).
    pub checkpoint: String,
    /// The journal.
    pub journal: String,
}

impl Names {
    /// The checkpoint `checkpoint` and its journal, `<checkpoint>.journal`.
    #[must_use]
    pub fn of(checkpoint: &str) -> Self {
        Self { checkpoint: checkpoint.to_owned(), journal: format!("{checkpoint}.journal") }
    }
}

/// Why the store cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file exists but cannot be read, or cannot be written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The checkpoint is a Mosquitto `mosquitto.db`, which the store leaves alone.
    #[error("{file} is a Mosquitto persistence file")]
    Mosquitto {
        /// The file.
        file: String,
    },
    /// The recovered state cannot be encoded (never for a state the broker built).
    #[error("{file}: {error}")]
    Encode {
        /// The file.
        file: String,
        /// The encoder's error.
        error: FormatError,
    },
}
