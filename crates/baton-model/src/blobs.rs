//! `BlobSource`: the read side every store offers, so that verification and unpacking work the
//! same on any store. Only the interface lives here; stores implement it.

use std::io::{self, Read};

use crate::Digest;

/// Where a bundle's manifest and blobs are read from, streamed.
///
/// A missing manifest or blob is an `io::Error` of kind `NotFound`. Readers hand out the bytes as
/// stored; callers re-hash them.
pub trait BlobSource {
    /// Opens the manifest with this digest.
    fn open_manifest(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>>;
    /// Opens the blob with this digest.
    fn open_blob(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>>;
}
