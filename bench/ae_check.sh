#!/usr/bin/env bash
# Autoencoder fakes (docs/EVALUATION.md, "Autoencoder fakes"): do reconstructions of train/'s real
# photos by a small learned generator (examples/ae_fakes.rs, AutoGAN-style) teach the
# `probe-blocks` probe more of the unseen GANs than the box simulator's fakes? Needs the features
# of bench/multiblock_check.sh in FEAT_DIR (train-real.txt, train/, val/ and their perturbed
# copies). Trains one autoencoder per upsampler (subpixel, nearest) and writes its
# reconstructions under FEAT_DIR/ae-UPSAMPLER/ (reused when present), their features as
# FEAT_DIR/train-ae-UPSAMPLER.f32, then prints the rows of bench/multiblock_probe.py for
# blocks 1-12, λ 1. Needs python3 with numpy. On 2 cores (2026-12-01): the subpixel autoencoder
# 16 minutes of training and 5 of reconstruction, the nearest one 37 (partly beside another job)
# and 10, each set of features 2 minutes, and the six rows 19 minutes together.
#   bash bench/ae_check.sh FEAT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash bench/ae_check.sh FEAT_DIR}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q --example ae_fakes --example layer_features
bin="$CARGO_TARGET_DIR/release/examples"
for up in subpixel nearest; do
  [ -f "$out/ae-$up/list.txt" ] || "$bin/ae_fakes" "$out/train-real.txt" "$out/ae-$up" "$up" 600
  [ -f "$out/train-ae-$up.f32" ] || "$bin/layer_features" "$out/ae-$up/list.txt" "$out/train-ae-$up.f32"
done
sets="+ syn + lp + aug"
for up in subpixel nearest; do sets="$sets,+ ae-$up + lp + aug,+ syn + ae-$up + lp + aug"; done
sets="$sets,+ syn + ae-subpixel + ae-nearest + lp + aug"
FAKES=ae-subpixel:train-ae-subpixel,ae-nearest:train-ae-nearest BLOCKS=1-12 SETS="$sets" \
  python3 bench/multiblock_probe.py "$out" 1
