#!/usr/bin/env bash
# Do pixel residuals add what the CLIP class tokens miss? Two hand-made traces of upsampling,
# checked on frozen features: the neighbouring-pixel residual (NPR: each pixel minus the top-left
# pixel of its 2×2 cell) shown to the same CLIP ViT-B/16 (`layer_features ... npr`), and the
# Welch-averaged power spectrum of a Laplacian residual (computed in numpy). Each alone and beside
# the class tokens of blocks 1-12, trained on train/ only. Reuses the features of
# bench/synthetic_check.sh in OUT_DIR. Needs python3 with numpy and pillow. About 10 minutes on 2 cores.
#   bash bench/residual_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-layer-features-out}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
bash bench/synthetic_check.sh "$out" > /dev/null
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
for split in train val; do
  [ -f "$out/$split-npr.f32" ] || "$bin" "$out/$split.txt" "$out/$split-npr.f32" clip-vit-base-patch16 center npr
done
python3 bench/residual_probe.py "$out" | tee "$out/residual.md"
