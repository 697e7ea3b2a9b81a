#!/usr/bin/env bash
# Starts Debian's docker-registry (distribution) on 127.0.0.1 on a free port, storage in DIR.
#   scripts/registry.sh start DIR [USER PASSWORD]   prints HOST:PORT once /v2/ answers
#   scripts/registry.sh stop DIR
# With USER and PASSWORD the registry requires htpasswd (bcrypt) authentication; REGISTRY_PORT
# fixes the port; BATON_REGISTRY_ACCESS_LOG=1 writes one line per request to DIR/registry.log.
set -euo pipefail
cmd=$1 dir=$2
case "$cmd" in
start)
    mkdir -p "$dir/data"
    port=${REGISTRY_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    {
        echo "version: 0.1"
        if [ "${BATON_REGISTRY_ACCESS_LOG:-}" = 1 ]; then
            echo "log: {level: error, accesslog: {disabled: false}}"
        else
            echo "log: {level: error, accesslog: {disabled: true}}"
        fi
        echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
        echo "http: {addr: 127.0.0.1:$port, secret: baton-test}"
        if [ $# -ge 4 ]; then
            htpasswd -Bbn "$3" "$4" > "$dir/htpasswd"
            echo "auth: {htpasswd: {realm: baton-test, path: $dir/htpasswd}}"
        fi
    } > "$dir/config.yml"
    nohup docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
    echo $! > "$dir/pid"
    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
        if [ "$code" = 200 ] || [ "$code" = 401 ]; then
            echo "127.0.0.1:$port"
            exit 0
        fi
        sleep 0.1
    done
    echo "registry.sh: docker-registry did not answer on 127.0.0.1:$port; its log:" >&2
    cat "$dir/registry.log" >&2
    exit 1
    ;;
stop)
    if [ -f "$dir/pid" ]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    ;;
*)
    echo "usage: registry.sh start DIR [USER PASSWORD] | stop DIR" >&2
    exit 2
    ;;
esac
