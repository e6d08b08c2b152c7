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
from layer_probe import evaluate, family_cells, features, span_logistic  # noqa: E402

d, tag = sys.argv[1], sys.argv[2]
W = 768


def sens(split):
    """Class tokens of blocks 1-12 and the 24 log sensitivities, with labels and families."""
    a, y, fam = features(d, split, W, "clean")
    b, _, _ = features(d, split, W, tag)
    c = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    cls = a[:, 1:, 0, :].reshape(len(a), -1)
    return cls, np.log(1 - c[:, 1:, :].reshape(len(a), -1) + 1e-9), y, fam


cls_tr, str_, ytr, _ = sens("train")
cls_va, sva, _, fva = sens("val")


def report(name, xtr, xva, lam):
    lp.lam = lam
    print(f"| {name} | {lam:g} | {family_cells(*evaluate(xtr, ytr, xva, fva, span_logistic))} |")


print("| features | λ | mean AUC (per family) | val real acc | mean bal. acc (per family) |")
print("|---|---|---|---|---|")
for lam in [0.01, 0.1, 1]:
    report("sensitivities (24)", str_, sva, lam)
for lam in [0.01, 1]:
    report("class tokens 1-12", cls_tr, cls_va, lam)
    for k in [10, 100]:
        report(f"class tokens 1-12 + sensitivities ×{k}", np.hstack([cls_tr, np.repeat(str_, k, 1)]),
               np.hstack([cls_va, np.repeat(sva, k, 1)]), lam)
