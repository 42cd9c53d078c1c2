"""Honest-shape yardstick: the executor must score honest Python exactly as plain Python does.

For every case of `tests/sandbox_corpus/honest.py` and every program variant (the correct program
and each wrong one), the ground truth is computed here, never written down: a plain `python`
subprocess loads the program once into a fresh `__main__` module, then runs each assert of the
case in order in that same namespace (as the executor does with one program load per job) and
reports pass / fail (AssertionError) / error (any other exception) per test. The same variants
then run as jobs through one `SandboxPool(2)`. Rule: plain `pass` -> executor `pass`; plain
`fail`/`error`/`timeout` -> executor anything but `pass`.

The corpus is checked too (`test_corpus_sanity`): the correct program passes every test in plain
Python (except the tests a case lists in `false_tests`, which are False in Python for every
variant, e.g. a generator compared to a list, and must fail for the correct program too), and
every wrong program fails or errors at least one test.
"""
import collections
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox_workers import SandboxPool
from tests.sandbox_corpus.honest import CASES, CATEGORIES

pytestmark = pytest.mark.timeout(600)

DEFAULT_TIMEOUT_S = 5.0

# Runs in a plain interpreter: reads {"program", "tests", "timeout_s"} on stdin, writes
# {"load", "outcomes", "messages"} on the original stdout (the program's own output goes to
# /dev/null so it cannot corrupt the answer).
HARNESS = r'''
import json, os, signal, sys, types

def _main():
    spec = json.loads(sys.stdin.read())
    answer = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    class _Timeout(BaseException):
        pass

    def _alarm(*_):
        raise _Timeout()

    signal.signal(signal.SIGALRM, _alarm)
    limit = float(spec["timeout_s"])
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = module
    namespace = module.__dict__
    tests = spec["tests"]
    load, outcomes, messages = "ok", [], []

    def run(source, mode_name):
        code = compile(source, mode_name, "exec")
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            exec(code, namespace)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    try:
        run(spec["program"], "<program>")
    except _Timeout:
        load = "timeout"
    except BaseException as exc:
        load = "error: %s: %s" % (type(exc).__name__, exc)
    if load != "ok":
        outcomes = ["error"] * len(tests)
        messages = [load] * len(tests)
    else:
        stopped = False
        for test in tests:
            if stopped:
                outcomes.append("not_run")
                messages.append(None)
                continue
            try:
                run(test, "<test>")
                outcomes.append("pass")
                messages.append(None)
            except AssertionError as exc:
                outcomes.append("fail")
                messages.append("AssertionError: %s" % (exc,))
            except _Timeout:
                outcomes.append("timeout")
                messages.append("timeout")
                stopped = True
            except BaseException as exc:
                outcomes.append("error")
                try:
                    text = "%s: %s" % (type(exc).__name__, exc)
                except BaseException:
                    text = type(exc).__name__
                messages.append(text[:500])
    answer.write(json.dumps({"load": load, "outcomes": outcomes, "messages": messages}))
    answer.flush()

_main()
'''


def missing_need(case):
    """The reason the case cannot run in this test process, or None."""
    for need in case.needs:
        if need == "threads":  # the sandbox's, checked against the pool (sandbox_skip)
            continue
        module, _, key = need.partition(":")
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
        if module == "zoneinfo" and key:
            import zoneinfo
            try:
                zoneinfo.ZoneInfo(key)
            except Exception as exc:  # no system tz database and no tzdata package
                return f"time zone {key} unavailable: {exc!r}"
    return None


RUNNABLE = [c for c in CASES if missing_need(c) is None]
BY_NAME = {c.name: c for c in CASES}


def variants(case):
    """(label, program) for the correct program and each wrong one."""
    return [("correct", case.program)] + [(f"wrong{i}", w) for i, w in enumerate(case.wrong)]


def timeout_of(case):
    return case.timeout_s if case.timeout_s is not None else DEFAULT_TIMEOUT_S


