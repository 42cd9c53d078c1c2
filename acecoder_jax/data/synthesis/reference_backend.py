"""LLM-free synthesizer: tests from executing the seed's reference program on fuzzed inputs.

For the entry function (or `Solution` method) of the reference program: draw inputs from its
signature (annotations, defaults, usage, literals in instruction and body; see fuzz.py), evaluate the
calls in the sandbox (its values mode returns what each call returned), keep calls whose results are
plain literals, pick ~N tests with as many distinct outputs as possible, write them as
`assert f(<args>) == <literal>`, and finally run the asserts against the reference through the
sandbox executor, keeping only those that pass (this also drops nondeterministic functions' tests).
The question is the seed's instruction, plus the signature to implement when the instruction does
not name it. Seed programs are arbitrary code (Stack functions come from the internet): they get
exactly the isolation of policy samples.
"""
from __future__ import annotations

import ast
import math
import random
from typing import Sequence

from acecoder_jax.data.synthesis import fuzz
from acecoder_jax.data.synthesis.backend import SynthesisResult, Synthesizer

LOAD_TIMEOUT_S = 5.0


def evaluate_calls(program: str, calls: list[str], call_s: float = 0.25, memory_mb: int = 1024,
                   max_repr: int = 400, max_timeouts: int = 3, executor=None) -> list[tuple[str, str]] | str:
    """[(status, repr-or-error)] per call, or a string when the program itself fails to load.

    The calls run in the sandbox (values mode), with the isolation and limits of every
    untrusted program: Stack seeds are arbitrary code from the internet. After `max_timeouts`
    slow calls the rest are skipped (a slow function stays slow); a call that times out or
    crashes costs only itself (the program is reloaded for the next). `executor`:
    acecoder_jax.execution.Executor (default: a temporary embedded one).
    """
    if not calls:
        return []
    from acecoder_jax.execution import evaluate_values
    values, failure = evaluate_values(program, calls, executor, timeout_s=call_s,
                                      load_timeout_s=LOAD_TIMEOUT_S, memory_mb=memory_mb,
                                      max_timeouts=max_timeouts)
    if values is None:
        return f"reference does not load: {failure}"
    out = []
    for entry in values:
        outcome = entry.get("outcome")
        if outcome == "ok":
            out.append(("ok", entry["repr"][:max_repr + 1]))
        elif outcome == "timeout":
            out.append(("timeout", ""))
        elif outcome == "error":
            text = str(entry.get("error") or "")
            out.append(("error", "MemoryError" if text == "MemoryError" else text.split(":", 1)[0]))
        else:
            out.append(("skipped", ""))
    return out


def _plain_literal(text: str, max_repr: int) -> object:
    """The value when `text` is the repr of a plain literal that round-trips, else raises ValueError."""
    if len(text) > max_repr:
        raise ValueError("too long")
    value = ast.literal_eval(text)
    if repr(value) != text:
        raise ValueError("repr does not round-trip")

    def finite(v):
        if isinstance(v, float):
            return math.isfinite(v)
        if isinstance(v, (list, tuple, set, frozenset)):
            return all(finite(x) for x in v)
        if isinstance(v, dict):
            return all(finite(k) and finite(x) for k, x in v.items())
        return True
    if not finite(value):
        raise ValueError("non-finite float")
    return value


