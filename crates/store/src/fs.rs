//! The file layer under the store: the few operations it needs, as a trait, so that tests can
//! put the store on a file system that loses power ([`crate`]'s tests), and the real one on a
//! directory of the disk ([`DiskDir`]).
//!
//! The contract is the one POSIX gives after `fsync`: bytes appended to a file are durable
//! once [`AppendFile::sync`] returned; a file replaced with [`FileSystem::replace`], created
//! with [`FileSystem::create_empty`] or removed with [`FileSystem::remove`] is durable (old
//! or new, never a mix) once the call returned.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// A file the journal appends to.
pub trait AppendFile: Send {
    /// Appends `bytes` at the end (not yet durable).
    ///
    /// # Errors
    /// The OS error.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Makes everything appended so far durable (`fdatasync`).
    ///
    /// # Errors
    /// The OS error; what was appended may or may not be durable then.
    fn sync(&mut self) -> io::Result<()>;

    /// The file's size now, in bytes.
    ///
    /// # Errors
    /// The OS error.
    fn size(&self) -> io::Result<u64>;

    /// Cuts the file back to `len` bytes (dropping a half-written append before a retry).
    ///
    /// # Errors
    /// The OS error.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// The directory the store keeps its files in; names are plain file names in it.
pub trait FileSystem: Send + 'static {
    /// The file type [`FileSystem::open_append`] returns.
    type File: AppendFile;

    /// The whole content of `name`, or `None` if it does not exist.
    ///
    /// # Errors
    /// The OS error for a file that exists but cannot be read.
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>>;

    /// Opens `name` for appending, creating it (durably) if it does not exist.
    ///
    /// # Errors
    /// The OS error.
    fn open_append(&self, name: &str) -> io::Result<Self::File>;

    /// Replaces `name` with `bytes` atomically and durably: after a crash it holds either its
    /// old content or `bytes`.
    ///
    /// # Errors
    /// The OS error; `name` is then as it was.
    fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()>;

    /// Makes `name` an empty file, durably (an existing one is truncated).
    ///
    /// # Errors
    /// The OS error.
    fn create_empty(&self, name: &str) -> io::Result<()>;

    /// Renames `from` to `to` durably (moving a damaged file aside).
    ///
    /// # Errors
    /// The OS error.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Removes `name` durably; a missing file is not an error.
    ///
    /// # Errors
    /// The OS error.
    fn remove(&self, name: &str) -> io::Result<()>;
}

/// A directory on disk.
#[derive(Clone, Debug)]
pub struct DiskDir {
    dir: PathBuf,
}

impl DiskDir {
    /// The store's files go in `dir` (which must exist).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self) -> io::Result<()> {
        let dir = if self.dir.as_os_str().is_empty() { Path::new(".") } else { &self.dir };
        File::open(dir)?.sync_all()
    }
}

/// A file on disk opened for appending.
#[derive(Debug)]
pub struct DiskFile(File);

impl AppendFile for DiskFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

impl FileSystem for DiskDir {
    type File = DiskFile;

    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn open_append(&self, name: &str) -> io::Result<DiskFile> {
        let path = self.path(name);
        let existed = path.exists();
        let file = OpenOptions::new().append(true).create(true).mode(0o600).open(&path)?;
        if !existed {
            self.sync_dir()?;
        }
        Ok(DiskFile(file))
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let temp = self.path(&format!("{name}.new"));
        // A leftover from a crash in the middle of an earlier replace.
        let _ = std::fs::remove_file(&temp);
        culex_compat::file::replace(&self.path(name), &temp, bytes, None)
            .map_err(|err| io::Error::new(err.io.kind(), err.to_string()))
    }

    fn create_empty(&self, name: &str) -> io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(self.path(name))?;
        file.sync_all()?;
        self.sync_dir()
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.path(from), self.path(to))?;
        self.sync_dir()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match std::fs::remove_file(self.path(name)) {
            Ok(()) => self.sync_dir(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }
}
