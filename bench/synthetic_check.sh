#!/usr/bin/env bash
# Simulated upsampling fakes (`train --synthetic-fakes`), checked on frozen features: do they teach
# the upsampling trace, or only that smooth pictures are generated? Writes the features of
# aigi-dev train/ and val/ (as bench/layer_features.sh, reused when present), of a simulated fake
# and a low-passed copy of each train/ real, and of val/ under blur:1.0, then prints the table of
# bench/synthetic_probe.py. Needs python3 with numpy. About 8 minutes on 2 cores.
#   bash bench/synthetic_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-layer-features-out}
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example layer_features
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
mkdir -p "$out"
for split in train val; do
  find "$data/$split" -name '*.jpg' | sort > "$out/$split.txt"
  [ -f "$out/$split.f32" ] || "$bin" "$out/$split.txt" "$out/$split.f32"
done
grep '/real/' "$out/train.txt" > "$out/train-real.txt"
[ -f "$out/train-fake.f32" ] || "$bin" "$out/train-real.txt" "$out/train-fake.f32" clip-vit-base-patch16 center fake
[ -f "$out/train-smooth.f32" ] || "$bin" "$out/train-real.txt" "$out/train-smooth.f32" clip-vit-base-patch16 center smooth
[ -f "$out/val-blur.f32" ] || "$bin" "$out/val.txt" "$out/val-blur.f32" clip-vit-base-patch16 center blur:1.0
python3 bench/synthetic_probe.py "$out" | tee "$out/synthetic.md"
