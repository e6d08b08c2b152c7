#!/usr/bin/env bash
# MPFT ablation, one command: frozen probe vs MPFT without masking vs MPFT + random masking vs
# MPFT + TAM with each texture measure; trained on aigi-dev/train, evaluated on aigi-dev/val
# clean and under JPEG 75 / blur 1.0 / resize 0.5. Writes OUT_DIR/*.json and OUT_DIR/ablation.md.
#   bash bench/ablation_mpft.sh [OUT_DIR] [extra train flags, e.g. --epochs 3]
# Checkpoints and evaluations already in OUT_DIR are kept (a stopped run resumes).
# CPU: about 25 minutes per MPFT configuration on 2 cores (use a CUDA build on a GPU to go faster).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-ablation-out}; shift || true
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
bin=${FAUXSCOPE_BIN:-}
if [ -z "$bin" ]; then cargo build --release --locked -q; bin="$CARGO_TARGET_DIR/release/fauxscope"; fi
mkdir -p "$out"
perturb=jpeg:75,blur:1.0,resize:0.5
run() { # name, train flags...
  local name=$1; shift
  [ -f "$out/$name.safetensors" ] || "$bin" train --real "$data/train/real" --fake "$data/train/fake" \
      --out "$out/$name.safetensors" --name "$name" "$@"
  # A finished evaluation is kept: re-running the script resumes where it stopped.
  [ -f "$out/$name.json" ] || "$bin" eval "$data/val" --detector "$out/$name.safetensors" \
      --perturb "$perturb" --json "$out/$name.json" > "$out/$name.md"
}
run probe --method probe
run mpft-nomask --method mpft --mask-mode none "$@"
run mpft-random --method mpft --mask-mode random "$@"
for m in sobel variance laplacian; do run "mpft-tam-$m" --method mpft --mask-mode texture --texture-measure "$m" "$@"; done
python3 - "$out" <<'PY'
import json, sys, glob, os
out = sys.argv[1]
rows = ["| detector | mean bal. acc | real acc | mean AP | ECE | " + " | ".join(["BigGAN", "CycleGAN", "SD1.x-finetune", "StyleGAN"]) + " | JPEG 75 | blur 1.0 | resize 0.5 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for name in ["probe", "mpft-nomask", "mpft-random", "mpft-tam-sobel", "mpft-tam-variance", "mpft-tam-laplacian"]:
    p = f"{out}/{name}.json"
    if not os.path.exists(p):
        continue
    r = json.load(open(p)); s = r["summary"]; g = r["generators"]; pt = r["perturbations"]
    gens = " | ".join(f"{g[k]['balanced_accuracy']:.3f}" if k in g else "-" for k in ["BigGAN", "CycleGAN", "SD1.x-finetune", "StyleGAN"])
    pert = " | ".join(f"{pt[k]['summary']['mean_balanced_accuracy']:.3f}" if k in pt else "-" for k in ["jpeg:75", "blur:1.0", "resize:0.5"])
    rows.append(f"| {name} | {s['mean_balanced_accuracy']:.3f} | {s['real_accuracy']:.3f} | {s['mean_ap']:.3f} | {s['ece']:.3f} | {gens} | {pert} |")
open(f"{out}/ablation.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
