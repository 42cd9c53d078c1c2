"""Executor semantics: assert shapes, trusted comparison, statuses, bad input, CLI."""
import json
import os
import subprocess
import sys

import pytest

from sandbox_workers import SandboxPool, execute_jobs, isolation
from sandbox_workers.assert_split import InvalidTest, split_assert

pytestmark = pytest.mark.timeout(300)

PROGRAM = '''
import math
def f(x):
    return x * 2
def g(xs):
    return [v for v in xs if v % 2]
def none(x):
    return None
def approx(x):
    return x / 3
def apply(fn, x):
    return fn(x)
class Solution:
    def m(self, s):
        return s[::-1]
'''

SHAPES = [  # (test, expected outcome)
    ("assert f(2) == 4", "pass"), ("assert f(2) != 5", "pass"), ("assert f(2) == 5", "fail"),
    ("assert none(1) is None", "pass"), ("assert not none(1)", "pass"),
    ("assert abs(approx(1) - 0.3333333) < 1e-6", "pass"),
    ("assert math.isclose(approx(1), 1 / 3)", "pass"), ("assert len(g([1, 2, 3])) == 2", "pass"),
    ("assert sorted(g([3, 2, 1])) == [1, 3]", "pass"), ("assert Solution().m('abc') == 'cba'", "pass"),
    ("assert apply(lambda v: v + 1, 2) == 3", "pass"), ("assert f(3) == f(1) + f(2)", "pass"),
    ("assert f(f(1)) == 4", "pass"), ("assert all(f(i) == 2 * i for i in range(4))", "pass"),
    ("assert list(map(lambda v: f(v), [1, 2])) == [2, 4]", "pass"),
    ("assert f((1, 2)) == (1, 2, 1, 2)", "pass"), ("assert f([1]) == (1, 1)", "fail"),
    ("assert f('a') == 'aa', 'message'", "pass"), ("assert missing(1) == 1", "error"),
    ("assert f(None) == 0", "error"), ("assert f(2) == 4 and g([1]) == [1]", "pass"),
]


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(2) as p:
        yield p


def run(pool, jobs):
    return {r["id"]: r for r in pool.run(jobs)}


def test_assert_shapes(pool):
    job = {"id": "shapes", "program": PROGRAM, "tests": [t for t, _ in SHAPES], "details": True}
    result = run(pool, [job])["shapes"]
    assert result["status"] == "ok"
    assert result["outcomes"] == [o for _, o in SHAPES], list(zip(SHAPES, result["messages"]))
    assert result["pass_rate"] == sum(o == "pass" for _, o in SHAPES) / len(SHAPES)


def test_split_sends_only_program_calls():
    split = split_assert("assert abs(f(x, [1]) - expected_value) < 1e-6")
    assert [c.source for c in split.calls] == ["f(x, [1])", "expected_value"]
    split = split_assert("assert sorted(f(1)) == [1, 2, 3]")
    assert [c.source for c in split.calls] == ["f(1)"]
    # A call inside a comprehension: the callee runs in the child, the argument values are
    # computed on the trusted side and sent; the binding `i` never is.
    split = split_assert("assert all(f(i) == i * 7 for i in range(3))")
    assert [(c.source, c.kind) for c in split.calls] == [("f", "apply")]
    split = split_assert("assert all(parse(str(v)) == v for v in [3, 17])")
    assert [(c.source, c.kind) for c in split.calls] == [("parse", "apply")]


def test_split_follows_the_programs_names():
    from sandbox_workers.assert_split import resolver
    # The program defines `max` and imports numpy as np: `max` is the program's, np the judge's.
    split = split_assert("assert max(f(1), f(3)) == 2 and np.allclose(f(2), [1.0])",
                         resolver({"max": "p", "np": "m:numpy", "f": "p"}))
    assert [c.source for c in split.calls] == ["max(f(1), f(3))", "f(2)"]
    assert split.names["np"].__name__ == "numpy"
    # ... but not wrapped around the answer and test values: the program's `max` would get 2
    # (and `all` every expected value): refused
    for test in ("assert max(f(1), 2) == 2", "assert all(f(x) == x for x in [1, 2])",
                 "assert abs(f(1) - 2.5) < 1e-9"):
        with pytest.raises(InvalidTest, match="would decide"):
            split_assert(test, resolver({"max": "p", "all": "p", "abs": "p", "f": "p"}))
    # an alias of a module's function is the program's name, not the judge's function
    assert split_assert("assert all(f(1))", resolver({"all": "a:itertools:repeat", "f": "p"})).calls
    # The program imported isclose from math: the judge's math.isclose runs.
    split = split_assert("assert isclose(f(1), 0.5)", resolver({"isclose": "a:math:isclose", "f": "p"}))
    assert [c.source for c in split.calls] == ["f(1)"] and split.names["isclose"].__module__ == "math"
    split = split_assert("assert __import__('math').isclose(f(1), 0.5)")
    assert [c.source for c in split.calls] == ["f(1)"]


