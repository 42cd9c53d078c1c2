"""Resumable pipeline stages: sharded work, done markers, stats json, rejects file, progress bars.

A stage streams its input records into fixed-size shards (deterministic by input order). Each shard
is processed by a callback and its output, rejects and counts are written atomically; the shard's
done marker is written last, so a killed run leaves no half shard behind and a rerun skips every
finished shard. When all shards are done they are concatenated into the stage output, with
`<output>.stats.json` (counts in/out and why each record was dropped or rejected) and
`<output>.rejects.jsonl` (one line per bad record, with the reason) next to it. A finished stage
is a no-op on rerun.

A stage knows what it was run with: its manifest and stats hold a fingerprint of the inputs
(io.file_identity: content hashes locally, object versions on gs://) and of the resolved config.
Resuming or rerunning with a different fingerprint is refused (StageChanged, naming what changed
and --overwrite) instead of mixing runs or handing on stale output. Record ids are unique: a
repeated id, within a file, across files or across shards, is a `duplicate_id` reject (the first
occurrence is kept). A rejects entry holds at most MAX_REJECT_BYTES of the record. The stats
balance: records_in == kept + rejected + dropped. An empty input, or one whose every record was
rejected or dropped, fails the stage (EmptyStage) unless fail_on_empty=False, which warns instead.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import time
from typing import Any, Callable, Iterable, Iterator

from acecoder_jax import progress
from acecoder_jax.data import io
from acecoder_jax.config_blocks import config_changes, shown_changes
from acecoder_jax.errors import ConfigError

STATS_SUFFIX = ".stats.json"
REJECTS_SUFFIX = ".rejects.jsonl"
MANIFEST_FILE = "manifest.json"
MAX_REJECT_BYTES = 64 * 1024  # of a rejected record kept in the rejects file


class StageChanged(ConfigError):
    """A stage's output or shards were made from other inputs or another config."""


class EmptyStage(ConfigError):
    """A stage read no records, or kept none of them."""


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
        """A malformed / unusable record: counted under rejected.<reason> and written to rejects
        (with at most MAX_REJECT_BYTES of the record itself)."""
        self.counts[f"rejected.{reason}"] += 1
        entry = {"reason": reason, "detail": detail[:MAX_REJECT_BYTES], "id": record_id}
        if raw is not None:
            entry.update(bounded_raw(raw))
        self.rejects.append(entry)

    def drop(self, reason: str, n: int = 1) -> None:
        """A valid record filtered out by a rule (e.g. too few tests): counted, not logged."""
        self.counts[f"dropped.{reason}"] += n

    def count(self, key: str, n: int | float = 1) -> None:
        self.counts[key] += n


ShardFn = Callable[[list[dict], ShardContext], None]


def bounded_raw(raw: Any, limit: int = MAX_REJECT_BYTES) -> dict:
    """{"raw": the record} when it is small; else its first `limit` bytes as JSON text, marked."""
    value = raw if isinstance(raw, (str, dict, list)) else repr(raw)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return {"raw": value}
    return {"raw": data[:limit].decode("utf-8", "ignore"), "raw_truncated": True, "raw_bytes": len(data)}


def fingerprint_changes(old: dict, new: dict) -> list[str]:
    """What differs between two stage fingerprints, as short phrases naming inputs and fields
    (empty when only operational fields, such as where programs run, differ)."""
    changes = []
    old_inputs = {i["path"]: i for i in old.get("inputs", [])}
    new_inputs = {i["path"]: i for i in new.get("inputs", [])}
    changes += [f"input {p} added" for p in new_inputs if p not in old_inputs]
    changes += [f"input {p} no longer given" for p in old_inputs if p not in new_inputs]
    changes += [f"input {p} changed (size {old_inputs[p].get('size')} -> {new_inputs[p].get('size')})"
                for p in new_inputs if p in old_inputs and old_inputs[p] != new_inputs[p]]
    if [i["path"] for i in old.get("inputs", [])] != [i["path"] for i in new.get("inputs", [])] and not changes:
        changes.append("inputs reordered")
    changes += config_changes(old.get("config") or {}, new.get("config") or {})
    if old.get("shard_size") != new.get("shard_size"):
        changes.append(f"shard_size {old.get('shard_size')} -> {new.get('shard_size')}")
    return changes


