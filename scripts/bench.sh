#!/usr/bin/env bash
# `make bench`: times `baton bundle build` on a generated descriptor of ~20,000 text files and
# 1 GiB against what a shell script would do, in the same run, with peak memory.
#   baseline 1: tar --sort=name … | gzip -6 -n | sha256sum
#   baseline 2: tar --sort=name … | pigz -6 -p 2 | sha256sum   (the fastest a script can do)
# Also: a small descriptor (examples/web) end to end, and a check that the 1 GiB bundle's digest
# does not depend on the number of compression threads. Medians of RUNS runs (default 3).
# Environment: BENCH_DIR (default /tmp/baton-bench), FILES, MIB, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages pigz:pigz /usr/bin/time:time python3:python3
bench=${BENCH_DIR:-/tmp/baton-bench}
files=${FILES:-20000}
mib=${MIB:-1024}
runs=${RUNS:-3}
descriptor="$bench/descriptor"
results="$bench/results.md"

release_baton

# The marker is not part of what is measured.
ensure_descriptor "$descriptor" "$files" "$mib"
bytes=$(du -sb --exclude='.complete-*' "$descriptor" | cut -f1)

step "warm the page cache"
tar -cf - "$descriptor" | cat > /dev/null

# Runs a case RUNS times; prints "median_seconds max_rss_kib".
median_of() {
    local out=() rss=0 r
    for _ in $(seq "$runs"); do
        r=$(measure "$@")
        out+=("${r% *}")
        ((${r#* } > rss)) && rss=${r#* }
    done
    printf '%s\n' "${out[@]}" | sort -n | awk -v rss="$rss" '{a[NR]=$1} END {printf "%s %d\n", a[int((NR+1)/2)], rss}'
}

tar_flags=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$descriptor" -cf - .)
row() { # name seconds rss
    awk -v n="$1" -v s="$2" -v r="$3" -v b="$bytes" 'BEGIN {printf "| %s | %.2f | %.1f | %.0f |\n", n, s, b/s/1e6, r/1024}'
}

step "baseline: tar | gzip -6 -n | sha256sum"
gzip_r=$(median_of bash -c "tar ${tar_flags[*]} | gzip -6 -n | sha256sum")
step "baseline: tar | pigz -6 -p 2 | sha256sum"
pigz_r=$(median_of bash -c "tar ${tar_flags[*]} | pigz -6 -n -p 2 | sha256sum")
step "baton bundle build"
store="$bench/store"
baton_case() { rm -rf "$store"; "$baton" bundle build "$descriptor" --store "oci:$store"; }
export -f baton_case
export baton descriptor store
baton_r=$(median_of bash -c baton_case)

step "small descriptor: examples/web, 20 runs"
small_store=$(mktemp -d)
small=()
for _ in $(seq 20); do
    rm -rf "$small_store/s"
    start=$(date +%s%N)
    "$baton" bundle build examples/web --store "oci:$small_store/s" --allow-dirty > /dev/null 2>&1
    small+=($((($(date +%s%N) - start) / 1000)))
done
rm -rf "$small_store"
small_ms=$(printf '%s\n' "${small[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}')

step "the digest does not depend on threads"
d1=$("$baton" bundle build "$descriptor" --store "oci:$bench/t1" --threads 1)
d2=$("$baton" bundle build "$descriptor" --store "oci:$bench/t2" --threads 2)
rm -rf "$bench/t2" "$store"
same=$([ "$d1" = "$d2" ] && echo "yes ($d1)" || echo "NO: $d1 vs $d2")

step "registries: push, copy within one registry, copy between two (baton against skopeo)"
need_packages skopeo:skopeo docker-registry:docker-registry curl:curl
regs="$bench/registries"
rm -rf "$regs"
trap 'scripts/registry.sh stop "$regs/a"; scripts/registry.sh stop "$regs/b"' EXIT
reg_a=$(scripts/registry.sh start "$regs/a")
reg_b=$(scripts/registry.sh start "$regs/b")
# A bundle of 1 GiB as stored: incompressible content, so the layer itself is 1 GiB.
noise="$bench/noise"
make_noise "$noise"
rm -rf "$bench/n"
"$baton" bundle build "$noise" --store "oci:$bench/n" > /dev/null
src="oci:$bench/n/noise:1.0.0"
# skopeo mounts across repositories only when its blob-info cache knows the blob; start each of
# its runs from an empty cache, as on a fresh machine.
skopeo_fresh() { rm -f /var/lib/containers/cache/blob-info-cache-v1.* "$HOME"/.local/share/containers/cache/blob-info-cache-v1.* 2>/dev/null; skopeo "$@"; }
export -f skopeo_fresh
reg_case() { # label, then the command
    local label=$1; shift
    local out=() rss=0 r
    for _ in $(seq "$runs"); do
        local repo="r$RANDOM$RANDOM"
        r=$(measure bash -c "${*//REPO/$repo}")
        out+=("${r% *}")
        ((${r#* } > rss)) && rss=${r#* }
    done
    printf '%s\n' "${out[@]}" | sort -n | awk -v rss="$rss" -v l="$label" '{a[NR]=$1} END {printf "%s|%s|%d\n", l, a[int((NR+1)/2)], rss}'
}
"$baton" bundle copy "$src" "$reg_a/base" > /dev/null
reg_rows=(
    "$(reg_case "baton push oci: → registry" "$baton bundle copy $src $reg_a/REPO")"
    "$(reg_case "skopeo copy oci: → registry" "skopeo_fresh copy -q --dest-tls-verify=false $src docker://$reg_a/REPO/noise:1.0.0")"
    "$(reg_case "baton copy within one registry" "$baton bundle copy $reg_a/base/noise:1.0.0 $reg_a/REPO")"
    "$(reg_case "skopeo copy within one registry" "skopeo_fresh copy -q --src-tls-verify=false --dest-tls-verify=false docker://$reg_a/base/noise:1.0.0 docker://$reg_a/REPO/noise:1.0.0")"
    "$(reg_case "baton copy between two registries" "$baton bundle copy $reg_a/base/noise:1.0.0 $reg_b/REPO")"
    "$(reg_case "skopeo copy between two registries" "skopeo_fresh copy -q --src-tls-verify=false --dest-tls-verify=false docker://$reg_a/base/noise:1.0.0 docker://$reg_b/REPO/noise:1.0.0")"
)
layer_bytes=$(du -sb "$bench/n/noise/blobs" | cut -f1)
rm -rf "$bench/t1" "$bench/n" "$regs"

{
    echo "### $(date -u +%Y-%m-%d) — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo
    echo "Descriptor: $files files, $((bytes / 1048576)) MiB (scripts/gen-descriptor.py); medians of $runs runs, warm page cache."
    echo
    echo "| command | seconds | MB/s | peak RSS MiB |"
    echo "|---|---|---|---|"
    row "tar \| gzip -6 -n \| sha256sum" $gzip_r
    row "tar \| pigz -6 -p 2 \| sha256sum" $pigz_r
    row "baton bundle build" $baton_r
    echo
    awk -v g="${gzip_r% *}" -v p="${pigz_r% *}" -v b="${baton_r% *}" \
        'BEGIN {printf "baton is %.2fx the gzip pipeline and %.2fx the pigz pipeline.\n", g/b, p/b}'
    echo
    echo "Small descriptor (examples/web, $(find examples/web -type f | wc -l) files): median ${small_ms} ms per build, process start included."
    echo
    echo "Same digest with --threads 1 and --threads 2: $same"
    echo
    echo "Registries: Debian's docker-registry on loopback; a bundle of incompressible content, $((layer_bytes / 1048576)) MiB of blobs."
    echo
    echo "| transfer | seconds | MB/s | peak RSS MiB |"
    echo "|---|---|---|---|"
    for r in "${reg_rows[@]}"; do
        IFS='|' read -r label secs rss <<< "$r"
        awk -v n="$label" -v s="$secs" -v r="$rss" -v b="$layer_bytes" 'BEGIN {printf "| %s | %.2f | %.0f | %.0f |\n", n, s, b/s/1e6, r/1024}'
    done
} | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
bash scripts/bench-promote.sh
bash scripts/bench-apply.sh
bash scripts/bench-publish.sh
bash scripts/bench-audit.sh
bash scripts/bench-remote.sh
bash scripts/bench-evidence.sh
bash scripts/bench-fleet.sh
