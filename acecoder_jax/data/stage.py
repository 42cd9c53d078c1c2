"""Resumable pipeline stages: sharded work, done markers, stats json, rejects file, progress bars.

A stage streams its input records into fixed-size shards (deterministic by input order). Each shard
is processed by a callback and its output, rejects and counts are written atomically; the shard's
done marker is written last, so a killed run leaves no half shard behind and a rerun skips every
finished shard. When all shards are done they are concatenated into the stage output, with
`<output>.stats.json` (counts in/out and why each record was dropped or rejected) and
`<output>.rejects.jsonl` (one line per bad record, with the reason) next to it. A finished stage
is a no-op on rerun. A manifest pins the inputs and the config; resuming with different ones is an
error instead of a silent mix.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import time
from typing import Any, Callable, Iterable, Iterator

from acecoder_jax import progress
from acecoder_jax.data import io

STATS_SUFFIX = ".stats.json"
REJECTS_SUFFIX = ".rejects.jsonl"


def stats_path(output: str) -> str:
    return output + STATS_SUFFIX


def rejects_path(output: str) -> str:
    return output + REJECTS_SUFFIX


@dataclasses.dataclass
class ShardContext:
    """What a shard callback writes to: output records, rejects (bad records), drops, counters."""
    shard_index: int
    records: list[dict] = dataclasses.field(default_factory=list)
    rejects: list[dict] = dataclasses.field(default_factory=list)
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def emit(self, record: dict) -> None:
        self.records.append(record)

    def reject(self, reason: str, detail: str, record_id: Any = None, raw: Any = None) -> None:
        """A malformed / unusable record: counted under rejected.<reason> and written to rejects."""
        self.counts[f"rejected.{reason}"] += 1
        entry = {"reason": reason, "detail": detail, "id": record_id}
        if raw is not None:
            entry["raw"] = raw if isinstance(raw, (str, dict, list)) else repr(raw)
        self.rejects.append(entry)

    def drop(self, reason: str, n: int = 1) -> None:
        """A valid record filtered out by a rule (e.g. too few tests): counted, not logged."""
        self.counts[f"dropped.{reason}"] += n

    def count(self, key: str, n: int | float = 1) -> None:
        self.counts[key] += n


ShardFn = Callable[[list[dict], ShardContext], None]


def config_fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stage:
    """One resumable stage writing `output` (a .jsonl path, local or gs://).

    Shards live under `workdir` (default: `<output>.shards`). `config` (any JSON-able object) is
    pinned in the manifest together with the input file list and shard size.
    """

    def __init__(self, name: str, output: str, workdir: str | None = None, shard_size: int = 256,
                 config: Any = None, progress: bool = True, overwrite: bool = False,
                 derive: Callable[[dict], dict] | None = None):
        if shard_size <= 0:
            raise ValueError(f"shard_size must be > 0, got {shard_size}")
        if io.format_of(output) != "jsonl":
            raise ValueError(f"stage output must be a .jsonl path, got {output}")
        self.name, self.output, self.shard_size = name, output, shard_size
        self.workdir = workdir or output + ".shards"
        self.config, self.progress, self.overwrite = config, progress, overwrite
        self.derive = derive  # totals -> derived figures (e.g. mean tests per question) for stats

    # ---- paths ----
    def _shard(self, i: int, kind: str) -> str:
        return io.join(self.workdir, f"shard-{i:05d}.{kind}")

    def is_finished(self) -> bool:
        return io.exists(self.output) and io.exists(stats_path(self.output))

    def _check_manifest(self, inputs: list[str]) -> None:
        manifest = {"stage": self.name, "inputs": inputs, "shard_size": self.shard_size,
                    "config": config_fingerprint(self.config)}
        path = io.join(self.workdir, "manifest.json")
        if io.exists(path) and not self.overwrite:
            old = io.read_json(path)
            if old != manifest:
                diff = sorted(k for k in manifest if old.get(k) != manifest[k])
                raise RuntimeError(f"{self.workdir} holds shards of a different run (differs in {diff}); "
                                   f"pass --overwrite or use another workdir")
            return
        if self.overwrite:
            for f in io.glob(io.join(self.workdir, "shard-*")):
                fs, p = io.fs_and_path(f)
                fs.rm(p)
        io.makedirs(self.workdir)
        io.write_json(path, manifest)

    # ---- run ----
    def run(self, inputs: list[str], process: ShardFn,
            records: Iterable[dict | io.RecordReadError] | None = None) -> dict:
        """Process all inputs (or the given record stream) and return the stats dict.

        `records` overrides reading `inputs` (e.g. an embedded corpus); `inputs` still names them in
        the manifest. Unreadable input lines (RecordReadError) are rejected, never fatal.
        """
        if self.is_finished() and not self.overwrite:
            stats = io.read_json(stats_path(self.output))
            stats["skipped_finished"] = True
            return stats
        self._check_manifest(inputs)
        start = time.time()
        stream = records if records is not None else self._read_inputs(inputs)
        done_shards = skipped = 0
        bar = progress.bar(desc=self.name, unit="rec", enabled=self.progress,
                           total=len(records) if hasattr(records, "__len__") else self._count_inputs(inputs))
        n_shards = 0
        for i, shard in enumerate(self._shards(stream)):
            n_shards = i + 1
            if io.exists(self._shard(i, "done.json")) and not self.overwrite:
                skipped += 1
                bar.update(len(shard))
                continue
            self._process_shard(i, shard, process)
            done_shards += 1
            bar.update(len(shard))
        bar.close()
        return self._finish(inputs, n_shards, done_shards, skipped, time.time() - start)

    def _count_inputs(self, inputs: list[str]) -> int | None:
        """Input lines (the bar's total, for its ETA) when every input is a local jsonl; else unknown."""
        if not self.progress or not all(io.is_local(p) and io.format_of(p) == "jsonl" and not p.endswith(".gz")
                                        and io.exists(p) for p in inputs):
            return None
        return sum(io.count_lines(p) for p in inputs)

    def _read_inputs(self, inputs: list[str]) -> Iterator[dict | io.RecordReadError]:
        for path in inputs:
            for _, rec in io.iter_records(path):
                yield rec

    def _shards(self, stream: Iterable) -> Iterator[list]:
        shard: list = []
        for rec in stream:
            shard.append(rec)
            if len(shard) == self.shard_size:
                yield shard
                shard = []
        if shard:
            yield shard

    def _process_shard(self, i: int, shard: list, process: ShardFn) -> None:
        ctx = ShardContext(shard_index=i)
        good = []
        for rec in shard:
            if isinstance(rec, io.RecordReadError):
                ctx.reject(rec.kind, str(rec), None, rec.raw)
            else:
                good.append(rec)
        ctx.count("records_in", len(shard))
        if good:
            process(good, ctx)
        ctx.count("records_out", len(ctx.records))
        io.write_jsonl(self._shard(i, "out.jsonl"), ctx.records)
        io.write_jsonl(self._shard(i, "rejects.jsonl"), ctx.rejects)
        io.write_json(self._shard(i, "done.json"), dict(ctx.counts))  # last: marks the shard done

    def _finish(self, inputs: list[str], n_shards: int, done: int, skipped: int, seconds: float) -> dict:
        totals: collections.Counter = collections.Counter()
        for i in range(n_shards):
            totals.update(io.read_json(self._shard(i, "done.json")))
        io.concat_files([self._shard(i, "rejects.jsonl") for i in range(n_shards)], rejects_path(self.output))
        io.concat_files([self._shard(i, "out.jsonl") for i in range(n_shards)], self.output)
        stats = {"stage": self.name, "inputs": inputs, "output": self.output, "shards": n_shards,
                 "shards_processed_this_run": done, "shards_resumed": skipped,
                 "seconds_this_run": round(seconds, 3), "records_in": 0, "records_out": 0,
                 "rejected": {}, "dropped": {}, "counts": {}}
        for key, value in sorted(totals.items()):
            if key in ("records_in", "records_out"):
                stats[key] = value
            elif key.startswith("rejected."):
                stats["rejected"][key[len("rejected."):]] = value
            elif key.startswith("dropped."):
                stats["dropped"][key[len("dropped."):]] = value
            else:
                stats["counts"][key] = value
        if self.derive is not None:
            stats["derived"] = self.derive(dict(totals))
        io.write_json(stats_path(self.output), stats)  # last: marks the stage finished
        return stats
