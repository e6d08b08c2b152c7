#!/usr/bin/env bash
# Should the tiles probe (`train --crop tiles:9`) fit each crop as its own row rather than each
# image's mean over its crops? docs/EVALUATION.md, "Tiles as training rows".
# Writes the class tokens of every crop of tiles:9 (examples/layer_features.rs with PER_CROP=1)
# for val/, train/ and one simulated fake per training real, into OUT_DIR,
# then prints both arms of bench/tile_rows_probe.py. Needs python3 with numpy. On 2 cores
# (2026-12-01): about 43 minutes of forward passes (6,764 crops), then about 11 for the fits.
#   bash bench/tile_rows_check.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example layer_features
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
m=clip-vit-base-patch16
mkdir -p "$out"
for split in train val; do find "$data/$split" -name '*.jpg' | sort > "$out/$split.txt"; done
grep '/real/' "$out/train.txt" > "$out/train-real.txt"
run() { [ -f "$out/$2.f32" ] || PER_CROP=1 "$bin" "$out/$1.txt" "$out/$2.f32" $m tiles:9 "$3"; }
run val val none
run train train none
run train-real train-fake fake
python3 bench/tile_rows_probe.py "$out" 1
