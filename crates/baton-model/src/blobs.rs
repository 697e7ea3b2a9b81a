//! `BlobSource`: the read side every store offers, so that verification and unpacking work the
//! same on any store. Only the interface lives here; stores implement it.

use std::io::{self, Read};

use crate::Digest;

/// Where a bundle's manifest and blobs are read from, streamed.
///
/// A missing manifest or blob is an `io::Error` of kind `NotFound`. Readers hand out the bytes as
/// stored; callers re-hash them. A blob is read at most to the size its descriptor gives: a
/// source that holds one byte more fails the read (`InvalidData`) before the caller has taken it
/// whole, so nothing is named or tagged after an oversized blob.
pub trait BlobSource {
    /// Opens the manifest with this digest.
    fn open_manifest(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>>;
    /// Opens the blob with this digest, whose descriptor says it is `size` bytes.
    fn open_blob(&self, digest: &Digest, size: u64) -> io::Result<Box<dyn Read + '_>>;
}

/// A reader that fails with `InvalidData` as soon as its source gives more than `size` bytes.
pub struct SizedReader<R> {
    inner: R,
    remaining: u64,
    digest: Digest,
    size: u64,
}

impl<R: Read> SizedReader<R> {
    /// Reads `inner`, blob `digest` of `size` bytes.
    pub fn new(inner: R, digest: &Digest, size: u64) -> SizedReader<R> {
        SizedReader { inner, remaining: size, digest: digest.clone(), size }
    }
}

impl<R: Read> Read for SizedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte beyond the size is asked for, so that a longer source is noticed.
        let room = usize::try_from(self.remaining.saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.remaining {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {} holds more than the {} bytes its descriptor gives: refused",
                    self.digest, self.size
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
