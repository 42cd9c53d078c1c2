"""A damaged checkpoint fails before any tensor is read, naming the file and tensor (issue #15, point 7).

Real safetensors files written by our exporter, then damaged on disk the ways downloads and disks
damage them: truncated, a corrupt header length, a header that is not JSON, an unknown dtype,
offsets out of range; a config.json or index that is not JSON; NaN/inf in a weight.
"""
import json
import logging
import os
import re
import shutil
import struct

import numpy as np
import pytest

from acecoder_jax.checkpoints.safetensors_io import SafetensorsError
from acecoder_jax.models import export_hf, init_model, load_hf, preset


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ckpt") / "hf")
    config = preset("tiny", pad_token_id=0, eos_token_id=1)
    export_hf(init_model(config, seed=0), config, path, dtype="float32", max_shard_bytes=1 << 20)
    return path


def _copy(checkpoint, tmp_path):
    dst = str(tmp_path / "hf")
    shutil.copytree(checkpoint, dst)
    return dst


def _shards(path):
    return sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".safetensors"))


def _header(shard):
    with open(shard, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return n, json.loads(f.read(n))


def _rewrite_header(shard, edit):
    """Replace the header with edit(header), padded to the same length (so offsets still line up)."""
    n, header = _header(shard)
    raw = json.dumps(edit(header), separators=(",", ":")).encode()
    assert len(raw) <= n
    with open(shard, "r+b") as f:
        f.seek(8)
        f.write(raw + b" " * (n - len(raw)))


def test_a_truncated_shard_names_the_file_and_a_tensor_past_its_end(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    shard = _shards(path)[-1]
    os.truncate(shard, os.path.getsize(shard) - 100)
    with pytest.raises(SafetensorsError, match=rf"{shard}: tensor '.+': data_offsets end \d+ is past the file's "
                                               r"\d+ data bytes \(truncated file\?\)"):
        load_hf(path)


def test_a_corrupt_header_length_is_caught_before_reading_it(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    shard = _shards(path)[0]
    with open(shard, "r+b") as f:
        f.write(struct.pack("<Q", 1 << 40))  # 1 TB: would be a MemoryError or a hang if read
    with pytest.raises(SafetensorsError, match=rf"{shard}: header length 1099511627776 exceeds the file's"):
        load_hf(path)
    os.truncate(shard, 5)
    with pytest.raises(SafetensorsError, match=rf"{shard}: 5 bytes, too short"):
        load_hf(path)


def test_a_header_that_is_not_json_or_has_bad_entries_names_the_tensor(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    shard = _shards(path)[0]
    with open(shard, "r+b") as f:
        f.seek(8)
        f.write(b"\xff\xfe not json")
    with pytest.raises(SafetensorsError, match=rf"{shard}: the header is not JSON"):
        load_hf(path)

    for edit, message in [
        (lambda h, k: h[k].update(dtype="F99"), r"unsupported dtype 'F99'"),
        (lambda h, k: h[k].update(shape=[-1, 4]), r"shape \[-1, 4\] is not a list of non-negative ints"),
        (lambda h, k: h[k].update(data_offsets=[8, 4]), r"data_offsets \[8, 4\] are not \[start, end\]"),
        (lambda h, k: h[k].update(shape=[h[k]["shape"][0] + 1] + h[k]["shape"][1:]),
         r"\d+ bytes for shape \[\d+, \d+\] of F32 \(\d+ expected\)"),
    ]:
        path = _copy(checkpoint, tmp_path / message[:12].replace(" ", "_").replace("\\", ""))
        shard = _shards(path)[0]
        key = sorted(k for k in _header(shard)[1] if k != "__metadata__")[0]

        def apply(h, edit=edit, key=key):
            edit(h, key)
            return h

        _rewrite_header(shard, apply)
        with pytest.raises(SafetensorsError, match=rf"{re.escape(shard)}: tensor '{re.escape(key)}': {message}"):
            load_hf(path)


def test_config_and_index_that_are_not_json_name_the_file(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    with open(os.path.join(path, "config.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match=rf"{path}/config.json: not valid JSON"):
        load_hf(path)
    path = _copy(checkpoint, tmp_path / "index")
    with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
        f.write("[]")
    with pytest.raises(SafetensorsError, match=rf"{path}/model.safetensors.index.json: not a safetensors index"):
        load_hf(path)


def test_non_finite_weights_warn_naming_the_tensor_or_fail_when_asked(checkpoint, tmp_path, caplog):
    path = _copy(checkpoint, tmp_path)
    shard = _shards(path)[0]
    n, header = _header(shard)
    key = next(k for k, v in sorted(header.items()) if k != "__metadata__" and v["dtype"] == "F32")
    start = 8 + n + header[key]["data_offsets"][0]
    with open(shard, "r+b") as f:
        f.seek(start)
        f.write(np.array([np.nan, np.inf], np.float32).tobytes())
    with caplog.at_level(logging.WARNING):
        load_hf(path)
    assert f"{shard}: tensor '{key}' has 2 non-finite value(s) (NaN/inf)" in caplog.text
    with pytest.raises(SafetensorsError, match=rf"tensor '{re.escape(key)}' has 2 non-finite"):
        load_hf(path, nonfinite="error")
    load_hf(_copy(checkpoint, tmp_path / "clean"), nonfinite="error")  # a clean checkpoint passes
