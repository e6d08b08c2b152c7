"""Perturbation sensitivity of the frozen tower (a RIGID-style, training-free score): for each
image, the cosine between a block's class token (or mean patch token) for the clean input and for
the input with Gaussian noise added in the model's normalised pixel space. Generated images are
said to move more under small noise than real photos. Reads the features that
examples/layer_features.rs writes without and with INPUT_NOISE (see bench/rigid_check.sh).

    python3 bench/rigid_probe.py DIR NOISY_TAG

Prints, per block and token, val's per-generator AUC of 1 - cosine against val's real photos,
train/'s SD1.x AUC, and val's balanced accuracy at a threshold set for 5% false positives on
train/'s real photos."""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from layer_probe import FAMILIES, auc  # noqa: E402

d, tag = sys.argv[1], sys.argv[2]
WIDTH = 768


def load(split, name):
    paths = [l.strip() for l in open(f"{d}/{split}.txt") if l.strip()]
    raw = np.fromfile(f"{d}/{split}.{name}.f32", dtype="<f4")
    fam = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in paths])
    return raw.reshape(len(paths), -1, 2, WIDTH), fam


def sensitivity(split):
    clean, fam = load(split, "clean")
    noisy, _ = load(split, tag)
    a, b = clean, noisy
    c = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return 1 - c, fam  # [images, states, token kind]


s_tr, f_tr = sensitivity("train")
s_va, f_va = sensitivity("val")
print(f"| state | token | train SD1.x AUC | " + " | ".join(f"{f} AUC" for f in FAMILIES)
      + " | mean AUC | val real acc | mean bal. acc |")
print("|---" * (6 + len(FAMILIES)) + "|")
for state in range(s_tr.shape[1]):
    for k, kind in enumerate(["class", "patch mean"]):
        tr, va = s_tr[:, state, k], s_va[:, state, k]
        t = np.quantile(tr[f_tr == "real"], 0.95)
        real = va[f_va == "real"]
        aucs = [auc(va[f_va == f], real) for f in FAMILIES]
        racc = (real <= t).mean()
        bals = [(racc + (va[f_va == f] > t).mean()) / 2 for f in FAMILIES]
        print(f"| {state} | {kind} | {auc(tr[f_tr != 'real'], tr[f_tr == 'real']):.3f} | "
              + " | ".join(f"{a:.3f}" for a in aucs)
              + f" | {np.mean(aucs):.3f} | {racc:.3f} | {np.mean(bals):.3f} |")
