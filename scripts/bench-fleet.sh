#!/usr/bin/env bash
# The fleet's benchmark (run by `make bench`, or alone): AGENTS agents (default 50), separate
# `baton agent` processes each with its own directory, target id and SSH key, passes every
# INTERVAL seconds (default 5), against one state repository served by nginx + git
# http-backend over HTTPS (scripts/gitserver.sh) and one registry (Debian's docker-registry
# with its access log on, scripts/registry.sh).
#   - time from the promotion to staging (pushed) until every agent reported the digest
#     verified, against the apply time of one agent alone (`baton agent --once`);
#   - requests per idle pass, counted in the servers' own access logs, against what `git fetch`
#     of an up-to-date clone asks of the same server;
#   - each agent's resident memory when idle and its peak;
#   - the promotion to prod whose `verified = "all"` gate reads the fleet's reports.
# Environment: BENCH_DIR, AGENTS, INTERVAL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages /usr/bin/time:time python3:python3 docker-registry:docker-registry curl:curl git:git \
    /usr/sbin/nginx:nginx /usr/sbin/fcgiwrap:fcgiwrap /usr/sbin/sshd:openssh-server \
    openssl:openssl htpasswd:apache2-utils ssh-keygen:openssh-client
bench=${BENCH_DIR:-/tmp/baton-bench}
agents=${AGENTS:-50}
interval=${INTERVAL:-5}
results="$bench/fleet-results.md"
mkdir -p "$bench"
release_baton

work="$bench/fleet"
rm -rf "$work" && mkdir -p "$work"
token="bench-$RANDOM$RANDOM"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/registry.sh stop "$work/registry"
    scripts/gitserver.sh stop "$work/git"
}
trap cleanup EXIT
reg=$(BATON_REGISTRY_ACCESS_LOG=1 scripts/registry.sh start "$work/registry")
read -r https_port _ < <(scripts/gitserver.sh start "$work/git" x-access-token "$token")
export GIT_SSL_CAINFO="$work/git/ca.pem" BATON_GIT_TOKEN="$token" GIT_TERMINAL_PROMPT=0
export HOME="$work/home" && mkdir -p "$HOME"
printf '[credential]\n\thelper = store\n[user]\n\tname = ci\n\temail = ci@example.com\n' > "$HOME/.gitconfig"
echo "https://x-access-token:$token@127.0.0.1:$https_port" > "$HOME/.git-credentials"
url="https://127.0.0.1:$https_port/state.git"
registry_requests() { grep -c '] "[A-Z]* /v2/' "$work/registry/registry.log" || true; }
git_requests() { wc -l < "$work/git/access.log"; }
now() { date +%s.%N; }

step "a state repository for a fleet of $agents, over HTTPS"
git init -q --bare -b main "$work/git/repos/state.git"
git -C "$work/git/repos/state.git" config http.receivepack true
state="$work/state" && mkdir -p "$state/.baton" "$work/keys"
ssh-keygen -q -t ed25519 -N '' -C ci -f "$work/keys/ci"
echo "ci $(cat "$work/keys/ci.pub")" > "$state/.baton/allowed_signers"
ids=()
for i in $(seq -w 1 "$agents"); do
    id="web-$i" && ids+=("$id")
    ssh-keygen -q -t ed25519 -N '' -C "$id" -f "$work/keys/$id"
    echo "$id@staging.target $(cat "$work/keys/$id.pub")" >> "$state/.baton/allowed_signers"
done
listed=$(printf '"%s", ' "${ids[@]}") && listed=${listed%, }
cat > "$state/baton.toml" <<EOF
[[environment]]
name = "dev"
store = "oci:$work/stores/dev"
target = { kind = "dir", path = "deploy/dev" }

[[environment]]
name = "staging"
store = "$reg/fleet/staging"
targets = [$listed]
target = { kind = "dir", path = "deploy/staging", verify = { name = "health page", command = ["test", "-s", "html/health.txt"] } }

[[environment]]
name = "prod"
store = "oci:$work/stores/prod"
gates = { verified = "all" }
EOF
for env in dev staging prod; do
    mkdir -p "$state/params/$env"
    printf 'server_name = "%s.example.com"\ntls_key = { from_env = "WEB_TLS_KEY" }\n' "$env" > "$state/params/$env/web.toml"
