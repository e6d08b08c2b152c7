#!/usr/bin/env bash
# Decode + preprocess throughput of 12 MP HEIC photos against the same pictures as JPEG
# (docs/BENCHMARKS.md, "HEIC photos"). The test pictures are made here: 12 val photos of
# aigi-dev upscaled to 4032x3024 (an iPhone's size) with mild noise, saved by pillow-heif (PyPI,
# in a throw-away virtual environment) as HEIC quality 80 and as JPEG quality 90.
#   bash bench/heic_decode.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/fauxscope-heic-bench}"
bin="${FAUXSCOPE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}/release/fauxscope}"
mkdir -p "$work/heic" "$work/jpeg"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q pillow pillow-heif numpy
fi
"$work/venv/bin/python" - "$work" <<'PY'
import glob, sys, numpy as np, pillow_heif
from PIL import Image
pillow_heif.register_heif_opener()
work = sys.argv[1]
photos = sorted(glob.glob('../shared/data/aigi-dev/val/real/imagenet/*.jpg'))[:12]
rng = np.random.default_rng(0)
for i, f in enumerate(photos):
    im = Image.open(f).convert('RGB').resize((4032, 3024), Image.BICUBIC)
    a = np.asarray(im).astype(np.float32) + rng.normal(0, 4, (3024, 4032, 3))
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    im.save(f'{work}/heic/{i:02d}.heic', quality=80)
    im.save(f'{work}/jpeg/{i:02d}.jpg', quality=90)
PY
du -sh "$work/heic" "$work/jpeg"
for d in heic jpeg; do
  echo "== $d"
  "$bin" bench --arch vit-b16 --batch 1 --iters 1 --images "$work/$d" 2>&1 | grep 'decode + preprocess'
done
