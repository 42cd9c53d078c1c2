"""Tokenizers for every stage: loading (local dir, gs://, Hub id, sentencepiece), training a small one for
CPU demos, chat templates, and left-padded, length-bucketed batches.

Everything downstream (sampler, trainers, best-of-N) goes through `load_tokenizer` and
`encode_batch`, so a model directory on GCS and a toy tokenizer trained here look the same.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import io
import os
import tempfile
from typing import Iterable, Mapping, Sequence

import fsspec
import numpy as np

from acecoder_jax.errors import ConfigError

# ChatML, the format the Qwen2.5 instruct models (the paper's policies and RM backbones) use.
# Applied when a tokenizer ships without a template of its own.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>")

# Files a tokenizer needs; copied from remote model dirs so weights are never downloaded for it.
TOKENIZER_FILE_PATTERNS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "config.json",
    "generation_config.json",
    "*.model",
    "*.tiktoken",
)

DEFAULT_BUCKETS = (32, 64, 128, 256, 512, 1024, 2048, 4096)


# --------------------------------------------------------------------------------------------
# Loading


def _is_local(path: str) -> bool:
    protocol, _ = fsspec.core.split_protocol(path)
    return protocol in (None, "file", "local")


def load_sentencepiece(path: str):
    """A `sentencepiece.SentencePieceProcessor` from a .model file (local or any fsspec URL)."""
    import sentencepiece as spm

    with fsspec.open(path, "rb") as f:
        proto = f.read()
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(proto)
    except Exception as e:  # sentencepiece raises a bare RuntimeError on bad protos
        raise ValueError(f"{path} is not a sentencepiece model: {e}") from e
    return processor


def _generic_fast_tokenizer(local: str, names: set) -> bool:
    """True for tokenizer.json files saved with no model-specific class (what we train here)."""
    if "tokenizer.json" not in names or "tokenizer_config.json" not in names:
        return False
    import json

    with open(os.path.join(local, "tokenizer_config.json")) as f:
        cls = json.load(f).get("tokenizer_class")
    return cls in ("TokenizersBackend", "PreTrainedTokenizerFast")


def tokenizer_path(tokenizer: str, model_path: str, tokenizer_field: str, model_field: str) -> str:
    """The tokenizer a config names: its own field, else the model's checkpoint (which holds one)."""
    if tokenizer or model_path:
        return tokenizer or model_path
    raise ConfigError(f"{tokenizer_field} and {model_field} are both empty: give --{tokenizer_field}=PATH "
                      "(a tokenizer dir, gs:// or a Hugging Face Hub id), or the model's path")


def load_tokenizer(path: str, **kwargs):
    """A `transformers` tokenizer from a local dir, a remote (gs://, ...) dir, a Hub id, or a .model file.

    Remote dirs: only the small tokenizer files are copied to a temp dir (never the weights); a
    Hub id fetches only those files into the Hub cache (checkpoints/hub.py).
    A bare sentencepiece .model (or a dir holding only tokenizer.model) is converted with
    `sentencepiece_to_hf`.
    """
    from transformers import AutoTokenizer

    from acecoder_jax.checkpoints import hub

    path = hub.resolve(path, TOKENIZER_FILE_PATTERNS, what="tokenizer")
    if path.endswith(".model"):
        with fsspec.open(path, "rb") as f:
            return sentencepiece_to_hf(f.read())
    if _is_local(path):
        local = path[len("file://"):] if path.startswith("file://") else path
        if not os.path.isdir(local):
            raise FileNotFoundError(f"tokenizer dir {path!r} does not exist")
        names = set(os.listdir(local))
        if "tokenizer.model" in names and not names & {"tokenizer.json", "tokenizer_config.json"}:
            return load_tokenizer(os.path.join(local, "tokenizer.model"))
        if _generic_fast_tokenizer(local, names):
            # AutoTokenizer would pick the model family's class from a config.json beside it (e.g.
            # Qwen2Tokenizer for an exported toy model), re-deriving pre-tokenisation and losing spaces.
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(local, **kwargs)
        return AutoTokenizer.from_pretrained(local, **kwargs)

    fs, root = fsspec.core.url_to_fs(path)
    try:
        entries = fs.ls(root, detail=False, refresh=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"tokenizer dir {path!r} does not exist") from e
    wanted = [
        e for e in entries
        if any(fnmatch.fnmatch(os.path.basename(e.rstrip("/")), p) for p in TOKENIZER_FILE_PATTERNS)
    ]
    if not wanted:
        raise FileNotFoundError(
            f"no tokenizer files under {path!r} (looked for {', '.join(TOKENIZER_FILE_PATTERNS)})"
        )
    with tempfile.TemporaryDirectory(prefix="tokenizer-") as tmp:
        for remote in wanted:
            fs.get(remote, os.path.join(tmp, os.path.basename(remote.rstrip("/"))))
        tokenizer = load_tokenizer(tmp, **kwargs)
        # Fast tokenizers hold everything in memory; make sure nothing points at the temp dir.
        tokenizer.name_or_path = path
        return tokenizer


