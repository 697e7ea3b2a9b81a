#!/usr/bin/env bash
# `make demo`: the main job end to end on the embedded default (OCI layouts in a temporary
# directory; no server): build bundles, promote one digest unchanged from dev to staging to
# prod through the gates, read the story back from git, apply prod to its dir target, and heal
# drift. Every command is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "build baton (the first build compiles about 300 crates: several minutes on 2 cores; later ones take seconds)"
cargo build -p baton --bin baton
baton="$PWD/target/debug/baton"
# Kept afterwards, with the audit report, so what the demo made can be looked at.
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-demo.XXXXXX")
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

step "a state repository: examples/state (baton.toml, params) as a fresh git repository"
state="$work/state"
cp -r examples/state "$state"
git -C "$state" init -q -b main
git -C "$state" add -A
git -C "$state" -c user.name=demo -c user.email=demo@example.com commit -q -m "pipeline and params"
run cat "$state/baton.toml"

step "promote web into dev (the first environment: digest and source store are explicit)"
cd "$state"
run "$baton" promote web --to dev --digest "$digest" --from-store "$store" --as ci@example.com
run "$baton" promote k8s-app --to dev --digest "$("$baton" bundle list --store "$store" --output json | python3 -c 'import json,sys; print([b["digest"] for b in json.load(sys.stdin) if b["name"]=="k8s-app"][0])')" --from-store "$store" --as ci@example.com

step "promote web to staging: the digest pinned in dev, copied unchanged"
run "$baton" promote web --to staging --as ci@example.com

step "k8s-app rendered for dev as kubectl reads it (secrets stay placeholders), then published for Flux and Argo CD"
run "$baton" render dev k8s-app --stdout
run "$baton" render dev k8s-app --check flux --check argocd
run "$baton" publish dev k8s-app

step "prod needs two approvals by other principals: refused with exit 3 and the reason"
set +e
run "$baton" promote web --to prod --as ci@example.com
code=$?
set -e
echo "exit code: $code"
[ "$code" = 3 ] || { echo "demo: the promotion to prod should have been refused (exit 3)" >&2; exit 1; }

step "two approvals, then prod"
run "$baton" approve web --env prod --as alice@example.com
run "$baton" approve web --env prod --as bob@example.com
run "$baton" promote web --to prod --as ci@example.com
run "$baton" promote web --to prod --as ci@example.com

step "what runs where, how prod differs from staging, and prod's history: all from git"
run "$baton" status
run "$baton" diff staging prod
run "$baton" history prod
run git log --format='%h %s%n%b' -n 2
run git status --short

step "apply prod: fetch into a cache, verify, unpack, render with prod's params, swap deploy/prod/web/current"
export BATON_CACHE="$work/cache" WEB_TLS_KEY="demo-key-not-a-real-secret"
run "$baton" plan prod web
run "$baton" apply prod web
run ls -l deploy/prod/web
run head -3 deploy/prod/web/current/conf/nginx.conf
run "$baton" apply prod web

step "drift: edit the target by hand; drift exits 4 and names the file; the agent heals it"
echo "defaced" > deploy/prod/web/current/html/index.html
set +e
run "$baton" drift prod
code=$?
set -e
echo "exit code: $code"
[ "$code" = 4 ] || { echo "demo: drift should have exited 4" >&2; exit 1; }
run "$baton" agent --env prod --once
run "$baton" drift prod

step "audit: every commit, every current pin re-hashed in its store, the targets; an HTML report"
run "$baton" audit --targets --report "$work/audit.html"

step "a pin in prod edited and committed by hand: the audit names it and exits 4"
sed -i 's/^by = .*/by = "mallory@example.com"/' state/prod/web.toml
git add -A && git -c user.name=mallory -c user.email=mallory@example.com commit -q -m "quick fix"
set +e
run "$baton" audit --report "$work/audit.html"
code=$?
set -e
echo "exit code: $code; report: $work/audit.html"
[ "$code" = 4 ] || { echo "demo: the audit should have exited 4" >&2; exit 1; }
cd - >/dev/null

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
echo "built, verified, copied, exported and imported; promoted web unchanged from dev to prod"
echo "through its gates (refused with exit 3 until two approvals); rendered and published k8s-app;"
echo "applied web to prod's dir target, found and healed drift (exit 4); the audit proved the chain,"
echo "then caught a hand edit (exit 4); a tampered blob was caught (exit 4)"
echo
echo "everything the demo made is kept in $work"
echo "  the state repository: $work/state   the stores: $work/store, $work/state/stores"
echo "  the audit report:     $work/audit.html"
echo "remove it with: rm -rf $work"
