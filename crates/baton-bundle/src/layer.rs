//! Reading a layer back: verification (every byte re-hashed, every entry checked against the
//! config's file index) and safe unpacking, in one streaming pass over the compressed bytes.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    io::{self, Read, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use baton_model::{BundleConfig, Digest, DigestWriter, FileEntry, FileKind, oci};
use tar::EntryType;

/// Bounds on what a layer may hold, checked before anything is written.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest file.
    pub max_file_size: u64,
    /// All files together.
    pub max_total_size: u64,
    /// The number of entries.
    pub max_entries: usize,
}

impl Limits {
    /// 4 GiB per file, 16 GiB in all, a million entries: far above any descriptor, far below a full disk.
    pub const STANDARD: Limits =
        Limits { max_file_size: 4 << 30, max_total_size: 16 << 30, max_entries: 1_000_000 };
}

/// One thing that is not as the manifest and config say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The blob or file concerned, for example `layer sha256:…` or `file conf/nginx.conf`.
    pub subject: String,
    /// What is wrong: what was expected against what was found.
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// Why an unpack wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The layer is not what the manifest and config say; nothing was kept.
    #[error("the layer failed verification, nothing was unpacked:\n{}", findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Verification {
        /// Every problem found before stopping.
        findings: Vec<Finding>,
    },
    /// The destination cannot be used.
    #[error("cannot unpack into `{}`: {reason}", path.display())]
    Destination {
        /// The destination.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A read or write failed; the message names the path.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Re-hashes a layer and checks every entry against the config's index; returns every finding.
///
/// An `Err` means the layer could not be read at all (an IO error of the source), not that it is wrong.
pub fn verify_layer(
    layer: impl Read,
    expected: &oci::Descriptor,
    config: &BundleConfig,
    limits: Limits,
) -> io::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    read_layer(layer, expected, config, limits, None, None, &mut findings)?;
    Ok(findings)
}

/// The largest template [`read_templates`] hands over.
pub const TEMPLATE_SOURCE_LIMIT: u64 = 64 << 20;

/// Re-hashes a layer as [`verify_layer`] does and hands each regular file that `wants` names to
/// `found` with its bytes, once they hashed to the index's digest: the templates of a bundle,
/// read without unpacking it (a template over [`TEMPLATE_SOURCE_LIMIT`] is a finding).
pub fn read_templates(
    layer: impl Read,
    expected: &oci::Descriptor,
    config: &BundleConfig,
    wants: &dyn Fn(&str) -> bool,
    found: &mut dyn FnMut(&str, Vec<u8>),
) -> io::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut visitor = Templates { wants, found };
    read_layer(layer, expected, config, Limits::STANDARD, None, Some(&mut visitor), &mut findings)?;
    Ok(findings)
}

/// What [`read_templates`] looks for, and where it hands them.
struct Templates<'a> {
    wants: &'a dyn Fn(&str) -> bool,
    found: &'a mut dyn FnMut(&str, Vec<u8>),
}

/// Unpacks a layer into `into` (which must not exist, or be an empty directory), verified on the way.
///
/// Files are written into a staging directory beside `into`, which replaces `into` only once every
/// byte is verified; on any problem the staging directory is removed and `into` is left as it was.
pub fn unpack(
    layer: impl Read,
    expected: &oci::Descriptor,
    config: &BundleConfig,
    into: &Path,
    limits: Limits,
) -> Result<(), UnpackError> {
    let destination_error = |reason: &str| UnpackError::Destination {
        path: into.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(reason) = baton_fs::unfit_destination(into)? {
        return Err(destination_error(reason));
    }
    let parent = baton_fs::parent_of(into);
    fs_err::create_dir_all(parent)?;
    let staging = baton_fs::temp_dir_in(parent, ".baton-unpack-")?;
    let mut findings = Vec::new();
    read_layer(layer, expected, config, limits, Some(staging.path()), None, &mut findings)?;
    if !findings.is_empty() {
        return Err(UnpackError::Verification { findings });
    }
    fs_err::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))?;
    baton_fs::place_tree(staging, into)?;
    Ok(())
}

/// Reads `r` to its end into `sink`, counting bytes; used to finish hashes after a decode error.
fn drain(r: &mut impl Read) -> io::Result<()> {
    io::copy(r, &mut io::sink()).map(|_| ())
}

