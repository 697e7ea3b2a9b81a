#!/usr/bin/env bash
# The evidence benchmarks (run by `make bench`, or alone with `make bench-evidence`): what
# signing and attesting add, measured against the same command without a key in the same run.
#   - bundle build of examples/web in a git repository (provenance attached, unsigned) against
#     the same build with --sign-key (signature and signed provenance);
#   - promote of that bundle into a fresh environment, unsigned against signed (the signature
#     and the provenance travel with the bundle);
#   - promote with an SSH-signed commit and a signed summary (VSA) against an unsigned one, and a
#     break-glass (which writes no summary) as the floor, into a layout and into a registry;
#   - `baton evidence` of a bundle with 100 attestations in a local registry.
# Medians of RUNS runs (default 9). Environment: BENCH_DIR, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 git:git openssl:openssl ssh-keygen:openssh-client \
    docker-registry:docker-registry
bench=${BENCH_DIR:-/tmp/baton-bench}
runs=${RUNS:-9}
results="$bench/evidence-results.md"
mkdir -p "$bench"
release_baton

work="$bench/evidence"
rm -rf "$work" && mkdir -p "$work"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/build.key" 2> /dev/null
openssl pkey -in "$work/build.key" -pubout -out "$work/build.pub"
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

# Promotions that write the summary: unsigned, signed (commit and VSA by an ed25519 SSH key
# listed in allowed_signers), and break-glass, which writes none; into a layout, then a registry.
ssh-keygen -q -t ed25519 -N '' -C ci -f "$work/ci"
regs="$work/registries"
trap 'scripts/registry.sh stop "$regs"' EXIT
reg=$(scripts/registry.sh start "$regs")
# pipeline DIR STORE SIGNED: a state repository in DIR whose dev environment uses STORE.
pipeline() {
    local dir=$1 store=$2 signed=$3 gates="break_glass = true"
    rm -rf "$dir" && mkdir -p "$dir/params/dev"
    cp examples/state/params/dev/web.toml "$dir/params/dev/"
    if [[ $signed == yes ]]; then
        # Signed: commits and summaries by the SSH key, and a signed_by gate over the build key.
        gates="$gates, signed_by = [\"build\"]"
        mkdir -p "$dir/.baton" && echo "bench $(cat "$work/ci.pub")" > "$dir/.baton/allowed_signers"
        printf '[key.build]\npublic_key = """\n%s\n"""\n' "$(cat "$work/build.pub")" > "$dir/.baton/trusted_keys.toml"
    fi
    printf '[[environment]]\nname = "dev"\nstore = "%s"\ngates = { %s }\n' "$store" "$gates" > "$dir/baton.toml"
    git -C "$dir" init -q -b main && git -C "$dir" add -A
    git -C "$dir" -c gpg.format=ssh -c user.signingkey="$work/ci" commit -q -S -m pipeline
}
from="--digest $digest --from-store oci:$work/from-signed --as bench"
# Each case has its own state repository and store, into which the bundle is promoted once
# first; each run then changes the params (a hand commit) and promotes again, so the bytes are
# there and what is timed is the promotion's own work: gates, the summary, the commit. The
# cases take turns run by run, so that the registry's slow moments fall on all of them alike.
step "promote with and without a signed summary, layout and registry"
declare -A times
cases=(layout-bg layout-plain layout-signed registry-bg registry-plain registry-signed)
for case in "${cases[@]}"; do
    kind=${case%%-*} mode=${case#*-}
    store="oci:$work/stores/$case"
    [[ $kind == registry ]] && store="$reg/$case"
    pipeline "$work/states/$case" "$store" "$([[ $mode == signed ]] && echo yes || echo no)"
    (cd "$work/states/$case" && "$baton" promote web --to dev $from --sign-key "$work/ci" > /dev/null)
done
for n in $(seq "$runs"); do
    for case in "${cases[@]}"; do
        dir="$work/states/$case" extra=""
        case ${case#*-} in
            bg) extra="--break-glass bench" ;;
            signed) extra="--sign-key $work/ci" ;;
        esac
        echo "# run $n" >> "$dir/params/dev/web.toml"
        git -C "$dir" -c gpg.format=ssh -c user.signingkey="$work/ci" commit -q -S -am "params $n"
        start=$(date +%s%N)
        (cd "$dir" && $baton promote web --to dev $from $extra > /dev/null 2>&1)
        end=$(date +%s%N)
        times[$case]+="$(( (end - start) / 1000 )) "
    done
done
median_of() { tr ' ' '\n' <<< "${times[$2]}" | grep . | sort -n | awk -v l="$1" '{a[NR]=$1} END {printf "%s|%.4f|0\n", l, a[int((NR+1)/2)] / 1000000}'; }
rows+=(
    "$(median_of "promote into a layout, break-glass (no summary written)" layout-bg)"
    "$(median_of "promote into a layout, unsigned commit and summary" layout-plain)"
    "$(median_of "promote into a layout, SSH-signed commit and summary, signed_by gate" layout-signed)"
    "$(median_of "promote into the registry, break-glass (no summary written)" registry-bg)"
    "$(median_of "promote into the registry, unsigned commit and summary" registry-plain)"
    "$(median_of "promote into the registry, SSH-signed commit and summary, signed_by gate" registry-signed)"
)

# 100 promotion summaries of one bundle in the registry: each params change re-promotes it.
step "100 attestations of one bundle in the registry, then baton evidence"
pipeline "$work/states/hundred" "$reg/hundred" yes
for n in $(seq 100); do
    echo "# revision $n" >> "$work/states/hundred/params/dev/web.toml"
    git -C "$work/states/hundred" -c gpg.format=ssh -c user.signingkey="$work/ci" commit -q -S -am "params $n"
    (cd "$work/states/hundred" && "$baton" promote web --to dev $from --sign-key "$work/ci" > /dev/null)
done
listed=$("$baton" evidence "$reg/hundred/web@$digest" --output json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["attestations"]))')
echo "baton evidence lists $listed attestations"
nothing() { :; }
rows+=(
    "$(fine_case "baton evidence of a bundle with $listed attestations (registry)" nothing "$baton evidence $reg/hundred/web@$digest --output json")"
)

results_table "Evidence" "examples/web in a git repository, OCI layout stores on the local disk; medians of $runs runs, timed with the nanosecond clock (peak memory is not measured here)." "${rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
