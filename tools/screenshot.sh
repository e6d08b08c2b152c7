#!/usr/bin/env bash
# Takes docs/screenshot.png: the real window under Xvfb with the sample images loaded and the
# attention overlay on. Needs: apt-get install xvfb imagemagick xdotool; a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}/release/fauxscope"
tmp=$(mktemp -d)
export FAUXSCOPE_CONFIG_DIR="$tmp/config" FAUXSCOPE_DATA_DIR="$tmp/data" FAUXSCOPE_GUI_LOG=1
mkdir -p "$FAUXSCOPE_CONFIG_DIR"
cat > "$FAUXSCOPE_CONFIG_DIR/settings.json" <<JSON
{"overlay": {"kind": "${OVERLAY:-attention}", "opacity": 0.6, "show_masked": false, "layer": null}}
JSON
Xvfb :77 -screen 0 1400x860x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$tmp"' EXIT
sleep 1
DISPLAY=:77 "$bin" gui assets/samples/photo-rocket.jpg assets/samples/photo-chelsea.png \
  assets/samples/photo-coffee.png assets/samples/procedural-scene.png 2> "$tmp/log" &
app=$!
# Wait until every image has its full analysis (the log line comes with the first verdict).
for _ in $(seq 1 120); do
  [ "$(grep -c 'verdict and both maps' "$tmp/log" || true)" -ge 4 ] && break
  sleep 1
done
sleep "${SETTLE:-6}"
DISPLAY=:77 import -window root "${OUT:-docs/screenshot.png}"
cat "$tmp/log"
kill $app
