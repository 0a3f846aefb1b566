//! A file system in memory that knows which bytes were synced, and can lose power: after a
//! chosen number of operations every call fails, and [`FakeFs::after_power_loss`] gives the
//! disk as it would be found at the next boot (synced bytes, plus perhaps part of what was
//! not synced, the last part perhaps garbled).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use crate::fs::{AppendFile, FileSystem};

#[derive(Clone, Debug, Default)]
struct Data {
    content: Vec<u8>,
    synced: usize,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<String, Data>,
    /// Operations that may still succeed; `None` = no limit.
    ops_left: Option<usize>,
}

/// The fake file system; clones share one disk.
#[derive(Clone, Debug, Default)]
pub(crate) struct FakeFs(Arc<Mutex<State>>);

fn power_lost() -> io::Error {
    io::Error::other("power lost")
}

impl FakeFs {
    /// A disk that fails every operation after the next `ops` ones.
    pub(crate) fn failing_after(ops: usize) -> Self {
        Self(Arc::new(Mutex::new(State { files: BTreeMap::new(), ops_left: Some(ops) })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut state.ops_left {
            Some(0) => return Err(power_lost()),
            Some(left) => *left -= 1,
            None => {}
        }
        f(&mut state)
    }

    /// The disk at the next boot. `keep` picks how much of each file's unsynced bytes
    /// survived (taken modulo their count plus one), and `garble` whether the last surviving
    /// byte is damaged (a torn sector).
    pub(crate) fn after_power_loss(&self, keep: usize, garble: bool) -> Self {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let files = state
            .files
            .iter()
            .map(|(name, data)| {
                let unsynced = data.content.len() - data.synced;
                let kept = keep % (unsynced + 1);
                let mut content = data.content[..data.synced + kept].to_vec();
                if garble && kept > 0 {
                    if let Some(last) = content.last_mut() {
                        *last ^= 0x5A;
                    }
                }
                let synced = content.len();
                (name.clone(), Data { content, synced })
            })
            .collect();
        Self(Arc::new(Mutex::new(State { files, ops_left: None })))
    }
}

/// A handle on one fake file.
#[derive(Debug)]
pub(crate) struct FakeFile {
    fs: FakeFs,
    name: String,
}

impl AppendFile for FakeFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let name = self.name.clone();
        self.fs.with(|state| {
            state.files.entry(name).or_default().content.extend_from_slice(bytes);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        let name = self.name.clone();
        self.fs.with(|state| {
            let data = state.files.entry(name).or_default();
            data.synced = data.content.len();
            Ok(())
        })
    }

    fn size(&self) -> io::Result<u64> {
        let name = self.name.clone();
        self.fs.with(|state| Ok(state.files.get(&name).map_or(0, |data| data.content.len() as u64)))
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let name = self.name.clone();
        self.fs.with(|state| {
            let data = state.files.entry(name).or_default();
            data.content.truncate(usize::try_from(len).unwrap_or(usize::MAX));
            data.synced = data.synced.min(data.content.len());
            Ok(())
        })
    }
}

impl FileSystem for FakeFs {
    type File = FakeFile;

    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        self.with(|state| Ok(state.files.get(name).map(|data| data.content.clone())))
    }

    fn open_append(&self, name: &str) -> io::Result<FakeFile> {
        self.with(|state| {
            state.files.entry(name.to_owned()).or_default();
            Ok(())
        })?;
        Ok(FakeFile { fs: self.clone(), name: name.to_owned() })
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.with(|state| {
            let data = Data { content: bytes.to_vec(), synced: bytes.len() };
            state.files.insert(name.to_owned(), data);
            Ok(())
        })
    }

    fn create_empty(&self, name: &str) -> io::Result<()> {
        self.with(|state| {
            state.files.insert(name.to_owned(), Data::default());
            Ok(())
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.with(|state| {
            let data =
                state.files.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            state.files.insert(to.to_owned(), data);
            Ok(())
        })
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.with(|state| {
            state.files.remove(name);
            Ok(())
        })
    }
}
