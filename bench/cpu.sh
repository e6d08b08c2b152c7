#!/usr/bin/env bash
# CPU benchmark, one run: Fauxscope (decode + preprocess, forward per ViT size and batch) and
# ONNX Runtime fp32 on the very same ViT-B/16 weights, same machine, same thread count.
#   bash bench/cpu.sh [OUT_DIR]        (needs the base model installed: fauxscope model fetch)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out}
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/fauxscope"
cache="${FAUXSCOPE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fauxscope}"
threads=$(nproc)
python3 -m pip install -q --disable-pip-version-check onnxruntime onnx numpy pillow
images=${BENCH_IMAGES:-../shared/data/aigi-dev/val}
"$bin" bench --arch vit-b32,vit-b16,vit-l14 --batch 1,32 --iters 3 --min-seconds 10 --images "$images" --json "$out/fauxscope.json"
python3 bench/export_onnx_fp32.py "$cache/models/clip-vit-base-patch16" "$out/clip_b16_fp32.onnx"
python3 bench/ort_bench.py "$out/clip_b16_fp32.onnx" --threads "$threads" --batch 1,32 --iters 3 --min-seconds 10 \
  --check tests/fixtures/parity/reference_vit_b16.json > "$out/ort.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
ours = json.load(open(f"{out}/fauxscope.json"))
ort = json.load(open(f"{out}/ort.json"))
print(f"ONNX Runtime {ort['onnxruntime']}, {ort['threads']} threads; ORT vs reference: min cosine {ort['min_cosine_vs_reference']:.7f}")
for o in ort["forward"]:
    f = [r for r in ours["forward"] if r["arch"] == "ViT-B/16" and r["batch"] == o["batch"]][0]
    for k, label in [("seconds_per_batch", "median"), ("min_seconds_per_batch", "best")]:
        print(f"ViT-B/16 batch {o['batch']} ({label}): fauxscope {f[k]/o['batch']:.3f} s/img, "
              f"onnxruntime {o[k]/o['batch']:.3f} s/img, ratio (ORT time / ours) {o[k]/f[k]:.2f}")
PY
