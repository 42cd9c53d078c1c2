"""Training data for the two objectives: preference pairs (reward model) and prompt/response (LM).

Records are streamed from jsonl(.gz)/parquet files, local or gs://, and tokenized a chunk at a time
into packed int32 token rows (TokenRows), so neither the file nor Python lists of tokens are held:
- pairs (AceCodePair): `instruction` (or `question`), `chosen`, `rejected`; each side is rendered
  as the reward-model input of `prompts.reward_model_text`;
- SFT: {"prompt", "response"} | {"messages": [..., assistant]} | {"question", "response"
  [, "test_cases"]} (the AceCoder policy prompt); the loss mask covers only response tokens.

Records that cannot be used go to a rejects file with a reason and are counted in `stats`.
Batches are left padded to one of a few lengths (so jitted shapes come from a short list), and
the order is a pure function of (seed, step): epoch e is permutation(seed, e), and step s takes
the s-th slice of it. Resuming from a step index therefore replays exactly the same batches.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import uuid
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from acecoder_jax import prompts
from acecoder_jax.data import io
from acecoder_jax.tokenization import apply_chat_template, left_pad, pad_token_id

TRUNCATION_POLICIES = ("drop", "left", "right")
TOKENIZE_CHUNK = 2048  # records read and tokenized at a time (the file itself is streamed)
EVAL_SPLITS = ("example", "question")  # config.data.eval_split: what a held-out fraction holds out


def holdout_indices(n: int, fraction: float, seed: int,
                    groups: Optional[Sequence] = None) -> tuple[list[int], list[int]]:
    """(kept, held-out) indices of n items, a seeded random `fraction` (at least one) held out,
    each sorted: the one hold-out rule of datasets and problem sets.

    With `groups` (one key per item, e.g. its question), whole groups are held out, in a seeded
    random order until they hold at least `fraction` of the items: no group is in both splits,
    so a model is evaluated on questions it never trained on."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 7919])
    if groups is None:
        order = rng.permutation(n)
        n_eval = max(1, int(round(fraction * n)))
        return sorted(order[n_eval:].tolist()), sorted(order[:n_eval].tolist())
    if len(groups) != n:
        raise ValueError(f"{len(groups)} group keys for {n} items")
    keys = list(dict.fromkeys(groups))
    if len(keys) < 2:
        raise ValueError(f"holding out by group needs at least 2 groups, got {len(keys)}")
    members: dict = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    held: list[int] = []
    for k in rng.permutation(len(keys)):
        if held and len(held) >= fraction * n:
            break
        held += members[keys[k]]
    if len(held) == n:
        raise ValueError(f"holding out {fraction:.0%} by group took every group of the {n} items")
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], sorted(held)


