"""Raw safetensors header checks, done before safetensors allocates anything.

A hostile or truncated file is refused here with one line naming the problem: sizes, UTF-8 JSON,
duplicate keys, dtypes, shapes against byte ranges, and byte ranges that tile the data section.
(safetensors itself is safe against code execution; these checks turn its failure modes and
resource abuse into clear errors.) The synthgen format on top of it is synthgen.format.artifact.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable

# byte sizes of safetensors dtypes, to check offsets before loading; the schema check then
# reports a wrong dtype as expected-vs-found
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


MAX_HEADER_BYTES = 8 << 20  # metadata + tensor table; a real header is a few KiB


MAX_FILE_BYTES = 4 << 30  # a synthetic set is small by construction


MAX_TENSORS = 16


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key(s) {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def read_header(path: str | os.PathLike, fail: Callable[[object, str], Exception]) -> tuple[dict, dict]:
    """Parse and check the raw safetensors header before anything is allocated.

    Returns (tensor table, string metadata). Checks sizes, UTF-8/JSON, duplicate keys, dtypes,
    shapes vs byte ranges, and that the byte ranges tile the data section exactly.
    """
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise fail(path, f"file is {size} bytes, over the {MAX_FILE_BYTES} byte cap")
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise fail(path, f"truncated: {size} bytes, too short for a safetensors header")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > MAX_HEADER_BYTES:
            raise fail(path, f"header length {hlen} over the {MAX_HEADER_BYTES} byte cap")
        if 8 + hlen > size:
            raise fail(path, f"truncated: header claims {hlen} bytes, file has {size - 8} after the length")
        raw = fh.read(hlen)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError) as err:
        raise fail(path, f"header is not valid UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise fail(path, "header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise fail(path, "header __metadata__ must map strings to strings")
    if len(header) > MAX_TENSORS:
        raise fail(path, f"{len(header)} tensors, over the cap of {MAX_TENSORS}")
    spans = []
    for name, info in header.items():
        try:
            width, shape, (lo, hi) = (
                DTYPE_SIZES.get(info["dtype"]),
                [int(v) for v in info["shape"]],
                info["data_offsets"],
            )
        except (KeyError, TypeError, ValueError):
            raise fail(path, f"tensor '{name}' has a malformed header entry") from None
        if width is None:
            raise fail(path, f"tensor '{name}' has unsupported dtype {info['dtype']!r}")
        if any(d < 0 for d in shape) or not (isinstance(lo, int) and isinstance(hi, int)) or not 0 <= lo <= hi:
            raise fail(path, f"tensor '{name}' has a negative dimension or bad offsets")
        if math.prod(shape) * width != hi - lo:
            raise fail(
                path, f"tensor '{name}' shape {shape} needs {math.prod(shape) * width} bytes, offsets give {hi - lo}"
            )
        spans.append((lo, hi, name))
    pos = 0
    for lo, hi, name in sorted(spans):
        if lo != pos:
            raise fail(path, f"tensor '{name}' offsets overlap or leave a gap at byte {pos}")
        pos = hi
    if 8 + hlen + pos != size:
        raise fail(path, f"truncated or padded: data section is {size - 8 - hlen} bytes, header describes {pos}")
    return header, meta
