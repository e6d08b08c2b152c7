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
from layer_probe import FAMILIES, auc, span_logistic  # noqa: E402

d = sys.argv[1]
W = 768
def load(split,name):
    paths=[l.strip() for l in open(f"{d}/{split}.txt") if l.strip()]
    x=np.fromfile(f"{d}/{split}.{name}.f32",dtype="<f4").reshape(len(paths),-1,2,W)
    y=np.array([0 if "/real/" in p else 1 for p in paths])
    fam=np.array([p.split("/")[-2] if "/fake/" in p else "real" for p in paths])
    return x[:,1:,0,:].reshape(len(paths),-1),y,fam
tr,ytr,_=load("train","clean"); trf,_,_=load("train","flip")
va,yva,fva=load("val","clean"); vaf,_,_=load("val","flip")
def run(name, aug, tta, lam):
    lp.lam=lam
    X=np.vstack([tr,trf]) if aug else tr
    mu,sd=X.mean(0),X.std(0)+1e-6
    n=lambda z:(z-mu)/sd
    idx=np.random.default_rng(0).permutation(len(tr)); oof=np.zeros(len(tr))
    for f in np.array_split(idx,4):
        m=np.ones(len(tr),bool); m[f]=False
        xs=[n(tr[m])]+([n(trf[m])] if aug else []); ys=[ytr[m]]*(2 if aug else 1)
        model=span_logistic(np.vstack(xs),np.concatenate(ys))
        oof[f]=model(n((tr[f]+trf[f])/2 if tta else tr[f]))
    t=np.quantile(oof[ytr==0],0.95)
    xs=[n(tr)]+([n(trf)] if aug else []); ys=[ytr]*(2 if aug else 1)
    model=span_logistic(np.vstack(xs),np.concatenate(ys))
    s=model(n((va+vaf)/2 if tta else va))
    real=s[fva=="real"]; racc=(real<=t).mean()
    aucs=[auc(s[fva==f],real) for f in FAMILIES]
    bals=[(racc+(s[fva==f]>t).mean())/2 for f in FAMILIES]
    print(f"| {name} | {lam:g} | {np.mean(aucs):.3f} ({' '.join(f'{a:.2f}' for a in aucs)}) | {racc:.3f} | {np.mean(bals):.3f} ({' '.join(f'{a:.2f}' for a in bals)}) |")
print("| training rows, test input | λ | mean AUC | val real acc | mean bal. acc |\n|---|---|---|---|---|")
for lam in [0.01,1]:
    for aug in [False,True]:
        for tta in [False,True]:
            run(f"{'clean + flipped' if aug else 'clean'}, {'mean of image and mirror' if tta else 'image'}", aug, tta, lam)
