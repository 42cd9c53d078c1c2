"""Attack corpus, round 3: mirrors, shadowed names, copy-out and the judge's own state.

Self-contained (programs and tests inline). Each test asserts the safe behaviour, so it FAILS
while the attack works; members ending in "_held" are near misses kept as regression tests. Ids are
`<class>3.<member>`; tests/attack_report.py prints what succeeded.

Mechanisms:
  - Counter mirrors forward a redefined __missing__/__getitem__; Counter.__eq__ (trusted Python
    code) calls self[e] for every key e of the *expected* Counter: the program sees the expected
    keys and answers their counts;
  - a program name that shadows a builtin or a module the test wraps around its comparison
    (`all(f(x) == y for ...)`, `abs(f(x) - y)`, `math.isclose(f(x), y)`) makes the whole assert one
    closed call site: expected values and the comparison run in the child;
  - an "a:" kind (`from itertools import repeat as all`) binds a test's builtin to any trusted
    callable, applied by the judge to the test's own comparison generator;
  - str/set predicate methods read off a program object run in the child (`f(x).startswith(e)`);
  - copy-out lets a call rewrite a comprehension variable the expected side is computed from; and
    it sends the change trees encoded twice (an honest `d['k'] = (1, 2)` comes back as
    `{'d': [['k', {'t': [1, 2]}]]}`);
  - "a:numpy:set_printoptions" runs numpy's global setter in the judge, for every later job;
  - forged replies of string atoms are not counted by the judge's container budget, and a child
    may answer next() with far more elements than asked, all buffered for the rest of the job (and
    after it, in the channel's reference cycles): the judge's memory nears its RLIMIT_AS, its lazy
    `import numpy` fails, `trusted_module` turns that into "not installed" and `np` becomes the
    program's name: a patched np.allclose decides, and the cached plan keeps deciding for later jobs.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from sandbox_workers import SandboxPool
from tests.attack_report import record
from tests.test_sandbox_attacks import brief, make_job, passed
from tests.test_sandbox_attacks2 import _judges, _status_mib

pytestmark = pytest.mark.timeout(300)



def _p(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


@dataclass
class Member:
    program: str
    tests: tuple
    how: str
    must_not_pass: tuple | None = None  # None: every test; () with must_pass: an honest member
    must_pass: tuple = ()               # honest members: tests plain Python passes
    timeout_s: float = 2.0
    memory_mb: int = 256


# =================================================================================================
# One batch of single-job members
# =================================================================================================
BATCH = {
    "equal3": {
        "counter_missing_decides": Member(_p("""
            from collections import Counter
            class C(Counter):
                def __missing__(self, key):
                    return 1
            def f(x):
                return C()
            """), ("assert f('abc') == collections.Counter({'a': 1, 'b': 1, 'c': 1})",
                   "assert collections.Counter({'x': 1, 'y': 1}) == f('xy')",
                   "assert f('xyz') == collections.Counter('xyz')"),
            "an empty Counter subclass whose __missing__ returns 1: the trusted Counter.__eq__ calls "
            "self[e] for each key of the expected Counter and the program's count 1 matches"),
        "shadowed_wrapper_ships_assert": Member(_p("""
            def all(*a, **k):
                return True
            any = all
            def abs(x):
                return 0
            class math:
                isclose = staticmethod(all)
            def f(x):
                return 0.0
            """), ("assert all(f(x) == y for x, y in [(1, 2), (3, 4)])",
                   "assert any([f(1) == 2, f(2) == 3])",
                   "assert abs(f(1) - 2.5) < 1e-9",
                   "assert math.isclose(f(1), 2.5, rel_tol=1e-9)"),
            "a program `all`/`abs`/`math` wrapping the test's comparison: the whole assert is one closed "
            "call site (expected values and == included) run in the child, where the program decides"),
        "remote_predicate_methods": Member(_p("""
            class Yes:
                def __getattr__(self, name):
                    return lambda *a, **k: True
            def f(x):
                return Yes()
            """), ("assert f('hello world').startswith('Hello')",
                   "assert f([1, 2]).issubset({1, 2, 3})",
                   "assert f('a.txt').endswith('.txt') and f('123').isdigit()"),
            "str/set predicates read off a program object are forwarded to it with the expected "
            "argument: a __getattr__ answering True passes startswith/issubset/endswith/isdigit tests"),
        "copyout_rewrites_test_input": Member(_p("""
            def f(a):
                a[:] = [0]
                return [0]
            """), ("assert all(f(xs) == sorted(xs) for xs in [[3, 1, 2], [9, 8]])",
                   "assert all(f(list(t)) == sorted(t) for t in [(3, 1, 2)])"),
            "copy-out writes the program's change to the comprehension variable back before the "
            "trusted side computes sorted(xs) from it (plain Python passes too: the test is only "
            "safe without the sharing)", must_not_pass=(0,)),
        "counter_guarded_ops_held": Member(_p("""
            from collections import Counter
            class C(Counter):
                def __missing__(self, key):
                    return 1
                def __contains__(self, key):
                    return True
            def f(x):
                return C()
            """), ("assert f(1) + collections.Counter({'a': 1}) == collections.Counter({'a': 2})",
                   "assert f(1) == {'a': 1}"),
            "control: Counter.__add__ asks `elem in self` (a guarded __contains__) and a plain dict "
            "expected compares as dicts"),
        "format_template_held": Member(_p("""
            class S(str):
                pass
            def f(x):
                return S('{0.__class__.__mro__}')
            def g(x):
                return '{0.__class__}'
            """), ("assert f(1).format(5) == \"(<class 'int'>, <class 'object'>)\"",
                   "assert g(1).format_map({'0': 5}) or g(1).format(5) == \"<class 'int'>\""),
            "control: a program string used as the template of a trusted .format cannot walk fields"),
        "copyout_forged_change_held": Member(_p("""
            import sys
            _vals = sys.modules['sandbox_workers.values']
            _real = _vals.ChildCodec.changes
            _MODE = [0]
            def _changes(self):
                out = _real(self)
                return {1: [[7, [1]]], 2: [[0, {"d": []}]], 3: [[0, {"T": "builtins:eval"}]]}.get(_MODE[0], out)
            _vals.ChildCodec.changes = _changes
            def f(a, mode):
                _MODE[0] = mode
                a.append(0)
                return 0
            """), ("assert all(f(xs, 1) == 0 and xs == [5, 0] and 0 for xs in [[5]])",
                   "assert all(f(xs, 2) == 0 and xs == {} for xs in [[5]])",
                   "assert all(f(xs, 3) == 0 and xs is eval for xs in [[5]])"),
            "control: forged copy-out entries (unknown argument, another type, a builtin) are refused"),
    },
    "leak3": {
        "counter_getitem_sees_expected_keys": Member(_p("""
            from collections import Counter
            _seen = []
            class C(Counter):
                def __getitem__(self, key):
                    _seen.append(key)
                    return 0
            def f(x):
                return C()
            def seen():
                return list(_seen)
            """), ("assert f(1) == collections.Counter({987654321: 4}) or True",
                   "assert 987654321 in seen()"),
            "Counter.__eq__ on the trusted side calls the mirror's forwarded __getitem__ with each "
            "key of the expected Counter", must_not_pass=(1,)),
        "shadowed_all_reads_expected": Member(_p("""
            _seen = []
            def all(gen):
                _seen.extend(gen.gi_frame.f_locals['.0'])
                return True
            def f(x):
                return -1
            def seen():
                return list(_seen)
            """), ("assert all(f(x) == y for x, y in [(1, 987654321), (2, 123456789)])",
                   "assert (2, 123456789) in seen()"),
            "the shadowed `all` receives the test's generator (shipped to the child whole) and reads "
            "the (input, expected) pairs from its frame"),
    },
    "patch3": {
        "trusted_alias_for_builtin": Member(_p("""
            from itertools import repeat as all, repeat as any
            from math import floor as abs
            def f(x):
                return -1e9
            """), ("assert all(f(x) == y for x, y in [(1, 2), (3, 4)])",
                   "assert any(f(x) == 5 for x in range(3))",
                   "assert abs(f(1) - 2.5) < 1e-9",
                   "assert abs(2.5 - f(1)) < 1e-6 or abs(f(2) - 7.25) <= 1e-6"),
            "`from itertools import repeat as all` reports all as a:itertools:repeat; the judge binds the "
            "test's all/any to its own repeat (a truthy object, the comparisons never run) and abs to "
            "math.floor (floor(-1e9 - y) < eps for every y)"),
    },
    "honest3": {
        "copyout_double_encoded": Member(_p("""
            def add(d):
                d['x'] = (1, 2)
            def push(xs):
                xs.append((1, 2))
            def grow(s):
                s.add(3)
            def nest(a, b):
                a.append(b)
            """), ("assert add(d := {}) is None and d == {'x': (1, 2)}",
                   "assert push(xs := []) is None and xs == [(1, 2)]",
                   "assert grow(s := {1}) is None and s == {1, 3}",
                   "assert nest(a := [], b := [1]) is None and a[0] is b"),
            "honest in-place mutation: the child's copy-out encodes its change trees a second time "
            "(ChildCodec.dumps of ChildCodec.changes), so the judge's argument becomes "
            "{'d': [['x', {'t': [1, 2]}]]}, a set change is 'a change of an argument's type'",
            must_not_pass=(), must_pass=(0, 1, 2, 3)),
    },
}

# Documented residuals (docs/sandbox.md): the executor follows plain Python on purpose. Kept as
# strict xfails, so a change that alters the behaviour shows up here.
RESIDUAL = {("equal3", "copyout_rewrites_test_input"):
            "Python-exact: a test computing its expected value from an argument after the program "
            "changed it (f(xs) == sorted(xs)) checks less than it seems, in plain Python too"}
PARAMS = [pytest.param(cls, m, marks=pytest.mark.xfail(strict=True, reason=RESIDUAL[(cls, m)]))
          if (cls, m) in RESIDUAL else (cls, m) for cls, members in BATCH.items() for m in members]


@pytest.fixture(scope="module")
def batch3():
    jobs = [make_job(f"{cls}:{m}", member.program, member.tests, member.timeout_s, member.memory_mb)
            for cls, members in BATCH.items() for m, member in members.items()]
    with SandboxPool(2, pin_cpus=False) as pool:
        return {r["id"]: r for r in pool.run(jobs)}


@pytest.mark.parametrize("cls,member", PARAMS,
                         ids=[f"{p.values[0]}.{p.values[1]}" if hasattr(p, "values") else f"{p[0]}.{p[1]}"
                              for p in PARAMS])
def test_round3(batch3, cls, member):
    m = BATCH[cls][member]
    result = batch3[f"{cls}:{member}"]
    if m.must_pass:
        missing = [i for i in m.must_pass if i not in passed(result)]
        record(cls, member, missing, f"honest tests not passing {missing}; {brief(result)}", m.how)
        assert not missing, f"{m.how}: {brief(result)}"
        return
    hits = passed(result, m.must_not_pass)
    record(cls, member, hits, f"passing tests {hits}; {brief(result)}", m.how)
    assert not hits, f"{m.how}: {brief(result)}"


# =================================================================================================
# shared3: judge-global numpy state set by a program-named trusted function
# =================================================================================================
PRINTOPTIONS_ATTACK = _p("""
    def f(x):
        return x
    f.__module__, f.__qualname__ = 'numpy', 'set_printoptions'
    """)
PRINT_VICTIM = _p("""
    import numpy as np
    def g():
        return np.array([0.25, 0.5])
    """)
PRINT_TESTS = ["assert str(g()) == '[0.25 0.5 ]'", "assert repr(g()) == 'array([0.25, 0.5 ])'"]


@pytest.fixture(scope="module")
def printoptions_results():
    with SandboxPool(1, pin_cpus=False) as pool:
        run = lambda job: list(pool.run([job]))[0]  # noqa: E731 - one slot, in this order
        return {"before": run(make_job("before", PRINT_VICTIM, PRINT_TESTS)),
                "attack": run(make_job("attack", PRINTOPTIONS_ATTACK, ["assert f(1) == 1"])),
                "after": run(make_job("after", PRINT_VICTIM, PRINT_TESTS)),
                "values": run({"id": "values", "mode": "values", "program": PRINT_VICTIM,
                               "expressions": ["g()"]})}


def test_shared3_judge_printoptions_persist(printoptions_results):
    out = printoptions_results
    how = ("f claims __module__ 'numpy', __qualname__ 'set_printoptions' (a:numpy:set_printoptions): the "
           "test's f(1) runs np.set_printoptions(1) in the judge; later jobs' str/repr of arrays (and "
           "values-mode reference reprs) are printed at precision 1")
    values = (out["values"].get("values") or [{}])[0]
    wrong = [i for i in (0, 1) if i not in passed(out["after"])]
    record("shared3", "judge_printoptions_persist", wrong or values.get("repr") != "array([0.25, 0.5 ])",
           f"before {brief(out['before'])}; after {brief(out['after'])}; values {values}", how)
    assert passed(out["before"]) == [0, 1], brief(out["before"])
    assert not wrong, f"{how}: {brief(out['after'])}"
    assert values.get("repr") == "array([0.25, 0.5 ])", f"{how}: {values}"


# =================================================================================================
# memory3: the judge's memory (outside the slot cgroup)
# =================================================================================================
# Forged replies of 16 MB of '"ab",' atoms: the judge's reply budget counts containers only, and
# each 5-byte atom is a 59-byte str in the judge (the child's own encoder would refuse the value).
ATOM_AMPLIFY = _p("""
    import sys
    _vals = sys.modules['sandbox_workers.values']
    _real = _vals.ChildCodec.dumps
    _TEXT = '[' + '"ab",' * 3_300_000 + '"ab"]'
    class _M:
        pass
    def _dumps(self, value, *a, **k):
        if type(value) is _M:
            self.produced_handle = False
            return _TEXT
        return _real(self, value, *a, **k)
    _vals.ChildCodec.dumps = _dumps
    def f(x):
        return _M()
    """)


def test_memory3_judge_atom_amplification():
    """One job (memory_mb 256): the judge's peak for it must stay within memory_mb + 64 MiB."""
    memory_mb = 256
    with SandboxPool(1, pin_cpus=False) as pool:
        judge = _judges(pool)[0]
        before = _status_mib(judge, "VmHWM")
        result = list(pool.run([make_job("atoms", ATOM_AMPLIFY, ["assert [f(1), f(2), f(3), f(4), f(5), f(6)] == [1]"],
                                         timeout_s=3.0, memory_mb=memory_mb)]))[0]
        peak = _status_mib(judge, "VmHWM")
    grown = peak - before
    how = ("forged replies of 16 MB of '\"ab\",' string atoms (not counted by the container budget; 59 "
           "bytes each in the judge): six call sites hold ~190 MB each, up to the judge's RLIMIT_AS "
           "(512 + 2 * memory_mb), outside the slot cgroup")
    record("memory3", "judge_atom_amplification", grown > memory_mb + 64,
           f"judge peak {before:.0f} -> {peak:.0f} MiB; {brief(result)}", how)
    assert not passed(result), brief(result)
    assert grown <= memory_mb + 64, f"{how}: judge peak grew {grown:.0f} MiB for a {memory_mb} MiB job"


