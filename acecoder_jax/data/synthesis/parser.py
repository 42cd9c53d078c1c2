"""Parse a synthesizer's reply into (question, tests), surviving the usual mess.

Handles: markdown fences, prose before/after the JSON, single-quoted (Python-literal) dicts,
synonym keys ("problem", "test_cases", ...), tests given as one newline-separated string, and
replies truncated mid-list (the complete test strings before the cut are kept, as the paper
repaired truncated JSON by trimming). Each test must be exactly one `assert` statement that calls
something; the rest are reported as invalid with a reason, never silently dropped.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re

QUESTION_KEYS = ("question", "problem", "problem_statement", "prompt", "description", "task", "instruction")
TESTS_KEYS = ("tests", "test_cases", "testcases", "test", "asserts", "assertions", "unit_tests", "test_list")

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


class SynthesisParseError(ValueError):
    """The reply holds no usable question or no valid test; `reason` is a short category."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclasses.dataclass
class ParsedSynthesis:
    question: str
    tests: list[str]
    invalid_tests: list[tuple[str, str]]  # (test text, why it was rejected)
    repaired: bool  # True when the JSON was not well-formed and was recovered by trimming


def check_test(test: str) -> str | None:
    """None when `test` is a single assert statement that calls a function, else the reason."""
    try:
        tree = ast.parse(test)
    except SyntaxError as e:
        return f"syntax error: {e.msg}"
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return "not a single assert statement"
    if not any(isinstance(n, ast.Call) for n in ast.walk(tree.body[0].test)):
        return "assert calls no function"
    return None


def _candidates(text: str) -> list[str]:
    """Fenced blocks first (a model may fence its JSON), then the raw text."""
    blocks = [m.group(1) for m in _FENCE.finditer(text)]
    return [b for b in blocks if "{" in b] + [text]


def _strict(text: str) -> dict | None:
    """First JSON (or Python-literal) object in text, ignoring prose around it."""
    decoder = json.JSONDecoder()
    for start in [m.start() for m in re.finditer(r"\{", text)][:20]:
        try:
            obj, _ = decoder.raw_decode(text, start)
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError:
            pass
        end = text.rfind("}")
        if end > start:
            try:
                obj = ast.literal_eval(text[start:end + 1])
                if isinstance(obj, dict):
                    return obj
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                pass
    return None


def _key_pattern(keys: tuple[str, ...]) -> str:
    return r"[\"'](?:" + "|".join(re.escape(k) for k in keys) + r")[\"']\s*:\s*"


def _scan_string(text: str, pos: int) -> tuple[str, int] | None:
    """Decode a JSON string starting at text[pos] == '"'; None if it is cut off."""
    try:
        return json.decoder.scanstring(text, pos + 1)
    except (json.JSONDecodeError, ValueError):
        return None


def _tolerant(text: str) -> dict:
    """Salvage question and complete test strings from broken / truncated JSON."""
    out: dict = {}
    m = re.search(_key_pattern(QUESTION_KEYS) + '"', text, re.IGNORECASE)
    if m:
        got = _scan_string(text, m.end() - 1)
        if got:
            out["question"] = got[0]
    m = re.search(_key_pattern(TESTS_KEYS) + r"\[", text, re.IGNORECASE)
    if m:
        tests, pos = [], m.end()
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] != '"':
                break
            got = _scan_string(text, pos)
            if got is None:  # truncated inside this string: keep what came before
                break
            tests.append(got[0])
            pos = got[1]
        out["tests"] = tests
    return out


def _pick(obj: dict, keys: tuple[str, ...], want: type):
    lowered = {str(k).lower().strip(): v for k, v in obj.items()}
    for k in keys:
        if k in lowered and isinstance(lowered[k], want):
            return lowered[k]
    return None


def _infer_fields(obj: dict) -> tuple[str | None, object]:
    question = _pick(obj, QUESTION_KEYS, str)
    tests = _pick(obj, TESTS_KEYS, (list, str))
    # Unknown keys: the one long string is the question, the one list of strings the tests.
    if question is None:
        strings = [v for v in obj.values() if isinstance(v, str) and len(v) > 20]
        if len(strings) == 1:
            question = strings[0]
    if tests is None:
        lists = [v for v in obj.values() if isinstance(v, list) and v and all(isinstance(x, str) for x in v)]
        if len(lists) == 1:
            tests = lists[0]
    return question, tests


def _split_tests(tests: object) -> list[str]:
    if isinstance(tests, str):  # one block of asserts, one per line
        return [line.strip() for line in tests.split("\n") if line.strip().startswith("assert")]
    if isinstance(tests, list):
        return [t.strip() for t in tests if isinstance(t, str) and t.strip()]
    return []


def parse_synthesis(text: str) -> ParsedSynthesis:
    """Best-effort parse; raises SynthesisParseError('no_json'|'no_question'|'no_tests'|...)."""
    if not isinstance(text, str) or not text.strip():
        raise SynthesisParseError("empty_reply", "the reply is empty")
    obj, repaired = None, False
    for cand in _candidates(text):
        obj = _strict(cand)
        if obj is not None:
            break
    if obj is None:
        for cand in _candidates(text):
            obj = _tolerant(cand)
            if obj:
                repaired = True
                break
    if not obj:
        raise SynthesisParseError("no_json", "found no JSON object with a question or tests")
    question, raw_tests = _infer_fields(obj)
    if not question or not question.strip():
        raise SynthesisParseError("no_question", f"no question field among keys {sorted(map(str, obj))}")
    tests, invalid, seen = [], [], set()
    for t in _split_tests(raw_tests):
        why = check_test(t)
        if why is not None:
            invalid.append((t, why))
        elif t not in seen:
            seen.add(t)
            tests.append(t)
    if not tests:
        raise SynthesisParseError("no_tests", f"no valid assert test ({len(invalid)} invalid)")
    return ParsedSynthesis(question=question.strip(), tests=tests, invalid_tests=invalid, repaired=repaired)
