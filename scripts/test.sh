#!/usr/bin/env bash
# `make test`: formatting, lints, then the whole suite against real programs (git, skopeo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages skopeo:skopeo git:git setpriv:util-linux mkfifo:coreutils

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build baton"
cargo build --locked -p baton --bin baton
export BATON_TEST_BIN="$PWD/target/debug/baton"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked
else
    cargo test --workspace --locked
fi
