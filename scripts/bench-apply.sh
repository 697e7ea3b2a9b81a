#!/usr/bin/env bash
# The applier's benchmarks (run by `make bench`, or alone with `make bench-apply`):
#   - apply of the ~20,000-file, 1 GiB bundle of scripts/gen-descriptor.py to a `dir` target
#     (fetch into an empty cache, verify, unpack, render, flush, swap), against
#     `tar -xzf` of the same layer plus `cp -a` of the tree plus `sync` (the same durability);
#   - drift check of that target against `sha256sum -c` of its file list.
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
results="$bench/apply-results.md"
mkdir -p "$bench"

release_baton

ensure_descriptor "$descriptor" "$files" "$mib"

work="$bench/apply"
rm -rf "$work" && mkdir -p "$work"
state="$work/state"
mkdir -p "$state"
printf '[[environment]]\nname = "dev"\nstore = "oci:%s/store"\ntarget = { kind = "dir", path = "deploy" }\n' "$work" > "$state/baton.toml"
printf '/deploy/\n' > "$state/.gitignore"
git -C "$state" init -q -b main
git -C "$state" add -A
git -C "$state" -c user.name=bench -c user.email=bench@example.com commit -q -m pipeline
ref=$("$baton" bundle build "$descriptor" --store "oci:$work/store")
digest=${ref#*@}
name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$descriptor/bundle.toml" | head -1)
(cd "$state" && "$baton" promote "$name" --to dev --digest "$digest" --from-store "oci:$work/store" --as bench > /dev/null 2>&1)
layer=$("$baton" bundle inspect "oci:$work/store/$name@$digest" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["layers"][0]["digest"])')
layer_path="$work/store/$name/blobs/sha256/${layer#sha256:}"

fresh() { rm -rf "$state/deploy" "$work/cache" "$work/untar" "$work/copy"; sync; }

step "apply against tar -xzf + cp -a; drift against sha256sum -c"
rows=(
    "$(median_case "baton apply (empty cache: fetch, verify, unpack, render, flush, swap)" fresh "cd $state && BATON_CACHE=$work/cache $baton apply dev")"
    "$(median_case "tar -xzf layer && cp -a tree target && sync" fresh "mkdir -p $work/untar && tar -xzf $layer_path -C $work/untar && cp -a $work/untar $work/copy && sync")"
)
# Drift: the target as apply left it, and a sha256sum list of the same files.
(cd "$state" && BATON_CACHE="$work/cache" "$baton" apply dev > /dev/null 2>&1)
target="$state/deploy/$name/current/"
(cd "$target" && find . -type f -print0 | xargs -0 sha256sum > "$work/sums")
rows+=(
    "$(median_case "baton drift (warm page cache)" : "cd $state && $baton drift dev")"
    "$(median_case "sha256sum -c of the same files (warm page cache)" : "cd $target && sha256sum -c --quiet $work/sums")"
)

results_table "Apply" "Bundle: $files files, $mib MiB (scripts/gen-descriptor.py); medians of $runs runs." "${rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