# --------------------------------------------------------------------------------------------
# Sentencepiece: conversion to an HF fast tokenizer, and training a small one


def sentencepiece_to_hf(model_proto: bytes, chat_template: str | None = None):
    """An HF fast tokenizer that segments exactly like the given unigram sentencepiece model.

    Pieces of type CONTROL and the ChatML markers become special tokens; other user-defined
    pieces (e.g. "\\n") become plain added tokens that are matched before the unigram lattice,
    which is what sentencepiece does with user-defined symbols.
    """
    from sentencepiece import sentencepiece_model_pb2 as sp_pb
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    model = sp_pb.ModelProto()
    try:
        model.ParseFromString(model_proto)
    except Exception as e:
        raise ValueError(f"not a sentencepiece model proto: {e}") from e
    if not model.pieces:
        raise ValueError("sentencepiece model has no pieces")
    if model.trainer_spec.model_type != sp_pb.TrainerSpec.UNIGRAM:
        raise ValueError(
            "only unigram sentencepiece models convert exactly; got model_type="
            f"{sp_pb.TrainerSpec.ModelType.Name(model.trainer_spec.model_type)}"
        )
    if model.normalizer_spec.add_dummy_prefix or model.normalizer_spec.name not in ("identity", ""):
        raise ValueError(
            "conversion needs normalization_rule_name='identity' and add_dummy_prefix=False "
            f"(got {model.normalizer_spec.name!r}, add_dummy_prefix="
            f"{model.normalizer_spec.add_dummy_prefix})"
        )
    piece_type = sp_pb.ModelProto.SentencePiece
    vocab = [(p.piece, p.score) for p in model.pieces]
    unk_id = model.trainer_spec.unk_id
    tok = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=model.trainer_spec.byte_fallback))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    special = [p.piece for p in model.pieces
               if p.type == piece_type.CONTROL or p.piece in CHATML_SPECIAL_TOKENS]
    user = [p.piece for p in model.pieces
            if p.type == piece_type.USER_DEFINED and p.piece not in CHATML_SPECIAL_TOKENS]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special])
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in user])

    def piece(idx: int) -> str | None:
        return model.pieces[idx].piece if 0 <= idx < len(model.pieces) else None

    spec = model.trainer_spec
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=piece(spec.unk_id),
        bos_token=piece(spec.bos_id),
        eos_token=piece(spec.eos_id),
        pad_token=piece(spec.pad_id),
        clean_up_tokenization_spaces=False,
    )
    if chat_template is not None:
        hf.chat_template = chat_template
    return hf


def train_sentencepiece(
    texts: Iterable[str],
    vocab_size: int,
    out_dir: str,
    *,
    special_tokens: Sequence[str] = CHATML_SPECIAL_TOKENS,
    chat_template: str | None = FALLBACK_CHAT_TEMPLATE,
):
    """Train a unigram sentencepiece model on `texts` and write it as HF tokenizer files.

    Tuned for code: no normalization, whitespace kept verbatim (runs of spaces are pieces), "\\n"
    and "\\t" are pieces of their own, and unseen characters fall back to bytes, so any text
    round-trips. `out_dir` (local or fsspec URL) gets tokenizer.json, tokenizer_config.json and
    tokenizer.model; `AutoTokenizer.from_pretrained(out_dir)` loads it. Returns the HF tokenizer.
    The vocab must exceed the 256 byte pieces plus the specials; it is a soft limit on tiny corpora.
    """
    import sentencepiece as spm

    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("train_sentencepiece: the corpus is empty")
    reserved = 4 + 256 + 2 + len(special_tokens)
    if vocab_size <= reserved:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: {reserved} ids are taken by pad/unk/bos/eos, "
            "256 byte-fallback pieces, '\\n', '\\t' and the special tokens"
        )
    bad = [s for s in special_tokens if not s or s in ("\n", "\t")]
    if bad:
        raise ValueError(f"invalid special tokens {bad!r}")
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="unigram",
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        split_by_whitespace=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        byte_fallback=True,
        character_coverage=1.0,
        user_defined_symbols=["\n", "\t", *special_tokens],
        pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        pad_piece="<pad>", unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>",
        hard_vocab_limit=False,
        max_sentence_length=1 << 16,
        num_threads=max(1, min(4, os.cpu_count() or 1)),
        minloglevel=2,
    )
    proto = buffer.getvalue()
    tokenizer = sentencepiece_to_hf(proto, chat_template=chat_template)
    save_tokenizer(tokenizer, out_dir, extra_files={"tokenizer.model": proto})
    return tokenizer


