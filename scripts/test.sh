#!/usr/bin/env bash
# `make test`: formatting, lints, then the whole suite against real programs (git, skopeo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages skopeo:skopeo git:git setpriv:util-linux mkfifo:coreutils \
    docker-registry:docker-registry htpasswd:apache2-utils curl:curl python3:python3 \
    ssh-keygen:openssh-client /usr/sbin/nginx:nginx /usr/sbin/fcgiwrap:fcgiwrap \
    /usr/sbin/sshd:openssh-server openssl:openssl setsid:util-linux \
    /usr/bin/chromium:chromium /usr/bin/jsonschema:python3-jsonschema man:man-db \
    kubectl:kubernetes-client jq:jq
# The token issuer of the registry tests signs with Debian's python3-cryptography.
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || need_packages no-such-command:python3-cryptography
# The verifiers from PyPI live in a virtual environment (Debian's python3-venv).
python3 -c 'import ensurepip' 2>/dev/null || need_packages no-such-command:python3-venv

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build baton"
cargo build --locked -p baton --bin baton
export BATON_TEST_BIN="$PWD/target/debug/baton"

step "Python verifiers from PyPI (securesystemslib, oras, cryptography, PyYAML, kubernetes-validate, check-jsonschema)"
BATON_TEST_PYTHON=$(scripts/pyvenv.sh "$PWD/target/pyvenv")
export BATON_TEST_PYTHON

step "start two registries on loopback (one with htpasswd auth)"
registries=$(mktemp -d)
trap 'scripts/registry.sh stop "$registries/open"; scripts/registry.sh stop "$registries/auth"; rm -rf "$registries"' EXIT
BATON_TEST_REGISTRY=$(scripts/registry.sh start "$registries/open")
BATON_TEST_AUTH_USER=baton-ci
BATON_TEST_AUTH_PASSWORD="ci-$RANDOM$RANDOM"
BATON_TEST_AUTH_REGISTRY=$(scripts/registry.sh start "$registries/auth" "$BATON_TEST_AUTH_USER" "$BATON_TEST_AUTH_PASSWORD")
BATON_TEST_REGISTRY_STORAGE="$registries/open/data"
export BATON_TEST_REGISTRY BATON_TEST_REGISTRY_STORAGE BATON_TEST_AUTH_REGISTRY BATON_TEST_AUTH_USER BATON_TEST_AUTH_PASSWORD
echo "open registry: $BATON_TEST_REGISTRY, auth registry: $BATON_TEST_AUTH_REGISTRY"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked
else
    cargo test --workspace --locked
fi
