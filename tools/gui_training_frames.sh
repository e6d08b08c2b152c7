#!/usr/bin/env bash
# Frame times of the real window while an MPFT run on ViT-B/16 trains in the background:
# starts the window under Xvfb with the fine-tune panel filled (--real/--fake), clicks
# "Fine-tune" then "Start training", lets it train for TRAIN_S seconds while the pointer keeps
# moving over the window, cancels, keeps moving for AFTER_S (40) s (the run ends and gives its memory back),
# and prints the window's own log (whole-frame CPU times reported by eframe).
# Usage: tools/gui_training_frames.sh REAL_DIR FAKE_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}/release/fauxscope"
tmp=$(mktemp -d)
export FAUXSCOPE_CONFIG_DIR="$tmp/config" FAUXSCOPE_DATA_DIR="$tmp/data" FAUXSCOPE_GUI_LOG=1
Xvfb :78 -screen 0 1400x860x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$tmp"' EXIT
sleep 1
export DISPLAY=:78
"$bin" gui --real "$1" --fake "$2" 2> "$tmp/log" &
app=$!
sleep "${START_S:-8}"
click() { xdotool mousemove "$1" "$2" click 1; sleep 1; }
click 224 12                      # the "Fine-tune" tab
import -window root "$tmp/panel.png"
# The "Start training" button: found by its position in the panel layout (see panel.png).
# NO_TRAIN=1: the same pointer moves with nothing running (the baseline, logged "while idle").
[ -n "${NO_TRAIN:-}" ] || click "${START_X:-50}" "${START_Y:-330}"
# A user moving the pointer over the window the whole time: every move is a repainted frame.
wiggle() {
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    for x in 400 700 1000 700; do xdotool mousemove "$x" 500; sleep 0.05; done
  done
}
wiggle "${TRAIN_S:-60}"
import -window root "${OUT:-/tmp/training.png}"
[ -n "${NO_TRAIN:-}" ] || click "${START_X:-50}" "${START_Y:-330}"   # now "Cancel"
wiggle "${AFTER_S:-40}"                    # the run ends, its memory is given back
cp "$tmp/panel.png" /tmp/panel.png
cat "$tmp/log"
kill $app
