//! End-to-end tests: the real `baton` binary against real directories, git repositories and skopeo.

mod admission;
mod agreement;
mod apply;
mod archive;
mod audit;
mod build;
mod clock;
mod contract;
mod determinism;
mod errors;
mod faults;
mod hostile;
mod interop;
mod library;
mod mounts;
mod promote;
mod provenance;
mod registry;
mod remote;
mod secrets;
mod servers;
mod snapshots;
mod terminal;
mod tidy;
mod unpack;
mod verify;
