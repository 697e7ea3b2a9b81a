#!/usr/bin/env bash
# The shared state repository's benchmarks (run by `make bench`, or alone), against real
# servers on loopback: nginx + git http-backend over HTTPS (scripts/gitserver.sh) and
# Debian's docker-registry (scripts/registry.sh).
#   - promote an unchanged 1 GiB bundle from dev to staging in a clone of the HTTPS remote
#     (fetch + check + copy + commit + push), against what a script does in the same run:
#     git pull --ff-only && skopeo copy && git commit && git push;
#   - 16 promoters in 16 clones at once (16 small bundles), total time, retries and the CPU
#     the machine spent, against one promotion of one of them alone and the same 16 promotions
#     one after another.
# Medians of RUNS runs (default 3). Environment: BENCH_DIR, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 skopeo:skopeo docker-registry:docker-registry \
    curl:curl git:git /usr/sbin/nginx:nginx /usr/sbin/fcgiwrap:fcgiwrap /usr/sbin/sshd:openssh-server \
    openssl:openssl htpasswd:apache2-utils
bench=${BENCH_DIR:-/tmp/baton-bench}
runs=${RUNS:-3}
results="$bench/remote-results.md"
mkdir -p "$bench"
release_baton

noise="$bench/noise"
make_noise "$noise"
work="$bench/remote"
rm -rf "$work" && mkdir -p "$work"
token="bench-$RANDOM$RANDOM"
trap 'scripts/registry.sh stop "$work/registry"; scripts/gitserver.sh stop "$work/git"' EXIT
reg=$(scripts/registry.sh start "$work/registry")
read -r https_port _ < <(scripts/gitserver.sh start "$work/git" x-access-token "$token")
export GIT_SSL_CAINFO="$work/git/ca.pem" BATON_GIT_TOKEN="$token" GIT_TERMINAL_PROMPT=0
export HOME="$work/home" && mkdir -p "$HOME"
printf '[credential]\n\thelper = store\n[user]\n\tname = ci\n\temail = ci@example.com\n' > "$HOME/.gitconfig"
echo "https://x-access-token:$token@127.0.0.1:$https_port" > "$HOME/.git-credentials"
url="https://127.0.0.1:$https_port/state.git"

"$baton" bundle build "$noise" --store "oci:$work/build" > /dev/null
noise_digest=$("$baton" bundle list --store "oci:$work/build" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["digest"])')
for i in $(seq -w 1 16); do
    mkdir -p "$work/svc/svc-$i"
    printf '[bundle]\nname = "svc-%s"\nversion = "1.0.0"\n' "$i" > "$work/svc/svc-$i/bundle.toml"
    echo "service $i" > "$work/svc/svc-$i/index.html"
    "$baton" bundle build "$work/svc/svc-$i" --store "oci:$work/build" > /dev/null
done

