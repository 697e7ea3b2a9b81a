//! A gzip writer that compresses fixed-size blocks in parallel, as pigz does, with output that
//! depends only on the input, the level and the block size, never on the number of threads.
//!
//! Each block is raw deflate, primed with the last 32 KiB of the block before as a dictionary and
//! ended with a sync flush, so the blocks concatenate into one deflate stream; the last block is
//! finished. The gzip header carries no name, no time and "unknown" as the operating system.

use std::{
    collections::BTreeMap,
    io::{self, Write},
    sync::{
        Arc, Mutex,
        mpsc::{Receiver, SyncSender, sync_channel},
    },
    thread::JoinHandle,
};

use flate2::{Compress, Compression, FlushCompress, Status};

/// The deflate implementation, pinned: the same input gives the same bytes only with the same one.
pub const COMPRESSOR_NAME: &str = "zlib-rs";
/// The version of [`COMPRESSOR_NAME`] in Cargo.lock; a test keeps them equal.
pub const COMPRESSOR_VERSION: &str = "0.6.8";
/// The compression level.
pub const LEVEL: u32 = 6;
/// Input bytes per block.
pub const BLOCK_SIZE: usize = 1 << 20;

const WINDOW: usize = 32 * 1024;

struct Job {
    seq: u64,
    data: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
}

type Done = (u64, io::Result<Vec<u8>>);

struct Pool {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    in_flight: usize,
    limit: usize,
}

/// Writes a gzip stream of everything written to it into `W`.
pub struct ParallelGzWriter<W: Write> {
    out: W,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    crc: crc32fast::Hasher,
    total_in: u64,
    next_seq: u64,
    next_to_write: u64,
    finished_blocks: BTreeMap<u64, Vec<u8>>,
    threads: usize,
    pool: Option<Pool>,
}

impl<W: Write> ParallelGzWriter<W> {
    /// Starts a stream into `out`, compressing with up to `threads` threads.
    pub fn new(mut out: W, threads: usize) -> io::Result<ParallelGzWriter<W>> {
        // ID1 ID2 CM FLG MTIME(4) XFL OS: no name, no time, OS unknown (255).
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        Ok(ParallelGzWriter {
            out,
            block: Vec::with_capacity(BLOCK_SIZE),
            dictionary: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total_in: 0,
            next_seq: 0,
            next_to_write: 0,
            finished_blocks: BTreeMap::new(),
            threads: threads.max(1),
            pool: None,
        })
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let data = std::mem::take(&mut self.block);
        self.submit(data, true)?;
        while self.next_to_write < self.next_seq {
            self.receive_one()?;
        }
        if let Some(mut pool) = self.pool.take() {
            pool.jobs = None;
            for worker in pool.workers {
                worker.join().map_err(|_| io::Error::other("a compression thread panicked"))?;
            }
        }
        let crc = self.crc.clone().finalize();
        // ISIZE is the input size modulo 2^32, as RFC 1952 says.
        #[allow(clippy::cast_possible_truncation)]
        let isize = self.total_in as u32;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&isize.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn submit(&mut self, data: Vec<u8>, last: bool) -> io::Result<()> {
        let dictionary = std::mem::take(&mut self.dictionary);
        if !last {
            self.dictionary = data[data.len() - WINDOW.min(data.len())..].to_vec();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let job = Job { seq, data, dictionary, last };
        // A stream of one block (every small bundle) is compressed right here, without threads.
        if self.pool.is_none() && (last || self.threads == 1) {
            let bytes = compress_block(&job)?;
            self.finished_blocks.insert(seq, bytes);
            return self.write_ready();
        }
        let pool = self.pool.get_or_insert_with(|| Pool::start(self.threads));
        pool.jobs
            .as_ref()
            .expect("holds because jobs is only dropped in finish")
            .send(job)
            .map_err(|_| io::Error::other("the compression threads stopped"))?;
        pool.in_flight += 1;
        while self.pool.as_ref().is_some_and(|p| p.in_flight >= p.limit) {
            self.receive_one()?;
        }
        Ok(())
    }

    fn receive_one(&mut self) -> io::Result<()> {
        let Some(pool) = self.pool.as_mut() else {
            return Ok(());
        };
        let (seq, result) =
            pool.done.recv().map_err(|_| io::Error::other("the compression threads stopped"))?;
        pool.in_flight -= 1;
        self.finished_blocks.insert(seq, result?);
        self.write_ready()
    }

    fn write_ready(&mut self) -> io::Result<()> {
        while let Some(bytes) = self.finished_blocks.remove(&self.next_to_write) {
            self.out.write_all(&bytes)?;
            self.next_to_write += 1;
        }
        Ok(())
    }
}

impl Pool {
    fn start(threads: usize) -> Pool {
        let (jobs, job_rx) = sync_channel::<Job>(threads);
        let (done_tx, done) = sync_channel::<Done>(threads * 2);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                std::thread::spawn(move || {
                    loop {
                        let job = {
                            let Ok(rx) = job_rx.lock() else { return };
                            match rx.recv() {
                                Ok(job) => job,
                                Err(_) => return,
                            }
                        };
                        let result = compress_block(&job);
                        if done_tx.send((job.seq, result)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Pool { jobs: Some(jobs), done, workers, in_flight: 0, limit: threads * 2 }
    }
}

/// Compresses one block with a fresh compressor: a reset one is not guaranteed to produce the
/// same bytes (zlib-rs keeps state across `reset`), and the output must depend on the block alone.
fn compress_block(job: &Job) -> io::Result<Vec<u8>> {
    let mut compress = Compress::new(Compression::new(LEVEL), false);
    if !job.dictionary.is_empty() {
        compress.set_dictionary(&job.dictionary).map_err(io::Error::other)?;
    }
    let flush = if job.last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
    let start = compress.total_in();
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = usize::try_from(compress.total_in() - start)
            .expect("holds because a block fits in memory");
        let status = compress
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let consumed = usize::try_from(compress.total_in() - start)
            .expect("holds because a block fits in memory");
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is in and the output was not filled up.
            Status::Ok | Status::BufError => {
                !job.last && consumed == job.data.len() && out.len() < out.capacity()
            }
        };
        if done {
            return Ok(out);
        }
    }
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK_SIZE - self.block.len();
        let n = room.min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.total_in += n as u64;
        if self.block.len() == BLOCK_SIZE {
            let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_SIZE));
            self.submit(data, false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x1234_5678_u32;
        (0..len)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 7 == 0 {
                    b'\n'
                } else {
                    b"apiVersion: v1 kind: Service"[(state >> 24) as usize % 28]
                }
            })
            .collect()
    }

    fn compress(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParallelGzWriter::new(Vec::new(), threads).unwrap();
        for chunk in data.chunks(10_007) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_and_ignores_thread_count() {
        for len in [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE * 3 + 17, BLOCK_SIZE * 12 + 5] {
            let data = sample(len);
            let one = compress(&data, 1);
            // Several blocks per worker, so any state a worker carries between blocks would show.
            for threads in [2, 3] {
                assert_eq!(one, compress(&data, threads), "output depends on threads at len {len}");
            }
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&one[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data, "round trip at len {len}");
        }
    }

    #[test]
    fn compressor_version_matches_cargo_lock() {
        let lock = include_str!("../../../Cargo.lock");
        let entry = format!("name = \"{COMPRESSOR_NAME}\"\nversion = \"{COMPRESSOR_VERSION}\"");
        assert!(
            lock.contains(&entry),
            "update COMPRESSOR_VERSION to the {COMPRESSOR_NAME} version in Cargo.lock"
        );
    }
}