/// A reader that hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hash: StreamHash,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Layers at least this large hash their compressed and tar streams on helper threads; for a
/// small one, starting threads would cost more than the hashing.
const BACKGROUND_HASH_FROM: u64 = 8 << 20;

/// Bytes handed to a helper thread at a time.
const HASH_CHUNK: usize = 256 * 1024;

/// A SHA-256 of a stream, computed inline or on a helper thread. Reading a layer hashes three
/// streams (compressed, tar, files); on a helper thread, the first two overlap the inflate and
/// the file hashes instead of adding to them.
enum StreamHash {
    Inline(DigestWriter<io::Sink>),
    Background(BackgroundHash),
}

impl StreamHash {
    fn for_layer(size: u64) -> StreamHash {
        if size >= BACKGROUND_HASH_FROM {
            StreamHash::Background(BackgroundHash::start())
        } else {
            StreamHash::Inline(DigestWriter::sink())
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            StreamHash::Inline(hash) => hash.update(bytes),
            StreamHash::Background(hash) => hash.update(bytes),
        }
    }

    /// The digest and length of everything seen.
    fn finish(self) -> (Digest, u64) {
        match self {
            StreamHash::Inline(hash) => {
                let (digest, size, _) = hash.finish();
                (digest, size)
            }
            StreamHash::Background(hash) => hash.finish(),
        }
    }
}

/// Copies bytes into chunks and hands them to a thread that hashes them; chunks come back
/// through a second channel to be reused, so the stream allocates a handful of buffers in all.
struct BackgroundHash {
    chunk: Vec<u8>,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<(Digest, u64)>>,
}

impl BackgroundHash {
    fn start() -> BackgroundHash {
        let (full, to_hash) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (give_back, empty) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            let mut hash = DigestWriter::sink();
            for mut chunk in to_hash {
                hash.update(&chunk);
                chunk.clear();
                // The reader may be gone already; then the chunk is simply dropped.
                let _ = give_back.send(chunk);
            }
            let (digest, size, _) = hash.finish();
            (digest, size)
        });
        BackgroundHash {
            chunk: Vec::with_capacity(HASH_CHUNK),
            full: Some(full),
            empty,
            worker: Some(worker),
        }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (HASH_CHUNK - self.chunk.len()).min(bytes.len());
            self.chunk.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.chunk.len() == HASH_CHUNK {
                self.hand_over();
            }
        }
    }

    fn hand_over(&mut self) {
        let next = self.empty.try_recv().unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let chunk = std::mem::replace(&mut self.chunk, next);
        if let Some(full) = &self.full {
            full.send(chunk)
                .expect("holds because the hashing thread runs until the sender is dropped");
        }
    }

    fn finish(mut self) -> (Digest, u64) {
        if !self.chunk.is_empty() {
            self.hand_over();
        }
        drop(self.full.take());
        self.worker
            .take()
            .expect("holds because finish consumes the hash")
            .join()
            .expect("holds because hashing bytes cannot panic")
    }
}

/// True for errors that mean "these bytes are not a valid gzip/tar stream", as opposed to a
/// failing source.
fn is_decode_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::Other
    )
}

