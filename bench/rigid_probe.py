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
from layer_probe import FAMILIES, auc, features, per_family  # noqa: E402

d, tag = sys.argv[1], sys.argv[2]
WIDTH = 768


def sensitivity(split):
    """1 - cosine between each state's clean and noisy tokens: [image, state, class|patch]."""
    a, _, fam = features(d, split, WIDTH, "clean")
    b, _, _ = features(d, split, WIDTH, tag)
    c = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return 1 - c, fam


s_tr, f_tr = sensitivity("train")
s_va, f_va = sensitivity("val")
print(f"| state | token | train SD1.x AUC | " + " | ".join(f"{f} AUC" for f in FAMILIES)
      + " | mean AUC | val real acc | mean bal. acc |")
print("|---" * (6 + len(FAMILIES)) + "|")
for state in range(s_tr.shape[1]):
    for k, kind in enumerate(["class", "patch mean"]):
        tr, va = s_tr[:, state, k], s_va[:, state, k]
        res, racc = per_family(va, f_va, np.quantile(tr[f_tr == "real"], 0.95))
        aucs = [a for a, _ in res.values()]
        print(f"| {state} | {kind} | {auc(tr[f_tr != 'real'], tr[f_tr == 'real']):.3f} | "
              + " | ".join(f"{a:.3f}" for a in aucs)
              + f" | {np.mean(aucs):.3f} | {racc:.3f} | {np.mean([b for _, b in res.values()]):.3f} |")
