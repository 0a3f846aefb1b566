//! Reading a password file and replacing it safely: the new text goes to a temporary file in
//! the same directory, is flushed to disk, and is renamed over the old one, so a crash or a
//! full disk leaves either the old file or the new one, never half of either.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rand::RngCore as _;

/// Mode of a newly created password file: readable by its owner only.
const NEW_FILE_MODE: u32 = 0o600;

/// Resolves symbolic links, as `mosquitto_passwd` does with `realpath`, so that the real file
/// is replaced and a link keeps pointing at it. A path that does not exist yet is kept as given.
pub(crate) fn resolve(path: &Path) -> io::Result<PathBuf> {
    match fs::canonicalize(path) {
        Ok(resolved) => Ok(resolved),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
        Err(error) => Err(error),
    }
}

/// An existing password file, read whole.
pub(crate) struct Existing {
    /// The file's bytes.
    pub(crate) bytes: Vec<u8>,
    /// Its metadata, so that the replacement keeps the mode and owner.
    pub(crate) metadata: fs::Metadata,
}

/// Opens an existing file for reading and writing (so that a read-only file is refused, as
/// Mosquitto refuses it) and reads it.
pub(crate) fn read_existing(path: &Path) -> io::Result<Existing> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "Not a regular file"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Existing { bytes, metadata })
}

/// Why the file could not be replaced.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The temporary file could not be created (usually: the directory is not writable).
    Create(io::Error),
    /// A later step failed; the original file is unchanged and the temporary file removed.
    Write(anyhow::Error),
}

/// Replaces `path` with `contents`. The new file keeps `previous`'s permissions and owner when
/// there was a file before, and is created with mode 0600 otherwise.
pub(crate) fn write_atomically(
    path: &Path,
    contents: &[u8],
    previous: Option<&fs::Metadata>,
) -> Result<(), WriteError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp_path =
        directory.join(format!(".{name}.culex-tmp-{:016x}", rand::rngs::OsRng.next_u64()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .open(&temp_path)
        .map_err(WriteError::Create)?;
    let result = fill_and_rename(file, &temp_path, path, contents, previous);
    if result.is_err() {
        // Best effort: the temporary file may already be gone.
        let _ = fs::remove_file(&temp_path);
    }
    result.map_err(WriteError::Write)?;
    // Make the rename itself durable. Some file systems cannot sync a directory; the data is
    // already safe, so a failure here is not worth reporting.
    if let Ok(dir) = File::open(&directory) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn fill_and_rename(
    mut file: File,
    temp_path: &Path,
    path: &Path,
    contents: &[u8],
    previous: Option<&fs::Metadata>,
) -> anyhow::Result<()> {
    let shown = temp_path.display();
    file.write_all(contents).with_context(|| format!("writing {shown}"))?;
    if let Some(previous) = previous {
        let mode = previous.permissions().mode() & 0o7777;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the permissions of {shown}"))?;
        let current =
            file.metadata().with_context(|| format!("reading the metadata of {shown}"))?;
        if (current.uid(), current.gid()) != (previous.uid(), previous.gid()) {
            std::os::unix::fs::fchown(&file, Some(previous.uid()), Some(previous.gid()))
                .with_context(|| format!("giving {shown} the owner of the file it replaces"))?;
        }
    }
    file.sync_all().with_context(|| format!("flushing {shown} to disk"))?;
    drop(file);
    fs::rename(temp_path, path)
        .with_context(|| format!("renaming {shown} to {}", path.display()))?;
    Ok(())
}

/// `strerror`-style text of an I/O error: Rust's message without the ` (os error N)` suffix.
pub(crate) fn describe(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_the_os_error_number() {
        let error = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(describe(&error), "No such file or directory");
        assert_eq!(describe(&io::Error::other("custom")), "custom");
    }
}
