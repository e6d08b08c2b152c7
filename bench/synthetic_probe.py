"""Do simulated upsampling fakes teach the upsampling trace, or only "smooth means generated"?
Frozen ViT-B/16 features (bench/synthetic_check.sh writes them): a class-balanced logistic
probe on one block's class token, trained on train/ alone, with simulated fakes of train/'s
reals added to the generated class, with low-passed reals (no trace) added to the real class,
or both. Scored on val/ and on val/ blurred (the evaluation's blur:1.0), with the threshold set
for 5% false positives on train/'s genuine reals (4-fold out-of-fold scores).
Usage: python3 bench/synthetic_probe.py DIR [WIDTH]"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layer_probe import FAMILIES, logistic, out_of_fold, per_family  # noqa: E402

d = sys.argv[1]
width = int(sys.argv[2]) if len(sys.argv) > 2 else 768


def load(name, n_lines):
    raw = np.fromfile(f"{d}/{name}.f32", dtype="<f4")
    return raw.reshape(n_lines, -1, 2, width)


def lines(name):
    return [l.strip() for l in open(f"{d}/{name}.txt") if l.strip()]


train_paths, val_paths = lines("train"), lines("val")
xt = load("train", len(train_paths))
yt = np.array([0 if "/real/" in p else 1 for p in train_paths])
fam = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in val_paths])
xv, xvb = load("val", len(val_paths)), load("val-blur", len(val_paths))
n_real = int((yt == 0).sum())
fake, smooth = load("train-fake", n_real), load("train-smooth", n_real)


def run(xtr, ytr, layer):
    ft = xtr[:, layer, 0]
    mu, sd = ft.mean(0), ft.std(0) + 1e-6
    ft = (ft - mu) / sd
    # The threshold comes from train/'s genuine reals only (the first len(yt) rows).
    thr = np.quantile(out_of_fold(ft, ytr, logistic)[: len(yt)][yt == 0], 0.95)
    model = logistic(ft, ytr)
    cells = []
    for v in (xv, xvb):
        fams, racc = per_family(model((v[:, layer, 0] - mu) / sd), fam, thr)
        aucs, bas = zip(*(fams[g] for g in FAMILIES))
        cells += [f"{np.mean(aucs):.3f}", f"{np.mean(bas):.3f}", f"{racc:.3f}"]
    return cells


ones, zeros = np.ones(n_real, int), np.zeros(n_real, int)
variants = [
    ("train/ only", xt, yt),
    ("+ simulated fakes", np.concatenate([xt, fake]), np.r_[yt, ones]),
    ("+ simulated fakes + low-passed reals", np.concatenate([xt, fake, smooth]), np.r_[yt, ones, zeros]),
    ("+ low-passed reals", np.concatenate([xt, smooth]), np.r_[yt, zeros]),
]
print("| block | training set | mean AUC | mean bal. acc | real acc | blur 1.0: mean AUC | mean bal. acc | real acc |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for layer in (9, 12):
    for name, x, y in variants:
        print(f"| {layer} | {name} | " + " | ".join(run(x, y, layer)) + " |", flush=True)