@pytest.mark.parametrize("bad", ["x = 1", "assert (", "assert 1\nassert 2", "", "assert __sbx_call__(0)",
                                 "assert (yield 1)"])
def test_split_rejects(bad):
    with pytest.raises(InvalidTest):
        split_assert(bad)


def test_split_sends_what_the_judge_must_not_evaluate_to_the_child():
    assert [c.source for c in split_assert("assert __import__('os')").calls] == ["__import__('os')"]
    # a dunder read off a test value is refused when the test runs (trusted_getattr), not shipped
    assert split_assert("assert ().__class__ == 1").calls == ()


def test_values_roundtrip_and_bounds():
    import collections
    import datetime
    import fractions

    from sandbox_workers import values
    from sandbox_workers.remote import Remote

    class Channel:
        def remote(self, ref, name, flags):
            return ("remote", ref, name)
    child, trusted = values.ChildCodec(), values.TrustedCodec(Channel())

    def roundtrip(v):
        return trusted.decode(trusted.loads(child.dumps(v)))
    value = [1, 2.5, "s\ud800", None, True, (1, (2,)), {1: "a", (1, 2): [3]}, {1, 2}, frozenset({3}),
             b"\x00\xff", bytearray(b"ab"), 1j, 10 ** 5000, -(2 ** 64), range(2, 9, 3),
             collections.Counter("aab"), collections.OrderedDict(b=1, a=2), collections.deque([1], 4),
             fractions.Fraction(1, 3), datetime.date(2020, 1, 2), datetime.timedelta(3, 4, 5)]
    back = roundtrip(value)
    assert back == value and [type(v) for v in back] == [type(v) for v in value]
    assert type(roundtrip(collections.OrderedDict(a=1))) is collections.OrderedDict
    assert roundtrip(object())[0] == "remote" and roundtrip(lambda: 1)[2] == "function"
    nested = []
    for _ in range(values.MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(values.ValueLimit):
        child.dumps(nested)
    for forged in ['{"x": 1}', '{"s": [[1]]}', '{"d": [[[1], 2]]}', "[" * 5000, "not json",
                   '{"b": "\\u0100"}', '{"T": "os:system"}', '{"h": ["x", "y", 0]}']:
        with pytest.raises(values.ValueLimit):
            trusted.decode(trusted.loads(forged))
    assert Remote  # the proxy type the judge builds for handles


STATUS_CASES = [
    ("syntax", "def f(:\n", "syntax_error"),
    ("import_raise", "raise ValueError('boom')\n", "crash"),
    ("loop", "def f(x):\n    while True:\n        pass\n", "timeout"),
    ("load_loop", "while True:\n    pass\n", "timeout"),
    ("memory", "def f(x):\n    return bytearray(8 * 1024 ** 3)\n", "memory"),
    ("segv", "import ctypes\ndef f(x):\n    return ctypes.string_at(0)\n", "crash"),
]


def test_statuses(pool):
    jobs = [{"id": name, "program": prog, "tests": ["assert f(1) == 2", "assert f(2) == 4"], "timeout_s": 0.5}
            for name, prog, _ in STATUS_CASES]
    results = run(pool, jobs)
    for name, _, status in STATUS_CASES:
        r = results[name]
        assert r["status"] == status, r
        assert r["pass_rate"] == 0.0 and "pass" not in r["outcomes"], r
        assert r["error"], r
    assert results["loop"]["outcomes"] == ["timeout", "not_run"]
    assert results["syntax"]["outcomes"] == ["not_run", "not_run"]


BAD_INPUT = [
    ("no_program", {"id": "no_program", "tests": ["assert 1"]}, "'program'"),
    ("no_tests", {"id": "no_tests", "program": "x=1"}, "'tests'"),
    ("empty_tests", {"id": "empty_tests", "program": "x=1", "tests": []}, "empty"),
    ("unparsable", {"id": "unparsable", "program": "x=1", "tests": ["assert f(1) ==", "assert 1"]}, "tests[0]"),
    ("not_assert", {"id": "not_assert", "program": "x=1", "tests": ["print(1)"]}, "tests[0]"),
    ("non_utf8", {"id": "non_utf8", "program": "x = '\udcff'", "tests": ["assert 1"]}, "UTF-8"),
    ("huge", {"id": "huge", "program": "#" * 2_000_000, "tests": ["assert 1"]}, "limit"),
    ("bad_timeout", {"id": "bad_timeout", "program": "x=1", "tests": ["assert 1"], "timeout_s": -1}, "timeout_s"),
    ("bad_memory", {"id": "bad_memory", "program": "x=1", "tests": ["assert 1"], "memory_mb": "lots"}, "memory_mb"),
    ("test_not_str", {"id": "test_not_str", "program": "x=1", "tests": [3]}, "tests[0]"),
]


def test_bad_input_gives_invalid_results(pool):
    jobs = [job for _, job, _ in BAD_INPUT] + ["not a dict", {"program": "x"}, {"id": "unserializable", "x": object()}]
    results = list(pool.run(jobs))
    assert len(results) == len(jobs)
    by_id = {r["id"]: r for r in results}
    for name, _, needle in BAD_INPUT:
        assert by_id[name]["status"] == "invalid", by_id[name]
        assert needle in by_id[name]["error"], by_id[name]
    assert by_id["unserializable"]["status"] == "invalid"
    assert sum(r["id"] is None for r in results) == 2
    good = run(pool, [{"id": "after", "program": "def f(x): return x", "tests": ["assert f(1) == 1"]}])
    assert good["after"]["pass_rate"] == 1.0


def test_execute_jobs_one_result_per_job():
    jobs = [{"id": i, "program": f"def f(): return {i}", "tests": [f"assert f() == {i}", "assert f() == -1"]}
            for i in range(25)]
    results = list(execute_jobs(jobs, num_workers=2))
    assert sorted(r["id"] for r in results) == list(range(25))
    assert all(r["outcomes"] == ["pass", "fail"] and r["pass_rate"] == 0.5 for r in results)


def test_cli_run(tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    lines = [json.dumps({"id": i, "program": "def f(x): return x + 1", "tests": ["assert f(1) == 2"]}) for i in range(5)]
    jobs.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "bad\xff"}\n' + b"{not json\n")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "sandbox_workers.run", "--jobs", str(jobs), "--results", str(out),
                           "--workers", "2"], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(results) == 7
    assert sorted(r["id"] for r in results if r["id"] is not None) == list(range(5))
    invalid = [r for r in results if r["status"] == "invalid"]
    assert len(invalid) == 2 and any("UTF-8" in r["error"] for r in invalid)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])["summary"]
    assert summary["jobs"] == 7 and summary["tests_passed"] == 5 and summary["statuses"] == {"ok": 5, "invalid": 2}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user")