def check_rerun(name: str, output: str, recorded: dict | None, fingerprint: dict, overwrite: bool) -> None:
    """Refuse to reuse `output` (or its shards) made with another fingerprint, unless overwriting."""
    if overwrite:
        return
    changes = fingerprint_changes(recorded, fingerprint) if recorded else ["no fingerprint recorded"]
    if not changes:
        return
    raise StageChanged(f"{name}: {output} came from other inputs or config ({shown_changes(changes)}); pass "
                       "--overwrite to redo it, or choose another --output")


def check_not_empty(stats: dict, fail_on_empty: bool) -> None:
    """An empty input, or one whose every record was rejected or dropped, is a mistake to report."""
    inputs = ", ".join(stats.get("inputs") or []) or "(no input files)"
    if stats.get("records_in", 0) == 0:
        message = f"{stats['stage']}: no records in {inputs}"
    elif stats.get("records_out", 0) == 0:
        message = (f"{stats['stage']}: all {stats['records_in']} records of {inputs} were rejected or dropped "
                   f"(rejected {stats.get('rejected', {})}, dropped {stats.get('dropped', {})}; see "
                   f"{rejects_path(stats['output'])})")
    else:
        return
    if fail_on_empty:
        raise EmptyStage(message + " (--config.fail_on_empty=False to accept it)")
    logging.warning("%s", message)


def input_fingerprint(inputs: list[str] | None, config: Any, shard_size: int | None = None,
                      embedded: bool = False) -> dict:
    """The stage's inputs (identities of the files, or the labels of an embedded corpus, which the
    config determines) and resolved config."""
    files = [{"path": p} if embedded else io.file_identity(p) for p in inputs or []]
    return {"inputs": files, "config": json.loads(json.dumps(config, sort_keys=True, default=str)),
            "shard_size": shard_size}


@dataclasses.dataclass(frozen=True)
class DuplicateRecord:
    """A record whose id an earlier record (in this or an earlier file or shard) already has."""
    where: str
    key: Any
    first: str
    record: dict


def record_id(record: dict) -> Any:
    """The default uniqueness key: the record's "id" (records without one are not checked)."""
    return record.get("id")


def finished_stats(name: str, output: str, fingerprint: dict, overwrite: bool, fail_on_empty: bool) -> dict | None:
    """The stats of `output` when a run with this fingerprint finished it (refused when another
    fingerprint did); None when it must run."""
    if overwrite or not (io.exists(output) and io.exists(stats_path(output))):
        return None
    stats = io.read_json(stats_path(output))
    check_rerun(name, output, stats.get("fingerprint"), fingerprint, False)
    check_not_empty(stats, fail_on_empty)
    return {**stats, "skipped_finished": True}


def read_located(inputs: list[str]) -> Iterator[tuple[str, dict | io.RecordReadError]]:
    """("path:line", record or RecordReadError) over the input files, streamed."""
    for path in inputs:
        for lineno, rec in io.iter_records(path):
            yield f"{path}:{lineno}", rec


def unique(located: Iterable[tuple[str, Any]], key: Callable[[dict], Any] | None) -> Iterator[tuple[str, Any]]:
    """(where, record), a repeated `key` replaced by a DuplicateRecord (the first kept)."""
    first: dict[Any, str] = {}
    for where, rec in located:
        k = key(rec) if key and isinstance(rec, dict) else None
        if k is not None and k in first:
            rec = DuplicateRecord(where, k, first[k], rec)
        elif k is not None:
            first[k] = where
        yield where, rec


def reject_unusable(ctx: ShardContext, item: Any) -> bool:
    """Reject an unreadable line or a repeated id into `ctx`; whether `item` was one."""
    if isinstance(item, io.RecordReadError):
        ctx.reject(item.kind, str(item), None, item.raw)
    elif isinstance(item, DuplicateRecord):
        ctx.reject("duplicate_id", f"{item.where}: id {item.key!r} already read at {item.first}", item.key,
                   item.record)
    else:
        return False
    return True


