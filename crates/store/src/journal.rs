//! The journal file and the checkpoint beside it, as the writer uses them: records are
//! appended and synced; a checkpoint replaces the checkpoint file and empties the journal.

use std::io;

use crate::Names;
use crate::fs::{AppendFile as _, FileSystem};

/// The open journal.
pub struct Journal<F: FileSystem> {
    fs: F,
    names: Names,
    file: F::File,
    /// The file's length after the last complete append.
    len: u64,
    /// Bytes appended since the last checkpoint.
    since_checkpoint: u64,
    /// Bytes appended since the last sync.
    unsynced: u64,
}

impl<F: FileSystem> std::fmt::Debug for Journal<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("names", &self.names)
            .field("since_checkpoint", &self.since_checkpoint)
            .finish_non_exhaustive()
    }
}

impl<F: FileSystem> Journal<F> {
    /// Opens the journal of `names` for appending (after [`crate::recover`]).
    ///
    /// # Errors
    /// The OS error.
    pub fn open(fs: F, names: Names) -> io::Result<Self> {
        let file = fs.open_append(&names.journal)?;
        let len = file.size()?;
        Ok(Self { fs, names, file, len, since_checkpoint: 0, unsynced: 0 })
    }

    /// Appends encoded records (not durable until [`Journal::sync`]). A failed append is cut
    /// off again, so that a retry does not leave half a record in the middle of the journal.
    ///
    /// # Errors
    /// The OS error.
    pub fn append(&mut self, records: &[u8]) -> io::Result<()> {
        if let Err(err) = self.file.append(records) {
            let _ = self.file.truncate(self.len);
            return Err(err);
        }
        self.len += records.len() as u64;
        self.since_checkpoint += records.len() as u64;
        self.unsynced += records.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable; nothing to do when nothing was appended.
    ///
    /// # Errors
    /// The OS error.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Bytes appended since the last checkpoint.
    #[must_use]
    pub fn since_checkpoint(&self) -> u64 {
        self.since_checkpoint
    }

    /// Writes `checkpoint` (an encoded snapshot of the state after every record appended so
    /// far) and empties the journal. A crash at any point leaves a state that recovers to
    /// the same thing: replaying the old journal onto the new checkpoint changes nothing.
    ///
    /// # Errors
    /// The OS error; the old checkpoint and journal still hold everything then.
    pub fn checkpoint(&mut self, checkpoint: &[u8]) -> io::Result<()> {
        self.sync()?;
        self.fs.replace(&self.names.checkpoint, checkpoint)?;
        self.fs.create_empty(&self.names.journal)?;
        self.file = self.fs.open_append(&self.names.journal)?;
        self.len = 0;
        self.since_checkpoint = 0;
        Ok(())
    }
}
