#!/usr/bin/env bash
# A training-free check (RIGID-style): does the frozen tower move more, under a little Gaussian
# noise on its input, for generated images than for real photos? Writes every block's class token
# and mean patch token for aigi-dev train/ and val/ at native resolution (one 224-px centre crop),
# clean and with noise of standard deviation SIGMA in the model's normalised pixel space
# (examples/layer_features.rs, INPUT_NOISE), then prints per block the AUC of 1 - cosine
# (bench/rigid_probe.py). Needs python3 with numpy.
#   bash bench/rigid_check.sh [OUT_DIR] [SIGMA]     (about 7 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-rigid-out}
sigma=${2:-0.05}
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example layer_features
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
mkdir -p "$out"
tag="noise$sigma"
for split in train val; do
  find "$data/$split" -name '*.jpg' | sort > "$out/$split.txt"
  [ -f "$out/$split.clean.f32" ] || "$bin" "$out/$split.txt" "$out/$split.clean.f32" clip-vit-base-patch16 center
  [ -f "$out/$split.$tag.f32" ] || INPUT_NOISE="$sigma" "$bin" "$out/$split.txt" "$out/$split.$tag.f32" clip-vit-base-patch16 center
done
python3 bench/rigid_probe.py "$out" "$tag" | tee "$out/rigid-$sigma.md"
