//! Every file baton makes durable goes through here, so there is one way to do it right.
//!
//! ```text
//! baton_fs::write_atomic(&path, &bytes)?;                  // temp beside it, fsync, rename, fsync dir
//! let mut out = AtomicFile::create(&path)?;               // the same, streamed
//! io::copy(&mut reader, &mut out)?;
//! out.commit()?;
//! let _held = LockFile::try_acquire(&home.join(".lock"))?; // released on drop
//! let digest = baton_fs::hash_file(&path)?;               // streamed sha256
//! ```
//!
//! Files are created 0666 less the umask, as a plain write makes them: tempfile's own default,
//! 0600, once hid stores and pins from every other reader. A caller that holds a secret asks
//! for 0600 explicitly ([`AtomicFile::create_with_mode`]).
#![warn(missing_docs)]

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use baton_model::{Digest, DigestWriter};

/// The prefix of every temporary file baton leaves beside the file it replaces; readers of a
/// directory skip names that start with it.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A named temporary file in `dir`, 0666 less the umask, removed on drop unless persisted.
pub fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| with_path(&e, "cannot create a temporary file in", dir))
}

/// A temporary directory in `dir` named `prefix…`, removed on drop unless kept.
pub fn temp_dir_in(dir: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .map_err(|e| with_path(&e, "cannot create a temporary directory in", dir))
}

/// The directory a file named `path` lives in (`.` for a bare file name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes`: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Fsyncs a directory, so a rename or a new entry in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// Opens `path` for reading only if it is a regular file, without following a symbolic link at
/// its last component and without blocking on a FIFO or device.
pub fn open_regular(path: &Path) -> io::Result<fs_err::File> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits().cast_signed())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                with_path(&io::Error::other("it is a symbolic link"), "will not read", path)
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(with_path(
            &io::Error::other("it is not a regular file"),
            "will not read",
            path,
        ));
    }
    Ok(file)
}

/// The sha256 digest of a regular file's bytes, streamed (see [`open_regular`]).
pub fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut file = open_regular(path)?;
    let mut hash = DigestWriter::new(io::sink());
    io::copy(&mut file, &mut hash)?;
    Ok(hash.finish().0)
}

/// A file being written beside its final name; [`AtomicFile::commit`] makes it durable there,
/// and dropping it without a commit leaves the old file as it was.
pub struct AtomicFile {
    temp: io::BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts replacing `path`, 0666 less the umask.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let temp = temp_file_in(parent_of(path))?;
        Ok(AtomicFile { temp: io::BufWriter::with_capacity(1 << 20, temp), path: path.to_owned() })
    }

    /// Starts replacing `path` with a file of exactly `mode` (0600 for a file holding a secret).
    pub fn create_with_mode(path: &Path, mode: u32) -> io::Result<AtomicFile> {
        let file = AtomicFile::create(path)?;
        file.temp.get_ref().as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(file)
    }

    /// Flushes, fsyncs, renames over the final name and fsyncs the directory.
    pub fn commit(self) -> io::Result<()> {
        let temp = self.temp.into_inner().map_err(io::IntoInnerError::into_error)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| with_path(&e.error, "cannot replace", &self.path))?;
        sync_dir(parent_of(&self.path))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// An exclusive advisory lock on a file that stays in place; released when dropped.
#[derive(Debug)]
pub struct LockFile {
    file: fs_err::File,
}

/// Another process holds a lock that [`LockFile::try_acquire`] asked for.
#[derive(Debug)]
pub struct Busy {
    /// The lock file.
    pub path: PathBuf,
}

impl LockFile {
    /// Waits for the lock on `path`, creating the file when it does not exist.
    pub fn acquire(path: &Path) -> io::Result<LockFile> {
        let file = open_lock(path)?;
        file.file().lock().map_err(|e| with_path(&e, "cannot lock", path))?;
        Ok(LockFile { file })
    }

    /// Takes the lock on `path` or says at once that somebody else holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Result<LockFile, Busy>> {
        let file = open_lock(path)?;
        match file.file().try_lock() {
            Ok(()) => Ok(Ok(LockFile { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Err(Busy { path: path.to_owned() })),
            Err(std::fs::TryLockError::Error(e)) => Err(with_path(&e, "cannot lock", path)),
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = self.file.file().unlock();
    }
}

fn open_lock(path: &Path) -> io::Result<fs_err::File> {
    fs_err::OpenOptions::new().create(true).truncate(false).write(true).open(path)
}

fn with_path(error: &io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{what} `{}`: {error}", path.display()))
}

#[cfg(test)]
mod tests;
