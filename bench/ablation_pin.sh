#!/usr/bin/env bash
# PiN-CLIP ablation, one command: no noise vs random Gaussian noise of matched scale vs PiN noise,
# all with texture-aware masking, same data and protocol as the MPFT ablation (train on
# aigi-dev/train with the MPFT defaults, evaluate on aigi-dev/val), plus JPEG 75 and blur 1.0.
# Writes OUT_DIR/*.json and OUT_DIR/ablation.md.
#   bash bench/ablation_pin.sh [OUT_DIR] [extra train flags]
# "No noise" is exactly MPFT + TAM (the noise hook is not set); a checkpoint already in OUT_DIR
# is reused instead of retrained (e.g. copy assets/detectors/mpft.safetensors to
# OUT_DIR/pin-none.safetensors). PERTURB_FOR lists the runs evaluated under perturbations
# (default: all). CPU: about 16 minutes of training and 10 minutes per evaluation pass on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-ablation-pin-out}; shift || true
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
bin=${FAUXSCOPE_BIN:-}
if [ -z "$bin" ]; then cargo build --release --locked -q; bin="$CARGO_TARGET_DIR/release/fauxscope"; fi
mkdir -p "$out"
perturb_for=${PERTURB_FOR:-pin-none pin-random pin-pin}
run() { # name, train flags...
  local name=$1; shift
  [ -f "$out/$name.safetensors" ] || "$bin" train --real "$data/train/real" --fake "$data/train/fake" \
      --out "$out/$name.safetensors" --name "$name" "$@"
  local p=()
  case " $perturb_for " in *" $name "*) p=(--perturb jpeg:75,blur:1.0) ;; esac
  "$bin" eval "$data/val" --detector "$out/$name.safetensors" "${p[@]}" --json "$out/$name.json" > "$out/$name.md"
}
run pin-pin --method pin+tam --noise pin "$@"
run pin-random --method pin+tam --noise random "$@"
run pin-none --method pin+tam --noise none "$@"
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
fams = ["BigGAN", "CycleGAN", "SD1.x-finetune", "StyleGAN"]
rows = ["| noise | mean bal. acc | real acc | mean AP | ECE | " + " | ".join(fams) + " | JPEG 75 | blur 1.0 |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(fams) + "---:|---:|"]
for name in ["pin-none", "pin-random", "pin-pin"]:
    p = f"{out}/{name}.json"
    if not os.path.exists(p):
        continue
    r = json.load(open(p)); s = r["summary"]; g = r["generators"]; pt = r.get("perturbations", {})
    gens = " | ".join(f"{g[k]['balanced_accuracy']:.3f}" if k in g else "-" for k in fams)
    pert = " | ".join(f"{pt[k]['summary']['mean_balanced_accuracy']:.3f}" if k in pt else "-" for k in ["jpeg:75", "blur:1.0"])
    rows.append(f"| {name[4:]} | {s['mean_balanced_accuracy']:.3f} | {s['real_accuracy']:.3f} | {s['mean_ap']:.3f} | {s['ece']:.3f} | {gens} | {pert} |")
open(f"{out}/ablation.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
