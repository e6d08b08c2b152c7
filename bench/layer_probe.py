"""Per-block logistic probes on features written by examples/layer_features.rs (see
bench/layer_features.sh). Usage: python3 bench/layer_probe.py DIR [L2] [WIDTH] [--one-class]

--one-class scores each block without seeing a generated image: the Mahalanobis distance to a
Gaussian fitted on train/'s real photos (covariance shrunk halfway to its mean variance), with
the threshold at the 95th percentile of the reals' out-of-fold distances. It is the literal
reading of "deviation from the distribution of real images"."""
import sys

import numpy as np

lam = 1e-2  # L2 penalty; the command line may change it
SHRINK = 0.5
FAMILIES = ["BigGAN", "CycleGAN", "SD1.x-finetune", "StyleGAN"]


def features(d, split, width, name=None):
    """Rows of DIR/SPLIT.f32 (or DIR/SPLIT.NAME.f32) as [image, state, class|patch, width], with
    labels (1 = generated) and families ("real" for the photos)."""
    paths = [l.strip() for l in open(f"{d}/{split}.txt") if l.strip()]
    raw = np.fromfile(f"{d}/{split}.{name}.f32" if name else f"{d}/{split}.f32", dtype="<f4")
    x = raw.reshape(len(paths), -1, 2, width)
    y = np.array([0 if "/real/" in p else 1 for p in paths])
    fam = np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in paths])
    return x, y, fam


def fit(x, y, sw=None):
    """L2-regularised logistic regression by Newton's method, class-balanced unless row weights
    sw are given (then scaled to mean 1)."""
    n, dim = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(dim + 1)
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean())) if sw is None else sw * n / sw.sum()
    reg = lam * np.r_[np.ones(dim), 0]
    for _ in range(30):
        p = 1 / (1 + np.exp(-(xb @ w)))
        g = xb.T @ (sw * (p - y)) / n + reg * w
        h = (xb * (sw * p * (1 - p))[:, None]).T @ xb / n + np.diag(reg)
        w -= np.linalg.solve(h, g)
    return w


def score(w, x):
    return np.hstack([x, np.ones((len(x), 1))]) @ w


def auc(pos, neg):
    s = np.r_[pos, neg]
    r = s.argsort().argsort() + 1
    return (r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def gaussian(real):
    mu = real.mean(0)
    cov = np.cov(real, rowvar=False)
    cov = (1 - SHRINK) * cov + SHRINK * np.trace(cov) / len(cov) * np.eye(len(cov))
    prec = np.linalg.inv(cov)
    return lambda x: np.einsum("ij,jk,ik->i", x - mu, prec, x - mu)


def logistic(x, y):
    """A fitted class-balanced logistic probe, as a scoring function."""
    w = fit(x, y)
    return lambda z: score(w, z)


def span_logistic(x, y, sw=None):
    """logistic, fitted in the span of the training rows: exact for an L2 penalty, and cheap when
    there are more features than rows (Newton then runs on the coordinates of an SVD)."""
    v = np.linalg.svd(x, full_matrices=False)[2].T if x.shape[1] > x.shape[0] else np.eye(x.shape[1])
    w = fit(x @ v, y, sw)
    return lambda z: score(w, z @ v)


def out_of_fold(x, y, model):
    """4-fold out-of-fold scores of x; model(x_train, y_train) returns a scoring function."""
    idx = np.random.default_rng(0).permutation(len(x))
    oof = np.zeros(len(x))
    for f in np.array_split(idx, 4):
        m = np.ones(len(x), bool)
        m[f] = False
        oof[f] = model(x[m], y[m])(x[f])
    return oof


def per_family(sv, famv, thr):
    """Per generator (AUC against the reals, balanced accuracy at thr), and real accuracy."""
    real = sv[famv == "real"]
    racc = (real < thr).mean()
    return {g: (auc(sv[famv == g], real), ((sv[famv == g] >= thr).mean() + racc) / 2) for g in FAMILIES}, racc


def evaluate_one_class(ft, yt, fv, famv):
    real_t = ft[yt == 0]
    thr = np.quantile(out_of_fold(real_t, yt[yt == 0], lambda x, _: gaussian(x)), 0.95)
    return per_family(gaussian(real_t)(fv), famv, thr)


def evaluate(ft, yt, fv, famv, model=logistic):
    """per_family for a probe fitted on standardised ft, at the threshold for 5% false positives
    on ft's reals (out-of-fold scores)."""
    mu, sd = ft.mean(0), ft.std(0) + 1e-6
    ft, fv = (ft - mu) / sd, (fv - mu) / sd
    thr = np.quantile(out_of_fold(ft, yt, model)[yt == 0], 0.95)
    return per_family(model(ft, yt)(fv), famv, thr)


def family_cells(res, racc):
    """per_family's result as table cells: mean AUC (per family) | real accuracy | mean balanced
    accuracy (per family), families in FAMILIES order."""
    a = [x for x, _ in res.values()]
    b = [y for _, y in res.values()]
    each = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    return f"{np.mean(a):.3f} ({each(a)}) | {racc:.3f} | {np.mean(b):.3f} ({each(b)})"


if __name__ == "__main__":
    one_class = "--one-class" in sys.argv
    argv = [a for a in sys.argv if a != "--one-class"]
    d = argv[1]
    lam = float(argv[2]) if len(argv) > 2 else lam
    width = int(argv[3]) if len(argv) > 3 else 768  # the model's hidden size
    xt, yt, _ = features(d, "train", width)
    xv, _, famv = features(d, "val", width)
    print(f"| features | mean AUC | mean bal. acc | real acc | " + " | ".join(f"{g} AUC / bal. acc" for g in FAMILIES) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(FAMILIES))
    for kind, k in [("class token", 0), ("mean patch token", 1)]:
        for layer in range(1, xt.shape[1]):
            res, racc = (evaluate_one_class if one_class else evaluate)(xt[:, layer, k], yt, xv[:, layer, k], famv)
            ma = np.mean([a for a, _ in res.values()])
            mb = np.mean([b for _, b in res.values()])
            cells = " | ".join(f"{a:.2f} / {b:.2f}" for a, b in res.values())
            print(f"| {kind}, block {layer} | {ma:.3f} | {mb:.3f} | {racc:.3f} | {cells} |", flush=True)
