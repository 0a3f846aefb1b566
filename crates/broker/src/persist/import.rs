//! Moving over from Mosquitto: when the configured persistence file is a Mosquitto
//! `mosquitto.db`, culex reads it once and from then on keeps its own file next to it,
//! `<file>.culex`, which it writes at once after the import. The Mosquitto file is never
//! written, renamed or removed. At every start `<file>.culex` wins when it exists, so nothing
//! is imported twice.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use mqtt_core::snapshot::Snapshot;
use mqtt_core::snapshot::mosquitto;

use super::{LoadError, is_mosquitto_file, save};
use crate::config::Config;
use crate::log;
use crate::log::Logger;

/// What culex appends to the configured name for its own file when that name holds
/// Mosquitto's.
const SUFFIX: &str = ".culex";

/// Import notes logged one by one; the rest are counted.
const NOTES_SHOWN: usize = 10;

/// The file culex reads and writes for the `configured` one: `<configured>.culex` when it
/// exists or when `configured` holds a Mosquitto file, else `configured` itself.
pub(crate) fn own_path(configured: &str) -> String {
    let own = format!("{configured}{SUFFIX}");
    if Path::new(&own).exists() || is_mosquitto_file(configured) {
        own
    } else {
        configured.to_owned()
    }
}

/// Whether `own` (from [`own_path`]) says the Mosquitto file at `configured` is still to be
/// imported: culex's own file is not there yet.
pub(super) fn pending(configured: &str, own: &str) -> bool {
    own != configured && !Path::new(own).exists()
}

/// Reads the Mosquitto file at `configured`, logs what was imported, and writes the result
/// to `own` straight away (a failed write is logged; the import is then repeated at the next
/// start).
///
/// # Errors
/// [`LoadError`] when the file cannot be read or decoded; it is left as it is.
pub(super) fn import(
    configured: &str,
    own: &str,
    config: &Config,
    logger: &Logger,
) -> Result<Snapshot, LoadError> {
    let bytes = std::fs::read(configured).map_err(|err| LoadError::Read {
        path: configured.to_owned(),
        reason: culex_compat::strerror(&err),
    })?;
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX));
    let ports: Vec<u16> = config.listeners_in_force().iter().map(|l| l.port).collect();
    let import = mosquitto::decode(&bytes, now_unix, &ports)
        .map_err(|source| LoadError::Import { path: configured.to_owned(), source })?;
    for note in import.skipped.iter().take(NOTES_SHOWN) {
        log!(
            logger,
            WARNING,
            "Warning: Mosquitto persistence file {configured}: skipped a {} (chunk at byte {}).",
            note.what,
            note.offset
        );
    }
    if let Some(more) = import.skipped.len().checked_sub(NOTES_SHOWN).filter(|&n| n > 0) {
        log!(
            logger,
            WARNING,
            "Warning: Mosquitto persistence file {configured}: {more} more records skipped."
        );
    }
    let snapshot = import.snapshot;
    let messages: usize = snapshot
        .sessions
        .iter()
        .map(|s| s.inflight.len() + s.queued.len() + s.incoming.len())
        .sum();
    log!(
        logger,
        NOTICE,
        "Imported Mosquitto persistence file {configured}: {} retained messages, {} sessions, \
         {messages} queued messages. culex keeps its state in {own} from now on and never \
         writes {configured}.",
        snapshot.retained.len(),
        snapshot.sessions.len(),
    );
    log!(logger, INFORMATION, "Saving in-memory database to {own}.");
    if let Err(err) = save(own, &snapshot) {
        log!(logger, ERROR, "{err}");
    }
    Ok(snapshot)
}
