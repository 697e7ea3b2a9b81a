#!/usr/bin/env bash
# The auditor's benchmarks (run by `make bench`, or alone with `make bench-audit`):
#   - `baton audit` of a state repository of 50 environments × 100 bundles and 20,000 promotion
#     commits (scripts/gen-state.py) whose pins name 200 real small bundles, every environment
#     with its own `oci:` store (hard-linked copies); stores checked for the 5,000 current pins;
#     against git reading the same history (`git log -p` of state/);
#   - `baton bundle verify` of the ~20,000-file, 1 GiB bundle of scripts/gen-descriptor.py and of
#     1 GiB of incompressible content, against `sha256sum` of the blobs plus
#     `tar -xzf LAYER -O | sha256sum` of the files, in the same run.
# Medians of RUNS runs (default 3), peak memory of each. Environment: BENCH_DIR, FILES, MIB, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 git:git
bench=${BENCH_DIR:-/tmp/baton-bench}
files=${FILES:-20000}
mib=${MIB:-1024}
runs=${RUNS:-3}
descriptor="$bench/descriptor"
results="$bench/audit-results.md"
mkdir -p "$bench"

release_baton

work="$bench/audit"
state="$work/state"
if [ ! -f "$work/.complete" ]; then
    step "200 small bundles (app-000…app-099, two versions each), a history of 20,000 commits pinning them"
    rm -rf "$work" && mkdir -p "$work/src" "$state"
    : > "$work/digests"
    for b in $(seq 0 99); do
        for v in 1 2; do
            name=$(printf 'app-%03d' "$b")
            dir="$work/src/$name-$v"
            mkdir -p "$dir/manifests" "$dir/config"
            printf '[bundle]\nname = "%s"\nversion = "1.%d.0"\n' "$name" "$v" > "$dir/bundle.toml"
            for f in deployment service configmap; do
                head -c 1500 /dev/urandom | base64 > "$dir/manifests/$f.yaml"
            done
            head -c 600 /dev/urandom | base64 > "$dir/config/app.conf"
            ref=$("$baton" bundle build "$dir" --store "oci:$work/build" 2> /dev/null)
            echo "$name 1.$v.0 ${ref#*@}" >> "$work/digests"
        done
    done
    git -C "$state" init -q -b main
    python3 scripts/gen-state.py 50 100 20000 "$work/digests" | git -C "$state" fast-import --quiet
    git -C "$state" checkout -q main
    printf '/stores/\n' > "$state/.gitignore"
    mkdir -p "$state/stores"
    for e in $(seq 0 49); do cp -al "$work/build" "$state/stores/$(printf 'env-%02d' "$e")"; done
    touch "$work/.complete"
fi
# The audit must be clean, or it would time the wrong thing.
set +e
"$baton" audit --state "$state" --output json > "$work/report.json"
code=$?
set -e
[ "$code" = 0 ] || { echo "bench: the audit of the generated history is not clean (exit $code): $work/report.json" >&2; exit 1; }

step "audit: 20,000 commits, 5,000 current pins re-hashed in 50 stores"
audit_rows=(
    "$(median_case "baton audit (20,000 commits, 5,000 pins re-hashed)" : "$baton audit --state $state --output json")"
    "$(median_case "git log -p state/ (the same history, read only)" : "git -C $state log -p --format='%H %ct %B' -- state")"
)

step "admission: an agent pass over 100 pins of env-49, judged anew and remembered"
agent_state="$work/agent-state"
rm -rf "$agent_state" "$work/agent-applied" "$work/agent-cache"
git clone -q "$state" "$agent_state"
cp -al "$state/stores" "$agent_state/stores"
python3 - "$agent_state/baton.toml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace(
    'name = "env-49"\nstore = "oci:stores/env-49"\n',
    'name = "env-49"\nstore = "oci:stores/env-49"\ntarget = { kind = "dir", path = "deploy/env-49" }\n')
open(path, "w").write(text)
PY
printf '/stores/\n/deploy/\n' > "$agent_state/.gitignore"
git -C "$agent_state" -c user.name=bench -c user.email=bench@example.com commit -qam "a target for env-49"
export BATON_APPLIED_DIR="$work/agent-applied" BATON_CACHE="$work/agent-cache"
"$baton" apply env-49 --state "$agent_state" > /dev/null 2>&1
forget_verdicts() { rm -rf "$BATON_APPLIED_DIR/.admitted"; }
audit_rows+=(
    "$(median_case "baton agent --once, 100 pins judged anew (20,000 commits walked)" forget_verdicts "$baton agent --env env-49 --once --state $agent_state 2> /dev/null")"
    "$(median_case "baton agent --once, 100 pins, nothing changed (verdicts remembered)" : "$baton agent --env env-49 --once --state $agent_state 2> /dev/null")"
)
unset BATON_APPLIED_DIR BATON_CACHE

step "verify: 1 GiB bundles against sha256sum of the blobs and tar -xzf | sha256sum of the files"
ensure_descriptor "$descriptor" "$files" "$mib"
noise="$bench/noise"
make_noise "$noise"
verify_rows=()
for src in "$descriptor" "$noise"; do
    store="$work/verify-$(basename "$src")"
    rm -rf "$store"
    built=$("$baton" bundle build "$src" --store "oci:$store" 2> /dev/null)
    ref="oci:$store/${built%%:*}@${built#*@}"
    layer=$("$baton" bundle inspect "$ref" --output json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["layers"][0]["digest"].split(":")[1])')
    what=$([ "$src" = "$noise" ] && echo "1 GiB incompressible, 8 files" || echo "$files files, 1 GiB")
    cat "$store"/*/blobs/sha256/* > /dev/null
    verify_rows+=(
        "$(median_case "baton bundle verify ($what)" : "$baton bundle verify $ref")"
        "$(median_case "sha256sum of the blobs, then tar -xzf -O into sha256sum ($what)" : "sha256sum $store/*/blobs/sha256/* && tar -xzf $store/*/blobs/sha256/$layer -O | sha256sum")"
    )
done

results_table "Audit and verify" "Medians of $runs runs, warm page cache." "${audit_rows[@]}" "${verify_rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