# The sixteen small bundles' digests, listed once: "svc-NN sha256:…" lines.
svc_digests=$("$baton" bundle list --store "oci:$work/build" --output json | python3 -c '
import json, sys
for b in json.load(sys.stdin):
    if b["name"].startswith("svc-"):
        print(b["name"], b["digest"])')

# A fresh remote whose dev holds every bundle, with staging in registry repositories of its own.
seed() {
    local name=$1 seed="$work/seed-$RANDOM$RANDOM" prefix="$reg/r$RANDOM$RANDOM"
    git init -q --bare -b main "$work/git/repos/$name"
    git -C "$work/git/repos/$name" config http.receivepack true
    mkdir -p "$seed"
    printf '[[environment]]\nname = "dev"\nstore = "%s/dev"\n\n[[environment]]\nname = "staging"\nstore = "%s/staging"\n' "$prefix" "$prefix" > "$seed/baton.toml"
    git -C "$seed" init -q -b main
    git -C "$seed" add -A && git -C "$seed" commit -q -m pipeline
    git -C "$seed" remote add origin "https://127.0.0.1:$https_port/$name"
    git -C "$seed" push -q -u origin main
    (cd "$seed" && "$baton" promote noise --to dev --digest "$noise_digest" --from-store "oci:$work/build" --as ci > /dev/null)
    while read -r bundle digest; do
        (cd "$seed" && "$baton" promote "$bundle" --to dev --digest "$digest" --from-store "oci:$work/build" --as ci > /dev/null)
    done <<< "$svc_digests"
    echo "$prefix"
}

step "promote through the HTTPS remote: 1 GiB, dev → staging"
# Each run, baton and the script each promote in a fresh clone of a remote of their own (the
# script's hand-written pin would be refused by baton, rightly), into staging repositories of
# their own, so the bytes really move. skopeo's blob cache is emptied, as on a fresh runner.
baton_rows=() script_rows=() rss_b=0 rss_s=0
for r in $(seq "$runs"); do
    name="baton-$r-$RANDOM.git" && prefix=$(seed "$name")
    clone="$work/clone-$r" && git clone -q "https://127.0.0.1:$https_port/$name" "$clone"
    m=$(cd "$clone" && measure "$baton" promote noise --to staging --as ci)
    baton_rows+=("${m% *}"); ((${m#* } > rss_b)) && rss_b=${m#* }
    name="script-$r-$RANDOM.git" && prefix=$(seed "$name")
    script="$work/script-$r" && git clone -q "https://127.0.0.1:$https_port/$name" "$script"
    m=$(cd "$script" && measure bash -c "set -e
        rm -f \"\$HOME\"/.local/share/containers/cache/blob-info-cache-v1.* /var/lib/containers/cache/blob-info-cache-v1.* 2>/dev/null || true
        git pull -q --ff-only
        skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://$prefix/dev/noise@$noise_digest docker://$prefix/staging/noise:1.0.0
        mkdir -p state/staging && echo 'digest = \"$noise_digest\"' > state/staging/noise.toml
        git add state && git commit -q -m 'promote noise to staging' && git push -q")
    script_rows+=("${m% *}"); ((${m#* } > rss_s)) && rss_s=${m#* }
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rows=("baton promote through the HTTPS remote (fetch, check, copy, commit, push)|$(median "${baton_rows[@]}")|$rss_b"
      "git pull --ff-only + skopeo copy + git commit + git push|$(median "${script_rows[@]}")|$rss_s")

# The CPU time of every process on the machine, in clock ticks, and since a count of them.
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
cpu_seconds() { echo "$(( $(cpu_ticks) - $1 ))" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", $1 / hz}'; }

step "16 promoters in 16 clones at once"
name="race-$RANDOM.git"
seed "$name" > /dev/null
one="$work/one" && git clone -q "https://127.0.0.1:$https_port/$name" "$one"
cpu_start=$(cpu_ticks)
m=$(cd "$one" && measure "$baton" promote svc-01 --to staging --as ci)
rows+=("one small promotion alone, CPU of the whole machine $(cpu_seconds $cpu_start) s|${m% *}|${m#* }")
for i in $(seq -w 2 16); do git clone -q "https://127.0.0.1:$https_port/$name" "$work/racer-$i"; done
log="$work/race.log" && : > "$log"
cpu_start=$(cpu_ticks)
start=$(python3 -c "import time; print(time.time())")
for i in $(seq -w 2 16); do
    (cd "$work/racer-$i" && BATON_LOG=info "$baton" promote "svc-$i" --to staging --as ci >/dev/null 2>>"$log") &
done
(cd "$one" && BATON_LOG=info "$baton" promote svc-01 --to staging --as ci --output json >/dev/null 2>>"$log") &
wait
total=$(python3 -c "import time; print(round(time.time() - $start, 3))")
retries=$(grep -c "reading it again" "$log" || true)
landed=$(git -C "$work/git/repos/$name" log --format=%s main | grep -c "to staging" || true)
rows+=("16 promoters at once, all landed ($landed commits to staging, $retries retries), CPU of the whole machine $(cpu_seconds $cpu_start) s|$total|0")

# The same sixteen promotions one after another, on a remote of their own: what the race costs
# against no contention at all, and the CPU one promotion takes (baton, git push and the servers).
name="serial-$RANDOM.git"
seed "$name" > /dev/null
for i in $(seq -w 1 16); do git clone -q "https://127.0.0.1:$https_port/$name" "$work/serial-$i"; done
cpu_start=$(cpu_ticks)
start=$(python3 -c "import time; print(time.time())")
for i in $(seq -w 1 16); do
    (cd "$work/serial-$i" && "$baton" promote "svc-$i" --to staging --as ci > /dev/null 2>&1)
done
total=$(python3 -c "import time; print(round(time.time() - $start, 3))")
rows+=("the same 16 promotions one after another, CPU of the whole machine $(cpu_seconds $cpu_start) s|$total|0")

results_table "Shared state over HTTPS" "Promotions in clones of a state repository served by nginx + git http-backend over HTTPS on loopback, stores in one docker-registry; medians of $runs runs." "${rows[@]}" | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
