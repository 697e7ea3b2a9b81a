//! A deterministic tar writer: ustar headers with uid/gid 0, no user names, normalised modes and
//! one mtime, and a pax `path`/`linkpath` record only when a name does not fit ustar.

use std::io::{self, Write};

use tar::{EntryType, Header};

const BLOCK: usize = 512;

/// Writes tar entries into `W`.
pub(crate) struct TarWriter<W: Write> {
    out: W,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W, mtime: u64) -> TarWriter<W> {
        TarWriter { out, mtime }
    }

    /// Writes the header of a regular file of `size` bytes; the caller then writes exactly
    /// `size` bytes with [`TarWriter::content`] and calls [`TarWriter::end_file`].
    pub(crate) fn start_file(&mut self, path: &str, executable: bool, size: u64) -> io::Result<()> {
        let mode = if executable { 0o755 } else { 0o644 };
        self.header(path, None, EntryType::Regular, mode, size)
    }

    /// Writes part of the current file's content.
    pub(crate) fn content(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Pads the current file of `size` bytes to a whole block.
    pub(crate) fn end_file(&mut self, size: u64) -> io::Result<()> {
        self.pad(size)
    }

    /// Writes a directory entry (mode 0755).
    pub(crate) fn directory(&mut self, path: &str) -> io::Result<()> {
        self.header(&format!("{path}/"), None, EntryType::Directory, 0o755, 0)
    }

    /// Writes a symlink entry.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.header(path, Some(target), EntryType::Symlink, 0o777, 0)
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0; BLOCK * 2])?;
        Ok(self.out)
    }

    fn header(
        &mut self,
        path: &str,
        link: Option<&str>,
        kind: EntryType,
        mode: u32,
        size: u64,
    ) -> io::Result<()> {
        let mut header = Header::new_ustar();
        let mut pax = Vec::new();
        {
            let ustar = header.as_ustar_mut().expect("holds because the header is ustar");
            if let Some((prefix, name)) = split_ustar(path) {
                ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
                ustar.name[..name.len()].copy_from_slice(name.as_bytes());
            } else {
                pax_record(&mut pax, "path", path);
                let short = truncate(path, 100);
                ustar.name[..short.len()].copy_from_slice(short.as_bytes());
            }
            if let Some(link) = link {
                if link.len() <= 100 {
                    ustar.linkname[..link.len()].copy_from_slice(link.as_bytes());
                } else {
                    pax_record(&mut pax, "linkpath", link);
                    let short = truncate(link, 100);
                    ustar.linkname[..short.len()].copy_from_slice(short.as_bytes());
                }
            }
        }
        if !pax.is_empty() {
            let mut pax_header = Header::new_ustar();
            let name = b"PaxHeader";
            pax_header.as_ustar_mut().expect("holds because the header is ustar").name
                [..name.len()]
                .copy_from_slice(name);
            self.fill(&mut pax_header, EntryType::XHeader, 0o644, pax.len() as u64);
            self.out.write_all(pax_header.as_bytes())?;
            self.out.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        self.fill(&mut header, kind, mode, size);
        self.out.write_all(header.as_bytes())
    }

    fn fill(&self, header: &mut Header, kind: EntryType, mode: u32, size: u64) {
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(size);
        header.set_mtime(self.mtime);
        header.set_cksum();
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rest =
            usize::try_from(size % BLOCK as u64).expect("holds because the remainder is below 512");
        if rest != 0 {
            self.out.write_all(&[0; BLOCK][..BLOCK - rest])?;
        }
        Ok(())
    }
}

/// Splits a path into ustar's prefix (155 bytes) and name (100 bytes), where it fits.
fn split_ustar(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    path.char_indices()
        .filter(|&(_, c)| c == '/')
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .find(|(prefix, name)| prefix.len() <= 155 && name.len() <= 100 && !name.is_empty())
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Appends one pax record, `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn long_paths_round_trip_through_the_tar_crate() {
        let long_dir = "d".repeat(120);
        let very_long = format!("{}/{}", "x".repeat(200), "y".repeat(150));
        let paths = ["short.txt".to_owned(), format!("{long_dir}/file.yaml"), very_long];
        let mut tar = TarWriter::new(Vec::new(), 7);
        for path in &paths {
            tar.start_file(path, false, 3).unwrap();
            tar.content(b"abc").unwrap();
            tar.end_file(3).unwrap();
        }
        let long_target = "t/".repeat(60);
        tar.symlink("link", &long_target).unwrap();
        let bytes = tar.finish().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_str().unwrap().to_owned();
            assert_eq!(entry.header().mtime().unwrap(), 7);
            if entry.header().entry_type() == EntryType::Symlink {
                assert_eq!(entry.link_name().unwrap().unwrap().to_str().unwrap(), long_target);
            } else {
                let mut content = String::new();
                entry.read_to_string(&mut content).unwrap();
                assert_eq!(content, "abc");
            }
            seen.push(path);
        }
        assert_eq!(seen[..3], paths);
        assert_eq!(seen[3], "link");
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "path", &"a".repeat(90));
        let text = String::from_utf8(out).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), text.len());
    }
}
