#!/usr/bin/env bash
# Debian's docker-registry as GHCR, GitLab or Harbor run one: over HTTPS with a private CA, and
# with the Docker token protocol (401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`)
# answered by tests/token_issuer.py, whose signing certificate the registry trusts.
#   scripts/token-registry.sh start DIR USER PASSWORD   prints HOST:PORT once /v2/ answers
#   scripts/token-registry.sh stop DIR
# The CA that signed the registry's certificate is DIR/ca.pem.
set -euo pipefail
cmd=$1 dir=$2
root=$(cd "$(dirname "$0")/.." && pwd)
case "$cmd" in
start)
    user=$3 password=$4
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    # shellcheck disable=SC2086
    openssl req -x509 $ec -days 2 -subj "/CN=baton test registry CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    # shellcheck disable=SC2086
    openssl req $ec -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
    # The issuer's own key and self-signed certificate: the registry's rootcertbundle.
    # shellcheck disable=SC2086
    openssl req -x509 $ec -days 2 -subj "/CN=baton test token issuer" \
        -keyout "$dir/issuer.key" -out "$dir/issuer.pem" 2>/dev/null
    setsid nohup /usr/bin/python3 "$root/tests/token_issuer.py" "$user" "$password" \
        "$dir/issuer.key" "$dir/issuer.pem" baton-test-issuer > "$dir/issuer.port" 2> "$dir/issuer.log" &
    echo $! > "$dir/issuer.pid"
    for _ in $(seq 100); do [ -s "$dir/issuer.port" ] && break; sleep 0.1; done
    issuer_port=$(cat "$dir/issuer.port")
    cat > "$dir/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: baton-test, tls: {certificate: $dir/server.pem, key: $dir/server.key}}
auth:
  token:
    realm: http://127.0.0.1:$issuer_port/token
    service: baton-test-registry
    issuer: baton-test-issuer
    rootcertbundle: $dir/issuer.pem
YAML
    setsid nohup docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
    echo $! > "$dir/registry.pid"
    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.pem" "https://127.0.0.1:$port/v2/" || true)
        if [ "$code" = 401 ]; then
            echo "127.0.0.1:$port"
            exit 0
        fi
        sleep 0.1
    done
    echo "token-registry.sh: the registry did not answer; its log and the issuer's:" >&2
    cat "$dir/registry.log" "$dir/issuer.log" >&2
    exit 1
    ;;
stop)
    for pid in "$dir/registry.pid" "$dir/issuer.pid"; do
        if [ -f "$pid" ]; then
            kill -- "-$(cat "$pid")" 2>/dev/null || kill "$(cat "$pid")" 2>/dev/null || true
            rm -f "$pid"
        fi
    done
    ;;
*)
    echo "usage: token-registry.sh start DIR USER PASSWORD | stop DIR" >&2
    exit 2
    ;;
esac