done
export WEB_TLS_KEY="bench-tls-key"
git -C "$state" init -q -b main
git -C "$state" add -A && git -C "$state" commit -q -m "a fleet in staging"
git -C "$state" remote add origin "$url"
git -C "$state" push -q -u origin main
site="$work/site" && cp -r examples/web "$site" && echo ok > "$site/html/health.txt"
"$baton" bundle build "$site" --store "oci:$work/build" > /dev/null
digest=$("$baton" bundle list --store "oci:$work/build" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["digest"])')
promote() { (cd "$state" && "$baton" promote web --as ci --sign-key "$work/keys/ci" "$@" > /dev/null); }
promote --to dev --digest "$digest" --from-store "oci:$work/build"

step "one agent alone: the apply time of one pass"
# A promotion to a throwaway staging of a copy of the remote would change what the fleet sees;
# instead one agent applies the pin of dev (the same bundle) in a directory of its own.
solo="$work/solo" && mkdir -p "$solo"
solo_r=$(cd "$solo" && measure env BATON_CACHE="$solo/cache" BATON_APPLIED_DIR="$solo/applied" "$baton" agent --env dev --once --state "$url")

step "$agents agents, a pass every ${interval}s"
for id in "${ids[@]}"; do
    dir="$work/hosts/$id" && mkdir -p "$dir"
    (cd "$dir" && exec env BATON_TARGET_ID="$id" BATON_SIGN_KEY="$work/keys/$id" BATON_CACHE="$dir/cache" \
        BATON_APPLIED_DIR="$dir/applied" "$baton" agent --env staging --interval "$interval" \
        --state "$url" --health-file "$dir/health.json" 2> "$dir/agent.log") &
    pids+=($!)
done
# Every agent has made its first pass (staging pins nothing yet).
until python3 - "$work/hosts" <<'EOF'
import json, os, sys
hosts = sys.argv[1]
for h in os.listdir(hosts):
    try:
        if json.load(open(os.path.join(hosts, h, "health.json")))["passes"] < 1:
            sys.exit(1)
    except (OSError, ValueError, KeyError):
        sys.exit(1)
EOF
do sleep 0.2; done

step "promote to staging, wait until every agent reported it verified"
# CPU the machine spent (all processes), in clock ticks, from /proc/stat.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# CPU the agents spent, in clock ticks.
agents_cpu() { for pid in "${pids[@]}"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done | awk '{s += $1} END {print s}'; }
busy0=$(busy) agents0=$(agents_cpu)
promote --to staging
# The promoter's own requests (the copy, its summary) are done once the push is: what follows
# is the agents'.
promoted=$(now) reg_before=$(registry_requests)
all_verified() {
    python3 - "$work/hosts" "$digest" <<'EOF'
import json, os, sys
hosts, digest = sys.argv[1], sys.argv[2]
for h in os.listdir(hosts):
    memory = os.path.join(hosts, h, "deploy/staging/web/.report.json")
    try:
        report = json.load(open(memory))
    except (OSError, ValueError):
        sys.exit(1)
    if report["report"]["digest"] != digest or report.get("written") is None:
        sys.exit(1)
EOF
}
until all_verified; do sleep 0.1; done
converged=$(now)
busy1=$(busy) agents1=$(agents_cpu) ticks=$(getconf CLK_TCK)
reg_converge=$(( $(registry_requests) - reg_before ))

