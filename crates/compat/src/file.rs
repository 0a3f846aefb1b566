//! Replacing a file atomically: the new contents go to a temporary file in the same
//! directory, which is flushed to disk and renamed over the old file, and then the directory
//! is flushed so that the rename itself survives a crash. A crash or a full disk leaves either
//! the old file or the new one, never half of either.
//!
//! The caller names the temporary file (it must be in the same directory as the target, or
//! the rename is not atomic): the broker uses `<file>.new` as Mosquitto does, `culex_passwd`
//! a hidden random name.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Mode of the temporary file (and so of a file that did not exist before): owner only.
pub const NEW_FILE_MODE: u32 = 0o600;

/// The step of [`replace`] that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Creating the temporary file (it must not exist yet).
    Create,
    /// Writing the contents.
    Write,
    /// Giving the temporary file the permissions of the file it replaces.
    SetPermissions,
    /// Reading the temporary file's owner.
    ReadMetadata,
    /// Giving the temporary file the owner of the file it replaces.
    SetOwner,
    /// Flushing the temporary file to disk.
    Sync,
    /// Renaming the temporary file to this path.
    Rename(PathBuf),
    /// Flushing the directory, which makes the rename durable.
    SyncDirectory(PathBuf),
}

/// Why [`replace`] failed, and where. Before [`Step::SyncDirectory`] the target is unchanged
/// and the temporary file has been removed; at that step the new file is in place but the
/// rename may not survive a crash.
#[derive(Debug, thiserror::Error)]
#[error("{}: {io}", StepText(self))]
pub struct ReplaceError {
    /// The step that failed.
    pub step: Step,
    /// The temporary file.
    pub temp: PathBuf,
    /// The OS error (shown in the message, so not also returned by `source()`).
    pub io: io::Error,
}

/// "writing <temp>", "renaming <temp> to <path>", …: the step as it reads in a message.
struct StepText<'a>(&'a ReplaceError);

impl fmt::Display for StepText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let temp = self.0.temp.display();
        match &self.0.step {
            Step::Create => write!(f, "creating {temp}"),
            Step::Write => write!(f, "writing {temp}"),
            Step::SetPermissions => write!(f, "setting the permissions of {temp}"),
            Step::ReadMetadata => write!(f, "reading the metadata of {temp}"),
            Step::SetOwner => write!(f, "giving {temp} the owner of the file it replaces"),
            Step::Sync => write!(f, "flushing {temp} to disk"),
            Step::Rename(path) => write!(f, "renaming {temp} to {}", path.display()),
            Step::SyncDirectory(dir) => {
                write!(f, "flushing the directory {} to disk", dir.display())
            }
        }
    }
}

/// Replaces `path` with `contents` through the temporary file `temp`, which must not exist
/// and must be in `path`'s directory. The new file gets `previous`'s permissions and owner
/// when given (the metadata of the file being replaced), and mode [`NEW_FILE_MODE`] otherwise.
/// Blocking.
///
/// # Errors
/// The first step that failed, with its OS error; see [`ReplaceError`] for what is left.
pub fn replace(
    path: &Path,
    temp: &Path,
    contents: &[u8],
    previous: Option<&fs::Metadata>,
) -> Result<(), ReplaceError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .open(temp)
        .map_err(failed(Step::Create, temp))?;
    if let Err(err) = fill_and_rename(file, temp, path, contents, previous) {
        // Best effort: the temporary file may already be gone.
        let _ = fs::remove_file(temp);
        return Err(err);
    }
    let directory = directory_of(path);
    File::open(&directory)
        .and_then(|dir| dir.sync_all())
        .map_err(failed(Step::SyncDirectory(directory), temp))
}

/// Turns the OS error of `step` into a [`ReplaceError`].
fn failed(step: Step, temp: &Path) -> impl FnOnce(io::Error) -> ReplaceError + '_ {
    move |io| ReplaceError { step, temp: temp.to_owned(), io }
}

/// The directory `path` is in: its parent, or `.` for a bare file name.
pub fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes, adopts `previous`'s mode and owner, flushes and renames.
fn fill_and_rename(
    mut file: File,
    temp: &Path,
    path: &Path,
    contents: &[u8],
    previous: Option<&fs::Metadata>,
) -> Result<(), ReplaceError> {
    let fail = |step| failed(step, temp);
    file.write_all(contents).map_err(fail(Step::Write))?;
    if let Some(previous) = previous {
        let mode = previous.permissions().mode() & 0o7777;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(fail(Step::SetPermissions))?;
        let current = file.metadata().map_err(fail(Step::ReadMetadata))?;
        if (current.uid(), current.gid()) != (previous.uid(), previous.gid()) {
            std::os::unix::fs::fchown(&file, Some(previous.uid()), Some(previous.gid()))
                .map_err(fail(Step::SetOwner))?;
        }
    }
    file.sync_all().map_err(fail(Step::Sync))?;
    drop(file);
    fs::rename(temp, path).map_err(fail(Step::Rename(path.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("culex-compat-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn creates_a_new_file_readable_by_its_owner_only() {
        let dir = scratch("create");
        let path = dir.join("file");
        replace(&path, &dir.join("file.new"), b"one", None).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!dir.join("file.new").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replaces_a_file_keeping_its_mode() {
        let dir = scratch("keep");
        let path = dir.join("file");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let previous = fs::metadata(&path).unwrap();
        replace(&path, &dir.join(".file.tmp"), b"new", Some(&previous)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_existing_temporary_file_is_refused_and_left_alone() {
        let dir = scratch("exists");
        let path = dir.join("file");
        let temp = dir.join("file.new");
        fs::write(&temp, b"someone else's").unwrap();
        let err = replace(&path, &temp, b"new", None).unwrap_err();
        assert_eq!(err.step, Step::Create);
        assert_eq!(err.io.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&temp).unwrap(), b"someone else's");
        assert!(!path.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let dir = scratch("rename");
        let path = dir.join("target");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let temp = dir.join("target.new");
        let err = replace(&path, &temp, b"new", None).unwrap_err();
        assert_eq!(err.step, Step::Rename(path.clone()));
        assert!(err.to_string().starts_with(&format!(
            "renaming {} to {}: ",
            temp.display(),
            path.display()
        )));
        assert!(!temp.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn messages_name_the_step_and_the_os_error() {
        let err = ReplaceError {
            step: Step::Write,
            temp: PathBuf::from("/d/.f.tmp"),
            io: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(err.to_string(), "writing /d/.f.tmp: No space left on device (os error 28)");
    }

    #[test]
    fn a_bare_name_lives_in_the_current_directory() {
        assert_eq!(directory_of(Path::new("file")), PathBuf::from("."));
        assert_eq!(directory_of(Path::new("/a/b")), PathBuf::from("/a"));
    }
}
