//! Reading a password file and replacing it safely: the new text goes to a temporary file in
//! the same directory, is flushed to disk, and is renamed over the old one
//! ([`culex_compat::file::replace`]), so a crash or a full disk leaves either the old file or
//! the new one, never half of either.

use std::fs::{self, OpenOptions};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use culex_compat::file::{self, ReplaceError, Step};
use rand::RngCore as _;

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

/// Replaces `path` with `contents` through a hidden temporary file with a random name next to
/// it. The new file keeps `previous`'s permissions and owner when there was a file before, and
/// is created with mode 0600 otherwise, or 0640 in a directory with the set-group-ID bit (its
/// files belong to the directory's group, such as `culex` for the package's /etc/culex, whose
/// service must read them). A directory that cannot be flushed is not an error: the data is
/// already on disk, and some file systems cannot sync a directory.
pub(crate) fn write_atomically(
    path: &Path,
    contents: &[u8],
    previous: Option<&fs::Metadata>,
) -> Result<(), ReplaceError> {
    use std::os::unix::fs::PermissionsExt as _;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let directory = file::directory_of(path);
    let temp = directory.join(format!(".{name}.culex-tmp-{:016x}", rand::rngs::OsRng.next_u64()));
    match file::replace(path, &temp, contents, previous) {
        Err(ReplaceError { step: Step::SyncDirectory(_), .. }) | Ok(()) => {}
        Err(error) => return Err(error),
    }
    let group_shared =
        fs::metadata(&directory).is_ok_and(|dir| dir.permissions().mode() & SET_GROUP_ID != 0);
    if previous.is_none() && group_shared {
        fs::set_permissions(path, fs::Permissions::from_mode(GROUP_SHARED_MODE))
            .map_err(|io| ReplaceError { step: Step::SetPermissions, temp: path.to_owned(), io })?;
    }
    Ok(())
}

/// The set-group-ID bit of a directory's mode (S_ISGID).
const SET_GROUP_ID: u32 = 0o2000;

/// The mode of a new password file in a set-group-ID directory: its owner writes, its group
/// (the broker's account) reads.
const GROUP_SHARED_MODE: u32 = 0o640;