# A judge near its address-space limit cannot import numpy: `trusted_module` reads the ImportError as
# "not installed" and `np` becomes the program's name. f(i) returns an iterator; next() is answered
# with one 0 and millions of atoms, all kept in the judge's read-ahead buffer of that iterator for
# the rest of the job (and after it: the channel is in reference cycles with its Remotes).
OOM_NUMPY = _p(r'''
    import sys, resource, time
    import numpy as np
    np.allclose = lambda *a, **k: True
    _child = sys.modules['sandbox_workers.child']
    _mb = resource.getrlimit(resource.RLIMIT_AS)[0] >> 20
    _LIMIT = min(4096, max(1024, 512 + 2 * _mb)) << 20   # judge.judge_memory_mb
    _TARGET = _LIMIT - (25 << 20)   # leave the judge less than importing numpy takes (~120 MiB)
    _PER_ATOM = 76                  # judge bytes per '"ab"' element held in a read-ahead buffer
    _BIG = ',"ab"' * 3_200_000
    _SMALL = ',"ab"' * 100_000
    _state = {"used": 26 << 20, "t0": None}
    class _Gen:
        def __iter__(self):
            return self
        def __next__(self):
            return 0
    _real_next = _child._Program.next_items
    def _next_items(self, obj, n):
        if type(obj) is not _Gen:
            return _real_next(self, obj, n)
        now = time.monotonic()
        if _state["t0"] is None:
            _state["t0"] = now
        if now - _state["t0"] > 1.0 or _state["used"] >= _TARGET:
            _state["t0"] = None
            return '["n",[1],null]'    # this test fails normally; the next one goes on filling
        body = _BIG if _state["used"] < _TARGET - (300 << 20) else _SMALL
        _state["used"] += len(body) // 5 * _PER_ATOM
        return '["n",[0' + body + '],null]'
    _child._Program.next_items = _next_items
    def f(i):
        return _Gen()
    def g(x):
        return np.array([0])
    ''')
