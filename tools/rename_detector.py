"""Renames a Fauxscope detector checkpoint (the `name` in its metadata), writing a new file.
The tensors are copied byte for byte. Usage: python3 tools/rename_detector.py IN OUT NEW_NAME"""
import json
import struct
import sys

src, dst, name = sys.argv[1:4]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
header = json.loads(b[8 : 8 + n])
meta = json.loads(header["__metadata__"]["fauxscope"])
meta["name"] = name
header["__metadata__"]["fauxscope"] = json.dumps(meta, separators=(",", ":"))
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)  # safetensors pads the header to 8 bytes
open(dst + ".tmp", "wb").write(struct.pack("<Q", len(h)) + h + b[8 + n :])
import os

os.replace(dst + ".tmp", dst)
