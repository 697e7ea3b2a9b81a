#!/bin/sh
# Checks the rendered configuration and reloads nginx when it is running.
set -eu
nginx -t -p "$PWD" -c conf/nginx.conf
if [ -f nginx.pid ]; then
    nginx -p "$PWD" -c conf/nginx.conf -s reload
fi