def split_counts(counts) -> dict:
    """Counters keyed rejected.<reason> / dropped.<reason> / other, as the stats' three dicts."""
    out = {"rejected": {}, "dropped": {}, "counts": {}}
    for key, value in sorted(counts.items()):
        kind, _, reason = key.partition(".")
        if kind in ("rejected", "dropped") and reason:
            out[kind][reason] = value
        else:
            out["counts"][key] = value
    return out


class Stage:
    """One resumable stage writing `output` (a .jsonl path, local or gs://).

    Shards live under `workdir` (default: `<output>.shards`). `config` (any JSON-able object) is
    pinned in the fingerprint with the inputs' identities and the shard size. `record_key` names
    an input record's identity (duplicates are rejected before sharding); `output_key` does the
    same for output records, for stages whose inputs carry no ids (raw seeds). `kept_key` is the
    counter of input records that produced output, for stages that emit several records per input.

    Why over 150 lines: the resume, fingerprint, uniqueness and accounting rules all act on the
    same shard sequence; kept in one class they are checked against each other in one read.
    """

    def __init__(self, name: str, output: str, workdir: str | None = None, shard_size: int = 256,
                 config: Any = None, progress: bool = True, overwrite: bool = False,
                 derive: Callable[[dict], dict] | None = None, *, fail_on_empty: bool = True,
                 record_key: Callable[[dict], Any] | None = record_id,
                 output_key: Callable[[dict], Any] | None = None, kept_key: str = "records_out"):
        if shard_size <= 0:
            raise ValueError(f"shard_size must be > 0, got {shard_size}")
        if io.format_of(output) != "jsonl":
            raise ValueError(f"stage output must be a .jsonl path, got {output}")
        self.name, self.output, self.shard_size = name, output, shard_size
        self.workdir = workdir or output + ".shards"
        self.config, self.progress, self.overwrite = config, progress, overwrite
        self.derive = derive  # totals -> derived figures (e.g. mean tests per question) for stats
        self.fail_on_empty, self.record_key, self.output_key, self.kept_key = (
            fail_on_empty, record_key, output_key, kept_key)
        self._outputs_seen: dict[Any, str] = {}

    # ---- paths ----
    def _shard(self, i: int, kind: str) -> str:
        return io.join(self.workdir, f"shard-{i:05d}.{kind}")

    def _check_manifest(self, fingerprint: dict) -> None:
        path = io.join(self.workdir, MANIFEST_FILE)
        if io.exists(path) and not self.overwrite:
            check_rerun(self.name, f"the shards in {self.workdir}", io.read_json(path).get("fingerprint"),
                        fingerprint, False)
            return
        if self.overwrite:
            for f in io.glob(io.join(self.workdir, "shard-*")):
                fs, p = io.fs_and_path(f)
                fs.rm(p)
        io.makedirs(self.workdir)
        io.write_json(path, {"stage": self.name, "fingerprint": fingerprint})

    # ---- run ----
    def run(self, inputs: list[str], process: ShardFn,
            records: Iterable[dict | io.RecordReadError] | None = None) -> dict:
        """Process all inputs (or the given record stream) and return the stats dict.

        `records` overrides reading `inputs` (e.g. an embedded corpus, which the config
        determines); `inputs` still names them. Unreadable input lines (RecordReadError) and
        repeated ids are rejected, never fatal.
        """
        fingerprint = input_fingerprint(inputs, self.config, self.shard_size, embedded=records is not None)
        done = finished_stats(self.name, self.output, fingerprint, self.overwrite, self.fail_on_empty)
        if done is not None:
            return done
        self._check_manifest(fingerprint)
        start = time.time()
        located = (((f"record {n}", r) for n, r in enumerate(records, 1)) if records is not None
                   else read_located(inputs))
        # The whole input is streamed on every run, resumed ones too, so the ids seen are complete.
        stream = (rec for _, rec in unique(located, self.record_key))
        done_shards = skipped = 0
        bar = progress.bar(desc=self.name, unit="rec", enabled=self.progress,
                           total=len(records) if hasattr(records, "__len__") else self._count_inputs(inputs))
        n_shards = 0
        for i, shard in enumerate(self._shards(stream)):
            n_shards = i + 1
            if io.exists(self._shard(i, "done.json")) and not self.overwrite:
                skipped += 1
                self._note_outputs(i)
                bar.update(len(shard))
                continue
            self._process_shard(i, shard, process)
            done_shards += 1
            bar.update(len(shard))
        bar.close()
        stats = self._finish(inputs, fingerprint, n_shards, done_shards, skipped, time.time() - start)
        check_not_empty(stats, self.fail_on_empty)
        return stats

    def _count_inputs(self, inputs: list[str]) -> int | None:
        """Input lines (the bar's total, for its ETA) when every input is a local jsonl; else unknown."""
        if not self.progress or not all(io.is_local(p) and io.format_of(p) == "jsonl" and not p.endswith(".gz")
                                        and io.exists(p) for p in inputs):
            return None
        return sum(io.count_lines(p) for p in inputs)

    def _shards(self, stream: Iterable) -> Iterator[list]:
        shard: list = []
        for rec in stream:
            shard.append(rec)
            if len(shard) == self.shard_size:
                yield shard
                shard = []
        if shard:
            yield shard

    def _note_outputs(self, i: int) -> None:
        """A finished shard's output keys, so later shards see them as taken (resumed runs)."""
        if self.output_key is not None:
            for _, rec in io.iter_jsonl(self._shard(i, "out.jsonl")):
                self._outputs_seen.setdefault(self.output_key(rec), f"shard {i}")

    def _process_shard(self, i: int, shard: list, process: ShardFn) -> None:
        ctx = ShardContext(shard_index=i)
        good = []
        for rec in shard:
            if not reject_unusable(ctx, rec):
                good.append(rec)
        ctx.count("records_in", len(shard))
        if good:
            process(good, ctx)
        if self.output_key is not None:
            records, ctx.records = ctx.records, []
            for rec in records:
                key = self.output_key(rec)
                if key in self._outputs_seen:
                    ctx.reject("duplicate_id", f"output id {key!r} already written by {self._outputs_seen[key]}",
                               key, rec)
                else:
                    self._outputs_seen[key] = f"shard {i}"
                    ctx.records.append(rec)
        ctx.count("records_out", len(ctx.records))
        io.write_jsonl(self._shard(i, "out.jsonl"), ctx.records)
        io.write_jsonl(self._shard(i, "rejects.jsonl"), ctx.rejects)
        io.write_json(self._shard(i, "done.json"), dict(ctx.counts))  # last: marks the shard done

    def _finish(self, inputs: list[str], fingerprint: dict, n_shards: int, done: int, skipped: int,
                seconds: float) -> dict:
        totals: collections.Counter = collections.Counter()
        for i in range(n_shards):
            totals.update(io.read_json(self._shard(i, "done.json")))
        io.concat_files([self._shard(i, "rejects.jsonl") for i in range(n_shards)], rejects_path(self.output))
        io.concat_files([self._shard(i, "out.jsonl") for i in range(n_shards)], self.output)
        stats = {"stage": self.name, "inputs": inputs, "output": self.output, "shards": n_shards,
                 "shards_processed_this_run": done, "shards_resumed": skipped,
                 "seconds_this_run": round(seconds, 3), "fingerprint": fingerprint, **split_counts(totals)}
        for key in ("records_in", "records_out"):
            stats[key] = stats["counts"].pop(key, 0)
        stats["records_kept"] = int(totals.get(self.kept_key, 0))
        balance(stats)
        if self.derive is not None:
            stats["derived"] = self.derive(dict(totals))
        io.write_json(stats_path(self.output), stats)  # last: marks the stage finished
        return stats


def balance(stats: dict) -> None:
    """Every input record is accounted for once: kept, rejected (with a reason) or dropped."""
    accounted = stats["records_kept"] + sum(stats["rejected"].values()) + sum(stats["dropped"].values())
    if accounted != stats["records_in"]:
        raise RuntimeError(f"{stats['stage']}: {stats['records_in']} records in but {accounted} accounted for "
                           f"(kept {stats['records_kept']}, rejected {stats['rejected']}, dropped "
                           f"{stats['dropped']}): a stage counted a record twice or not at all")
