#!/usr/bin/env bash
# Does a probe on several encoder blocks at once beat one block? Frozen-feature check behind
# `train --method probe --blocks` (docs/EVALUATION.md, "A probe on several blocks"). Writes the
# features of bench/synthetic_check.sh (train/, val/, simulated fakes, low-passed reals, val/ under
# blur:1.0; reused when present), of val/ under resize:0.5 and jpeg:75, and of train/ under the
# milder blur:0.7, resize:0.7 and jpeg:85 (feature-level augmentation), of train/'s reals
# downscaled to 0.6 (added as real in one row), and of the varied simulator's fakes (rows
# "syn2", docs/EVALUATION.md "A varied upsampling simulator"), then prints the table of
# bench/multiblock_probe.py for L2 penalties 0.01, 0.1 and 1. Needs python3 with numpy.
# On 2 cores (2026-12-01): about 30 minutes of forward passes into an empty OUT_DIR, then the
# full table, which was stopped after 24 of its 150 rows in 5 minutes (the later, wider blocks cost more:
# at least 30 minutes more);
# BLOCKS=... and SETS=... (see multiblock_probe.py) print only the rows asked for.
#   bash bench/multiblock_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-layer-features-out}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
bash bench/synthetic_check.sh "$out" > /dev/null
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
for t in resize:0.5 jpeg:75; do
  f="$out/val-${t%%:*}.f32"
  [ -f "$f" ] || "$bin" "$out/val.txt" "$f" clip-vit-base-patch16 center "$t"
done
for t in blur:0.7 resize:0.7 jpeg:85; do
  [ -f "$out/train-$t.f32" ] || "$bin" "$out/train.txt" "$out/train-$t.f32" clip-vit-base-patch16 center "$t"
done
# Fakes from the varied simulator (`--synthetic-kind varied`) and from the same without bilinear
# doubling; multiblock_probe.py adds rows for them.
for t in fake2 fake2-nobilinear; do
  [ -f "$out/train-$t.f32" ] || "$bin" "$out/train-real.txt" "$out/train-$t.f32" clip-vit-base-patch16 center "$t"
done
f="$out/train-real-resize:0.6.f32"
[ -f "$f" ] || "$bin" "$out/train-real.txt" "$f" clip-vit-base-patch16 center resize:0.6
python3 bench/multiblock_probe.py "$out" 0.01 0.1 1 | tee "$out/multiblock.md"
