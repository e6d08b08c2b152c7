#!/usr/bin/env bash
# Patch-token spread (docs/EVALUATION.md, "Patch-token spread"): does the per-channel standard
# deviation of each block's patch tokens, beside or in place of the class tokens, teach the
# `probe-blocks` probe more of the unseen GANs? A generator's traces are local, and the class
# token and the mean patch token both average them over the image; the spread keeps how unevenly
# they fall. Writes, with PATCH_STAT=std (examples/layer_features.rs), the features that the
# "+ syn + lp + aug" row of bench/multiblock_check.sh reads (train/, its simulated fakes and
# low-passed reals, train/ under blur:0.7, resize:0.7 and jpeg:85; val/ clean and under blur:1.0,
# resize:0.5 and jpeg:75; reused when present), then prints that row for blocks 1-12, λ 1, with
# the class tokens alone (the control: the same numbers as docs/eval/multiblock.md), the spread
# alone, and both. Needs python3 with numpy.
# On 2 cores (2026-12-01): 37 minutes of forward passes into an empty OUT_DIR (partly beside
# another job), then the three rows in 22 minutes.
#   bash bench/patch_std_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-patch-std-out}
data=${AIGI_DEV:-../shared/data/aigi-dev}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example layer_features
bin="$CARGO_TARGET_DIR/release/examples/layer_features"
export PATCH_STAT=std
mkdir -p "$out"
for split in train val; do
  find "$data/$split" -name '*.jpg' | sort > "$out/$split.txt"
done
grep '/real/' "$out/train.txt" > "$out/train-real.txt"
feat() { # LIST OUT TRANSFORM
  [ -f "$2" ] || "$bin" "$1" "$2.part" clip-vit-base-patch16 center "$3" && { [ -f "$2" ] || mv "$2.part" "$2"; }
}
feat "$out/train.txt" "$out/train.f32" none
feat "$out/val.txt" "$out/val.f32" none
feat "$out/train-real.txt" "$out/train-fake.f32" fake
feat "$out/train-real.txt" "$out/train-smooth.f32" smooth
for t in blur:0.7 resize:0.7 jpeg:85; do feat "$out/train.txt" "$out/train-$t.f32" "$t"; done
feat "$out/val.txt" "$out/val-blur.f32" blur:1.0
feat "$out/val.txt" "$out/val-resize.f32" resize:0.5
feat "$out/val.txt" "$out/val-jpeg.f32" jpeg:75
for tokens in cls patch cls+patch; do
  echo "tokens: $tokens"
  TOKENS=$tokens BLOCKS=1-12 SETS="+ syn + lp + aug" python3 bench/multiblock_probe.py "$out" 1
done
