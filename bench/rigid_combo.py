"""Do the perturbation sensitivities of bench/rigid_probe.py help a trained probe? Fits the
class-balanced L2 logistic probe of bench/layer_probe.py on train/ with (a) the 24 log
sensitivities alone (1 - cosine per block 1-12, class token and mean patch token), (b) the class
tokens of blocks 1-12, (c) both, the sensitivities repeated k times so that the penalty does not
drown them. Threshold at 5% false positives on train/'s reals (4-fold out-of-fold scores).

    python3 bench/rigid_combo.py DIR NOISY_TAG      (DIR and TAG as for bench/rigid_probe.py)

Prints val's mean AUC and mean balanced accuracy with the per-family figures in the order BigGAN,
CycleGAN, SD1.x-finetune, StyleGAN."""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import layer_probe as lp  # noqa: E402
from layer_probe import FAMILIES, auc, out_of_fold, span_logistic  # noqa: E402

d, tag = sys.argv[1], sys.argv[2]
W = 768


def load(split, name):
    paths = [l.strip() for l in open(f"{d}/{split}.txt") if l.strip()]
    x = np.fromfile(f"{d}/{split}.{name}.f32", dtype="<f4").reshape(len(paths), -1, 2, W)
    y = np.array([0 if "/real/" in p else 1 for p in paths])
    fam = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in paths])
    return x, y, fam


def sens(split):
    a, y, fam = load(split, "clean")
    b, _, _ = load(split, tag)
    c = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return a, np.log(1 - c[:, 1:, :].reshape(len(a), -1) + 1e-9), y, fam


atr, str_, ytr, ftr = sens("train")
ava, sva, yva, fva = sens("val")


def report(name, xtr, xva, lam):
    lp.lam = lam
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    oof = out_of_fold(xtr, ytr, span_logistic)
    t = np.quantile(oof[ytr == 0], 0.95)
    s = span_logistic(xtr, ytr)(xva)
    real = s[fva == "real"]
    racc = (real <= t).mean()
    aucs = [auc(s[fva == f], real) for f in FAMILIES]
    bals = [(racc + (s[fva == f] > t).mean()) / 2 for f in FAMILIES]
    print(f"| {name} | {lam:g} | {np.mean(aucs):.3f} ({' '.join(f'{a:.2f}' for a in aucs)}) | "
          f"{racc:.3f} | {np.mean(bals):.3f} ({' '.join(f'{a:.2f}' for a in bals)}) |")


print("| features | λ | mean AUC (per family) | val real acc | mean bal. acc (per family) |")
print("|---|---|---|---|---|")
cls_tr = atr[:, 1:, 0, :].reshape(len(atr), -1)
cls_va = ava[:, 1:, 0, :].reshape(len(ava), -1)
for lam in [0.01, 0.1, 1]:
    report("sensitivities (24)", str_, sva, lam)
for lam in [0.01, 1]:
    report("class tokens 1-12", cls_tr, cls_va, lam)
    for k in [10, 100]:
        report(f"class tokens 1-12 + sensitivities ×{k}", np.hstack([cls_tr, np.repeat(str_, k, 1)]),
               np.hstack([cls_va, np.repeat(sva, k, 1)]), lam)
