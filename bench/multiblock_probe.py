"""Does reading several encoder blocks at once beat any single block? Frozen ViT-B/16 features
written by bench/synthetic_check.sh (plus val/ under resize:0.5 and jpeg:75, see
bench/multiblock_check.sh). A class-balanced L2 logistic probe (layer_probe.fit, on standardised
features) reads the class tokens of one block or of several blocks concatenated, trained on
train/ alone or with the simulated fakes and low-passed reals of `train --synthetic-fakes 1
--low-passed-reals 1`. The threshold is set for 5% false positives on train/'s genuine reals
(4-fold out-of-fold scores). Scored on val/ clean and under blur:1.0, resize:0.5 and jpeg:75.

With more features than images the L2 solution lies in the span of the training rows, so the fit
runs exactly on the coordinates of that span (an SVD), which keeps Newton's method cheap.
With BESIDE=DIR2 (features of the same lists written another way, e.g. the `+zoom2` view of
examples/layer_features.rs), each image's hidden states from DIR2 follow those of DIR, and the
block sets "z1-12" (DIR2's blocks 1-12) and "1-12+z1-12" (both) are added.
Usage: [BLOCKS=12,1-12] [SETS=NAME,...] [TOKENS=cls|cls+patch|patch] [BESIDE=DIR2] [FAKES=TAG:NAME,...] python3 bench/multiblock_probe.py DIR [L2 ...]"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layer_probe  # noqa: E402
from layer_probe import FAMILIES, out_of_fold, per_family, span_logistic  # noqa: E402

d = sys.argv[1]
lams = [float(a) for a in sys.argv[2:]] or [1e-2]
WIDTH = 768


def lines(name):
    return [l.strip() for l in open(f"{d}/{name}.txt") if l.strip()]


BESIDE = os.environ.get("BESIDE")


def load(name, n):
    x = np.fromfile(f"{d}/{name}.f32", dtype="<f4").reshape(n, -1, 2, WIDTH)
    if BESIDE:
        x = np.concatenate([x, np.fromfile(f"{BESIDE}/{name}.f32", dtype="<f4").reshape(n, -1, 2, WIDTH)], axis=1)
    return x


def have(name):
    return all(os.path.exists(f"{e}/{name}.f32") for e in [d] + ([BESIDE] if BESIDE else []))


train_paths, val_paths = lines("train"), lines("val")
xt = load("train", len(train_paths))
yt = np.array([0 if "/real/" in p else 1 for p in train_paths])
fam = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in val_paths])
n_real = int((yt == 0).sum())
fake, smooth = load("train-fake", n_real), load("train-smooth", n_real)
vals = [("clean", "val"), ("blur 1.0", "val-blur"), ("resize 0.5", "val-resize"), ("JPEG 75", "val-jpeg")]
vals = [(k, load(f, len(val_paths))) for k, f in vals if have(f)]


# TOKENS=cls (default) reads the class token of each block; cls+patch adds the second token of
# each row (the mean patch token, or their spread when written with PATCH_STAT=std); patch reads
# that one alone.
TOKENS = {"cls": [0], "cls+patch": [0, 1], "patch": [1]}[os.environ.get("TOKENS", "cls")]


def feats(x, blocks):
    return np.concatenate([x[:, b, t] for b in blocks for t in TOKENS], axis=1)


def run(xtr, ytr, blocks):
    ft = feats(xtr, blocks)
    mu, sd = ft.mean(0), ft.std(0) + 1e-6
    ft = (ft - mu) / sd
    thr = np.quantile(out_of_fold(ft, ytr, span_logistic)[: len(yt)][yt == 0], 0.95)
    model = span_logistic(ft, ytr)
    cells, gen = [], None
    for _, v in vals:
        fams, racc = per_family(model((feats(v, blocks) - mu) / sd), fam, thr)
        aucs, bas = zip(*(fams[g] for g in FAMILIES))
        gen = gen or aucs
        cells += [f"{np.mean(aucs):.3f}", f"{np.mean(bas):.3f}", f"{racc:.3f}"]
    return cells, gen


ones, zeros = np.ones(n_real, int), np.zeros(n_real, int)
sets = [
    ("train/", xt, yt),
    ("+ syn + lp", np.concatenate([xt, fake, smooth]), np.r_[yt, ones, zeros]),
]
# Optional: train/ re-encoded under milder perturbations than the evaluation's (each image keeps
# its label), as feature-level augmentation; written by bench/multiblock_check.sh.
aug_names = ["blur:0.7", "resize:0.7", "jpeg:85"]
if all(have(f"train-{a}") for a in aug_names):
    aug = np.concatenate([load(f"train-{a}", len(train_paths)) for a in aug_names])
    yaug = np.tile(yt, len(aug_names))
    sets += [
        ("+ aug", np.concatenate([xt, aug]), np.r_[yt, yaug]),
        ("+ syn + lp + aug", np.concatenate([xt, fake, smooth, aug]), np.r_[yt, ones, zeros, yaug]),
    ]
    # Optional: train/'s reals downscaled to 0.6 (about ForenSynths' size), added as real.
    if have("train-real-resize:0.6"):
        small = load("train-real-resize:0.6", n_real)
        sets += [
            (
                "+ syn + lp + aug + small reals",
                np.concatenate([xt, fake, smooth, aug, small]),
                np.r_[yt, ones, zeros, yaug, zeros],
            )
        ]
    # Optional: fakes from the varied simulator (`train --synthetic-kind varied`, written by
    # `layer_features ... fake2`), and from the same without bilinear doubling (`fake2-nobilinear`),
    # in place of, or beside, the box simulator's fakes.
    # FAKES=TAG:NAME,... adds the same two rows for other made fakes of train/'s reals, one row
    # per real in train-real.txt order (e.g. the autoencoder fakes of examples/ae_fakes.rs).
    extra = [tuple(e.split(":", 1)) for e in os.environ.get("FAKES", "").split(",") if e]
    made = {}  # the features of each set of made fakes, loaded once
    for tag, f in [("syn2", "train-fake2"), ("syn2-nobil", "train-fake2-nobilinear")] + extra:
        if have(f):
            fake2 = made[f] = load(f, n_real)
            sets += [
                (f"+ {tag} + lp + aug", np.concatenate([xt, fake2, smooth, aug]), np.r_[yt, ones, zeros, yaug]),
                (
                    f"+ syn + {tag} + lp + aug",
                    np.concatenate([xt, fake, fake2, smooth, aug]),
                    np.r_[yt, ones, ones, zeros, yaug],
                ),
            ]
    # With two or more FAKES, one more row has all of them beside the box simulator's fakes.
    if len(extra) > 1 and all(f in made for _, f in extra):
        more = [made[f] for _, f in extra]
        sets += [
            (
                "+ syn + " + " + ".join(t for t, _ in extra) + " + lp + aug",
                np.concatenate([xt, fake, *more, smooth, aug]),
                np.r_[yt, ones, np.tile(ones, len(more)), zeros, yaug],
            )
        ]
only = os.environ.get("BLOCKS")
block_sets = [("12", [12]), ("9", [9]), ("9+12", [9, 12]), ("6-12", list(range(6, 13))), ("1-12", list(range(1, 13)))]
if BESIDE:  # DIR2's hidden states 0-12 sit at 13-25
    block_sets += [("z1-12", list(range(14, 26))), ("1-12+z1-12", list(range(1, 13)) + list(range(14, 26)))]
head = " | ".join(f"{k}: mean AUC | bal. acc | real acc" for k, _ in vals)
print(f"| λ | blocks | training set | {head} | " + " | ".join(f"{g} AUC" for g in FAMILIES) + " |")
print("|---|---|---|" + "---:|" * (3 * len(vals) + len(FAMILIES)))
for lam in lams:
    layer_probe.lam = lam
    for bname, blocks in block_sets:
        if only and bname not in only.split(","):
            continue
        for sname, x, y in sets:
            if os.environ.get("SETS") and sname not in os.environ["SETS"].split(","):
                continue
            cells, gen = run(x, y, blocks)
            print(f"| {lam:g} | {bname} | {sname} | " + " | ".join(cells) + " | " + " | ".join(f"{a:.2f}" for a in gen) + " |", flush=True)
