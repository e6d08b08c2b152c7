#!/usr/bin/env bash
# Local calibration (docs/EVALUATION.md, "A threshold set on the examiner's own reference photos"):
# how far does `fauxscope calibrate` bring a detector's false-positive rate to its target on
# photos from the sources it was set on, and what does it cost in detection? aigi-dev/val's real
# photos are split in two halves by position within each source folder (ImageNet, and the three
# ForenSynths collections); each half in turn is the reference set, and the other half, with all
# of val's generated images, is the test set. Two reference sets per fold: the whole half
# ("pooled"), and its ForenSynths photos alone ("forensynths": 30 photos, for the images that
# sit next to GAN output). Every detector is evaluated on the test half with its trained
# threshold and with the local one; the ForenSynths-only reference is tested on the ForenSynths
# half with the three GANs. The test sets are folders of symbolic links (nothing is copied), and
# scores come from the evaluation's score cache after one pass over val/.
#   bash bench/local_calibration.sh [OUT_DIR] [DETECTOR ...]   (default: probe-blocks-tiles probe-blocks mpft)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-local-calibration-out}
shift || true
dets=("$@")
[ ${#dets[@]} -gt 0 ] || dets=(probe-blocks-tiles probe-blocks mpft)
val=$(realpath "${AIGI_DEV:-../shared/data/aigi-dev}/val")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fauxscope/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/fauxscope"
mkdir -p "$out"
out=$(realpath "$out")
# The splits: fold a references the even-numbered photos of each source, fold b the odd ones.
for fold in a b; do
  [ "$fold" = a ] && keep=0 || keep=1
  for d in ref-$fold ref-$fold-forensynths test-$fold test-$fold-forensynths; do rm -rf "${out:?}/$d"; done
  mkdir -p "$out/test-$fold/fake" "$out/test-$fold-forensynths/fake"
  for src in "$val"/real/*/; do
    src=${src%/}; name=$(basename "$src")
    mkdir -p "$out/ref-$fold/$name" "$out/test-$fold/real/$name"
    [[ $name == forensynths-* ]] && mkdir -p "$out/ref-$fold-forensynths/$name" "$out/test-$fold-forensynths/real/$name"
    i=0
    for f in $(find "$src" -type f -name '*.jpg' | sort); do
      if [ $((i % 2)) -eq $keep ]; then
        ln -s "$f" "$out/ref-$fold/$name/"
        [[ $name == forensynths-* ]] && ln -s "$f" "$out/ref-$fold-forensynths/$name/"
      else
        ln -s "$f" "$out/test-$fold/real/$name/"
        [[ $name == forensynths-* ]] && ln -s "$f" "$out/test-$fold-forensynths/real/$name/"
      fi
      i=$((i + 1))
    done
  done
  for g in "$val"/fake/*/; do
    g=${g%/}
    ln -s "$g" "$out/test-$fold/fake/"
    [[ $(basename "$g") == SD* ]] || ln -s "$g" "$out/test-$fold-forensynths/fake/"
  done
done
for det in "${dets[@]}"; do
  # One pass over val/ fills the score cache that every later step reads.
  [ -f "$out/$det-val.json" ] || "$bin" eval "$val" --detector "$det" --json "$out/$det-val.json" > /dev/null
  for fold in a b; do
    for ref in pooled forensynths; do
      [ $ref = pooled ] && refdir="$out/ref-$fold" || refdir="$out/ref-$fold-forensynths"
      [ $ref = pooled ] && test="$out/test-$fold" || test="$out/test-$fold-forensynths"
      "$bin" calibrate --detector "$det" --real "$refdir" --out "$out/$det-$ref-$fold.safetensors" \
        > "$out/$det-$ref-$fold.calibrate.txt" 2>&1
      for which in trained local; do
        [ $which = trained ] && d=$det || d="$out/$det-$ref-$fold.safetensors"
        "$bin" eval "$test" --detector "$d" --json "$out/$det-$ref-$fold-$which.json" > /dev/null 2>&1
        if [ $ref = pooled ]; then # the false positives of each source of the test half
          for s in imagenet forensynths; do
            t="$out/test-$fold-only-$s"; rm -rf "$t"; mkdir -p "$t/real" "$t/fake"
            for r in "$test"/real/*; do [[ $(basename "$r") == $s* ]] && ln -s "$(realpath "$r")" "$t/real/"; done
            ln -s "$val/fake/BigGAN" "$t/fake/"
            "$bin" eval "$t" --detector "$d" --json "$out/$det-$ref-$fold-$which-$s.json" > /dev/null 2>&1
          done
        fi
      done
    done
  done
done
python3 - "$out" "${dets[@]}" <<'PY'
import json, sys
out, dets = sys.argv[1], sys.argv[2:]
def load(name):
    return json.load(open(f"{out}/{name}.json"))
def fams(r):
    return " | ".join(f"{g['balanced_accuracy']:.3f}" for _, g in sorted(r["generators"].items()))
print("| detector | reference | threshold | test FP | ImageNet FP | ForenSynths FP | mean bal. acc | per family (bal. acc) |")
print("|---|---|---|---:|---:|---:|---:|---|")
for det in dets:
    for ref in ["pooled", "forensynths"]:
        for which in ["trained", "local"]:
            cells = {"fp": [], "in": [], "fs": [], "mba": [], "fam": []}
            for fold in "ab":
                r = load(f"{det}-{ref}-{fold}-{which}")
                cells["fp"].append(1 - r["summary"]["real_accuracy"])
                cells["mba"].append(r["summary"]["mean_balanced_accuracy"])
                cells["fam"].append(r["generators"])
                if ref == "pooled":
                    cells["in"].append(1 - load(f"{det}-{ref}-{fold}-{which}-imagenet")["summary"]["real_accuracy"])
                    cells["fs"].append(1 - load(f"{det}-{ref}-{fold}-{which}-forensynths")["summary"]["real_accuracy"])
                else:
                    cells["fs"].append(cells["fp"][-1])
            mean = lambda v: sum(v) / len(v)
            pct = lambda v: f"{100 * mean(v):.1f}%" if v else "-"
            fam = " ".join(f"{g} {mean([f[g]['balanced_accuracy'] for f in cells['fam']]):.3f}" for g in sorted(cells["fam"][0]))
            print(f"| {det} | {ref} | {which} | {pct(cells['fp'])} | {pct(cells['in'])} | {pct(cells['fs'])} | {mean(cells['mba']):.3f} | {fam} |")
PY
