#!/usr/bin/env python3
"""Compares detectors at the same false-positive rate, with each threshold set on the data set
itself (for comparison only: the data then chooses the threshold). Input: `fauxscope scan DATASET
--json` outputs on a `real/**` + `fake/<generator>/**` data set such as aigi-dev/val.

For each false-positive rate f, the threshold is the score of the k-th highest-scoring real
photo, k = round(f x reals), and images scoring above it are called generated: exactly k real
photos are then flagged when no two scores tie. Printed per detector: mean AUC over the
generators (threshold-free), then for each rate "flagged reals: mean balanced accuracy" with
balanced accuracy (real accuracy + fake accuracy) / 2 against the pooled reals, as `eval` has it.

    python3 bench/matched_fpr.py [--rates 0.024,0.043,0.052,0.071] SCAN.json [...]
"""
import json
import sys


def auc(pos, neg):
    n = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return n / len(pos) / len(neg)


def families(path):
    """(family, score) per image: 'real' or the folder under fake/."""
    out = []
    for r in json.load(open(path)):
        if r.get("score") is None:
            continue
        parts = r["path"].replace("\\", "/").split("/")
        i = max(k for k, x in enumerate(parts) if x in ("real", "fake"))
        fam = "real" if parts[i] == "real" else parts[i + 1]
        out.append((fam, r["score"]))
    return out


args = sys.argv[1:]
rates = [0.024, 0.043, 0.052, 0.071]
if args[:1] == ["--rates"]:
    rates = [float(x) for x in args[1].split(",")]
    args = args[2:]
if not args:
    sys.exit(__doc__)
print("| scan | images | mean AUC | " + " | ".join(f"FP {r:.1%}" for r in rates) + " |")
print("|---|---:|---:|" + "---:|" * len(rates))
for path in args:
    rows = families(path)
    reals = sorted((s for f, s in rows if f == "real"), reverse=True)
    gens = sorted({f for f, _ in rows} - {"real"})
    fake = {g: [s for f, s in rows if f == g] for g in gens}
    cells = []
    for rate in rates:
        k = round(rate * len(reals))
        t = reals[k] if k < len(reals) else float("-inf")
        real_acc = sum(s <= t for s in reals) / len(reals)
        bal = [(real_acc + sum(s > t for s in fake[g]) / len(fake[g])) / 2 for g in gens]
        cells.append(f"{1 - real_acc:.3f}: {sum(bal) / len(bal):.3f}")
    mean_auc = sum(auc(fake[g], reals) for g in gens) / len(gens)
    print(f"| {path} | {len(rows)} | {mean_auc:.3f} | " + " | ".join(cells) + " |")
