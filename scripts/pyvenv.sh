#!/usr/bin/env bash
# `scripts/pyvenv.sh DIR`: a Python virtual environment in DIR holding the verifiers nobody on
# the team wrote that the tests check baton's output with (securesystemslib for DSSE, oras for
# referrers, cryptography for keys, PyYAML for rendered YAML, kubernetes-validate for rendered
# manifests, check-jsonschema for the CI examples), installed from PyPI at pinned
# versions. Made once; made again when the pins change. Prints the interpreter's path.
set -euo pipefail
dir=$1
pins="securesystemslib==1.6.0 oras==0.2.43 cryptography==50.0.2 PyYAML==6.0.3 kubernetes-validate==1.37.0 check-jsonschema==0.39.0"
if [[ ! -x "$dir/bin/python" || "$(cat "$dir/pins" 2>/dev/null)" != "$pins" ]]; then
    rm -rf "$dir"
    python3 -m venv "$dir" >&2
    # shellcheck disable=SC2086
    timeout 600 "$dir/bin/pip" install --quiet --disable-pip-version-check $pins >&2
    echo "$pins" >"$dir/pins"
fi
echo "$dir/bin/python"
