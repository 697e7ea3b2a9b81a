#!/usr/bin/env python3
"""Writes a git fast-import stream of a baton state repository to stdout: ENVS environments,
BUNDLES bundles and COMMITS baton commits on branch main (consecutive commits continue it) (the first ENVS*BUNDLES pin every pair once, the rest
re-pin pairs at random), each with the state file and Baton-* trailers baton itself writes.

With DIGESTS (lines of `BUNDLE VERSION DIGEST`, bundles named app-000…), every pin names a real
bundle version from that file that the upstream environment held before, with the params digest
of no params file, so that an audit of the history finds nothing to report and the stores (`oci:stores/ENV`) can hold every pinned bundle.

usage: gen-state.py ENVS BUNDLES COMMITS [DIGESTS] | git fast-import --quiet
"""
import random
import sys
from datetime import datetime, timezone

envs, bundles, commits = (int(a) for a in sys.argv[1:4])
real = {}
if len(sys.argv) > 4:
    with open(sys.argv[4]) as f:
        for line in f:
            name, version, digest = line.split()
            real.setdefault(name, []).append((version, digest))
EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
rng = random.Random(42)
out = sys.stdout.buffer
mark = 0


def blob(text):
    global mark
    mark += 1
    data = text.encode()
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n")
    return mark


def commit(when, message, files):
    global mark
    mark += 1
    msg = message.encode()
    out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
    out.write(b"author Bench <bench@example.com> %d +0000\n" % when)
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % when)
    out.write(b"data %d\n" % len(msg) + msg + b"\n")
    for path, m in files:
        out.write(b"M 100644 :%d %s\n" % (m, path.encode()))
    out.write(b"\n")


names = [f"env-{i:02d}" for i in range(envs)]
pipeline = "".join(f'[[environment]]\nname = "{n}"\nstore = "oci:stores/{n}"\n\n' for n in names)
start = 1_700_000_000
commit(start, "pipeline\n", [("baton.toml", blob(pipeline))])
pairs = [(e, b) for e in names for b in range(bundles)]
held = {}
for i in range(commits):
    env, b = pairs[i] if i < len(pairs) else rng.choice(pairs)
    bundle = f"app-{b:03d}"
    digest = "sha256:" + "%064x" % rng.getrandbits(256)
    params = "sha256:" + "%064x" % rng.getrandbits(256)
    version = f"1.0.{i}"
    source = "oci:build"
    if real:
        # The chain: env-NN pins only what env-(NN-1), its upstream, held before.
        k = names.index(env)
        choices = real[bundle] if k == 0 else sorted(held[(names[k - 1], bundle)])
        version, digest = rng.choice(choices)
        held.setdefault((env, bundle), set()).add((version, digest))
        params = EMPTY
        source = names[k - 1] if k else source
    when = start + 60 * (i + 1)
    at = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = (
        f'bundle = "{bundle}"\nenvironment = "{env}"\ndigest = "{digest}"\nversion = "{version}"\n'
        f'params_digest = "{params}"\naction = "promote"\nsource_store = "oci:build"\n'
        f'by = "ci@example.com"\nat = "{at}"\n'
    )
    message = (
        f"promote {bundle} {version} to {env} ({digest[7:19]})\n\n"
        f"Baton-Action: promote\nBaton-Bundle: {bundle}\nBaton-Digest: {digest}\n"
        f"Baton-From: {source}\nBaton-To: {env}\nBaton-Version: {version}\n"
        f"Baton-By: ci@example.com\nBaton-Params: {params}\n"
    )
    commit(when, message, [(f"state/{env}/{bundle}.toml", blob(record))])
