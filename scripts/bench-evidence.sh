#!/usr/bin/env bash
# The evidence benchmarks (run by `make bench`, or alone with `make bench-evidence`): what
# signing and attesting add, measured against the same command without a key in the same run.
#   - bundle build of examples/web in a git repository (provenance attached, unsigned) against
#     the same build with --sign-key (signature and signed provenance);
#   - promote of that bundle into a fresh environment, unsigned against signed (the signature
#     and the provenance travel with the bundle).
# Medians of RUNS runs (default 9). Environment: BENCH_DIR, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 git:git openssl:openssl
bench=${BENCH_DIR:-/tmp/baton-bench}
runs=${RUNS:-9}
results="$bench/evidence-results.md"
mkdir -p "$bench"
release_baton

work="$bench/evidence"
rm -rf "$work" && mkdir -p "$work"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/build.key" 2> /dev/null
repo="$work/infra"
mkdir -p "$repo" && cp -a examples/web "$repo/web"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -q -m web
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# Like median_case, in milliseconds from the nanosecond clock: the differences measured here are
# below the 10 ms that /usr/bin/time shows.   fine_case LABEL SETUP CMD
fine_case() {
    local label=$1 before=$2 cmd=$3 out=() start end
    for _ in $(seq "$runs"); do
        $before
        start=$(date +%s%N)
        bash -c "$cmd" > /dev/null 2>&1
        end=$(date +%s%N)
        out+=("$(( (end - start) / 1000 ))")
    done
    printf '%s\n' "${out[@]}" | sort -n | awk -v l="$label" '{a[NR]=$1} END {printf "%s|%.4f|0\n", l, a[int((NR+1)/2)] / 1000000}'
}

fresh_builds() { rm -rf "$work/plain" "$work/signed"; }
step "bundle build of examples/web, without and with --sign-key"
rows=(
    "$(fine_case "baton bundle build examples/web (provenance attached, unsigned)" fresh_builds "cd $repo && $baton bundle build web --store oci:$work/plain")"
    "$(fine_case "same, with --sign-key (signature and signed provenance)" fresh_builds "cd $repo && $baton bundle build web --store oci:$work/signed --sign-key $work/build.key")"
)

# Two build stores that hold web, one unsigned and one signed; each promotion run starts from a
# fresh state repository and an empty dev store.
(cd "$repo" && "$baton" bundle build web --store "oci:$work/from-plain" > /dev/null)
(cd "$repo" && "$baton" bundle build web --store "oci:$work/from-signed" --sign-key "$work/build.key" > /dev/null)
digest=$("$baton" bundle list --store "oci:$work/from-plain" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["digest"])')
fresh_state() {
    rm -rf "$work/state" && mkdir -p "$work/state"
    printf '[[environment]]\nname = "dev"\nstore = "oci:%s/dev"\n' "$work" > "$work/state/baton.toml"
    mkdir -p "$work/state/params/dev" && cp examples/state/params/dev/web.toml "$work/state/params/dev/"
    rm -rf "$work/dev"
    git -C "$work/state" init -q -b main && git -C "$work/state" add -A && git -C "$work/state" commit -q -m pipeline
}
step "promote, unsigned against signed"
promote="$baton promote web --to dev --digest $digest --as bench"
rows+=(
    "$(fine_case "baton promote web to dev (unsigned bundle)" fresh_state "cd $work/state && $promote --from-store oci:$work/from-plain")"
    "$(fine_case "same, a signed bundle with signed provenance (both carried)" fresh_state "cd $work/state && $promote --from-store oci:$work/from-signed")"
)

results_table "Evidence" "examples/web in a git repository, OCI layout stores on the local disk; medians of $runs runs, timed with the nanosecond clock (peak memory is not measured here)." "${rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
