#!/usr/bin/env bash
# GPU benchmark, one run on the CUDA machine: Fauxscope against PyTorch (transformers, SDPA) on
# the same CLIP vision towers, images/s at batch 1, 32 and 256 for ViT-B/16 and ViT-L/14 in f16
# (and ViT-B/16 in f32 at batch 256), then an end-to-end `scan` of a folder of JPEGs (decode and
# preprocess on CPU threads overlapped with the GPU forward).
#   FAUXSCOPE_BIN=path/to/fauxscope-cuda bash bench/gpu.sh [OUT_DIR]
# The binary is built elsewhere (`cargo build --release --features cuda`, see docs/BENCHMARKS.md);
# the machine needs torch, transformers, numpy and safetensors, and no network. Weights are random
# (same compute), written by bench/random_clip.py, so nothing has to be fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-gpu}
mkdir -p "$out"
bin=${FAUXSCOPE_BIN:-target/release/fauxscope}
# A stripped CUDA build is ~120 MB, over the device tool's 64 MiB carry limit; xz brings it to
# ~50 MB (`xz -6 -k fauxscope`). A .xz binary is unpacked here first.
if [[ "$bin" == *.xz ]]; then
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$bin" "$out/fauxscope"
  chmod +x "$out/fauxscope"
  bin="$out/fauxscope"
fi
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-/usr/local/cuda/lib64}
# An empty cache: no installed real weights, so every architecture runs random weights, as torch does.
export FAUXSCOPE_CACHE_DIR="$out/cache"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

"$bin" bench --device cuda --precision f16 --arch vit-b16,vit-l14 --batch 1,32,256 --iters 10 \
  --min-seconds 3 --json "$out/fauxscope-f16.json"
"$bin" bench --device cuda --precision f32 --arch vit-b16 --batch 256 --iters 5 --min-seconds 3 \
  --json "$out/fauxscope-f32.json"
python3 bench/torch_bench.py --arch vit-b16,vit-l14 --batch 1,32,256 --dtype fp16 > "$out/torch-f16.json"
python3 bench/torch_bench.py --arch vit-b16 --batch 256 --dtype fp32 --iters 5 > "$out/torch-f32.json"

# End to end: a folder of JPEGs, scanned with the default detector on a random ViT-B/16.
images="$out/jpegs"
n=${SCAN_IMAGES:-2048}
python3 bench/random_clip.py vit-b16 "$out/rand-vit-b16"
python3 - "$images" "$n" <<'PY'
import os, sys
import numpy as np
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
try:
    from PIL import Image
except ImportError:  # no Pillow: copies of the shipped JPEG (decoding is still done per file)
    import shutil
    for i in range(n):
        shutil.copy("assets/samples/photo-rocket.jpg", f"{out}/{i:05}.jpg")
    sys.exit(0)
rng = np.random.default_rng(0)
for i in range(n):
    # Smooth random scenes at 512 x 384, a typical web photo size.
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((512, 384), Image.BICUBIC)
    img.save(f"{out}/{i:05}.jpg", quality=90)
PY
"$bin" bench --images "$images" --arch vit-b16 --batch 1 --iters 1 --device cpu > "$out/decode.txt" 2>&1 || true
start=$(date +%s.%N)
"$bin" scan --device cuda --model "$out/rand-vit-b16" --json "$images" > "$out/scan.json" 2> "$out/scan.err"
end=$(date +%s.%N)
python3 - "$out" "$start" "$end" "$n" <<'PY'
import json, sys
out, start, end, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rows = [r for r in json.load(open(f"{out}/scan.json")) if r.get("status", "scanned") == "scanned"]
wall = end - start
summary = {"gpu": open(f"{out}/gpu.txt").read().strip(), "forward": [],
           "scan": {"images": len(rows), "seconds": wall, "images_per_second": len(rows) / wall}}
for ours_file, torch_file in [("fauxscope-f16.json", "torch-f16.json"), ("fauxscope-f32.json", "torch-f32.json")]:
    ours = json.load(open(f"{out}/{ours_file}"))["forward"]
    ref = json.load(open(f"{out}/{torch_file}"))
    for o in ours:
        t = [r for r in ref["forward"] if r["arch"] == o["arch"] and r["batch"] == o["batch"]]
        if not t:
            continue
        t = t[0]
        row = {"arch": o["arch"], "dtype": o["dtype"], "batch": o["batch"],
               "fauxscope_images_per_second": o["images_per_second"],
               "torch_images_per_second": t["images_per_second"],
               "ratio": o["images_per_second"] / t["images_per_second"]}
        summary["forward"].append(row)
        print(f"{row['arch']:<9} {row['dtype']:<4} batch {row['batch']:>3}: fauxscope "
              f"{row['fauxscope_images_per_second']:9.1f} img/s, torch {row['torch_images_per_second']:9.1f} "
              f"img/s, ratio {row['ratio']:.2f}")
print(f"scan of {len(rows)} JPEGs end to end: {wall:.1f} s, {len(rows) / wall:.1f} images/s")
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
PY
