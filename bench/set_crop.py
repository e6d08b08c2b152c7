#!/usr/bin/env python3
"""Copy a detector checkpoint with another crop mode (and name), weights and calibration unchanged.

For test-time experiments only (EVALUATION.md, "Tiles"): the calibration was chosen for the
original crop mode, so the copy's threshold is not calibrated for the new one.

    python3 bench/set_crop.py IN.safetensors OUT.safetensors tiles:9 NAME
"""
import json
import struct
import sys

src, dst, mode, name = sys.argv[1:5]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8 : 8 + n])
meta = json.loads(header["__metadata__"]["fauxscope"])
if mode.startswith("tiles:"):
    meta["crop"] = {"mode": "tiles", "tiles": int(mode.split(":")[1])}
else:
    meta["crop"] = {"mode": mode}
meta["name"] = name
header["__metadata__"]["fauxscope"] = json.dumps(meta)
hb = json.dumps(header).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(hb)) + hb + raw[8 + n :])
