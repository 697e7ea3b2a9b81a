#!/usr/bin/env python3
"""Writes a large, realistic descriptor for `make bench`: YAML and JSON-like text files.

usage: gen-descriptor.py DIR [FILES] [TOTAL_MIB]
The content is pseudo-random with a fixed seed, so every run writes the same bytes.
"""
import json
import os
import random
import sys

out = sys.argv[1]
files = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
total = (int(sys.argv[3]) if len(sys.argv) > 3 else 1024) * 1024 * 1024
rng = random.Random(20261124)
words = ("api web worker cron cache queue orders payments search users auth gateway metrics "
         "logs billing inventory catalog cart checkout shipping notify report export import").split()
keys = ("replicas image port targetPort memory cpu timeout retries level enabled path host "
        "schedule region zone tier owner team version channel").split()


def yaml_doc(target):
    parts, size = [], 0
    while size < target:
        name = f"{rng.choice(words)}-{rng.choice(words)}-{rng.randrange(1000)}"
        block = [
            "---",
            "apiVersion: apps/v1",
            "kind: " + rng.choice(["Deployment", "Service", "ConfigMap", "CronJob", "Ingress"]),
            "metadata:",
            f"  name: {name}",
            "  labels:",
            f"    app.kubernetes.io/name: {name}",
            f"    team: {rng.choice(words)}",
            "spec:",
        ]
        for _ in range(rng.randrange(4, 14)):
            key = rng.choice(keys)
            value = rng.choice([
                str(rng.randrange(1, 65535)),
                f"\"{rng.choice(words)}.{rng.choice(words)}.example.com\"",
                f"registry.example.com/{rng.choice(words)}@sha256:{rng.getrandbits(256):064x}",
                rng.choice(["true", "false"]),
                f"{rng.randrange(50, 4000)}m",
            ])
            block.append(f"  {key}: {value}")
        text = "\n".join(block) + "\n"
        parts.append(text)
        size += len(text)
    return "".join(parts)


def json_doc(target):
    items, size = [], 0
    while size < target:
        item = {rng.choice(keys): rng.choice(words) + str(rng.randrange(10000)) for _ in range(rng.randrange(3, 9))}
        text = json.dumps(item, sort_keys=True)
        items.append(text)
        size += len(text) + 2
    return "[\n" + ",\n".join(items) + "\n]\n"


os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "bundle.toml"), "w") as f:
    f.write('[bundle]\nname = "bench"\nversion = "1.0.0"\nrender = ["**/*.tmpl"]\n')
average = total // files
written = 0
for i in range(files):
    d = os.path.join(out, f"svc-{i // 200:03d}")
    os.makedirs(d, exist_ok=True)
    target = max(256, int(rng.expovariate(1 / average))) if i < files - 1 else max(256, total - written)
    body = json_doc(target) if i % 5 == 0 else yaml_doc(target)
    ext = "json" if i % 5 == 0 else "yaml"
    with open(os.path.join(d, f"f{i:05d}.{ext}"), "w") as f:
        f.write(body)
    written += len(body)
print(f"wrote {files} files, {written / 2**20:.0f} MiB into {out}")
