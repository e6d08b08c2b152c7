"""Mirror images as training rows and at test time, for the class-token probe of blocks 1-12:
clean features (`clean`) and features of the left-right mirrored image (`flip`), both written by
examples/layer_features.rs on one native 224-px centre crop (see bench/rigid_check.sh for the
clean ones; the mirrored ones: `layer_features LIST DIR/SPLIT.flip.f32 clip-vit-base-patch16 center flip`).

    python3 bench/flip_probe.py DIR
"""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import layer_probe as lp  # noqa: E402
from layer_probe import family_cells, features, per_family, span_logistic  # noqa: E402

d = sys.argv[1]
W = 768


def class_tokens(split, name):
    x, y, fam = features(d, split, W, name)
    return x[:, 1:, 0, :].reshape(len(x), -1), y, fam


tr, ytr, _ = class_tokens("train", "clean")
trf, _, _ = class_tokens("train", "flip")
va, _, fva = class_tokens("val", "clean")
vaf, _, _ = class_tokens("val", "flip")


def run(name, aug, tta, lam):
    """aug: each training image's mirror as a row too; tta: score the mean of an image's and its
    mirror's features. Out-of-fold folds keep an image and its mirror together."""
    lp.lam = lam
    mu = np.vstack([tr, trf]).mean(0) if aug else tr.mean(0)
    sd = (np.vstack([tr, trf]).std(0) if aug else tr.std(0)) + 1e-6
    n = lambda z: (z - mu) / sd  # noqa: E731

    def fit(m):
        rows = [n(tr[m])] + ([n(trf[m])] if aug else [])
        return span_logistic(np.vstack(rows), np.concatenate([ytr[m]] * len(rows)))

    test = lambda x, xf: n((x + xf) / 2 if tta else x)  # noqa: E731
    idx = np.random.default_rng(0).permutation(len(tr))
    oof = np.zeros(len(tr))
    for f in np.array_split(idx, 4):
        m = np.ones(len(tr), bool)
        m[f] = False
        oof[f] = fit(m)(test(tr[f], trf[f]))
    thr = np.quantile(oof[ytr == 0], 0.95)
    s = fit(np.ones(len(tr), bool))(test(va, vaf))
    print(f"| {name} | {lam:g} | {family_cells(*per_family(s, fva, thr))} |")


print("| training rows, test input | λ | mean AUC | val real acc | mean bal. acc |\n|---|---|---|---|---|")
for lam in [0.01, 1]:
    for aug in [False, True]:
        for tta in [False, True]:
            rows = "clean + flipped" if aug else "clean"
            run(f"{rows}, {'mean of image and mirror' if tta else 'image'}", aug, tta, lam)
