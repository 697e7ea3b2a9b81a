# Shared helpers for the scripts. Source it; it changes nothing by itself.

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages that are missing: `need_packages CMD:PACKAGE ...`. Only what is
# needed (`--no-install-recommends`), and no service is started or enabled for the moment of the
# install (a `policy-rc.d` that answers 101, Debian's way to say "not now"): the tests start
# their own servers on loopback ports.
need_packages() {
    local missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if ((${#missing[@]})); then
        echo "installing ${missing[*]} (Debian packages)" >&2
        local policy=/usr/sbin/policy-rc.d added=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
            as_root chmod 755 "$policy"
            added=1
        fi
        local status=0
        as_root apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
            status=$?
        if [ "$added" = 1 ]; then as_root rm -f "$policy"; fi
        return "$status"
    fi
}

# Prints a section heading.
step() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

# Makes DIR a descriptor named `noise` of 1 GiB of incompressible content (kept between runs).
make_noise() {
    local noise=$1
    if [ ! -f "$noise/.complete" ]; then
        rm -rf "$noise" && mkdir -p "$noise"
        printf '[bundle]\nname = "noise"\nversion = "1.0.0"\n' > "$noise/bundle.toml"
        printf '.complete\n' > "$noise/.batonignore"
        for i in $(seq 0 7); do head -c 134217728 /dev/urandom > "$noise/part-$i.bin"; done
        touch "$noise/.complete"
    fi
}

# Runs "$@" under /usr/bin/time; prints "seconds max_rss_kib", or "nan 0" when it failed.
measure() {
    local log
    log=$(mktemp)
    if ! /usr/bin/time -v -o "$log" "$@" > /dev/null; then
        echo "bench: failed: $*" >&2
        rm -f "$log"
        echo "nan 0"
        return 0
    fi
    awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=(n==3)?t[1]*3600+t[2]*60+t[3]:t[1]*60+t[2]}
                /Maximum resident set size/ {m=$2} END {printf "%.3f %d\n", s, m}' "$log"
    rm -f "$log"
}

# Runs `bash -c CMD` RUNS times, each after BEFORE (a command, or `:`); prints
# "LABEL|median seconds|peak RSS KiB".   median_case LABEL BEFORE CMD
median_case() {
    local label=$1 before=$2 cmd=$3 out=() rss=0 r
    for _ in $(seq "${runs:-3}"); do
        $before
        r=$(measure bash -c "$cmd")
        out+=("${r% *}")
        ((${r#* } > rss)) && rss=${r#* }
    done
    printf '%s\n' "${out[@]}" | sort -n | awk -v rss="$rss" -v l="$label" '{a[NR]=$1} END {printf "%s|%s|%d\n", l, a[int((NR+1)/2)], rss}'
}

# Prints a results section: a heading "### TITLE — date, cores, CPU", NOTE, and a table of
# "LABEL|seconds|peak RSS KiB" rows (as median_case prints them).   results_table TITLE NOTE ROW…
results_table() {
    local title=$1 note=$2 r label secs rss
    shift 2
    echo "### $title — $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo
    echo "$note"
    echo
    echo "| case | seconds | peak RSS MiB |"
    echo "|---|---|---|"
    for r in "$@"; do
        IFS='|' read -r label secs rss <<< "$r"
        awk -v n="$label" -v s="$secs" -v r="$rss" 'BEGIN {printf "| %s | %.3f | %.0f |\n", n, s, r/1024}'
    done
}

# Builds the release binary and sets `baton` to it.
release_baton() {
    step "release build"
    cargo build --release --locked -p baton --bin baton
    baton="$PWD/target/release/baton"
}

# Generates the descriptor of scripts/gen-descriptor.py (FILES files, MIB MiB) into DIR, once:
# it is kept between runs. Its marker is ignored by builds.   ensure_descriptor DIR FILES MIB
ensure_descriptor() {
    local dir=$1 files=$2 mib=$3
    if [ ! -f "$dir/.complete-$files-$mib" ]; then
        step "generate $files files, $mib MiB into $dir"
        rm -rf "$dir"
        python3 scripts/gen-descriptor.py "$dir" "$files" "$mib"
        touch "$dir/.complete-$files-$mib"
    fi
    printf '.complete-*\n' > "$dir/.batonignore"
}