OOM_FILL_TESTS = [f"assert all(next(f(i)) == 0 for i in range({k * 1000}, {k * 1000 + 1000}))" for k in range(8)]
NP_TESTS = ["assert np.allclose(g(1), [1, 1])", "assert np.allclose(g(2), [2, 2])"]
NP_CHEAT = _p("""
    import numpy as np
    np.allclose = lambda *a, **k: True
    def g(x):
        return np.array([0])
    """)
NP_HONEST = "def h(x):\n    return x\n"


@pytest.fixture(scope="module")
def oom_results():
    with SandboxPool(1, pin_cpus=False) as pool:
        judge = _judges(pool)[0]
        base = _status_mib(judge, "VmSize")
        attack = list(pool.run([make_job("oom", OOM_NUMPY, OOM_FILL_TESTS + NP_TESTS, memory_mb=256)]))[0]
        cheat = list(pool.run([make_job("cheat", NP_CHEAT, NP_TESTS, memory_mb=256)]))[0]
        honest = list(pool.run([make_job("honest", NP_HONEST, ["assert h(1) == 1"], memory_mb=256)]))[0]
        same_judge = _judges(pool) == [judge]
        kept = _status_mib(judge, "VmSize") - base if same_judge else 0.0
    return {"attack": attack, "cheat": cheat, "honest": honest, "kept": kept}


