"""Pixel-residual features beside the CLIP class tokens (bench/residual_check.sh). The probe is
bench/multiblock_probe.py's: standardised features, class-balanced L2 logistic fit in the span of
the training rows, threshold at 5% false positives on train/'s reals (4-fold out-of-fold), trained
on train/ only and scored on clean val/. Columns: mean AUC, mean balanced accuracy, real accuracy,
then the false-positive rate on val's ForenSynths and ImageNet photos.
Usage: python3 bench/residual_probe.py DIR"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layer_probe  # noqa: E402
from layer_probe import FAMILIES, out_of_fold, per_family, span_logistic  # noqa: E402

d, WIDTH, TILE = sys.argv[1], 768, 64


def lines(name):
    return [l.strip() for l in open(f"{d}/{name}.txt") if l.strip()]


def load(name, n):
    return np.nan_to_num(np.fromfile(f"{d}/{name}.f32", dtype="<f4").reshape(n, -1, 2, WIDTH))


def spectrum(path):
    """Log power spectrum (half plane, 64×33) of the grey Laplacian residual, averaged over
    Hann-windowed 64-px tiles at half overlap; None when the image is smaller than one tile."""
    from PIL import Image

    x = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    r = x[1:-1, 1:-1] - (x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:]) / 4
    win, acc, n = np.outer(np.hanning(TILE), np.hanning(TILE)), 0.0, 0
    for i in range(0, r.shape[0] - TILE + 1, TILE // 2):
        for j in range(0, r.shape[1] - TILE + 1, TILE // 2):
            t = r[i : i + TILE, j : j + TILE]
            acc, n = acc + np.abs(np.fft.fft2((t - t.mean()) * win)) ** 2, n + 1
    if n == 0:
        return None
    return np.fft.fftshift(np.log(acc / n + 1e-8))[:, TILE // 2 - 1 :].ravel()


def spectra(paths):
    rows = [spectrum(p) for p in paths]
    fill = np.mean([r for r in rows if r is not None], axis=0)
    return np.stack([fill if r is None else r for r in rows])


train_paths, val_paths = lines("train"), lines("val")
yt = np.array([0 if "/real/" in p else 1 for p in train_paths])
fam = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in val_paths])
forensynths = np.array(["/real/forensynths" in p for p in val_paths])
imagenet = np.array(["/real/imagenet/" in p for p in val_paths])


def row(name, ft, fv, lam):
    layer_probe.lam = lam
    mu, sd = ft.mean(0), ft.std(0) + 1e-6
    ft, fv = (ft - mu) / sd, (fv - mu) / sd
    thr = np.quantile(out_of_fold(ft, yt, span_logistic)[yt == 0], 0.95)
    s = span_logistic(ft, yt)(fv)
    fams, racc = per_family(s, fam, thr)
    aucs, bas = zip(*(fams[g] for g in FAMILIES))
    cells = [np.mean(aucs), np.mean(bas), racc, (s[forensynths] > thr).mean(), (s[imagenet] > thr).mean()]
    gens = " | ".join(f"{a:.2f}" for a in aucs)
    print(f"| {name} | {lam:g} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {gens} |", flush=True)


blocks = range(1, 13)


def cls(x):
    return np.concatenate([x[:, b, 0] for b in blocks], axis=1)


rgb_t, rgb_v = cls(load("train", len(train_paths))), cls(load("val", len(val_paths)))
sets = [("class tokens 1-12 (image)", rgb_t, rgb_v)]
if os.path.exists(f"{d}/train-npr.f32"):
    npr_t, npr_v = cls(load("train-npr", len(train_paths))), cls(load("val-npr", len(val_paths)))
    sets += [("class tokens 1-12 (NPR image)", npr_t, npr_v)]
    sets += [("image + NPR", np.hstack([rgb_t, npr_t]), np.hstack([rgb_v, npr_v]))]
try:
    spec_t, spec_v = spectra(train_paths), spectra(val_paths)
    sets += [("residual spectrum", spec_t, spec_v)]
    sets += [("image + spectrum", np.hstack([rgb_t, spec_t]), np.hstack([rgb_v, spec_v]))]
except ImportError:
    print("(pillow not installed: no spectrum rows)", file=sys.stderr)
print("| features | λ | mean AUC | mean bal. acc | real acc | ForenSynths FP | ImageNet FP | " + " | ".join(f"{g} AUC" for g in FAMILIES) + " |")
print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(FAMILIES))
for name, ft, fv in sets:
    for lam in (0.01, 1.0):
        row(name, ft, fv, lam)
