//! The part of the `baton` package other programs can read: the document `--output json` prints
//! on stdout when a command fails, so a pipeline (or a test) decodes it into these types.
//!
//! The command line itself is the `baton` binary (`src/main.rs`); this library holds data only.

pub mod document;
