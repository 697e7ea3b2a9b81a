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

/// This machine's name, as the kernel has it (empty when it cannot be read).
fn hostname() -> &'static str {
    static NAME: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        fs_err::read_to_string("/proc/sys/kernel/hostname")
            .map(|n| n.trim().replace(['/', '-'], "_"))
            .unwrap_or_default()
    });
    &NAME
}

/// The prefix of this process's temporary files: `.tmp-<host>-<pid>-`, so that a later writer
/// can tell one left by a process that is gone (see [`remove_stale_temps`]).
fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-{}-", hostname(), std::process::id())
}

/// How old a temporary file of another machine (or of no known writer) must be before
/// [`remove_stale_temps`] removes it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes the temporary files in `dir` that a killed writer left: those of a process of this
/// machine that no longer runs, and any not touched for a day (another machine's, on a shared
/// file system). Returns how many were removed. A file some live process writes is left alone.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else { continue };
        let writer = rest.rsplit_once('-').and_then(|(writer, _)| writer.rsplit_once('-'));
        let gone = match writer {
            Some((host, pid)) if host == hostname() => {
                pid.parse::<i32>().ok().and_then(rustix::process::Pid::from_raw).is_some_and(
                    |pid| rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH),
                )
            }
            _ => false,
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if (gone || old) && entry.file_type()?.is_file() {
            match fs_err::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// A named temporary file in `dir`, 0666 less the umask, removed on drop unless persisted.
pub fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&temp_prefix())
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

/// Why `into` cannot receive a new tree by [`place_tree`]: `None` when it does not exist or is
/// an empty directory.
pub fn unfit_destination(into: &Path) -> io::Result<Option<&'static str>> {
    match fs_err::symlink_metadata(into) {
        Ok(meta) if meta.is_dir() => Ok(fs_err::read_dir(into)?
            .next()
            .is_some()
            .then_some("it is not empty: give a new or empty directory")),
        Ok(_) => Ok(Some("it exists and is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Moves the complete tree `staged` (a directory beside `into`, on its file system) to `into`,
/// which [`unfit_destination`] found fit: one flush of the file system holding every file
/// written (many times faster than an fsync per file, the same guarantee), one rename, an fsync
/// of the parent. When the rename fails, `staged` is removed.
pub fn place_tree(staged: tempfile::TempDir, into: &Path) -> io::Result<()> {
    rustix::fs::syncfs(fs_err::File::open(staged.path())?.file()).map_err(io::Error::from)?;
    let staged = staged.keep();
    if into.exists() {
        fs_err::remove_dir(into)?;
    }
    if let Err(e) = fs_err::rename(&staged, into) {
        let _ = fs_err::remove_dir_all(&staged);
        return Err(e);
    }
    sync_dir(parent_of(into))
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

/// Reads the file at `path` whole, refusing one larger than `limit` bytes with an error that
/// names it (a configuration file, a CA bundle: small files a user points baton at).
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    fs_err::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "`{}` is larger than {} KiB: is it the file meant?",
                path.display(),
                limit >> 10
            ),
        ));
    }
    Ok(bytes)
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

/// Whether [`open_beneath`] follows symbolic links that stay inside the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Links inside the directory are followed (a Kubernetes secret volume's `..data`); one
    /// leading out is refused.
    Inside,
    /// No link is followed at all.
    Never,
}

/// Opens `below` for reading beneath `dir`, never escaping it: `openat2(RESOLVE_BENEATH)`, with
/// `RESOLVE_NO_SYMLINKS` for [`Links::Never`]; where the kernel refuses `openat2`, by resolving
/// the path and checking it stays inside (and, for `Never`, that no component is a link). A
/// path that would leave the directory or pass a forbidden link fails with
/// `ErrorKind::PermissionDenied`, saying so.
pub fn open_beneath(dir: &Path, below: &Path, links: Links) -> io::Result<fs_err::File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let refused = |why: &str| io::Error::new(io::ErrorKind::PermissionDenied, why.to_owned());
    let escaped = || match links {
        Links::Inside => refused("it leads out of the directory (a symbolic link)"),
        Links::Never => refused("a symbolic link is on its way"),
    };
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    let dir_fd =
        rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let resolve = match links {
        Links::Inside => ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        Links::Never => ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    };
    let path = dir.join(below);
    let fd = match rustix::fs::openat2(&dir_fd, below, flags, Mode::empty(), resolve) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::XDEV | rustix::io::Errno::LOOP) => return Err(escaped()),
        Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
            if links == Links::Never {
                let mut prefix = dir.to_owned();
                for part in below.components() {
                    prefix.push(part);
                    if fs_err::symlink_metadata(&prefix)?.file_type().is_symlink() {
                        return Err(escaped());
                    }
                }
            }
            let real_dir = fs_err::canonicalize(dir)?;
            let real = fs_err::canonicalize(&path)?;
            if !real.starts_with(&real_dir) {
                return Err(escaped());
            }
            rustix::fs::open(&real, flags | OFlags::NOFOLLOW, Mode::empty())?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(fs_err::File::from_parts(std::fs::File::from(fd), path))
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