def test_slots_pinned_to_one_core_each():
    """Each slot's supervisor, zygote and children share one core (round robin over the allowed
    cores); pin_cpus=False leaves the scheduler free."""
    allowed = sorted(os.sched_getaffinity(0))
    for pin in (True, False):
        with SandboxPool(3, pin_cpus=pin) as p:
            results = list(p.run([{"id": 1, "program": "import os\ndef f():\n    return sorted(os.sched_getaffinity(0))",
                                   "tests": [f"assert f() == {[allowed[0]] if pin else allowed}"]}]))
            for slot in p.slots:
                zygote = int(open(f"/proc/{slot.proc.pid}/task/{slot.proc.pid}/children").read().split()[0])
                for pid in (slot.proc.pid, zygote):
                    want = {allowed[slot.index % len(allowed)]} if pin else set(allowed)
                    assert os.sched_getaffinity(pid) == want
        assert results[0]["outcomes"] == ["pass"], results


def test_preimport_choice(pool):
    """Zygotes import the default set unless told otherwise; a module that fails to import is
    reported, never fatal; children run without wakeup preemption (SCHED_BATCH)."""
    program = ("import sys, os\n"
               "def loaded(name):\n    return name in sys.modules\n"
               "def policy():\n    return os.sched_getscheduler(0)\n")
    tests = ["assert loaded('typing')", "assert not loaded('decimal')", f"assert policy() == {os.SCHED_BATCH}"]
    assert run(pool, [{"id": 0, "program": program, "tests": tests}])[0]["outcomes"] == ["pass"] * 3
    with SandboxPool(1, preimport=["decimal", "no_such_module_xyz"]) as custom:
        assert "no_such_module_xyz" in custom.isolation["preimport_errors"]
        outcomes = run(custom, [{"id": 0, "program": program, "tests": tests}])[0]["outcomes"]
    assert outcomes == ["fail", "fail", "pass"]
    with pytest.raises(ValueError, match="not a module name"):
        SandboxPool(1, preimport=["os; rm -rf"])