def length_buckets(max_length: int, count: int = 4, multiple: int = 8) -> tuple[int, ...]:
    """`count` padded lengths up to max_length: max/2^(count-1), ..., max/2, max (rounded up)."""
    if max_length <= 0:
        raise ValueError(f"max_length must be positive, got {max_length}")
    out = set()
    for i in range(count):
        n = max(multiple, -(-(max_length >> i) // multiple) * multiple)
        out.add(min(n, max_length) if i == 0 else n)
    return tuple(sorted(out))


@dataclasses.dataclass
class LoadStats:
    records: int = 0
    kept: int = 0
    truncated: int = 0
    reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    def as_dict(self) -> dict:
        return {"records": self.records, "kept": self.kept, "rejected": self.rejected,
                "truncated": self.truncated, "reasons": dict(sorted(self.reasons.items()))}


class _Rejects:
    def __init__(self):
        self.rows: list[dict] = []
        self.stats = LoadStats()

    def add(self, source: str, row: int, reason: str, detail: str = "") -> None:
        self.stats.reasons[reason] += 1
        self.rows.append({"source": source, "row": row, "reason": reason, "detail": detail[:500]})

    def write(self, path: Optional[str]) -> None:
        if path:
            io.write_jsonl(path, self.rows)


def _truncate(ids: list[int], max_length: int, policy: str) -> Optional[list[int]]:
    if len(ids) <= max_length:
        return ids
    if policy == "drop":
        return None
    return ids[-max_length:] if policy == "left" else ids[:max_length]


def _iter_files(paths: Sequence[str]):
    for path in paths:
        for row, rec in io.iter_records(path):
            yield path, row, rec


class TokenRows:
    """Token sequences packed in one int32 buffer with int64 offsets: 4 bytes a token, where a
    list of Python ints costs ~36, so AceCodePair-300K tokenized sits in a few hundred MB."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray):
        self.tokens, self.offsets = tokens, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    @property
    def nbytes(self) -> int:
        return self.tokens.nbytes + self.offsets.nbytes


class _RowsBuilder:
    """Appends sequences to growing typed arrays (no per-sequence Python objects)."""

    def __init__(self):
        self._tokens, self._offsets = array.array("i"), array.array("q", [0])

    def add(self, ids: Sequence[int]) -> None:
        self._tokens.extend(ids)
        self._offsets.append(len(self._tokens))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def build(self) -> TokenRows:
        return TokenRows(np.frombuffer(self._tokens, np.int32).copy(), np.frombuffer(self._offsets, np.int64).copy())


class TokenizedDataset:
    """Tokenized examples (packed in TokenRows) plus the batch builder; subclasses say which rows
    make one example and how to pad one batch. `index` maps positions to examples, so subsets and
    hold-out splits share the tokens."""

    rows_per_example = 1

    def __init__(self, rows: TokenRows, *, pad_id: int, buckets: Sequence[int], stats: LoadStats,
                 extra: Optional[np.ndarray] = None, index: Optional[np.ndarray] = None):
        self.rows, self.extra = rows, extra  # extra: one int per example (SFT: prompt tokens)
        self.index = np.arange(len(rows) // self.rows_per_example) if index is None else index
        self.pad_id = int(pad_id)
        self.buckets = tuple(buckets)
        self.stats = stats

    def __len__(self) -> int:
        return len(self.index)

    def subset(self, indices: Sequence[int]) -> "TokenizedDataset":
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.index = self.index[np.asarray(indices, np.int64)]
        return out

    def split_holdout(self, fraction: float, seed: int, by: str = "example"
                      ) -> tuple["TokenizedDataset", "TokenizedDataset"]:
        """(train, held-out): a seeded random `fraction` of the examples is held out; by="question"
        holds out whole questions (PairDataset), so no question is in both splits."""
        if by not in EVAL_SPLITS:
            raise ValueError(f"eval split {by!r}; expected one of {EVAL_SPLITS}")
        groups = self.questions() if by == "question" else None
        kept, held = holdout_indices(len(self), fraction, seed, groups=groups)
        return self.subset(kept), self.subset(held)

    def questions(self) -> list[int]:
        raise ValueError(f"{type(self).__name__} has no question ids to hold out by")

    def example(self, i: int) -> tuple:
        raise NotImplementedError

    @property
    def examples(self) -> list[tuple]:
        """Every example as lists (for inspection and tests; batches never build this)."""
        return [tuple(x.tolist() if isinstance(x, np.ndarray) else int(x) for x in self.example(i))
                for i in range(len(self))]

    def collate(self, examples: list) -> dict:
        raise NotImplementedError

    def batch(self, indices: Sequence[int]) -> dict:
        return self.collate([self.example(int(i)) for i in indices])


class PairDataset(TokenizedDataset):
    """Examples are (chosen_ids, rejected_ids); both sides share one padded width per batch.
    `extra` holds each pair's question number (pairs of one question share it)."""

    rows_per_example = 2

    def example(self, i: int) -> tuple:
        k = int(self.index[i])
        return self.rows[2 * k], self.rows[2 * k + 1]

    def questions(self) -> list[int]:
        return self.extra[self.index].tolist()

    def collate(self, examples: list) -> dict:
        p = len(examples)
        enc = left_pad([c for c, _ in examples] + [r for _, r in examples], self.pad_id, buckets=self.buckets)
        return {"chosen_ids": enc.input_ids[:p], "chosen_mask": enc.attention_mask[:p],
                "rejected_ids": enc.input_ids[p:], "rejected_mask": enc.attention_mask[p:]}


class SFTDataset(TokenizedDataset):
    """Examples are (ids, n_prompt_tokens): the loss covers ids[n_prompt_tokens:]."""

    def example(self, i: int) -> tuple:
        k = int(self.index[i])
        return self.rows[k], int(self.extra[k])

    def collate(self, examples: list) -> dict:
        enc = left_pad([ids for ids, _ in examples], self.pad_id, buckets=self.buckets)
        width = enc.input_ids.shape[1]
        loss_mask = np.zeros_like(enc.attention_mask)
        for i, (ids, n_prompt) in enumerate(examples):
            loss_mask[i, width - len(ids) + n_prompt:] = 1
        return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "loss_mask": loss_mask}


def _check_policy(truncation: str, max_length: int) -> None:
    if truncation not in TRUNCATION_POLICIES:
        raise ValueError(f"truncation={truncation!r}; expected one of {TRUNCATION_POLICIES}")
    if max_length <= 1:
        raise ValueError(f"max_length must be > 1, got {max_length}")


def _tokenize(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return [list(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _chunks(items: Iterator, size: int = TOKENIZE_CHUNK) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---- the token cache: pre-tokenized rows on local disk, memory-mapped -------------------------

CACHE_VERSION = 2  # bump when what is stored for a record changes (2: pairs keep their question number)


def token_cache_dir(setting: str) -> Optional[str]:
    """config.data.token_cache: "" = $ACECODER_CACHE/tokenized (default ~/.cache/acecoder_jax),
    "none" = off, else a local directory."""
    if setting == "none":
        return None
    if setting:
        return setting
    root = os.environ.get("ACECODER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "acecoder_jax")
    return os.path.join(root, "tokenized")


def _cache_key(kind: str, files: list[str], tokenizer, settings: dict) -> str:
    """Everything a cached set depends on: the input files' content, the tokenizer (its whole
    serialised vocabulary and chat template), the settings and the code's version."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocab = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    ident = {"kind": kind, "version": CACHE_VERSION, "settings": settings,
             "files": [io.file_identity(p) for p in files],
             "tokenizer": hashlib.sha256((vocab + str(getattr(tokenizer, "chat_template", ""))).encode()).hexdigest()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _cached(kind: str, paths, tokenizer, settings: dict, cache_dir: Optional[str],
            build: Callable[[list[str]], tuple[TokenRows, Optional[np.ndarray], "_Rejects"]]):
    """(rows, extra, rejects) from the cache when present, else built and stored there. A stored
    set is memory-mapped: a host holds only the pages of the batches it reads."""
    files = io.expand_inputs(paths) if isinstance(paths, str) else list(paths)
    if not files:
        raise ValueError("no training data files given")
    if cache_dir is None:
        return build(files)
    entry = os.path.join(cache_dir, _cache_key(kind, files, tokenizer, settings))
    if not os.path.exists(os.path.join(entry, "stats.json")):
        rows, extra, rejects = build(files)
        tmp = f"{entry}.tmp-{uuid.uuid4().hex[:8]}"
        os.makedirs(tmp)
        np.save(os.path.join(tmp, "tokens.npy"), rows.tokens)
        np.save(os.path.join(tmp, "offsets.npy"), rows.offsets)
        if extra is not None:
            np.save(os.path.join(tmp, "extra.npy"), extra)
        io.write_jsonl(os.path.join(tmp, "rejects.jsonl"), rejects.rows)
        io.write_json(os.path.join(tmp, "stats.json"), rejects.stats.as_dict())  # last: marks it complete
        try:
            os.rename(tmp, entry)
        except OSError:  # another process on this host stored the same set first
            shutil.rmtree(tmp, ignore_errors=True)
        logging.info("tokenized %d %s records into %s", rejects.stats.records, kind, entry)
    else:
        logging.info("tokenized %s records from the cache %s", kind, entry)
    rejects = _Rejects()
    stats = io.read_json(os.path.join(entry, "stats.json"))
    rejects.stats = LoadStats(records=stats["records"], kept=stats["kept"], truncated=stats["truncated"],
                              reasons=collections.Counter(stats["reasons"]))
    rejects.rows = io.read_jsonl(os.path.join(entry, "rejects.jsonl"))
    extra_path = os.path.join(entry, "extra.npy")
    rows = TokenRows(np.load(os.path.join(entry, "tokens.npy"), mmap_mode="r"),
                     np.load(os.path.join(entry, "offsets.npy"), mmap_mode="r"))
    return rows, (np.load(extra_path, mmap_mode="r") if os.path.exists(extra_path) else None), rejects


def load_pair_dataset(paths, tokenizer, *, max_length: int, truncation: str = "right",
                      buckets: Optional[Sequence[int]] = None, rejects_path: Optional[str] = None,
                      cache_dir: Optional[str] = None) -> PairDataset:
    """AceCodePair records -> PairDataset, streamed and tokenized TOKENIZE_CHUNK records at a
    time (or memory-mapped from `cache_dir` when these files were tokenized so before). Rejected:
    unreadable rows, missing/empty fields, identical chosen and rejected, pass rates in the wrong
    order, and (truncation="drop") over-long sides."""
    _check_policy(truncation, max_length)

    def build(files: list[str]):
        rejects, rows, questions, numbers = _Rejects(), _RowsBuilder(), array.array("i"), {}
        for chunk in _chunks(_iter_files(files)):
            _pair_chunk(chunk, tokenizer, max_length, truncation, rejects, rows, questions, numbers)
        rejects.stats.kept = (len(rows) // 2)
        return rows.build(), np.frombuffer(questions, np.int32).copy(), rejects

    rows, questions, rejects = _cached("pairs", paths, tokenizer, {"max_length": max_length,
                                                                   "truncation": truncation}, cache_dir, build)
    rejects.write(rejects_path)
    return PairDataset(rows, pad_id=pad_token_id(tokenizer), buckets=buckets or length_buckets(max_length),
                       stats=rejects.stats, extra=questions)


def _pair_chunk(chunk: list, tokenizer, max_length: int, truncation: str, rejects: "_Rejects",
                rows: _RowsBuilder, questions: "array.array", numbers: dict) -> None:
    """Tokenize one chunk of pair records into `rows`; `questions` gets each kept pair's question
    number (`numbers`: question key -> number, the record's id, else its instruction text)."""
    texts, where = [], []
    for source, row, rec in chunk:
        rejects.stats.records += 1
        if isinstance(rec, Exception):
            rejects.add(source, row, getattr(rec, "kind", "unreadable"), str(rec))
            continue
        question = rec.get("instruction", rec.get("question"))
        fields = {"instruction": question, "chosen": rec.get("chosen"), "rejected": rec.get("rejected")}
        bad = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            rejects.add(source, row, "missing_field", f"missing or empty: {', '.join(bad)}")
            continue
        if fields["chosen"] == fields["rejected"]:
            rejects.add(source, row, "identical_pair", "chosen == rejected")
            continue
        rates = rec.get("chosen_pass_rate"), rec.get("rejected_pass_rate")
        if all(isinstance(r, (int, float)) for r in rates) and rates[0] <= rates[1]:
            rejects.add(source, row, "pass_rate_order", f"chosen {rates[0]} <= rejected {rates[1]}")
            continue
        texts.append(prompts.reward_model_text(tokenizer, question, fields["chosen"]))
        texts.append(prompts.reward_model_text(tokenizer, question, fields["rejected"]))
        key = ("id", str(rec["id"])) if rec.get("id") is not None else ("text", question)
        where.append((source, row, numbers.setdefault(key, len(numbers))))
    ids = _tokenize(tokenizer, texts)
    for i, (source, row, number) in enumerate(where):
        chosen, rejected = ids[2 * i], ids[2 * i + 1]
        tc, tr = _truncate(chosen, max_length, truncation), _truncate(rejected, max_length, truncation)
        if tc is None or tr is None:
            rejects.add(source, row, "too_long", f"{max(len(chosen), len(rejected))} tokens > max_length={max_length}")
            continue
        rejects.stats.truncated += int(tc is not chosen) + int(tr is not rejected)
        rows.add(tc)
        rows.add(tr)
        questions.append(number)


def _sft_messages(rec: dict) -> tuple[list[dict], str]:
    """(prompt messages, response) of one SFT record; ValueError names what is wrong."""
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or len(msgs) < 2:
            raise ValueError("messages must be a list of at least a user and an assistant turn")
        last = msgs[-1]
        if not isinstance(last, dict) or last.get("role") != "assistant":
            raise ValueError("the last message must have role 'assistant'")
        return [dict(m) for m in msgs[:-1]], last.get("content")
    response = rec.get("response", rec.get("completion"))
    if "prompt" in rec:
        if not isinstance(rec["prompt"], str) or not rec["prompt"].strip():
            raise ValueError("prompt must be a non-empty str")
        return [{"role": "user", "content": rec["prompt"]}], response
    if "question" in rec:
        return prompts.policy_messages(rec["question"], rec.get("test_cases") or []), response
    raise ValueError("record has none of 'messages', 'prompt', 'question'")


def load_sft_dataset(paths, tokenizer, *, max_length: int, truncation: str = "left", template: str = "chat",
                     buckets: Optional[Sequence[int]] = None, rejects_path: Optional[str] = None,
                     cache_dir: Optional[str] = None) -> SFTDataset:
    """Prompt/response records -> SFTDataset.

    template="chat": the tokenizer's chat template (the response is what the template adds after
    the generation prompt, end-of-turn marker included); "plain": prompt text + response + EOS.
    truncation="left" cuts the start of the prompt, "right" the end of the response, "drop" rejects.
    """
    _check_policy(truncation, max_length)
    if template not in ("chat", "plain"):
        raise ValueError(f"template={template!r}; expected 'chat' or 'plain'")

    def build(files: list[str]):
        rejects, rows, n_prompts = _Rejects(), _RowsBuilder(), array.array("i")
        for chunk in _chunks(_iter_files(files)):
            _sft_chunk(chunk, tokenizer, max_length, truncation, template, rejects, rows, n_prompts)
        rejects.stats.kept = len(rows)
        return rows.build(), np.frombuffer(n_prompts, np.int32).copy(), rejects

    rows, extra, rejects = _cached("sft", paths, tokenizer, {"max_length": max_length, "truncation": truncation,
                                                             "template": template}, cache_dir, build)
    rejects.write(rejects_path)
    return SFTDataset(rows, pad_id=pad_token_id(tokenizer), buckets=buckets or length_buckets(max_length),
                      stats=rejects.stats, extra=extra)


def _sft_chunk(chunk: list, tokenizer, max_length: int, truncation: str, template: str, rejects: "_Rejects",
               rows: _RowsBuilder, n_prompts: "array.array") -> None:
    prompt_texts, response_texts, where = [], [], []
    eos = tokenizer.eos_token or ""
    for source, row, rec in chunk:
        rejects.stats.records += 1
        if isinstance(rec, Exception):
            rejects.add(source, row, getattr(rec, "kind", "unreadable"), str(rec))
            continue
        try:
            messages, response = _sft_messages(rec)
            if not isinstance(response, str) or not response.strip():
                raise ValueError("response must be a non-empty str")
            if template == "chat":
                prompt_text = apply_chat_template(tokenizer, messages, add_generation_prompt=True)
                full = apply_chat_template(tokenizer, messages + [{"role": "assistant", "content": response}],
                                           add_generation_prompt=False)
                if not full.startswith(prompt_text):
                    raise ValueError("the chat template does not render the answer as a continuation of the prompt")
                response_text = full[len(prompt_text):]
            else:
                prompt_text = "\n\n".join(m["content"] for m in messages)
                response_text = response + eos
        except (ValueError, TypeError, KeyError) as e:
            rejects.add(source, row, "bad_record", str(e))
            continue
        prompt_texts.append(prompt_text)
        response_texts.append(response_text)
        where.append((source, row))
    p_ids, r_ids = _tokenize(tokenizer, prompt_texts), _tokenize(tokenizer, response_texts)
    for (source, row), p, r in zip(where, p_ids, r_ids):
        ids, n_prompt = p + r, len(p)
        if len(ids) > max_length:
            if truncation == "drop":
                rejects.add(source, row, "too_long", f"{len(ids)} tokens > max_length={max_length}")
                continue
            cut = len(ids) - max_length
            ids, n_prompt = (ids[cut:], max(n_prompt - cut, 0)) if truncation == "left" else (ids[:max_length], n_prompt)
            if n_prompt >= len(ids):
                rejects.add(source, row, "no_response_tokens", f"prompt fills max_length={max_length}")
                continue
            rejects.stats.truncated += 1
        rows.add(ids)
        n_prompts.append(n_prompt)


class BatchSchedule:
    """Which examples make up global step s: a pure function of (seed, s), hence resumable.

    Each epoch is a fresh seeded permutation; the last incomplete batch of an epoch is dropped.
    """

    def __init__(self, dataset: TokenizedDataset, global_batch: int, *, seed: int = 0, shuffle: bool = True):
        if global_batch <= 0:
            raise ValueError(f"global_batch must be positive, got {global_batch}")
        if len(dataset) < global_batch:
            raise ValueError(f"dataset has {len(dataset)} examples, fewer than one global batch of {global_batch}")
        self.dataset, self.global_batch, self.seed, self.shuffle = dataset, global_batch, seed, shuffle
        self.steps_per_epoch = len(dataset) // global_batch
        self._perm_epoch, self._perm = None, None

    def _order(self, epoch: int) -> np.ndarray:
        if self._perm_epoch != epoch:
            n = len(self.dataset)
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
            self._perm_epoch = epoch
        return self._perm

    def position(self, step: int) -> dict:
        """Where step `step` reads: epoch and batch index within it (saved in checkpoint meta)."""
        return {"epoch": step // self.steps_per_epoch, "batch_in_epoch": step % self.steps_per_epoch, **self.setup()}

    def setup(self) -> dict:
        """What every step's position depends on besides the step: a resume must find the same."""
        return {"seed": self.seed, "examples": len(self.dataset), "global_batch": self.global_batch}

    def indices(self, step: int) -> np.ndarray:
        pos = self.position(step)
        start = pos["batch_in_epoch"] * self.global_batch
        return self._order(pos["epoch"])[start:start + self.global_batch]

    def batch(self, step: int) -> dict:
        return self.dataset.batch(self.indices(step))

    def iterate(self, start_step: int = 0, stop_step: Optional[int] = None) -> Iterator[tuple[int, dict]]:
        step = start_step
        while stop_step is None or step < stop_step:
            yield step, self.batch(step)
            step += 1

    def eval_batches(self, limit: int = 0) -> Iterator[dict]:
        """Held-out batches in file order (no shuffle); `limit` > 0 caps their number."""
        n = self.steps_per_epoch if limit <= 0 else min(limit, self.steps_per_epoch)
        for i in range(n):
            yield self.dataset.batch(range(i * self.global_batch, (i + 1) * self.global_batch))