def find_entry(tree: ast.Module, entry_point: str | None) -> tuple[ast.FunctionDef, str | None]:
    """(function node, owning class name or None). Raises ValueError naming what is missing."""
    top = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]

    def methods(c):
        return [n for n in c.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    if entry_point:
        for f in top:
            if f.name == entry_point:
                return f, None
        for c in classes:
            for m in methods(c):
                if m.name == entry_point:
                    return m, c.name
        raise ValueError(f"entry point {entry_point!r} not defined in the program")
    public = [f for f in top if not f.name.startswith("_") and f.name != "main"]
    if public:
        return public[-1], None
    for c in sorted(classes, key=lambda c: c.name != "Solution"):
        if methods(c):
            return methods(c)[0], c.name
    raise ValueError("program defines no public function or class method")


def param_candidates(func: ast.FunctionDef, is_method: bool) -> list[tuple[str, list[tuple], bool]]:
    """[(name, ranked candidate types, keyword_only)] for the parameters a caller must pass.
    Annotated or defaulted parameters have one candidate; others a ranked list of guesses."""
    args = func.args
    positional = list(args.posonlyargs) + list(args.args)
    if is_method and positional:
        positional = positional[1:]  # self
    defaults: dict[str, ast.expr] = {}
    for a, d in zip(reversed(list(args.posonlyargs) + list(args.args)), reversed(args.defaults)):
        defaults[a.arg] = d
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        if d is not None:
            defaults[a.arg] = d
    out = []
    for a, kw in [(a, False) for a in positional] + [(a, True) for a in args.kwonlyargs]:
        if kw and a.arg in defaults:
            continue  # optional keyword-only: leave at its default
        t = fuzz.parse_annotation(a.annotation)
        if t is None and a.arg in defaults:
            try:
                t = fuzz.type_of_value(ast.literal_eval(defaults[a.arg]))
            except ValueError:
                t = None
        out.append((a.arg, [t] if t is not None and t != fuzz.ANY else fuzz.candidate_types(a.arg, func), kw))
    return out


def _combos(cands: list[list[tuple]], limit: int) -> list[list[tuple]]:
    """Type assignments in order of total rank (best guesses first), at most `limit`."""
    import itertools
    ranked = sorted(itertools.product(*[range(len(c)) for c in cands]), key=lambda idx: (sum(idx), idx))
    return [[c[i] for c, i in zip(cands, idx)] for idx in ranked[:limit]]


def _call_source(callee: str, params: list[tuple[str, list, bool]], values: list) -> str:
    parts = [repr(v) if not kw else f"{name}={v!r}" for (name, _, kw), v in zip(params, values)]
    return f"{callee}({', '.join(parts)})"


def _assert_for(call: str, value_text: str, value: object) -> str:
    if isinstance(value, float) and abs(value) < 1e6:
        return f"assert abs({call} - {value_text}) < 1e-06"
    if value is None:
        return f"assert {call} is None"
    return f"assert {call} == {value_text}"


class ReferenceSynthesizer(Synthesizer):
    """Tests from running the seed's program. `executor` (acecoder_jax.execution.Executor) verifies them."""

    name = "reference"

    def __init__(self, executor=None, num_tests: int = 20, num_candidates: int = 160, seed: int = 0,
                 call_timeout_s: float = 0.25, memory_mb: int = 1024, max_repr: int = 300,
                 probe_combos: int = 12, probe_calls: int = 6):
        self.executor, self.num_tests, self.num_candidates = executor, num_tests, num_candidates
        self.seed, self.call_timeout_s, self.memory_mb, self.max_repr = seed, call_timeout_s, memory_mb, max_repr
        self.probe_combos, self.probe_calls = probe_combos, probe_calls
        self._own_executor = None

    def close(self) -> None:
        for executor in (self.executor, self._own_executor):
            if executor is not None:
                executor.close()

    def _values_executor(self):
        """Where seed programs run: the configured executor, else an embedded pool of our own
        (kept across drafts; a pool start costs more than one seed's calls)."""
        if self.executor is not None:
            return self.executor
        if self._own_executor is None:
            from acecoder_jax.execution import Executor
            self._own_executor = Executor("embedded")
        return self._own_executor

    def _draw_calls(self, gen, callee, params, types, n, seen) -> list[str]:
        calls = []
        for _ in range(n * 3):
            if len(calls) >= n:
                break
            values = [gen.value(t) for t in types]
            if any(len(repr(v)) > 200 for v in values):
                continue
            src = _call_source(callee, params, values)
            if src not in seen:
                seen.add(src)
                calls.append(src)
            if not params:
                break
        return calls

    def _plain_count(self, evaluated) -> int:
        n = 0
        for status, text in evaluated:
            if status == "ok":
                try:
                    _plain_literal(text, self.max_repr)
                    n += 1
                except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                    pass
        return n

    # ---- one seed, before verification ----
    def draft(self, seed: dict) -> SynthesisResult:
        sid = str(seed["id"])
        program = seed.get("program")
        if not isinstance(program, str) or not program.strip():
            return SynthesisResult(sid, error="no_program", detail="seed has no program")
        try:
            tree = ast.parse(program)
        except SyntaxError as e:
            return SynthesisResult(sid, error="program_syntax_error", detail=f"line {e.lineno}: {e.msg}")
        try:
            func, owner = find_entry(tree, seed.get("entry_point"))
        except ValueError as e:
            return SynthesisResult(sid, error="no_entry_point", detail=str(e))
        params = param_candidates(func, is_method=owner is not None)
        callee = f"{owner}().{func.name}" if owner else func.name
        rng = random.Random(f"{self.seed}:{sid}")
        gen = fuzz.ValueGen(rng, fuzz.LiteralPool.harvest(seed.get("instruction", ""), tree))
        combos = _combos([c for _, c, _ in params], self.probe_combos)
        types = combos[0]
        if len(combos) > 1:  # guessed types: probe each assignment, keep the one that works best
            seen: set[str] = set()
            probes = [self._draw_calls(gen, callee, params, combo, self.probe_calls, seen) for combo in combos]
            evaluated = evaluate_calls(program, [c for p in probes for c in p], self.call_timeout_s,
                                       self.memory_mb, self.max_repr, executor=self._values_executor())
            if isinstance(evaluated, str):
                return SynthesisResult(sid, error="reference_failed", detail=evaluated)
            scores, at = [], 0
            for p in probes:
                scores.append(self._plain_count(evaluated[at:at + len(p)]))
                at += len(p)
            best = max(range(len(combos)), key=lambda i: (scores[i], -i))
            types = combos[best]
        calls = self._draw_calls(gen, callee, params, types, self.num_candidates, set())
        evaluated = evaluate_calls(program, calls, self.call_timeout_s, self.memory_mb, self.max_repr,
                                   executor=self._values_executor())
        if isinstance(evaluated, str):
            return SynthesisResult(sid, error="reference_failed", detail=evaluated)
        buckets: dict[str, list[str]] = {}
        for call, (status, text) in zip(calls, evaluated):
            if status != "ok":
                continue
            try:
                value = _plain_literal(text, self.max_repr)
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                continue
            buckets.setdefault(text, []).append(_assert_for(call, text, value))
        tests = self._select(buckets)
        if not tests:
            return SynthesisResult(sid, error="no_plain_outputs",
                                   detail=f"none of {len(calls)} fuzzed calls returned a plain literal")
        return SynthesisResult(sid, question=self.question(seed, func, owner), tests=tests)

    def _select(self, buckets: dict[str, list[str]]) -> list[str]:
        """Round-robin over distinct outputs, so tests pin down as many behaviours as possible."""
        tests, queues = [], [list(v) for v in buckets.values()]
        while len(tests) < self.num_tests and any(queues):
            for q in queues:
                if q and len(tests) < self.num_tests:
                    tests.append(q.pop(0))
        return tests

    @staticmethod
    def question(seed: dict, func: ast.FunctionDef, owner: str | None) -> str:
        instruction = (seed.get("instruction") or "").strip()
        if func.name in instruction:
            return instruction
        signature = f"def {func.name}({ast.unparse(func.args)})"
        if func.returns is not None:
            signature += f" -> {ast.unparse(func.returns)}"
        where = f" as a method of class {owner}" if owner else ""
        return f"{instruction}\n\nImplement `{signature}`{where}.".strip()

    # ---- batch, with sandbox verification ----
    def synthesize(self, seeds: Sequence[dict]) -> list[SynthesisResult]:
        drafts = [self.draft(s) for s in seeds]
        if self.executor is None:
            return drafts
        jobs = [{"id": f"verify-{i}", "program": s["program"], "tests": d.tests}
                for i, (s, d) in enumerate(zip(seeds, drafts)) if d.ok]
        results = self.executor.run(jobs)
        for i, d in enumerate(drafts):
            if not d.ok:
                continue
            r = results[f"verify-{i}"]
            kept = [t for t, o in zip(d.tests, r.get("outcomes", [])) if o == "pass"]
            d.invalid_tests = len(d.tests) - len(kept)
            d.tests = kept
            if not kept:
                d.error, d.detail = "reference_fails_own_tests", f"sandbox status {r.get('status')}"
        return drafts