LITTER = ("import os\n"
          "def litter():\n"
          "    os.makedirs('a/b', exist_ok=True)\n"
          "    open('a/b/f.txt', 'w').write('x')\n"
          "    os.chmod('a/b', 0o500)\n"
          "    os.chmod('a', 0o500)\n"
          "    return sorted(os.listdir('.'))\n"
          "def listing():\n"
          "    return sorted(os.listdir('.'))\n")


@pytest.mark.parametrize("loop", ["c", "python"])
def test_clone_loops(loop, monkeypatch):
    """Both zygote loops (C, and the Python fallback for hosts without a compiler) give every
    program a fresh empty directory, even after one left a read-only tree behind, and report
    statuses the same way."""
    if loop == "c":
        pytest.importorskip("sandbox_workers._clone_loop")
    else:
        monkeypatch.setenv("SANDBOX_PYTHON_CLONE_LOOP", "1")
    jobs = [{"id": 0, "program": LITTER, "tests": ["assert litter() == ['a']"]},
            {"id": 1, "program": LITTER, "tests": ["assert listing() == []", "assert litter() == ['a']"]},
            {"id": 2, "program": "def f(:", "tests": ["assert f()"]},
            {"id": 3, "program": "import os\ndef f():\n    os._exit(3)", "tests": ["assert f()"]},
            {"id": 4, "program": LITTER, "tests": ["assert listing() == []"]}]
    with SandboxPool(1) as p:
        assert p.isolation["clone_loop"] == loop
        results = {r["id"]: r for r in p.run(jobs)}
    assert results[0]["outcomes"] == ["pass"] and results[1]["outcomes"] == ["pass", "pass"]
    assert results[2]["status"] == "syntax_error" and results[3]["status"] == "crash"
    assert results[4]["outcomes"] == ["pass"]


PROBE = ("import os, resource\n"
         "NAMES = ['RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE', 'RLIMIT_NPROC',\n"
         "         'RLIMIT_MEMLOCK']\n"
         "def probe():\n"
         "    return {'limits': [list(resource.getrlimit(getattr(resource, n))) for n in NAMES],\n"
         "            'own_group': os.getpgid(0) == os.getpid(), 'cwd': os.getcwd(), 'uid': os.getuid(),\n"
         "            'gid': os.getgid(), 'groups': os.getgroups(), 'fds': [str(fd) for fd in range(64) if _open(fd)]}\n"
         "def _open(fd):\n    try:\n        os.fstat(fd)\n        return True\n    except OSError:\n        return False\n")


def test_clone_loops_confine_children_alike(monkeypatch):
    """The C loop confines each child itself (no Python runs in the child before it is confined);
    the Python fallback uses isolation.confine_child. Both must leave the child in the same state."""
    pytest.importorskip("sandbox_workers._clone_loop")
    job = {"id": 0, "mode": "values", "program": PROBE, "expressions": ["probe()"], "memory_mb": 300,
           "timeout_s": 1.0}
    seen = {}
    for loop in ("c", "python"):
        if loop == "python":
            monkeypatch.setenv("SANDBOX_PYTHON_CLONE_LOOP", "1")
        with SandboxPool(1) as p:
            assert p.isolation["clone_loop"] == loop
            threads = p.isolation["threads"]
            (result,) = run(p, [job]).values()
            probe = eval(result["values"][0]["repr"])  # noqa: S307 - a plain literal we made
            # uids differ by pool (UID_BASE + the supervisor's pid); the rest must not
            assert probe.pop("uid") == probe.pop("gid") == isolation.UID_BASE + p.slots[0].proc.pid \
                if os.geteuid() == 0 else True, probe
            probe["cwd"] = os.path.basename(probe["cwd"])  # weaker levels: a private dir per pool
            seen[loop] = probe
    assert seen["c"] == seen["python"], seen
    probe = seen["c"]
    assert probe["limits"] == [[300 << 20] * 2, [3, 3], [16 << 20] * 2, [64, 64], [0, 0],
                               [threads, threads], [0, 0]], probe
    assert probe["own_group"] and probe["fds"] == ["0", "1", "2", "3"], probe
    if os.geteuid() == 0:
        assert probe["groups"] == [], probe