def plain_python(case, program):
    """Ground truth: the program and the case's tests in one plain interpreter."""
    spec = json.dumps({"program": program, "tests": list(case.tests), "timeout_s": timeout_of(case)})
    limit = timeout_of(case) * (len(case.tests) + 1) + 30
    with tempfile.TemporaryDirectory(prefix="honest-") as cwd:
        try:
            proc = subprocess.run([sys.executable, "-c", HARNESS], input=spec, capture_output=True,
                                  text=True, timeout=limit, cwd=cwd)
        except subprocess.TimeoutExpired:
            return {"load": "harness timeout", "outcomes": ["timeout"] * len(case.tests),
                    "messages": ["harness timeout"] * len(case.tests)}
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {"load": f"harness died rc={proc.returncode}", "outcomes": ["error"] * len(case.tests),
                "messages": [f"harness died rc={proc.returncode}: {proc.stderr[-300:]}"] * len(case.tests)}


@pytest.fixture(scope="module")
def ground_truth():
    """{(case name, variant label): plain-python result}."""
    work = [(c, label, prog) for c in RUNNABLE for label, prog in variants(c)]
    workers = max(2, min(8, 2 * (os.cpu_count() or 1)))
    with ThreadPoolExecutor(workers) as ex:
        answers = list(ex.map(lambda w: plain_python(w[0], w[2]), work))
    return {(c.name, label): a for (c, label, _), a in zip(work, answers)}


@pytest.fixture(scope="module")
def executor_results():
    """{(case name, variant label): executor result}, all variants through one pool."""
    jobs = []
    for c in RUNNABLE:
        for label, prog in variants(c):
            job = {"id": f"{c.name}::{label}", "program": prog, "tests": list(c.tests),
                   "timeout_s": timeout_of(c), "details": True}
            if c.memory_mb is not None:
                job["memory_mb"] = c.memory_mb
            jobs.append(job)
    with SandboxPool(2) as pool:
        results = list(pool.run(jobs))
        isolation = pool.isolation
    out = {"isolation": isolation}
    for r in results:
        name, _, label = str(r.get("id")).partition("::")
        out[(name, label)] = r
    return out


def compare(case, label, plain, result):
    """[(test index, test, plain outcome, executor outcome, executor message)] for wrong scores."""
    n = len(case.tests)
    if result is None:
        result = {"status": "missing", "error": "no result for this job"}
    outcomes = result.get("outcomes") or []
    messages = result.get("messages") or []
    status = result.get("status")
    bad = []
    for i, test in enumerate(case.tests):
        got = outcomes[i] if i < len(outcomes) else f"<none: status {status}>"
        msg = messages[i] if i < len(messages) else None
        if status != "ok":
            msg = f"[status {status}: {str(result.get('error'))[:300]}] {msg}"
        want = plain["outcomes"][i]
        if i in case.unscorable:  # refused by design: an error that says why
            want = "error: cannot be scored safely"
            right = got == "error" and "cannot be scored safely" in str(msg)
        else:
            right = (got == "pass") if want == "pass" else (got != "pass")
        if not right:
            bad.append((i, test, want, got, msg))
    return bad


def format_mismatches(case, rows):
    lines = [f"case {case.name} ({case.category}): {len(rows)} (program, test) pairs scored unlike plain Python"]
    for label, (i, test, want, got, msg) in rows:
        lines.append(f"  [{label}] tests[{i}] = {test!r}\n      plain python: {want}   executor: {got}   "
                     f"message: {str(msg)[:400]}")
    return "\n".join(lines)


