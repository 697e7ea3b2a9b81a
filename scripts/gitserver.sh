#!/usr/bin/env bash
# A git server on 127.0.0.1 for the tests: Debian's nginx with fcgiwrap and git's own
# `git http-backend` over HTTPS (a CA made here, HTTP basic auth, push enabled), and Debian's
# openssh-server (its own config, host key and authorized_keys), each on a free port.
#   scripts/gitserver.sh start DIR USER PASSWORD   prints "HTTPS_PORT SSH_PORT" once both answer
#   scripts/gitserver.sh stop DIR
#   scripts/gitserver.sh restart DIR               starts them again on the same ports
# Repositories live in DIR/repos (bare, served as https://127.0.0.1:PORT/NAME and
# ssh://USER@127.0.0.1:PORT/DIR/repos/NAME); the CA is DIR/ca.pem; the SSH client key is
# DIR/ssh/client (known hosts DIR/ssh/known_hosts); nginx logs each request to DIR/access.log. `stop` kills each server with every git
# process it started, as a crash would.
set -euo pipefail
cmd=$1 dir=$2
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
launch() {
    local https_port ssh_port
    read -r https_port ssh_port < "$dir/ports"
    # fcgiwrap runs git http-backend for nginx, as the user who runs this script.
    setsid nohup fcgiwrap -c 4 -s "unix:$dir/fcgi.sock" > "$dir/fcgiwrap.log" 2>&1 &
    echo $! > "$dir/fcgiwrap.pid"

    for _ in $(seq 50); do [ -S "$dir/fcgi.sock" ] && break; sleep 0.1; done
    setsid nohup /usr/sbin/nginx -c "$dir/nginx.conf" -g 'daemon off;' > "$dir/nginx.log" 2>&1 &
    echo $! > "$dir/nginx.pid.launcher"

    [ "$(id -u)" = 0 ] && mkdir -p /run/sshd
    setsid nohup /usr/sbin/sshd -D -e -f "$dir/ssh/sshd_config" > "$dir/ssh/sshd.log" 2>&1 &
    echo $! > "$dir/sshd.pid"

    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/ca.pem" "https://127.0.0.1:$https_port/" || true)
        if [ "$code" = 401 ] && (exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null; then
            echo "$https_port $ssh_port"
            exit 0
        fi
        sleep 0.1
    done
    echo "gitserver.sh: nginx or sshd did not answer; their logs:" >&2
    cat "$dir/nginx.log" "$dir/nginx-error.log" "$dir/fcgiwrap.log" "$dir/ssh/sshd.log" >&2 2>/dev/null || true
    exit 1
}
case "$cmd" in
start)
    user=$3 password=$4
    mkdir -p "$dir/repos" "$dir/tmp" "$dir/ssh"
    dir=$(cd "$dir" && pwd)
    https_port=$(free_port)
    ssh_port=$(free_port)

    # TLS: a CA of our own and a certificate for 127.0.0.1 and localhost signed by it.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=baton test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
    htpasswd -bcB "$dir/htpasswd" "$user" "$password" 2>/dev/null

    {
        [ "$(id -u)" = 0 ] && echo "user root;"
        echo "worker_processes 1;"
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/nginx-error.log;"
        echo "events { worker_connections 256; }"
        echo "http {"
        echo "  access_log $dir/access.log;"
        for t in client_body fastcgi proxy uwsgi scgi; do echo "  ${t}_temp_path $dir/tmp/$t;"; done
        echo "  client_max_body_size 0;"
        echo "  server {"
        echo "    listen 127.0.0.1:$https_port ssl;"
        echo "    ssl_certificate $dir/server.pem;"
        echo "    ssl_certificate_key $dir/server.key;"
        echo "    location / {"
        echo "      auth_basic \"baton test\";"
        echo "      auth_basic_user_file $dir/htpasswd;"
        echo "      include /etc/nginx/fastcgi_params;"
        echo "      fastcgi_pass unix:$dir/fcgi.sock;"
        echo "      fastcgi_request_buffering off;"
        echo "      fastcgi_buffering off;"
        echo "      fastcgi_read_timeout 600s;"
        echo "      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;"
        echo "      fastcgi_param GIT_PROJECT_ROOT $dir/repos;"
        echo "      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";"
        echo "      fastcgi_param PATH_INFO \$uri;"
        echo "      fastcgi_param REMOTE_USER \$remote_user;"
        echo "    }"
        echo "  }"
        echo "}"
    } > "$dir/nginx.conf"
    # sshd: its own host key, config and authorized_keys; the client key is the tests'.
    ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh/host" -C "baton test host"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh/client" -C "baton test client"
    cp "$dir/ssh/client.pub" "$dir/ssh/authorized_keys"
    echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$dir/ssh/host.pub")" > "$dir/ssh/known_hosts"
    cat > "$dir/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $dir/ssh/host
PidFile $dir/ssh/sshd.pid
AuthorizedKeysFile $dir/ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel ERROR
EOF
    echo "$https_port $ssh_port" > "$dir/ports"
    launch
    ;;
restart)
    launch
    ;;
stop)
    for pid in "$dir/nginx.pid.launcher" "$dir/fcgiwrap.pid" "$dir/sshd.pid"; do
        if [ -f "$pid" ]; then
            # Each runs in its own process group: the git processes it started go with it.
            kill -KILL -- "-$(cat "$pid")" 2>/dev/null || kill -KILL "$(cat "$pid")" 2>/dev/null || true
            rm -f "$pid"
        fi
    done
    rm -f "$dir/fcgi.sock"
    ;;
*)
    echo "usage: gitserver.sh start DIR USER PASSWORD | stop DIR | restart DIR" >&2
    exit 2
    ;;
esac
