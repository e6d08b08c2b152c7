"""Renames a Fauxscope detector checkpoint (the `name` in its metadata), writing a new file, and
optionally sets its crop mode (`center`, `clip` or `tiles:N`) for test-time experiments: the
calibration stays the one chosen for the original crop mode. The tensors are copied byte for
byte. Usage: python3 tools/rename_detector.py IN OUT NEW_NAME [CROP]"""
import json
import os
import struct
import sys

src, dst, name = sys.argv[1:4]
crop = sys.argv[4] if len(sys.argv) > 4 else None
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
header = json.loads(b[8 : 8 + n])
meta = json.loads(header["__metadata__"]["fauxscope"])
meta["name"] = name
if crop is not None:
    if crop.startswith("tiles:"):
        meta["crop"] = {"mode": "tiles", "tiles": int(crop.split(":", 1)[1])}
    else:
        meta["crop"] = {"mode": crop}
header["__metadata__"]["fauxscope"] = json.dumps(meta, separators=(",", ":"))
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)  # safetensors pads the header to 8 bytes
open(dst + ".tmp", "wb").write(struct.pack("<Q", len(h)) + h + b[8 + n :])
os.replace(dst + ".tmp", dst)