def _skip_if_missing(case):
    reason = missing_need(case)
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_corpus_sanity(name, ground_truth):
    case = BY_NAME[name]
    _skip_if_missing(case)
    correct = ground_truth[(name, "correct")]
    assert correct["load"] == "ok", correct
    for i, (test, got) in enumerate(zip(case.tests, correct["outcomes"])):
        if i in case.false_tests:
            assert got in ("fail", "error"), (f"false_tests[{i}] passes in plain Python", test)
        else:
            assert got == "pass", (f"correct program: tests[{i}] is {got}", test, correct["messages"][i])
    for label, _ in variants(case)[1:]:
        wrong = ground_truth[(name, label)]
        failing = [i for i, o in enumerate(wrong["outcomes"]) if o != "pass" and i not in case.false_tests]
        assert failing, f"{label} passes every test in plain Python: not a wrong program"


def sandbox_skip(case, isolation) -> str | None:
    """Why this sandbox level cannot run the case (None: it can)."""
    if "threads" in case.needs and isolation.get("threads", 1) <= 1:
        return f"threads need a PID namespace per program (sandbox level {isolation.get('level')})"
    return None


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_executor_matches_plain_python(name, ground_truth, executor_results):
    case = BY_NAME[name]
    _skip_if_missing(case)
    reason = sandbox_skip(case, executor_results["isolation"])
    if reason:
        pytest.skip(reason)
    rows = []
    for label, _ in variants(case):
        plain = ground_truth[(name, label)]
        rows += [(label, row) for row in compare(case, label, plain, executor_results.get((name, label)))]
    assert not rows, format_mismatches(case, rows)


def test_summary_per_category(ground_truth, executor_results):
    stats = collections.OrderedDict((cat, collections.Counter()) for cat in CATEGORIES)
    examples = collections.defaultdict(list)
    for case in RUNNABLE:
        if sandbox_skip(case, executor_results["isolation"]):
            continue
        s = stats.setdefault(case.category, collections.Counter())
        s["cases"] += 1
        for label, _ in variants(case):
            plain = ground_truth[(case.name, label)]
            bad = compare(case, label, plain, executor_results.get((case.name, label)))
            s["pairs"] += len(case.tests)
            s["wrong"] += len(bad)
            s["plain_pass"] += plain["outcomes"].count("pass")
            s["refused"] += len(case.unscorable)
            s["plain_pass_scored_not_pass"] += sum(w == "pass" for _, _, w, _, _ in bad)
            s["plain_not_pass_scored_pass"] += sum(w != "pass" for _, _, w, _, _ in bad)
            examples[case.category] += [(case.name, label, row) for row in bad[:1]]
    skipped = [f"{c.name} ({missing_need(c)})" for c in CASES if c not in RUNNABLE]
    skipped += [f"{c.name} ({sandbox_skip(c, executor_results['isolation'])})" for c in RUNNABLE
                if sandbox_skip(c, executor_results["isolation"])]
    header = (f"{'category':26} {'cases':>5} {'pairs':>6} {'right':>6} {'wrong':>6} "
              f"{'pass->not':>9} {'notpass->pass':>13} {'refused':>7}")
    lines = ["honest corpus: executor vs plain Python, per category", header]
    total = collections.Counter()
    for cat, s in stats.items():
        total.update(s)
        lines.append(f"{cat:26} {s['cases']:5} {s['pairs']:6} {s['pairs'] - s['wrong']:6} {s['wrong']:6} "
                     f"{s['plain_pass_scored_not_pass']:9} {s['plain_not_pass_scored_pass']:13} {s['refused']:7}")
    lines.append(f"{'TOTAL':26} {total['cases']:5} {total['pairs']:6} {total['pairs'] - total['wrong']:6} "
                 f"{total['wrong']:6} {total['plain_pass_scored_not_pass']:9} {total['plain_not_pass_scored_pass']:13} "
                 f"{total['refused']:7}")
    if skipped:
        lines.append("skipped: " + ", ".join(skipped))
    for cat in stats:
        for name, label, (i, test, want, got, msg) in examples[cat][:3]:
            lines.append(f"  e.g. {cat}/{name}[{label}] {test!r}: plain {want}, executor {got}: {str(msg)[:160]}")
    report = "\n".join(lines)
    print("\n" + report)
    assert total["wrong"] == 0, report
