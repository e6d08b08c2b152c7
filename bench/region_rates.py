#!/usr/bin/env python3
"""Base rates of region maps, from `fauxscope scan DATASET --regions --json` on a
`real/**` + `fake/<generator>/**` dataset such as aigi-dev/val: how often a tile, and an image,
of each class has tiles above the detector's threshold, and how well the image's highest
and mean tile scores separate each generator from the real photos (AUC), beside the
detector's own score.

    python3 bench/region_rates.py SCAN.json
"""
import json
import sys


def auc(pos, neg):
    n = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return n / len(pos) / len(neg)


# Only the scanned images (errors and files not examined have no scores).
rows = [r for r in json.load(open(sys.argv[1])) if r.get("status", "scanned") == "scanned"]
groups = {}
for r in rows:
    if "regions" not in r:
        continue
    parts = r["path"].replace("\\", "/").split("/")
    i = max(k for k, x in enumerate(parts) if x in ("real", "fake"))
    g = "real" if parts[i] == "real" else parts[i + 1]
    tiles = r["regions"]["map"]
    scores = [t["score"] for t in tiles]
    groups.setdefault(g, []).append(
        {
            "score": r["score"],
            "max": max(scores),
            "mean": sum(scores) / len(scores),
            "tiles": len(tiles),
            "flagged": sum(t["flagged"] for t in tiles),
        }
    )

print("| images | n | tiles per image | tiles flagged | images with a flagged tile | "
      "images with over half flagged | AUC: detector | AUC: highest tile | AUC: mean tile |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
real = groups["real"]
for g in ["real"] + sorted(k for k in groups if k != "real"):
    v = groups[g]
    t = sum(x["tiles"] for x in v)
    f = sum(x["flagged"] for x in v)
    any_ = sum(x["flagged"] > 0 for x in v) / len(v)
    half = sum(x["flagged"] * 2 > x["tiles"] for x in v) / len(v)
    if g == "real":
        aucs = " | | "
    else:
        aucs = " | ".join(
            f"{auc([x[k] for x in v], [x[k] for x in real]):.3f}" for k in ("score", "max", "mean")
        )
    print(f"| {g} | {len(v)} | {t / len(v):.1f} | {f / t:.3f} | {any_:.3f} | {half:.3f} | {aucs} |")
