"""Should a tiles probe train on each crop as its own row, or on each image's mean over its crops
(what `train --crop tiles:9` does)? Frozen ViT-B/16 features of every crop of `tiles:9`, written
by bench/tile_rows_check.sh (examples/layer_features.rs with PER_CROP=1: DIR/NAME.f32 holds one row
per crop, DIR/NAME.f32.crops each image's count). Both arms read the class tokens of blocks 1-12,
standardised, with the L2 logistic fit of bench/layer_probe.py (span_logistic), on train/ plus one
simulated fake per training real (`--synthetic-fakes 1`), and one low-passed real per training
real (`--low-passed-reals 1`) when DIR/train-smooth.f32 exists (bench/tile_rows_check.sh writes
none). Per crop, each row weighs 1/(its image's crops), so every image counts
once, as in the mean arm. An image's score is the mean of its crops' logits; for a linear probe
that is the logit of the mean features, so the arms differ only in what they were fitted on. The
threshold is set for 5% false positives on train/'s genuine reals, from 4-fold out-of-fold scores
with the folds drawn by image. Scored on clean val/.
Usage: python3 bench/tile_rows_probe.py DIR [L2 ...]"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layer_probe  # noqa: E402
from layer_probe import FAMILIES, auc, span_logistic  # noqa: E402

d = sys.argv[1]
lams = [float(a) for a in sys.argv[2:]] or [1.0]
WIDTH, BLOCKS = 768, list(range(1, 13))


def lines(name):
    return [l.strip() for l in open(f"{d}/{name}.txt") if l.strip()]


def load(name):
    """Class tokens of BLOCKS for every crop, and each crop's image index."""
    counts = np.array([int(l) for l in open(f"{d}/{name}.f32.crops")])
    x = np.fromfile(f"{d}/{name}.f32", dtype="<f4").reshape(counts.sum(), -1, 2, WIDTH)
    x = np.concatenate([x[:, b, 0] for b in BLOCKS], axis=1)
    return x, np.repeat(np.arange(len(counts)), counts), counts


def group_mean(v, img, n_img):
    """The mean of v's rows (or values) over each image's crops."""
    out = np.zeros((n_img,) + v.shape[1:])
    np.add.at(out, img, v)
    return out / np.bincount(img, minlength=n_img).reshape((n_img,) + (1,) * (v.ndim - 1))


train_paths, val_paths = lines("train"), lines("val")
yt_img = np.array([0 if "/real/" in p else 1 for p in train_paths])
n_real = int((yt_img == 0).sum())
xt, it, _ = load("train")
xf, i_f, _ = load("train-fake")
# The low-passed reals are optional (without them the training set is train/ + simulated fakes).
xs, i_s, cs = load("train-smooth") if os.path.exists(f"{d}/train-smooth.f32") else (xt[:0], it[:0], [])
n_lp = len(cs)
xv, iv, _ = load("val")
famv = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in val_paths])
src = np.array(["fake" if "/fake/" in p else "ImageNet" if "/imagenet/" in p else "ForenSynths" for p in val_paths])
# Images of the training set: train/, then the fakes, then the low-passed reals.
n_t = len(train_paths)
x_all = np.concatenate([xt, xf, xs])
img_all = np.r_[it, i_f + n_t, i_s + n_t + n_real]
y_img = np.r_[yt_img, np.ones(n_real, int), np.zeros(n_lp, int)]
n_all = len(y_img)
genuine_real = np.r_[yt_img == 0, np.zeros(n_real + n_lp, bool)]


def arm(per_crop, lam):
    layer_probe.lam = lam
    if per_crop:
        x, img = x_all, img_all
    else:
        x, img = group_mean(x_all, img_all, n_all), np.arange(n_all)
    y = y_img[img]
    counts = np.bincount(img, minlength=n_all)
    cls_w = np.where(y_img == 1, 0.5 / y_img.mean(), 0.5 / (1 - y_img.mean()))
    sw = cls_w[img] / counts[img]
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x = (x - mu) / sd
    # Out-of-fold image scores, the folds drawn by image (a made image shares the fold of its source).
    source = np.r_[np.arange(n_t), np.flatnonzero(yt_img == 0), np.flatnonzero(yt_img == 0)[:n_lp]]
    fold_of = np.random.default_rng(0).permutation(n_t) % 4
    oof = np.zeros(n_all)
    for f in range(4):
        held = fold_of[source] == f
        rows = held[img]
        m = span_logistic(x[~rows], y[~rows], sw[~rows])
        oof[held] = group_mean(m(x[rows]), np.searchsorted(np.flatnonzero(held), img[rows]), held.sum())
    thr = np.quantile(oof[genuine_real], 0.95)
    m = span_logistic(x, y, sw)
    sv = group_mean(m((xv - mu) / sd), iv, len(val_paths))
    real = sv[famv == "real"]
    racc = (real < thr).mean()
    aucs = [auc(sv[famv == g], real) for g in FAMILIES]
    bas = [((sv[famv == g] >= thr).mean() + racc) / 2 for g in FAMILIES]
    fp = {s_: (sv[src == s_] >= thr).mean() for s_ in ["ForenSynths", "ImageNet"] if (src == s_).any()}
    return np.mean(aucs), np.mean(bas), racc, fp, aucs


print("| λ | rows | mean AUC | mean bal. acc | real acc | ForenSynths FP | ImageNet FP | " + " | ".join(f"{g} AUC" for g in FAMILIES) + " |")
print("|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(FAMILIES))
for lam in lams:
    for per_crop in [False, True]:
        a, b, r, fp, aucs = arm(per_crop, lam)
        name = "each crop" if per_crop else "mean of crops"
        fps = " | ".join(f"{fp.get(k, float('nan')):.3f}" for k in ["ForenSynths", "ImageNet"])
        print(f"| {lam:g} | {name} | {a:.3f} | {b:.3f} | {r:.3f} | {fps} | " + " | ".join(f"{v:.2f}" for v in aucs) + " |", flush=True)
