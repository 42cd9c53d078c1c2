"""Training metrics to TensorBoard event files and a metrics.jsonl, in a local or gs:// workdir.

metrics.jsonl holds one JSON object per (step, split): {"step": 12, "split": "train", "loss": ...}.
TensorBoard scalars are tagged "<split>/<name>" (pass@1 as pass_at_1). On object stores nothing can be appended to, so
events are written to a local staging dir and uploaded on `flush`, and metrics.jsonl is rewritten
whole (it stays small: one line per logged step). Only process 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
from typing import Mapping, Optional

import fsspec
import jax
import numpy as np

from acecoder_jax.data import io

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def tensorboard_tag(split: str, name: str) -> str:
    """`<split>/<name>` in the characters TensorBoard accepts (pass@1 -> pass_at_1), so it need not rename."""
    return f"{split}/" + re.sub(r"[^\w.\-/]", "_", name.replace("@", "_at_"))


def to_python(value):
    """A JSON-safe float/int from a scalar array or number (NaN/inf kept as strings by json)."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"metric must be a scalar, got shape {arr.shape}")
    item = arr.reshape(()).item()
    return float(item) if isinstance(item, float) or arr.dtype.kind == "f" else item


def read_metrics(workdir: str, split: Optional[str] = None) -> list[dict]:
    """The rows of <workdir>/metrics.jsonl (optionally one split), in file order."""
    path = io.join(workdir, METRICS_FILE)
    if not io.exists(path):
        return []
    rows = io.read_jsonl(path)
    return [r for r in rows if split is None or r.get("split") == split]


class MetricsWriter:
    """Writes scalar metrics per step; `truncate_after(step)` drops rows a resumed run will redo."""

    def __init__(self, workdir: str, *, tensorboard: bool = True, enabled: Optional[bool] = None):
        self.workdir = workdir
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        self._local = io.is_local(workdir)
        self._jsonl = io.join(workdir, METRICS_FILE)
        self._rows: list[str] = []  # remote workdirs: the whole file, rewritten on flush
        self._tb = None
        self._staging = None
        if not self.enabled:
            return
        io.makedirs(workdir)
        if not self._local and io.exists(self._jsonl):
            self._rows = [l for l in io.read_text(self._jsonl).splitlines() if l.strip()]
        if tensorboard:
            from acecoder_jax.extras import MissingExtra, need

            try:
                SummaryWriter = need("tensorboardX", "TensorBoard event files").SummaryWriter
            except MissingExtra as e:
                logging.warning("%s; metrics go to %s only", e, METRICS_FILE)
                return
            if self._local:
                logdir = io.join(workdir, TENSORBOARD_DIR)
            else:
                self._staging = tempfile.mkdtemp(prefix="tb-")
                logdir = self._staging
            self._tb = SummaryWriter(logdir=logdir, flush_secs=30)

    def truncate_after(self, step: int) -> None:
        """Forget rows with step > `step` (they belong to an interrupted run being redone)."""
        if not self.enabled:
            return
        lines = self._rows if not self._local else (
            io.read_text(self._jsonl).splitlines() if io.exists(self._jsonl) else [])
        kept = [l for l in lines if l.strip() and json.loads(l).get("step", 0) <= step]
        if self._local:
            if len(kept) != len([l for l in lines if l.strip()]):
                io.write_text(self._jsonl, "".join(l + "\n" for l in kept))
        else:
            self._rows = kept

    def write(self, step: int, metrics: Mapping[str, object], split: str = "train") -> dict:
        """Logs one row; returns it as plain Python numbers."""
        row = {"step": int(step), "split": split}
        for name, value in sorted(metrics.items()):
            row[name] = to_python(value)
        if not self.enabled:
            return row
        line = json.dumps(row, allow_nan=True)
        if self._local:
            with open(self._jsonl, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        else:
            self._rows.append(line)
        if self._tb is not None:
            for name, value in row.items():
                if name in ("step", "split") or not isinstance(value, (int, float)) or isinstance(value, bool):
                    continue
                if isinstance(value, float) and not math.isfinite(value):
                    continue
                self._tb.add_scalar(tensorboard_tag(split, name), value, global_step=int(step))
        return row

    def flush(self) -> None:
        if not self.enabled:
            return
        if self._tb is not None:
            self._tb.flush()
        if self._local:
            return
        io.write_text(self._jsonl, "".join(l + "\n" for l in self._rows))
        if self._staging:
            fs, root = fsspec.core.url_to_fs(io.join(self.workdir, TENSORBOARD_DIR))
            for name in os.listdir(self._staging):
                with open(os.path.join(self._staging, name), "rb") as src, fs.open(f"{root}/{name}", "wb") as dst:
                    shutil.copyfileobj(src, dst)

    def close(self) -> None:
        if not self.enabled:
            return
        self.flush()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._staging:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
