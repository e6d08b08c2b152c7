#!/usr/bin/env bash
# Measures the shipped detectors' known error rates: `fauxscope eval` of each one on aigi-dev/val
# (real photos and generators that are not in their training data), clean and under the
# robustness sweep, into assets/detectors/validation/<name>.json. The binary embeds those files
# and shows them in the detector library, `model list` and reports, for the checkpoint whose
# SHA-256 they name (a test fails when a shipped checkpoint and its record part).
#
#   bash bench/validate_shipped.sh [DATA_DIR]    # DATA_DIR holds aigi-dev/ (../shared/data)
#
# FAUXSCOPE_BIN names the binary (default: target/release/fauxscope under CARGO_TARGET_DIR).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "${1:-$repo/../shared/data}" && pwd)
bin=${FAUXSCOPE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/fauxscope}
out=$repo/assets/detectors/validation
mkdir -p "$out"
# Run from the data directory, so that the records name the set as `aigi-dev/val`.
cd "$data"
for d in mpft pin probe probe-blocks probe-blocks-tiles; do
    echo "== $d" >&2
    start=$(date +%s)
    "$bin" eval aigi-dev/val --detector "$d" --perturb jpeg:75,blur:1.0,resize:0.5 \
        --json "$out/$d.json" >/dev/null
    echo "   $(( $(date +%s) - start )) s" >&2
done
