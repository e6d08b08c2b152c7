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
# The host's speed drifts over minutes, and the figures above were taken minutes apart: the
# batch-1 ratio is also measured in alternating rounds (ours, then ORT, then ours ...), each
# round's ratio from two runs taken seconds apart, and the median round reported.
rounds=${BENCH_ROUNDS:-5}
for r in $(seq 1 "$rounds"); do
  "$bin" bench --arch vit-b16 --batch 1 --iters 3 --min-seconds 5 --json "$out/round$r-fauxscope.json" > /dev/null
  python3 bench/ort_bench.py "$out/clip_b16_fp32.onnx" --threads "$threads" --batch 1 --iters 3 --min-seconds 5 \
    > "$out/round$r-ort.json"
done
python3 - "$out" "$rounds" <<'PY'
import json, sys
out = sys.argv[1]
rounds = int(sys.argv[2])
ours = json.load(open(f"{out}/fauxscope.json"))
ort = json.load(open(f"{out}/ort.json"))
print(f"ONNX Runtime {ort['onnxruntime']}, {ort['threads']} threads; ORT vs reference: min cosine {ort['min_cosine_vs_reference']:.7f}")
for o in ort["forward"]:
    f = [r for r in ours["forward"] if r["arch"] == "ViT-B/16" and r["batch"] == o["batch"]][0]
    for k, label in [("seconds_per_batch", "median"), ("min_seconds_per_batch", "best")]:
        print(f"ViT-B/16 batch {o['batch']} ({label}): fauxscope {f[k]/o['batch']:.3f} s/img, "
              f"onnxruntime {o[k]/o['batch']:.3f} s/img, ratio (ORT time / ours) {o[k]/f[k]:.2f}")
ratios = []
for r in range(1, rounds + 1):
    f = json.load(open(f"{out}/round{r}-fauxscope.json"))["forward"][0]["seconds_per_batch"]
    o = json.load(open(f"{out}/round{r}-ort.json"))["forward"][0]["seconds_per_batch"]
    ratios.append(o / f)
    print(f"round {r}: ViT-B/16 batch 1 fauxscope {f:.4f} s, onnxruntime {o:.4f} s, ratio {o / f:.3f}")
print(f"ViT-B/16 batch 1, median of {rounds} alternating rounds: ratio (ORT time / ours) "
      f"{sorted(ratios)[rounds // 2]:.3f}")
PY
