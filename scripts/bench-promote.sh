#!/usr/bin/env bash
# The promoter's benchmarks (run by `make bench`, or alone):
#   - promote latency of an unchanged 1 GiB bundle from dev to staging, gates and commit
#     included, between two `oci:` stores on one file system and between two repositories of
#     one local registry; against what a script would do (skopeo copy, then git commit);
#   - `status` and `history` on a state repository of 50 environments × 100 bundles and
#     20,000 commits (scripts/gen-state.py), against git reading the same objects.
# Medians of RUNS runs (default 3); peak memory of each. Environment: BENCH_DIR, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 skopeo:skopeo docker-registry:docker-registry curl:curl git:git
bench=${BENCH_DIR:-/tmp/baton-bench}
runs=${RUNS:-3}
results="$bench/promote-results.md"
mkdir -p "$bench"

release_baton

noise="$bench/noise"
make_noise "$noise"
work="$bench/promote"
rm -rf "$work" && mkdir -p "$work"
regs="$work/registry"
trap 'scripts/registry.sh stop "$regs"' EXIT
reg=$(scripts/registry.sh start "$regs")
"$baton" bundle build "$noise" --store "oci:$work/build" > /dev/null
digest=$("$baton" bundle list --store "oci:$work/build" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["digest"])')

# A state repository at $1 whose dev and staging stores are $2 and $3, with noise pinned in dev.
state_with_dev() {
    local dir=$1 dev=$2 staging=$3
    mkdir -p "$dir"
    printf '[[environment]]\nname = "dev"\nstore = "%s"\n\n[[environment]]\nname = "staging"\nstore = "%s"\n' "$dev" "$staging" > "$dir/baton.toml"
    printf '/stores/\n' > "$dir/.gitignore"
    git -C "$dir" init -q -b main
    git -C "$dir" add -A
    git -C "$dir" -c user.name=bench -c user.email=bench@example.com commit -q -m pipeline
    (cd "$dir" && "$baton" promote noise --to dev --digest "$digest" --from-store "oci:$work/build" --as ci > /dev/null 2>&1)
}

# Times one case RUNS times, each in a fresh state repository; prints "label|median|rss".
# $1 label, $2 store kind (oci|registry), $3 the command run inside the state repository.
promote_case() {
    local label=$1 kind=$2 cmd=$3 out=() rss=0 r i
    for i in $(seq "$runs"); do
        local dir="$work/s-$RANDOM$RANDOM" dev staging
        if [ "$kind" = oci ]; then
            dev="oci:stores/dev" staging="oci:stores/staging"
        else
            dev="$reg/b$RANDOM$RANDOM/dev" staging="$reg/b$RANDOM$RANDOM/staging"
        fi
        state_with_dev "$dir" "$dev" "$staging"
        r=$(cd "$dir" && DEV="$dev" STAGING="$staging" measure bash -c "$cmd")
        out+=("${r% *}")
        ((${r#* } > rss)) && rss=${r#* }
        rm -rf "$dir"
    done
    printf '%s\n' "${out[@]}" | sort -n | awk -v rss="$rss" -v l="$label" '{a[NR]=$1} END {printf "%s|%s|%d\n", l, a[int((NR+1)/2)], rss}'
}

# What a script would do: copy the bytes with skopeo, write the pin, commit.
script_promote='set -e
src=${DEV#oci:}; dst=${STAGING#oci:}
if [ "$src" != "$DEV" ]; then mkdir -p "$dst"; src="oci:$src/noise:1.0.0"; dst="oci:$dst/noise:1.0.0"; else src="docker://$DEV/noise@'"$digest"'"; dst="docker://$STAGING/noise:1.0.0"; fi
rm -f "$HOME"/.local/share/containers/cache/blob-info-cache-v1.* /var/lib/containers/cache/blob-info-cache-v1.* 2>/dev/null || true
skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "$src" "$dst"
mkdir -p state/staging && echo "digest = \"'"$digest"'\"" > state/staging/noise.toml
git add state && git -c user.name=ci -c user.email=ci@example.com commit -q -m "promote noise to staging"'

step "promote latency: 1 GiB bundle, dev → staging"
rows=(
    "$(promote_case "baton promote, oci: → oci: (one file system)" oci "$baton promote noise --to staging --as ci")"
    "$(promote_case "skopeo copy + git commit, oci: → oci:" oci "$script_promote")"
    "$(promote_case "baton promote, registry repository → repository" registry "$baton promote noise --to staging --as ci")"
    "$(promote_case "skopeo copy + git commit, registry → registry" registry "$script_promote")"
)

step "a state repository of 50 environments × 100 bundles and 20,000 commits"
big="$bench/state-big"
if [ ! -f "$big/.git/complete" ]; then
    rm -rf "$big" && git init -q -b main "$big"
    python3 scripts/gen-state.py 50 100 20000 | git -C "$big" fast-import --quiet
    git -C "$big" checkout -q main
    touch "$big/.git/complete"
fi
read_rows=(
    "$(median_case "baton status (5,000 pins)" : "cd $big && $baton status --output json")"
    "$(median_case "git ls-tree + cat-file of the same 5,000 files" : "cd $big && git ls-tree -r --format='%(objectname)' HEAD state | git cat-file --batch")"
    "$(median_case "baton history env-49 (20,000 commits walked)" : "cd $big && $baton history env-49 --output json")"
    "$(median_case "git log --grep 'Baton-To: env-49'" : "cd $big && git log --format='%H %ct %B' --grep='^Baton-To: env-49\$'")"
)

results_table "Promotion" "Promote latency of an unchanged bundle of 1 GiB of blobs, dev → staging, gates and commit included; medians of $runs runs, each in a fresh state repository." "${rows[@]}" "${read_rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
