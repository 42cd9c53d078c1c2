"""Shared pieces of the trainer tests: a learnable pair set, SFT records, a tiny tokenizer, and a
TensorBoard event-file reader (tensorboard itself is not a dependency)."""

from __future__ import annotations

import contextlib
import glob
import os
import random
import struct

import pytest

WORDS = "alpha beta gamma delta value items total count index result left right".split()


def _phrase(rng: random.Random, lo: int = 4, hi: int = 10) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def learnable_pairs(n: int, seed: int = 0) -> list[dict]:
    """AceCodePair-shaped records: chosen responses contain the word "correct" at a random place,
    rejected ones the word "wrong"; everything else is drawn from the same distribution."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = _phrase(rng).split(), _phrase(rng).split()
        a.insert(rng.randint(0, len(a)), "correct")
        b.insert(rng.randint(0, len(b)), "wrong")
        out.append({"id": str(i), "instruction": "Write f for " + _phrase(rng, 2, 5), "chosen": " ".join(a),
                    "rejected": " ".join(b), "chosen_id": 0, "rejected_id": 1, "chosen_pass_rate": 1.0,
                    "rejected_pass_rate": 0.25, "model_name": "toy"})
    return out


def sft_records(n: int, seed: int = 0) -> list[dict]:
    """Prompt/response records whose response is a fixed function of the prompt (learnable)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
        out.append({"prompt": "reverse: " + " ".join(words), "response": " ".join(reversed(words))})
    return out


def train_tokenizer(out_dir: str):
    from acecoder_jax.tokenization import train_sentencepiece

    corpus = [r["instruction"] + "\n" + r["chosen"] + "\n" + r["rejected"] for r in learnable_pairs(200, 99)]
    corpus += [r["prompt"] + "\n" + r["response"] for r in sft_records(200, 99)]
    corpus += ["correct wrong reverse: Write f for"] * 20
    return train_sentencepiece(corpus, 320, out_dir)


def read_scalars(logdir: str) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from every TFRecord event file under logdir."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list] = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            record = data[pos + 12:pos + 12 + length]
            pos += 12 + length + 4
            event = event_pb2.Event.FromString(record)
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


CACHE_ENV = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


@contextlib.contextmanager
def compilation_cache(path: str):
    """JAX's persistent compilation cache in `path` for the duration (restored afterwards).

    The trainer tests build the same tiny-model steps many times (fresh jit objects per run); the
    cache turns each repeat compile into a lookup. Keyed by the compiled program, so it is exact.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")
    old = {n: getattr(jax.config, n) for n in names}
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    cc.reset_cache()
    try:
        yield
    finally:
        for n, v in old.items():
            jax.config.update(n, v)
        cc.reset_cache()


# ---- fixtures shared by the RM and LM trainer tests (import them into a test module) ------------


@pytest.fixture(scope="module", autouse=True)
def jax_cache(tmp_path_factory):
    path = str(tmp_path_factory.getbasetemp() / "jax_cache")
    with compilation_cache(path):
        yield path


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tok"))
    train_tokenizer(d)
    return d


@pytest.fixture(scope="module")
def tokenizer(tok_dir):
    from acecoder_jax.tokenization import load_tokenizer

    return load_tokenizer(tok_dir)
