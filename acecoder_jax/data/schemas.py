"""Record schemas of the public AceCoder releases, as validators over plain dicts + arrow schemas.

AceCode-87K row: id, source, question, test_cases[str], inferences[{model_name, completion_id,
completion, pass_rate}], context_messages[{role, content}].
AceCodePair row: instruction, chosen, rejected, plus the question id, both completions' ids and pass
rates, and the model that sampled them.

Records stay plain dicts (what jsonl/parquet give back); `validate_*` checks and normalises one and
raises SchemaError naming the offending field, so stages can route it to a rejects file.
"""
from __future__ import annotations

import math
from typing import Any


class SchemaError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"field {field!r}: {reason}")
        self.field, self.reason = field, reason


def _require(rec: dict, field: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    name = f"{where}{field}"
    if not isinstance(rec, dict):
        raise SchemaError(where.rstrip(".") or "<record>", f"expected an object, got {type(rec).__name__}")
    if field not in rec or rec[field] is None:
        raise SchemaError(name, "missing")
    value = rec[field]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise SchemaError(name, "expected a number, got bool")
    if not isinstance(value, kind):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SchemaError(name, f"expected {want}, got {type(value).__name__}")
    return value


def _pass_rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(name, f"expected a number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise SchemaError(name, f"expected a number in [0, 1], got {value}")
    return value


def validate_inference(inf: dict, where: str = "inferences[?].") -> dict:
    completion_id = _require(inf, "completion_id", (int, str), where)
    return {
        "model_name": _require(inf, "model_name", str, where),
        "completion_id": completion_id,
        "completion": _require(inf, "completion", str, where),
        "pass_rate": _pass_rate(_require(inf, "pass_rate", (int, float), where), where + "pass_rate"),
    }


def validate_tests(tests: Any, field: str = "test_cases") -> list[str]:
    if not isinstance(tests, (list, tuple)):
        raise SchemaError(field, f"expected a list of strings, got {type(tests).__name__}")
    out = []
    for i, t in enumerate(tests):
        if not isinstance(t, str):
            raise SchemaError(f"{field}[{i}]", f"expected str, got {type(t).__name__}")
        out.append(t)
    return out


def validate_acecode(rec: dict, require_tests: bool = True) -> dict:
    """Normalised AceCode-87K record; inferences / context_messages default to empty lists."""
    out = {
        "id": str(_require(rec, "id", (str, int))),
        "source": _require(rec, "source", str),
        "question": _require(rec, "question", str),
        "test_cases": validate_tests(_require(rec, "test_cases", (list, tuple))),
    }
    if not out["question"].strip():
        raise SchemaError("question", "empty")
    if require_tests and not out["test_cases"]:
        raise SchemaError("test_cases", "empty")
    infs = rec.get("inferences") or []
    if not isinstance(infs, (list, tuple)):
        raise SchemaError("inferences", f"expected a list, got {type(infs).__name__}")
    out["inferences"] = [validate_inference(x, f"inferences[{i}].") for i, x in enumerate(infs)]
    msgs = rec.get("context_messages") or []
    if not isinstance(msgs, (list, tuple)):
        raise SchemaError("context_messages", f"expected a list, got {type(msgs).__name__}")
    out["context_messages"] = [
        {"role": _require(m, "role", str, f"context_messages[{i}]."),
         "content": _require(m, "content", str, f"context_messages[{i}].")}
        for i, m in enumerate(msgs)
    ]
    # Pipeline-internal extras (e.g. the seed program kept as a proxy) ride along untouched.
    for k, v in rec.items():
        if k not in out:
            out[k] = v
    return out


def validate_pair(rec: dict) -> dict:
    out = {
        "id": str(_require(rec, "id", (str, int))),
        "instruction": _require(rec, "instruction", str),
        "chosen": _require(rec, "chosen", str),
        "rejected": _require(rec, "rejected", str),
        "chosen_id": _require(rec, "chosen_id", (int, str)),
        "rejected_id": _require(rec, "rejected_id", (int, str)),
        "chosen_pass_rate": _pass_rate(_require(rec, "chosen_pass_rate", (int, float)), "chosen_pass_rate"),
        "rejected_pass_rate": _pass_rate(_require(rec, "rejected_pass_rate", (int, float)),
                                         "rejected_pass_rate"),
        "model_name": _require(rec, "model_name", str),
    }
    if out["chosen_pass_rate"] <= out["rejected_pass_rate"]:
        raise SchemaError("chosen_pass_rate", "must exceed rejected_pass_rate")
    return out


def acecode_arrow_schema():
    """Arrow schema of AceCode-87K (completion_id stored as int64, as in the release)."""
    from acecoder_jax.extras import need

    pa = need("pyarrow", "parquet schemas")
    inference = pa.struct([("model_name", pa.string()), ("completion_id", pa.int64()),
                           ("completion", pa.string()), ("pass_rate", pa.float64())])
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("question", pa.string()),
                      ("test_cases", pa.list_(pa.string())), ("inferences", pa.list_(inference)),
                      ("context_messages", pa.list_(message))])


def pair_arrow_schema():
    from acecoder_jax.extras import need

    pa = need("pyarrow", "parquet schemas")
    return pa.schema([("id", pa.string()), ("instruction", pa.string()), ("chosen", pa.string()),
                      ("rejected", pa.string()), ("chosen_id", pa.int64()), ("rejected_id", pa.int64()),
                      ("chosen_pass_rate", pa.float64()), ("rejected_pass_rate", pa.float64()),
                      ("model_name", pa.string())])


ACECODE_FIELDS = ("id", "source", "question", "test_cases", "inferences", "context_messages")
PAIR_FIELDS = ("id", "instruction", "chosen", "rejected", "chosen_id", "rejected_id",
               "chosen_pass_rate", "rejected_pass_rate", "model_name")


def project(rec: dict, fields: tuple[str, ...]) -> dict:
    """Only the released columns (drops pipeline extras) — for writing parquet with a fixed schema."""
    return {k: rec.get(k) for k in fields}
