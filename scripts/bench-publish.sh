#!/usr/bin/env bash
# The renderer's and publisher's benchmarks (run by `make bench`, or alone with
# `make bench-publish`), on a ~20,000-file, 768 MiB bundle of scripts/gen-descriptor.py (under
# the 10^9 bytes Argo CD extracts by default, which publish checks) pinned in an environment
# with a layout store:
#   - `baton render ENV NAME --into DIR` (admission, verify, unpack, render, flush, one rename)
#     against `tar -xzf` of the same layer;
#   - `baton publish ENV NAME` (unpack, render, lint for Flux and Argo CD, pack into one
#     deterministic tar+gzip layer, store as a referrer, tag) against what a user would do by
#     hand for a tarball: `tar -xzf` of the layer then `tar -czf` of the tree (GNU tar and
#     gzip -6, one thread), and `baton render` then `tar -czf`.
# Medians of RUNS runs (default 3), peak memory of each. Environment: BENCH_DIR, FILES, MIB, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 git:git
bench=${BENCH_DIR:-/tmp/baton-bench}
files=${FILES:-20000}
mib=${MIB:-768}
runs=${RUNS:-3}
descriptor="$bench/descriptor-$mib"
results="$bench/publish-results.md"
mkdir -p "$bench"

release_baton

ensure_descriptor "$descriptor" "$files" "$mib"

work="$bench/publish"
rm -rf "$work" && mkdir -p "$work"
state="$work/state"
mkdir -p "$state"
printf '[[environment]]\nname = "dev"\nstore = "oci:%s/store"\n' "$work" > "$state/baton.toml"
git -C "$state" init -q -b main
git -C "$state" add -A
git -C "$state" -c user.name=bench -c user.email=bench@example.com commit -q -m pipeline
ref=$("$baton" bundle build "$descriptor" --store "oci:$work/store")
digest=${ref#*@}
name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$descriptor/bundle.toml" | head -1)
(cd "$state" && "$baton" promote "$name" --to dev --digest "$digest" --from-store "oci:$work/store" --as bench > /dev/null 2>&1)
layer=$("$baton" bundle inspect "oci:$work/store/$name@$digest" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["layers"][0]["digest"])')
layer_path="$work/store/$name/blobs/sha256/${layer#sha256:}"

fresh() { rm -rf "$work/out" "$work/untar" "$work/out.tar.gz" "$work/cache"; sync; }

step "render against tar -xzf; publish against tar -xzf + tar -czf"
rows=(
    "$(median_case "baton render dev $name --into DIR (verify, unpack, render, flush, rename)" fresh "cd $state && BATON_CACHE=$work/cache $baton render dev $name --into $work/out")"
    "$(median_case "tar -xzf layer -C DIR" fresh "mkdir -p $work/untar && tar -xzf $layer_path -C $work/untar")"
    "$(median_case "baton publish dev $name (unpack, render, lint, pack tar+gzip, store, tag)" fresh "cd $state && BATON_CACHE=$work/cache $baton publish dev $name")"
    "$(median_case "tar -xzf layer, then tar -czf of the tree (GNU tar, gzip -6)" fresh "mkdir -p $work/untar && tar -xzf $layer_path -C $work/untar && tar -czf $work/out.tar.gz -C $work/untar .")"
    "$(median_case "baton render --into DIR, then tar -czf of DIR" fresh "cd $state && BATON_CACHE=$work/cache $baton render dev $name --into $work/out && tar -czf $work/out.tar.gz -C $work/out .")"
)
# The same pin published twice gives the same digest.
first=$(cd "$state" && "$baton" publish dev "$name" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
second=$(cd "$state" && "$baton" publish dev "$name" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
[ "$first" = "$second" ] || { echo "bench: two publishes of one pin gave $first and $second" >&2; exit 1; }

results_table "Render and publish" "Bundle: $files files, $mib MiB (scripts/gen-descriptor.py), pinned in a layout store; medians of $runs runs; both publishes gave $first." "${rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
