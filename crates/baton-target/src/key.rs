//! The target's key: files whose rendering read a secret are hashed under it (HMAC-SHA256), so
//! no record, release name or output holds a plain hash an offline guess could be checked
//! against. The key is 32 random bytes in the target's home (`.key`, 0600); it never leaves the
//! target. A lost key only makes those files read as changed, and the next apply heals them.

use std::{io::Read, path::Path};

use hmac::{KeyInit, Mac};

/// 32 random bytes; `Debug` never shows them.
#[derive(Clone)]
pub struct TargetKey([u8; 32]);

impl std::fmt::Debug for TargetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TargetKey(..)")
    }
}

impl TargetKey {
    /// A new key from the operating system's random source.
    pub fn random() -> std::io::Result<TargetKey> {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        Ok(TargetKey(bytes))
    }

    /// The key at `path`, if there is one.
    pub fn load(path: &Path) -> std::io::Result<Option<TargetKey>> {
        match fs_err::read(path) {
            Ok(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
                Ok(bytes) => Ok(Some(TargetKey(bytes))),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a target key (32 bytes): remove it, and the next apply makes a new one",
                        path.display()
                    ),
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key at `path`, made (0600, atomically) when there is none.
    pub fn load_or_create(path: &Path) -> std::io::Result<TargetKey> {
        if let Some(key) = TargetKey::load(path)? {
            return Ok(key);
        }
        let key = TargetKey::random()?;
        let mut file = baton_fs::AtomicFile::create_with_mode(path, 0o600)?;
        std::io::Write::write_all(&mut file, &key.0)?;
        file.commit()?;
        Ok(key)
    }

    /// HMAC-SHA256 of a file's bytes under this key, streamed, as hex.
    pub fn mac_file(&self, path: &Path) -> std::io::Result<String> {
        let mut mac = self.mac();
        let mut file = baton_fs::open_regular(path)?;
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            mac.update(&buf[..n]);
        }
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    fn mac(&self) -> hmac::Hmac<sha2::Sha256> {
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("holds because HMAC takes a key of any length")
    }
}