/// Checks that a `/`-separated path is relative and has no `.`, `..` or empty components.
fn safe_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Checks that `target`, found at `path`, stays inside the root lexically.
fn link_stays_inside(path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth = path.split('/').count() - 1;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

#[allow(clippy::too_many_lines)]
fn read_layer(
    layer: impl Read,
    expected: &oci::Descriptor,
    config: &BundleConfig,
    limits: Limits,
    dest: Option<&Path>,
    mut templates: Option<&mut Templates<'_>>,
    findings: &mut Vec<Finding>,
) -> io::Result<()> {
    let layer_subject = format!("layer {}", expected.digest);
    let index: BTreeMap<&str, &FileEntry> =
        config.files.iter().map(|f| (f.path.as_str(), f)).collect();
    if index.len() != config.files.len() {
        findings.push(Finding {
            subject: format!("config of layer {}", expected.digest),
            problem: "its file index lists a path twice".into(),
        });
        return Ok(());
    }
    let mut seen = BTreeSet::new();
    let mut links = Vec::new();
    let mut total = 0u64;
    let stop_early = dest.is_some();

    let mut compressed = HashingReader { inner: layer, hash: StreamHash::for_layer(expected.size) };
    let mut tar_stream = HashingReader {
        inner: flate2::read::GzDecoder::new(&mut compressed),
        hash: StreamHash::for_layer(expected.size),
    };
    let decode_result: io::Result<()> = (|| {
        let mut archive = tar::Archive::new(&mut tar_stream);
        let mut buffer = vec![0; 256 * 1024];
        for entry in archive.entries()? {
            if stop_early && !findings.is_empty() {
                return Ok(());
            }
            let mut entry = entry?;
            let Ok(path) = std::str::from_utf8(&entry.path_bytes()).map(str::to_owned) else {
                findings.push(Finding {
                    subject: layer_subject.clone(),
                    problem: "an entry's path is not UTF-8".into(),
                });
                continue;
            };
            let subject = format!("file {path}");
            let mut find =
                |problem: String| findings.push(Finding { subject: subject.clone(), problem });
            if !safe_path(&path) {
                find("the path is absolute or has `.`, `..` or empty components: refused".into());
                continue;
            }
            if seen.len() >= limits.max_entries {
                find(format!("more than {} entries: refused", limits.max_entries));
                return Ok(());
            }
            if !seen.insert(path.clone()) {
                find("appears twice in the layer: refused".into());
                continue;
            }
            let Some(indexed) = index.get(path.as_str()).copied() else {
                find("is in the layer but not in the config's file index: refused".into());
                continue;
            };
            let header = entry.header();
            let kind = header.entry_type();
            let mode = header.mode()? & 0o7777;
            let size = header.size()?;
            match (kind, indexed.kind) {
                (EntryType::Regular, FileKind::File) => {
                    if mode != 0o644 && mode != 0o755 {
                        find(format!("mode {mode:04o} is not one baton writes (0644 or 0755)"));
                    } else if format!("{mode:04o}") != indexed.mode {
                        find(format!(
                            "mode is {mode:04o} in the layer, {} in the index",
                            indexed.mode
                        ));
                    }
                    if size != indexed.size {
                        find(format!("size is {size} in the layer, {} in the index", indexed.size));
                    }
                    if size > limits.max_file_size {
                        find(format!(
                            "{size} bytes is above the limit of {} bytes: refused",
                            limits.max_file_size
                        ));
                        continue;
                    }
                    total += size;
                    if total > limits.max_total_size {
                        find(format!(
                            "the layer holds more than {} bytes: refused",
                            limits.max_total_size
                        ));
                        return Ok(());
                    }
                    let mut kept = match &templates {
                        Some(t) if (t.wants)(&path) && size <= TEMPLATE_SOURCE_LIMIT => {
                            Some(Vec::with_capacity(usize::try_from(size).unwrap_or(0)))
                        }
                        Some(t) if (t.wants)(&path) => {
                            find(format!(
                                "is a template of {size} bytes, above the {TEMPLATE_SOURCE_LIMIT} a template may have"
                            ));
                            None
                        }
                        _ => None,
                    };
                    let mut out = match dest {
                        Some(root) if findings.is_empty() => Some(create_file(root, &path)?),
                        _ => None,
                    };
                    let mut hash = DigestWriter::sink();
                    loop {
                        let n = entry.read(&mut buffer)?;
                        if n == 0 {
                            break;
                        }
                        hash.update(&buffer[..n]);
                        if let Some(file) = out.as_mut() {
                            file.write_all(&buffer[..n])?;
                        }
                        if let Some(kept) = kept.as_mut() {
                            kept.extend_from_slice(&buffer[..n]);
                        }
                    }
                    let (digest, _, _) = hash.finish();
                    if Some(&digest) != indexed.sha256.as_ref() {
                        let want = indexed
                            .sha256
                            .as_ref()
                            .map_or_else(|| "none".to_owned(), Digest::to_string);
                        findings.push(Finding {
                            subject: subject.clone(),
                            problem: format!("content hashes to {digest}, the index says {want}"),
                        });
                    } else if let (Some(kept), Some(t)) = (kept, templates.as_mut()) {
                        (t.found)(&path, kept);
                    }
                    if let Some(file) = out {
                        let mode = if indexed.mode == "0755" { 0o755 } else { 0o644 };
                        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
                    }
                }
                (EntryType::Symlink, FileKind::Symlink) => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    if Some(&target) != indexed.target.as_ref() {
                        find(format!(
                            "points to `{target}` in the layer, `{}` in the index",
                            indexed.target.as_deref().unwrap_or("")
                        ));
                    } else if !link_stays_inside(&path, &target) {
                        find(format!("points to `{target}`, outside the bundle: refused"));
                    } else {
                        links.push((path, target));
                    }
                }
                (EntryType::Link, _) => find("is a hard link: refused".into()),
                (EntryType::Regular | EntryType::Symlink, _) => {
                    find(format!(
                        "is a {kind:?} in the layer but a {:?} in the index",
                        indexed.kind
                    ));
                }
                _ => find(format!(
                    "has entry type {kind:?} (device, FIFO, directory or other): refused"
                )),
            }
        }
        Ok(())
    })();
    let fully_decoded = decode_result.is_ok();
    match decode_result {
        Ok(()) => {}
        Err(e) if is_decode_error(&e) => {
            findings.push(Finding {
                subject: layer_subject.clone(),
                problem: format!("is not a valid gzip-compressed tar: {e}"),
            });
        }
        Err(e) => return Err(e),
    }
    if stop_early && !findings.is_empty() {
        return Ok(());
    }
    // Finish both hashes over whatever is left (tar padding, the gzip trailer, trailing bytes).
    if let Err(e) = drain(&mut tar_stream) {
        if !is_decode_error(&e) {
            return Err(e);
        }
        if !findings.iter().any(|f| f.subject == layer_subject) {
            findings.push(Finding {
                subject: layer_subject.clone(),
                problem: format!("is not a valid gzip stream: {e}"),
            });
        }
    }
    let HashingReader { inner: decoder, hash: tar_hash } = tar_stream;
    drop(decoder);
    match drain(&mut compressed) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            findings.push(Finding {
                subject: layer_subject,
                problem: format!("the store refused its bytes: {e}"),
            });
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let (layer_digest, layer_size) = compressed.hash.finish();
    let (tar_digest, tar_size) = tar_hash.finish();
    if layer_digest != expected.digest || layer_size != expected.size {
        findings.push(Finding {
            subject: layer_subject,
            problem: format!(
                "bytes hash to {layer_digest} ({layer_size} bytes), the manifest says {} ({} bytes)",
                expected.digest, expected.size
            ),
        });
    } else if tar_digest != config.layer.tar_digest || tar_size != config.layer.tar_size {
        findings.push(Finding {
            subject: layer_subject,
            problem: format!(
                "uncompressed tar hashes to {tar_digest} ({tar_size} bytes), the config says {} ({} bytes)",
                config.layer.tar_digest, config.layer.tar_size
            ),
        });
    }
    // Files after an undecodable point are unknown, not missing: only a full decode can tell.
    for missing in index.keys().filter(|path| fully_decoded && !seen.contains(**path)) {
        findings.push(Finding {
            subject: format!("file {missing}"),
            problem: "is in the config's file index but not in the layer".into(),
        });
    }
    if let Some(root) = dest.filter(|_| findings.is_empty()) {
        create_links(root, &links, findings)?;
    }
    Ok(())
}

/// Creates a file inside `root` that did not exist, with its parent directories.
fn create_file(root: &Path, path: &str) -> io::Result<fs_err::File> {
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::OpenOptions::new().write(true).create_new(true).open(full)
}

/// Creates the symlinks last, so no file is ever written through one, then checks that each
/// resolves inside `root` through any chain of links.
fn create_links(
    root: &Path,
    links: &[(String, String)],
    findings: &mut Vec<Finding>,
) -> io::Result<()> {
    for (path, target) in links {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::os::unix::fs::symlink(target, &full)?;
    }
    let canonical_root = fs_err::canonicalize(root)?;
    for (path, target) in links {
        match fs_err::canonicalize(root.join(path)) {
            Ok(resolved) if resolved.starts_with(&canonical_root) => {}
            Ok(_) => findings.push(Finding {
                subject: format!("file {path}"),
                problem: format!(
                    "points to `{target}`, which resolves outside the bundle: refused"
                ),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => findings.push(Finding {
                subject: format!("file {path}"),
                problem: format!("points to `{target}`, which does not exist: refused"),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