def test_patch3_judge_oom_makes_numpy_the_programs(oom_results):
    out = oom_results
    hits = passed(out["attack"], (len(OOM_FILL_TESTS), len(OOM_FILL_TESTS) + 1))
    how = ("fill the judge to ~25 MiB under its RLIMIT_AS with read-ahead buffers of forged next() replies; "
           "the next test's plan imports numpy in the judge, which fails (ImportError), trusted_module returns "
           "None and np is the program's: its patched np.allclose decides np.allclose(g(1), [1, 1])")
    record("patch3", "judge_oom_makes_numpy_the_programs", hits, brief(out["attack"]), how)
    assert not hits, f"{how}: {brief(out['attack'])}"


def test_shared3_judge_oom_plan_cached_for_later_jobs(oom_results):
    out = oom_results
    hits = passed(out["cheat"])
    how = ("after that job the slot's plan cache keeps the split with np as a program name: a later job's "
           "patched np.allclose passes the same tests without any filling")
    record("shared3", "judge_oom_plan_cached", hits, brief(out["cheat"]), how)
    assert not hits, f"{how}: {brief(out['cheat'])}"


def test_memory3_judge_keeps_job_memory(oom_results):
    out = oom_results
    how = ("what a job left in the judge's read-ahead buffers (the channel and its Remotes form reference "
           "cycles) stays after the job, counted against the next jobs' RLIMIT_AS")
    record("memory3", "judge_keeps_job_memory", out["kept"] > 128, f"judge VmSize +{out['kept']:.0f} MiB "
           f"two jobs later; honest: {brief(out['honest'])}", how)
    assert passed(out["honest"]) == [0], brief(out["honest"])
    assert out["kept"] <= 128, f"{how}: +{out['kept']:.0f} MiB"
