#!/usr/bin/env python3
"""Per-generator AUC and balanced accuracy (at p > 0.5) from `fauxscope scan DATASET --json`
output on a `real/**` + `fake/<generator>/**` dataset such as aigi-dev/val.

    python3 bench/scan_auc.py SCAN.json [...]
"""
import json
import sys


def auc(pos, neg):
    n = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return n / len(pos) / len(neg)


for path in sys.argv[1:]:
    p = {}
    for r in json.load(open(path)):
        if r.get("status", "scanned") != "scanned":  # errors and files not examined
            continue
        parts = r["path"].replace("\\", "/").split("/")
        i = max(k for k, x in enumerate(parts) if x in ("real", "fake"))
        p["/".join(parts[i:])] = r["probability"]
    reals = [v for k, v in p.items() if k.startswith("real/")]
    real_acc = sum(v <= 0.5 for v in reals) / len(reals)
    fams = sorted({k.split("/")[1] for k in p if k.startswith("fake/")})
    rows = []
    for fam in fams:
        pos = [v for k, v in p.items() if k.startswith(f"fake/{fam}/")]
        ba = (real_acc + sum(v > 0.5 for v in pos) / len(pos)) / 2
        rows.append((fam, auc(pos, reals), ba))
    print(
        f"{path}: real acc {real_acc:.3f}, mean AUC {sum(r[1] for r in rows) / len(rows):.3f}, "
        f"mean bal. acc {sum(r[2] for r in rows) / len(rows):.3f}"
    )
    for fam, a, ba in rows:
        print(f"  {fam}: AUC {a:.3f}, bal. acc {ba:.3f}")
