#!/usr/bin/env bash
# Which encoder block separates real from generated images best, without any training of the
# tower: dumps every block's class token and mean patch token for aigi-dev train/ and val/
# (examples/layer_features.rs), then fits a class-balanced logistic regression per block on
# train/ and reports val's per-generator AUC and balanced accuracy at a threshold set for 5%
# false positives on train/'s reals (4-fold out-of-fold scores). Needs python3 with numpy.
# layers-one-class.md: the same table for a Gaussian density of the real photos alone.
#   bash bench/layer_features.sh [OUT_DIR]        (about 3 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-layer-features-out}
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example layer_features
mkdir -p "$out"
for split in train val; do
  find "$data/$split" -name '*.jpg' | sort > "$out/$split.txt"
  [ -f "$out/$split.f32" ] || "$CARGO_TARGET_DIR/release/examples/layer_features" "$out/$split.txt" "$out/$split.f32"
done
python3 bench/layer_probe.py "$out" | tee "$out/layers.md"
python3 bench/layer_probe.py "$out" --one-class | tee "$out/layers-one-class.md"
