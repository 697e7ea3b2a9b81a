# Shared helpers for the scripts. Source it; it changes nothing by itself.

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages that are missing: `need_packages CMD:PACKAGE ...`.
need_packages() {
    local missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if ((${#missing[@]})); then
        echo "installing ${missing[*]} (Debian packages)" >&2
        as_root apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >&2
    fi
}

# Prints a section heading.
step() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}