def save_tokenizer(tokenizer, out_dir: str, extra_files: Mapping[str, bytes] | None = None) -> None:
    """`save_pretrained` to a local dir or any fsspec URL (written locally, then uploaded)."""
    extra_files = dict(extra_files or {})
    if _is_local(out_dir):
        local = out_dir[len("file://"):] if out_dir.startswith("file://") else out_dir
        os.makedirs(local, exist_ok=True)
        tokenizer.save_pretrained(local)
        for name, data in extra_files.items():
            with open(os.path.join(local, name), "wb") as f:
                f.write(data)
        return
    fs, root = fsspec.core.url_to_fs(out_dir)
    with tempfile.TemporaryDirectory(prefix="tokenizer-") as tmp:
        tokenizer.save_pretrained(tmp)
        for name, data in extra_files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        for name in os.listdir(tmp):
            fs.put_file(os.path.join(tmp, name), f"{root.rstrip('/')}/{name}")


# --------------------------------------------------------------------------------------------
# Chat templates


def apply_chat_template(tokenizer, messages: Sequence[Mapping[str, str]], *,
                        add_generation_prompt: bool) -> str:
    """Render chat `messages` to text with the tokenizer's template, or ChatML when it has none."""
    if not messages:
        raise ValueError("apply_chat_template: no messages")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(
            m.get("content"), str
        ):
            raise ValueError(f"message {i} must be a dict with str 'role' and 'content', got {m!r}")
    template = getattr(tokenizer, "chat_template", None) or FALLBACK_CHAT_TEMPLATE
    return tokenizer.apply_chat_template(
        [dict(m) for m in messages],
        chat_template=template,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
    )


def stop_token_ids(tokenizer) -> list[int]:
    """Ids that end a generation: EOS plus the ChatML end-of-turn marker when the vocab has it."""
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for marker in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        if marker in vocab and vocab[marker] not in ids:
            ids.append(int(vocab[marker]))
    if not ids:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no EOS token")
    return ids


def pad_token_id(tokenizer) -> int:
    """The pad id; falls back to EOS (as Llama-3 setups do) and fails clearly when neither exists."""
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has neither a pad nor an EOS token")


# --------------------------------------------------------------------------------------------
# Left-padded, bucketed batches


@dataclasses.dataclass(frozen=True)
class EncodedBatch:
    """Left-padded token ids; real tokens sit at the right end of each row."""

    input_ids: np.ndarray  # [batch, length] int32
    attention_mask: np.ndarray  # [batch, length] int32, 1 on real tokens

    @property
    def lengths(self) -> np.ndarray:
        return self.attention_mask.sum(axis=1)


def bucket_length(length: int, buckets: Sequence[int] = DEFAULT_BUCKETS, what: str = "sequence") -> int:
    """The smallest bucket that holds `length` tokens (so jitted shapes come from a short list);
    `what` names the thing measured in the error."""
    if not buckets or any(b <= 0 for b in buckets):
        raise ValueError(f"buckets must be positive lengths, got {tuple(buckets)!r}")
    for b in sorted(buckets):
        if length <= b:
            return int(b)
    raise ValueError(f"{what} of {length} tokens exceeds the largest bucket {max(buckets)}")


def left_pad(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    *,
    buckets: Sequence[int] | None = DEFAULT_BUCKETS,
    max_length: int | None = None,
    truncation: str = "error",
) -> EncodedBatch:
    """Left-pad token lists into one array whose length is a bucket (or the longest row).

    truncation: "error" (raise when a row exceeds max_length), "left" (keep the last tokens, the
    usual choice for prompts), or "right" (keep the first tokens).
    """
    if truncation not in ("error", "left", "right"):
        raise ValueError(f"truncation must be 'error', 'left' or 'right', got {truncation!r}")
    if not sequences:
        raise ValueError("left_pad: no sequences")
    rows = []
    for i, seq in enumerate(sequences):
        seq = [int(t) for t in seq]
        if not seq:
            raise ValueError(f"sequence {i} is empty")
        if max_length is not None and len(seq) > max_length:
            if truncation == "error":
                raise ValueError(
                    f"sequence {i} has {len(seq)} tokens, more than max_length={max_length}"
                )
            seq = seq[-max_length:] if truncation == "left" else seq[:max_length]
        rows.append(seq)
    longest = max(len(r) for r in rows)
    width = bucket_length(longest, buckets) if buckets else longest
    if max_length is not None and buckets:
        # Never pad beyond max_length when a bucket overshoots it.
        width = min(width, max(max_length, longest))
    ids = np.full((len(rows), width), pad_id, dtype=np.int32)
    mask = np.zeros((len(rows), width), dtype=np.int32)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = r
        mask[i, width - len(r):] = 1
    return EncodedBatch(ids, mask)


def encode_batch(
    tokenizer,
    texts: Sequence[str],
    *,
    buckets: Sequence[int] | None = DEFAULT_BUCKETS,
    max_length: int | None = None,
    truncation: str = "error",
    add_special_tokens: bool = False,
) -> EncodedBatch:
    """Tokenize `texts` and left-pad them to a bucketed length (see `left_pad`).

    add_special_tokens defaults to False because chat templates already contain BOS/markers.
    """
    if isinstance(texts, str):
        raise TypeError("encode_batch takes a list of texts, not one str")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    encoded = tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]
    return left_pad(encoded, pad_token_id(tokenizer), buckets=buckets, max_length=max_length,
                    truncation=truncation)
