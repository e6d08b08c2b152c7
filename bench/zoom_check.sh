#!/usr/bin/env bash
# Does a 2x zoomed view (the central 112-px square at native resolution, each pixel repeated
# 2x2, so each 16-px patch reads 8x8 image pixels) add to the class tokens of blocks 1-12?
# docs/EVALUATION.md, "A zoomed view beside the class tokens". Needs the features of
# bench/multiblock_check.sh in FEAT_DIR (their lists are reused); writes the same files, seen
# through `+zoom2` (examples/layer_features.rs), into ZOOM_DIR, then prints the probe rows with
# the zoomed blocks alone ("z1-12") and beside the plain ones ("1-12+z1-12"). Needs python3 with
# numpy. On 2 cores (2026-12-01): about 25 minutes of forward passes, then about 15 for the rows.
#   bash bench/zoom_check.sh FEAT_DIR ZOOM_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
feat=$1 zoom=$2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example layer_features
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
m=clip-vit-base-patch16
mkdir -p "$zoom"
cp "$feat"/train.txt "$feat"/val.txt "$feat"/train-real.txt "$zoom"/
run() { [ -f "$zoom/$2.f32" ] || "$bin" "$zoom/$1.txt" "$zoom/$2.f32" $m center "$3+zoom2"; }
run val val none
run train train none
run train-real train-fake fake
run train-real train-smooth smooth
for t in blur:0.7 resize:0.7 jpeg:85; do run train "train-$t" "$t"; done
run val val-jpeg jpeg:75
run val val-blur blur:1.0
run val val-resize resize:0.5
BESIDE="$zoom" BLOCKS=1-12,z1-12,1-12+z1-12 SETS="train/,+ syn + lp,+ syn + lp + aug" \
  python3 bench/multiblock_probe.py "$feat" 1
