#!/usr/bin/env python3
"""edit_checkpoint.py FILE EDIT: damages a kiln safetensors checkpoint in place,
as tests/bad/cases.txt asks. EDIT is epochs:VALUE (sets epochs_done), flip
(one bit of the last weight), nan (a NaN weight, checksum left stale),
nan-resum (a NaN weight with its checksum recomputed) or truncate."""
import json
import struct
import sys
import zlib

path, edit = sys.argv[1], sys.argv[2]
blob = open(path, "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
header, data = json.loads(blob[8:8 + n]), bytearray(blob[8 + n:])
if edit == "truncate":
    open(path, "wb").write(blob[: len(blob) // 2])
    sys.exit(0)
if edit.startswith("epochs:"):
    header["__metadata__"]["epochs_done"] = edit.split(":", 1)[1]
elif edit == "flip":
    data[-1] ^= 0x01
elif edit in ("nan", "nan-resum"):
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    b, e = header[name]["data_offsets"]
    data[b:b + 4] = struct.pack("<f", float("nan"))
    if edit == "nan-resum":
        header["__metadata__"]["crc32:" + name] = "%08x" % zlib.crc32(bytes(data[b:e]))
else:
    sys.exit(f"unknown edit {edit}")
text = json.dumps(header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + bytes(data))