step "idle passes: what the servers see"
passes() { python3 -c 'import json,sys; print(sum(json.load(open(p))["passes"] for p in sys.argv[1:]))' "$work"/hosts/*/health.json; }
reg0=$(registry_requests) git0=$(git_requests) p0=$(passes) idle_busy0=$(busy) idle_agents0=$(agents_cpu)
sleep $((interval * 4))
reg1=$(registry_requests) git1=$(git_requests) p1=$(passes) idle_busy1=$(busy) idle_agents1=$(agents_cpu)
idle_passes=$((p1 - p0))
rss=$(for pid in "${pids[@]}"; do awk '/VmRSS/ {print $2}' "/proc/$pid/status"; done | sort -n)
hwm=$(for pid in "${pids[@]}"; do awk '/VmHWM/ {print $2}' "/proc/$pid/status"; done | sort -n)
anon=$(for pid in "${pids[@]}"; do awk '/RssAnon/ {print $2}' "/proc/$pid/status"; done | sort -n)
# Proportional: the binary's pages, shared by every agent on the host, counted once in all.
pss=$(for pid in "${pids[@]}"; do awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup"; done | sort -n)
median() { awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# What a user's own loop would ask of the same server: `git fetch` of an up-to-date clone.
# The agents keep passing meanwhile: count only git's own requests (its user agent).
clone="$work/clone" && git clone -q "$url" "$clone"
git_cli_requests() { grep -c '"git/[0-9]' "$work/git/access.log" || true; }
g0=$(git_cli_requests) && git -C "$clone" fetch -q && g1=$(git_cli_requests)

step "promote to prod through the fleet's reports"
prod_r=$(cd "$state" && measure "$baton" promote web --to prod --as ci --sign-key "$work/keys/ci")

{
    echo "### Fleet — $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo
    echo "$agents \`baton agent\` processes (interval ${interval}s, each its own directory, id and ed25519 key) against one state repository over HTTPS (nginx + git http-backend, a token) and one docker-registry, all on this machine; examples/web with a health page, checked by \`test -s html/health.txt\`."
    echo
    echo "| measure | value |"
    echo "|---|---|"
    awk -v p="$promoted" -v c="$converged" 'BEGIN {printf "| promotion pushed → all verified and reported | %.1f s |\n", c - p}'
    echo "| one agent's pass that applies the bundle (alone, \`--once\`) | ${solo_r% *} s |"
    awk -v a="$((agents1 - agents0))" -v b="$((busy1 - busy0))" -v t="$ticks" -v n="$agents" -v p="$promoted" -v c="$converged" -v k="$(nproc)" \
        'BEGIN {printf "| CPU while it converged: the agents / the whole machine | %.1f s (%.2f s per agent) / %.1f s of %.1f s available |\n", a/t, a/t/n, b/t, (c-p)*k}'

    echo "| registry requests while the fleet converged | $reg_converge ($((reg_converge / agents)) per agent) |"
    echo "| idle passes counted | $idle_passes |"
    echo "| registry requests during them | $((reg1 - reg0)) |"
    awk -v g="$((git1 - git0))" -v p="$idle_passes" 'BEGIN {printf "| git requests during them | %d (%.2f per pass) |\n", g, g/p}'
    awk -v a="$((idle_agents1 - idle_agents0))" -v b="$((idle_busy1 - idle_busy0))" -v t="$ticks" -v p="$idle_passes" -v g="$((git1 - git0))" \
        'BEGIN {printf "| CPU per idle pass: the agent / the rest of the machine (git server, per request) | %.1f ms / %.1f ms |\n", 1000*a/t/p, 1000*(b-a)/t/g}'
    echo "| git requests of one \`git fetch\` that finds nothing ($(git --version | cut -d' ' -f3)) | $((g1 - g0)) |"
    echo "| agent RSS when idle, median / max | $(($(echo "$rss" | median) / 1024)) / $(($(echo "$rss" | tail -1) / 1024)) MiB |"
    echo "| agent peak RSS, median / max | $(($(echo "$hwm" | median) / 1024)) / $(($(echo "$hwm" | tail -1) / 1024)) MiB |"
    echo "| agent private memory (RssAnon) when idle, median / max | $(($(echo "$anon" | median) / 1024)) / $(($(echo "$anon" | tail -1) / 1024)) MiB |"
    echo "| agent proportional memory (Pss) when idle, median / max | $(($(echo "$pss" | median) / 1024)) / $(($(echo "$pss" | tail -1) / 1024)) MiB |"
    echo "| promote to prod, reading $agents reports | ${prod_r% *} s, $(( ${prod_r#* } / 1024 )) MiB |"
} | tee "$results"
echo
echo "results written to $results; copy them into BENCHMARKS.md"
