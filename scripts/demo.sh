#!/usr/bin/env bash
# `make demo`: the bundler end to end on the embedded default store (an OCI layout in a
# temporary directory; no server). Every command is printed before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "build baton"
cargo build --quiet -p baton --bin baton
baton="$PWD/target/debug/baton"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store="oci:$work/store"

run() {
    printf '\n\033[2m$ %s\033[0m\n' "$*"
    "$@"
}

step "build the two example bundles into $store"
web=$(run "$baton" bundle build examples/web --store "$store" --allow-dirty)
echo "$web"
run "$baton" bundle build examples/k8s-app --store "$store" --allow-dirty --output json
digest=${web#*@}

step "build web again: same descriptor, same digest, nothing rewritten"
again=$(run "$baton" bundle build examples/web --store "$store" --allow-dirty)
echo "$again"
[ "$again" = "$web" ] || { echo "demo: the rebuild gave another digest" >&2; exit 1; }

step "list the store"
run "$baton" bundle list --store "$store"

step "inspect web by tag"
run "$baton" bundle inspect "$store/web:1.4.2"

step "verify both bundles: every blob and every file re-hashed"
run "$baton" bundle verify "$store/web@$digest"
run "$baton" bundle verify "$store/k8s-app:2.0.1"

step "unpack web, verified on the way"
run "$baton" bundle unpack "$store/web@$digest" --into "$work/unpacked"
run ls -lR "$work/unpacked"

step "copy web to a second store (same file system: blobs are hard-linked), digest unchanged"
run "$baton" bundle copy "$store/web@$digest" "oci:$work/mirror"

step "export web as one tar for an air-gapped site, import it there, verify it"
run "$baton" bundle export "$store/web:1.4.2" -o "$work/web-1.4.2.tar"
run "$baton" bundle import "$work/web-1.4.2.tar" --store "oci:$work/airgap"
run "$baton" bundle verify "oci:$work/airgap/web:1.4.2"

if command -v skopeo >/dev/null 2>&1; then
    step "the store is a plain OCI layout: skopeo reads the same manifest bytes"
    printf '\033[2m$ skopeo inspect --raw %s | sha256sum\033[0m\n' "$store/web:1.4.2"
    echo "sha256:$(skopeo inspect --raw "$store/web:1.4.2" | sha256sum | cut -d' ' -f1)  (baton printed $digest)"
fi

step "tamper with the layer: verify exits 4 and names the blob"
layer=$("$baton" bundle inspect "$store/web@$digest" --output json | sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' | sed -n 3p)
blob="$work/store/web/blobs/sha256/${layer#sha256:}"
chmod u+w "$blob"
printf 'x' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
set +e
run "$baton" bundle verify "$store/web@$digest"
code=$?
set -e
echo "exit code: $code"
[ "$code" = 4 ] || { echo "demo: verify should have exited 4" >&2; exit 1; }

step "done"
echo "built, listed, inspected, verified, unpacked, copied, exported and imported; a tampered blob was caught (exit 4)"
