"""Honest-shape corpus: correct and plausibly wrong programs with the asserts that grade them.

Data only. Each case has a correct `program`, one or more `wrong` programs (realistic bugs, never
cheats), and `tests`: single `assert` statements (some span several lines). Nothing here says what
the outcomes are: `tests/test_sandbox_honest.py` computes them by running plain Python, and checks
that the correct program passes every test (except the indices in `false_tests`, asserts that are
False in Python for every variant, e.g. a generator compared to a list) and that each wrong program
fails at least one.

A wrong program is written either in full or as `edit(old, new, ...)`: the correct program with
each `old` (which must occur exactly once) replaced by `new`.
"""
import textwrap
from dataclasses import dataclass
from typing import Optional, Tuple

VALUES = "stdlib_values"
ITERATORS = "iterators_views"
OBJECTS = "program_objects"
SHADOWING = "shadowed_builtins"
NUMBERS = "numbers_text_containers"
LIBRARIES = "libraries"
SHAPES = "assert_shapes"
CATEGORIES = (VALUES, ITERATORS, OBJECTS, SHADOWING, NUMBERS, LIBRARIES, SHAPES)


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    program: str
    wrong: Tuple[str, ...]
    tests: Tuple[str, ...]
    timeout_s: Optional[float] = None
    needs: Tuple[str, ...] = ()          # importable modules; "zoneinfo:Europe/Paris" = that zone loads;
                                         # "threads": the sandbox level allows threads
    false_tests: Tuple[int, ...] = ()    # tests False in plain Python whatever the program
    memory_mb: Optional[int] = None
    # Tests the executor refuses by design, for every variant: `error` naming the construct
    # (e.g. `x in obj` where the program's class defines __contains__: the test value would be
    # handed to the program's own code, which would decide). See docs/sandbox.md.
    unscorable: Tuple[int, ...] = ()


class edit:
    """A wrong program derived from the correct one by exact text replacements."""

    def __init__(self, *pairs):
        assert pairs and len(pairs) % 2 == 0, pairs
        self.pairs = list(zip(pairs[0::2], pairs[1::2]))

    def apply(self, name, program):
        for old, new in self.pairs:
            assert program.count(old) == 1, f"{name}: {old!r} occurs {program.count(old)} times"
            program = program.replace(old, new)
        return program


CASES = []


def _clean(source):
    return textwrap.dedent(source).strip("\n") + "\n"


def case(name, category, program, wrong, tests, *, timeout_s=None, needs=(), false_tests=(), memory_mb=None,
         unscorable=()):
    assert category in CATEGORIES, category
    assert all(c.name != name for c in CASES), f"duplicate case {name}"
    program = _clean(program)
    resolved = []
    for w in wrong:
        src = w.apply(name, program) if isinstance(w, edit) else _clean(w)
        assert src != program, f"{name}: a wrong program equals the correct one"
        resolved.append(src)
    assert resolved, f"{name}: no wrong program"
    tests = tuple(textwrap.dedent(t).strip() for t in tests)
    assert tests and all(t.startswith("assert") for t in tests), name
    assert all(0 <= i < len(tests) for i in false_tests + tuple(unscorable)), name
    CASES.append(Case(name, category, program, tuple(resolved), tests, timeout_s, tuple(needs),
                      tuple(false_tests), memory_mb, tuple(unscorable)))


# --------------------------------------------------------------------------------------------
# Results of stdlib value types
# --------------------------------------------------------------------------------------------

case("counter_char_counts", VALUES, """
    from collections import Counter
    def char_counts(s):
        return Counter(s)
    """,
    ["""
    from collections import Counter
    def char_counts(s):
        return {c: s.count(c) for c in s}
    """, edit("Counter(s)\n", "Counter(s[1:])\n")],
    ["assert char_counts('abca') == Counter({'a': 2, 'b': 1, 'c': 1})",
     "assert char_counts('abca') == {'a': 2, 'b': 1, 'c': 1}",
     "assert char_counts('abca').most_common(1) == [('a', 2)]",
     "assert char_counts('abca')['z'] == 0",
     "assert isinstance(char_counts('x'), Counter)",
     "assert char_counts('hello')['l'] == 2"])

case("counter_arithmetic", VALUES, """
    from collections import Counter
    def merge(a, b):
        return Counter(a) + Counter(b)
    """,
    [edit("Counter(a) + Counter(b)", "Counter(a) | Counter(b)")],
    ["assert merge('ab', 'bc') == Counter('abbc')",
     "assert sorted(merge('ab', 'bc').elements()) == ['a', 'b', 'b', 'c']",
     "assert merge('ab', 'bc') - Counter('b') == Counter('abc')",
     "assert sum(merge('aa', 'a').values()) == 3",
     "assert merge('', '') == Counter()"])

case("defaultdict_group_by_len", VALUES, """
    from collections import defaultdict
    def group_by_len(words):
        groups = defaultdict(list)
        for w in words:
            groups[len(w)].append(w)
        return groups
    """,
    ["""
    from collections import defaultdict
    def group_by_len(words):
        groups = {}
        for w in words:
            groups.setdefault(len(w), []).append(w)
        return groups
    """, edit("groups[len(w)].append(w)", "groups[len(w)].insert(0, w)")],
    ["assert group_by_len(['abc', 'a', 'def']) == {3: ['abc', 'def'], 1: ['a']}",
     "assert group_by_len(['a'])[5] == []",
     "assert isinstance(group_by_len([]), defaultdict)",
     "assert group_by_len([]).default_factory is list",
     "assert sorted(group_by_len(['xy', 'z', 'uv']).items()) == [(1, ['z']), (2, ['xy', 'uv'])]"])

case("ordereddict_order_sensitive", VALUES, """
    from collections import OrderedDict
    def by_last_use(events):
        d = OrderedDict()
        for key, value in events:
            d[key] = value
            d.move_to_end(key)
        return d
    """,
    [edit("        d.move_to_end(key)\n", "")],
    ["assert by_last_use([('a', 1), ('b', 2), ('a', 3)]) == OrderedDict([('b', 2), ('a', 3)])",
     "assert by_last_use([('a', 1), ('b', 2), ('a', 3)]) != OrderedDict([('a', 3), ('b', 2)])",
     "assert by_last_use([('a', 1), ('b', 2), ('a', 3)]) == {'a': 3, 'b': 2}",
     "assert list(by_last_use([('a', 1), ('b', 2), ('a', 3)])) == ['b', 'a']",
     "assert by_last_use([('x', 1), ('y', 2), ('x', 0)]).popitem(last=False) == ('y', 2)"])

case("ordereddict_lru_cache", VALUES, """
    from collections import OrderedDict
    class LRU:
        def __init__(self, capacity):
            self.capacity = capacity
            self.data = OrderedDict()
        def get(self, key):
            if key not in self.data:
                return -1
            self.data.move_to_end(key)
            return self.data[key]
        def put(self, key, value):
            self.data[key] = value
            self.data.move_to_end(key)
            if len(self.data) > self.capacity:
                self.data.popitem(last=False)
    """,
    [edit("        self.data.move_to_end(key)\n        return", "        return"),
     edit("popitem(last=False)", "popitem()")],
    ["assert (c := LRU(2)).put(1, 1) is None and c.put(2, 2) is None and c.get(1) == 1 "
     "and c.put(3, 3) is None and c.get(2) == -1",
     "assert (c := LRU(2)).put(1, 1) is None and c.put(2, 2) is None and c.get(1) == 1 "
     "and c.put(3, 3) is None and list(c.data) == [1, 3]",
     "assert LRU(1).get(7) == -1",
     "assert (c := LRU(1)).put('k', 'v') is None and c.data == OrderedDict(k='v')"])

case("deque_rotate", VALUES, """
    from collections import deque
    def rotate(xs, k):
        d = deque(xs)
        d.rotate(k)
        return d
    """,
    [edit("d.rotate(k)", "d.rotate(-k)")],
    ["assert rotate([1, 2, 3], 1) == deque([3, 1, 2])",
     "assert list(rotate([1, 2, 3], 1)) == [3, 1, 2]",
     "assert rotate([1, 2, 3], 1) != [3, 1, 2]",
     "assert rotate([1, 2, 3], 1)[0] == 3",
     "assert rotate('abcd', 2) == deque('cdab')"],
    )

case("deque_maxlen", VALUES, """
    from collections import deque
    def last_n(xs, n):
        return deque(xs, maxlen=n)
    """,
    [edit("deque(xs, maxlen=n)", "deque(list(xs)[-n:])")],
    ["assert last_n(range(10), 3) == deque([7, 8, 9])",
     "assert last_n(range(10), 3).maxlen == 3",
     "assert deque([7, 8, 9], maxlen=3) == last_n(range(10), 3)",
     "assert len(last_n('abcdef', 2)) == 2",
     "assert (d := last_n([1, 2], 2)).append(3) is None and list(d) == [2, 3]"])

case("namedtuple_midpoint", VALUES, """
    from collections import namedtuple
    Point = namedtuple('Point', 'x y')
    def midpoint(a, b):
        return Point((a.x + b.x) // 2, (a.y + b.y) // 2)
    """,
    [edit("return Point((a.x + b.x) // 2, (a.y + b.y) // 2)", "return ((a.x + b.x) // 2, (a.y + b.y) // 2)"),
     edit("return Point((a.x + b.x) // 2, (a.y + b.y) // 2)", "return Point((a.y + b.y) // 2, (a.x + b.x) // 2)")],
    ["assert midpoint(Point(0, 0), Point(2, 4)) == (1, 2)",
     "assert midpoint(Point(0, 0), Point(2, 4)).x == 1",
     "assert midpoint(Point(0, 0), Point(2, 4))._asdict() == {'x': 1, 'y': 2}",
     "assert midpoint(Point(0, 0), Point(2, 4)) == Point(1, 2)",
     "assert isinstance(midpoint(Point(1, 1), Point(1, 1)), tuple)",
     "assert type(midpoint(Point(1, 1), Point(1, 1))).__name__ == 'Point'"])

case("typing_namedtuple_oldest", VALUES, """
    from typing import NamedTuple
    class Emp(NamedTuple):
        name: str
        age: int = 0
    def oldest(emps):
        return max(emps, key=lambda e: e.age)
    """,
    [edit("max(emps", "min(emps")],
    ["assert oldest([Emp('a', 30), Emp('b', 40)]) == ('b', 40)",
     "assert oldest([Emp('a', 30), Emp('b', 40)]).name == 'b'",
     "assert Emp('a') == ('a', 0)",
     "assert oldest([Emp('a', 3), Emp('b', 4)])._replace(age=1) == Emp('b', 1)",
     "assert oldest([Emp('z')])._fields == ('name', 'age')",
     "assert oldest([Emp('a', 1), Emp('c', 9)])._asdict() == {'name': 'c', 'age': 9}"])

case("fraction_harmonic", VALUES, """
    from fractions import Fraction
    def harmonic(n):
        return sum(Fraction(1, k) for k in range(1, n + 1))
    """,
    [edit("range(1, n + 1)", "range(1, n)")],
    ["assert harmonic(3) == Fraction(11, 6)",
     "assert harmonic(3) != 11 / 6",
     "assert harmonic(2) == 1.5",
     "assert harmonic(4).denominator == 12",
     "assert str(harmonic(3)) == '11/6'",
     "assert abs(float(harmonic(3)) - 11 / 6) < 1e-12"])

case("decimal_total", VALUES, """
    from decimal import Decimal
    def total(prices):
        return sum((Decimal(p) for p in prices), Decimal('0'))
    """,
    [edit("Decimal(p) for p", "Decimal(float(p)) for p")],
    ["assert total(['0.1', '0.2']) == Decimal('0.3')",
     "assert str(total(['1.10', '2.20'])) == '3.30'",
     "assert total(['0.1', '0.2']) != 0.3",
     "assert total([]) == 0",
     "assert isinstance(total(['1']), Decimal)"])

case("decimal_round_half_up", VALUES, """
    from decimal import Decimal, ROUND_HALF_UP
    def round_half_up(x, places):
        return Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    """,
    [edit("rounding=ROUND_HALF_UP", "rounding='ROUND_HALF_EVEN'"),
     """
    from decimal import Decimal
    def round_half_up(x, places):
        return round(float(x), places)
    """],
    ["assert round_half_up('2.675', 2) == Decimal('2.68')",
     "assert round_half_up('2.5', 0) == Decimal('3')",
     "assert str(round_half_up('1.005', 2)) == '1.01'",
     "assert round_half_up('-2.5', 0) == -3",
     "assert round_half_up('7', 1) == Decimal('7.0')"])

case("bytearray_xor", VALUES, """
    def xor_bytes(a, b):
        return bytearray(x ^ y for x, y in zip(a, b))
    """,
    [edit("bytearray(x ^ y", "bytes(x ^ y"), edit("x ^ y", "x | y")],
    [r"assert xor_bytes(b'\x01\x02', b'\x03\x03') == bytearray(b'\x02\x01')",
     r"assert xor_bytes(b'\x01\x02', b'\x03\x03') == b'\x02\x01'",
     "assert isinstance(xor_bytes(b'a', b'b'), bytearray)",
     r"assert bytes(xor_bytes(b'\x01\x02', b'\x03\x03')).hex() == '0201'",
     "assert len(xor_bytes(b'abc', b'ab')) == 2"])

case("enum_parse_color", VALUES, """
    from enum import Enum
    class Color(Enum):
        RED = 1
        GREEN = 2
    def parse(s):
        return Color[s.upper()]
    """,
    [edit("Color[s.upper()]", "Color[s]")],
    ["assert parse('red') is Color.RED",
     "assert parse('red') == Color.RED",
     "assert parse('green').value == 2",
     "assert parse('green').name == 'GREEN'",
     "assert parse('red') != 1",
     "assert parse('Green') in Color"])

case("intenum_bump", VALUES, """
    from enum import IntEnum
    class Priority(IntEnum):
        LOW = 1
        MID = 2
        HIGH = 3
    def bump(p):
        return Priority(min(p + 1, 3))
    """,
    [edit("return Priority(min(p + 1, 3))", "return min(p + 1, 3)")],
    ["assert bump(Priority.LOW) == 2",
     "assert bump(Priority.LOW) is Priority.MID",
     "assert bump(Priority.HIGH) == Priority.HIGH",
     "assert sorted([bump(Priority.LOW), Priority.LOW]) == [1, 2]",
     "assert bump(1).name == 'MID'",
     "assert isinstance(bump(2), Priority)"])

case("strenum_opposite", VALUES, """
    from enum import StrEnum
    class Dir(StrEnum):
        N = 'n'
        S = 's'
    def opposite(d):
        return Dir.S if d == Dir.N else Dir.N
    """,
    [edit("return Dir.S if d == Dir.N else Dir.N", "return 's' if d == 'n' else 'n'")],
    ["assert opposite(Dir.N) == 's'",
     "assert opposite(Dir.N) is Dir.S",
     "assert opposite('n') == Dir.S",
     "assert f'{opposite(Dir.N)}' == 's'",
     "assert opposite(Dir.S).upper() == 'N'",
     "assert opposite(Dir.S).name == 'N'"])

case("flag_parse_mode", VALUES, """
    from enum import Flag
    class Perm(Flag):
        R = 4
        W = 2
        X = 1
    def parse_mode(s):
        p = Perm(0)
        for ch, flag in zip(s, (Perm.R, Perm.W, Perm.X)):
            if ch != '-':
                p |= flag
        return p
    """,
    [edit("(Perm.R, Perm.W, Perm.X)", "(Perm.X, Perm.W, Perm.R)")],
    ["assert parse_mode('rw-') == Perm.R | Perm.W",
     "assert Perm.W in parse_mode('rw-')",
     "assert Perm.X not in parse_mode('rw-')",
     "assert parse_mode('---') == Perm(0)",
     "assert not parse_mode('---')",
     "assert parse_mode('rwx').value == 7",
     "assert parse_mode('r--') is Perm.R"])

case("date_add_days", VALUES, """
    from datetime import date, timedelta
    def add_days(d, n):
        return d + timedelta(days=n)
    """,
    [edit("return d + timedelta(days=n)", "return d.replace(day=d.day + n)")],
    ["assert add_days(date(2024, 2, 28), 1) == date(2024, 2, 29)",
     "assert add_days(date(2023, 2, 28), 1) == date(2023, 3, 1)",
     "assert add_days(date(2024, 1, 1), 0).isoformat() == '2024-01-01'",
     "assert (add_days(date(2024, 1, 1), 40) - date(2024, 1, 1)).days == 40",
     "assert add_days(date(2024, 12, 31), 1).year == 2025"])

case("datetime_to_utc", VALUES, """
    from datetime import datetime, timedelta, timezone
    def to_utc(dt):
        return dt.astimezone(timezone.utc)
    """,
    [edit("return dt.astimezone(timezone.utc)", "return dt.replace(tzinfo=timezone.utc)")],
    ["assert to_utc(datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == "
     "datetime(2024, 1, 1, 10, tzinfo=timezone.utc)",
     "assert to_utc(datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))).tzinfo == timezone.utc",
     "assert to_utc(datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))).hour == 10",
     "assert to_utc(datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=2)))).isoformat() == "
     "'2023-12-31T23:00:00+00:00'"])

case("time_parse_hm", VALUES, """
    from datetime import time
    def parse_hm(s):
        return time(*map(int, s.split(':')))
    """,
    [edit("return time(*map(int, s.split(':')))", "return tuple(map(int, s.split(':')))")],
    ["assert parse_hm('09:30') == time(9, 30)",
     "assert parse_hm('23:59') > parse_hm('00:00')",
     "assert parse_hm('09:05').minute == 5",
     "assert str(parse_hm('09:30')) == '09:30:00'",
     "assert parse_hm('7:00').strftime('%H:%M') == '07:00'"])

case("timedelta_duration", VALUES, """
    from datetime import datetime, timedelta
    def duration(a, b):
        return datetime.fromisoformat(b) - datetime.fromisoformat(a)
    """,
    [edit("return datetime.fromisoformat(b) - datetime.fromisoformat(a)",
          "return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()")],
    ["assert duration('2024-01-01T00:00', '2024-01-02T01:00') == timedelta(days=1, hours=1)",
     "assert duration('2024-01-01T00:00', '2024-01-02T01:00').total_seconds() == 90000",
     "assert duration('2024-01-01T00:00', '2024-01-02T01:00') > timedelta(hours=24)",
     "assert str(duration('2024-01-01T00:00', '2024-01-01T00:30')) == '0:30:00'",
     "assert duration('2024-01-02T00:00', '2024-01-01T00:00').days == -1"])

case("range_result", VALUES, """
    def evens(n):
        return range(0, n, 2)
    """,
    [edit("range(0, n, 2)", "range(0, n - 1, 2)"), edit("return range(0, n, 2)", "return list(range(0, n, 2))")],
    ["assert evens(7) == range(0, 8, 2)",
     "assert list(evens(7)) == [0, 2, 4, 6]",
     "assert evens(7) != [0, 2, 4, 6]",
     "assert evens(7)[-1] == 6",
     "assert len(evens(7)) == 4",
     "assert 5 not in evens(7)",
     "assert evens(7)[1:3] == range(2, 6, 2)",
     "assert evens(0) == range(0)"])

case("dict_views_compared", VALUES, """
    def inventory():
        return {'apple': 3, 'pear': 1}
    def keys_of(d):
        return d.keys()
    """,
    [edit("'pear': 1", "'pear': 2"), edit("return d.keys()", "return list(d)")],
    ["assert keys_of(inventory()) == {'apple', 'pear'}",
     "assert inventory().items() == {('apple', 3), ('pear', 1)}",
     "assert inventory().values() != [3, 1]",
     "assert keys_of(inventory()) & {'apple'} == {'apple'}",
     "assert 'pear' in keys_of(inventory())",
     "assert inventory().values() == [3, 1]",
     "assert sorted(inventory().values()) == [1, 3]"],
    false_tests=(5,))

case("chainmap_config", VALUES, """
    from collections import ChainMap
    def config(defaults, overrides):
        return ChainMap(overrides, defaults)
    """,
    [edit("ChainMap(overrides, defaults)", "ChainMap(defaults, overrides)")],
    ["assert config({'a': 1, 'b': 2}, {'b': 3})['b'] == 3",
     "assert dict(config({'a': 1, 'b': 2}, {'b': 3})) == {'a': 1, 'b': 3}",
     "assert config({'a': 1, 'b': 2}, {'b': 3}) == {'a': 1, 'b': 3}",
     "assert len(config({'a': 1, 'b': 2}, {'b': 3})) == 2",
     "assert sorted(config({'a': 1}, {'c': 0})) == ['a', 'c']",
     "assert config({}, {'x': 1}).maps == [{'x': 1}, {}]"])

case("simplenamespace_args", VALUES, """
    from types import SimpleNamespace
    def parse_args(argv):
        ns = SimpleNamespace(verbose=False, n=1)
        for arg in argv:
            if arg == '-v':
                ns.verbose = True
            elif arg.startswith('-n'):
                ns.n = int(arg[2:])
        return ns
    """,
    [edit("ns.n = int(arg[2:])", "ns.n = arg[2:]")],
    ["assert parse_args(['-v']).verbose is True",
     "assert parse_args(['-v', '-n3']) == SimpleNamespace(verbose=True, n=3)",
     "assert vars(parse_args(['-n2'])) == {'verbose': False, 'n': 2}",
     "assert parse_args([]).n == 1",
     "assert parse_args(['-n5']).n * 2 == 10"])

case("array_squares", VALUES, """
    from array import array
    def squares(n):
        return array('i', (i * i for i in range(n)))
    """,
    [edit("range(n)", "range(1, n + 1)")],
    ["assert squares(3) == array('i', [0, 1, 4])",
     "assert squares(3).tolist() == [0, 1, 4]",
     "assert list(squares(3)) == [0, 1, 4]",
     "assert squares(3).typecode == 'i'",
     "assert squares(3) != [0, 1, 4]",
     "assert sum(squares(4)) == 14"])

case("numpy_scale_array", VALUES, """
    import numpy as np
    def scale(xs, k):
        return np.asarray(xs) * k
    """,
    [edit("np.asarray(xs) * k", "xs * k")],
    ["assert (scale([1, 2, 3], 2) == [2, 4, 6]).all()",
     "assert np.array_equal(scale([1, 2], 3), [3, 6])",
     "assert scale([1, 2], 2).tolist() == [2, 4]",
     "assert scale([[1], [2]], 2).shape == (2, 1)",
     "assert scale([1, 2], 2).dtype == np.int64",
     "assert scale([1, 2], 2).sum() == 6",
     "assert scale([1, 2], 2)[1] == 4"],
    needs=("numpy",))

case("numpy_normalize", VALUES, """
    import numpy as np
    def normalize(v):
        v = np.asarray(v, dtype=float)
        return v / np.linalg.norm(v)
    """,
    [edit("np.linalg.norm(v)", "v.sum()")],
    ["assert np.allclose(normalize([3, 4]), [0.6, 0.8])",
     "assert np.isclose(np.linalg.norm(normalize([1, 2, 2])), 1.0)",
     "assert normalize([3, 4]).dtype == np.float64",
     "assert abs(normalize([0, 5])[1] - 1) < 1e-12",
     "assert normalize([3, 4]).shape == (2,)",
     "assert all(abs(a - b) < 1e-9 for a, b in zip(normalize([3, 4]).tolist(), [0.6, 0.8]))"],
    needs=("numpy",))

case("numpy_scalar_mean", VALUES, """
    import numpy as np
    def mean(xs):
        return np.mean(xs)
    """,
    [edit("return np.mean(xs)", "return np.sum(xs) // len(xs)")],
    ["assert mean([1, 2, 3]) == 2",
     "assert isinstance(mean([1, 2]), float)",
     "assert type(mean([1, 2])) is np.float64",
     "assert np.int64(3) + mean([1, 3]) == 5",
     "assert round(float(mean([1, 2])), 1) == 1.5",
     "assert mean([1, 2]).item() == 1.5"],
    needs=("numpy",))

case("numpy_rank", VALUES, """
    import numpy as np
    def rank(xs):
        return np.argsort(np.argsort(xs))
    """,
    [edit("np.argsort(np.argsort(xs))", "np.argsort(xs)")],
    ["assert rank([30, 10, 20]).tolist() == [2, 0, 1]",
     "assert list(rank([3, 1])) == [1, 0]",
     "assert rank([5]).shape == (1,)",
     "assert rank([1, 2, 3]).dtype.kind == 'i'",
     "assert np.array_equal(rank([30, 10, 20]), np.array([2, 0, 1]))",
     "assert rank([30, 10, 20])[0] == 2"],
    needs=("numpy",))

case("numpy_bool_scalar", VALUES, """
    import numpy as np
    def is_sorted(a):
        return np.all(np.diff(a) >= 0)
    """,
    [edit(">= 0", "> 0")],
    ["assert is_sorted([1, 2, 3])",
     "assert not is_sorted([2, 1])",
     "assert is_sorted([1, 1]) == True",
     "assert is_sorted([3, 1]) is np.False_",
     "assert bool(is_sorted([]))",
     "assert isinstance(is_sorted([1]), np.bool_)"],
    needs=("numpy",))

# --------------------------------------------------------------------------------------------
# Iterators and views
# --------------------------------------------------------------------------------------------

case("generator_squares", ITERATORS, """
    def squares(n):
        for i in range(n):
            yield i * i
    """,
    [edit("range(n)", "range(1, n)")],
    ["assert list(squares(4)) == [0, 1, 4, 9]",
     "assert sum(squares(4)) == 14",
     "assert next(squares(4)) == 0",
     "assert next(squares(0), 'done') == 'done'",
     "assert max(squares(5)) == 16",
     "assert squares(3) != [0, 1, 4]",
     "assert squares(3) == [0, 1, 4]",
     "assert len(list(squares(6))) == 6"],
    false_tests=(6,))

case("generator_fibonacci", ITERATORS, """
    import itertools
    def fib():
        a, b = 0, 1
        while True:
            yield a
            a, b = b, a + b
    """,
    [edit("a, b = 0, 1", "a, b = 1, 1")],
    ["assert (g := fib()) is not None and [next(g) for _ in range(5)] == [0, 1, 1, 2, 3]",
     "assert list(itertools.islice(fib(), 3, 6)) == [2, 3, 5]",
     "assert next(x for x in fib() if x > 50) == 55",
     "assert sum(itertools.takewhile(lambda x: x < 10, fib())) == 20"])

case("map_filter_chain", ITERATORS, """
    def evens_doubled(xs):
        return map(lambda x: x * 2, filter(lambda x: x % 2 == 0, xs))
    """,
    [edit("x % 2 == 0", "x % 2")],
    ["assert list(evens_doubled([1, 2, 3, 4])) == [4, 8]",
     "assert tuple(evens_doubled([1, 2, 3, 4])) == (4, 8)",
     "assert sorted(evens_doubled([4, 2])) == [4, 8]",
     "assert set(evens_doubled([2, 2, 4])) == {4, 8}",
     "assert any(v > 7 for v in evens_doubled([4]))",
     "assert len(list(evens_doubled(range(10)))) == 5",
     "assert evens_doubled([2]) == [4]"],
    false_tests=(6,))

case("zip_pairs", ITERATORS, """
    def pairs(xs):
        return zip(xs, xs[1:])
    """,
    [edit("xs[1:]", "xs[2:]")],
    ["assert list(pairs([1, 2, 3])) == [(1, 2), (2, 3)]",
     "assert dict(pairs('abc')) == {'a': 'b', 'b': 'c'}",
     "assert next(pairs([5, 6])) == (5, 6)",
     "assert list(pairs([1])) == []",
     "assert pairs([1, 2]) != [(1, 2)]",
     "assert [a + b for a, b in pairs([1, 2, 4])] == [3, 6]"])

case("enumerate_numbered", ITERATORS, """
    def numbered(lines):
        return enumerate(lines, 1)
    """,
    [edit("enumerate(lines, 1)", "enumerate(lines)")],
    ["assert list(numbered(['a', 'b'])) == [(1, 'a'), (2, 'b')]",
     "assert dict(numbered('xy')) == {1: 'x', 2: 'y'}",
     "assert next(numbered(['q']))[0] == 1",
     "assert [i for i, _ in numbered('abc')] == [1, 2, 3]",
     "assert max(numbered('ab')) == (2, 'b')"])

case("reversed_iterator", ITERATORS, """
    def backwards(s):
        return reversed(s)
    """,
    [edit("reversed(s)", "iter(s)")],
    ["assert ''.join(backwards('abc')) == 'cba'",
     "assert list(backwards([1, 2, 3])) == [3, 2, 1]",
     "assert next(backwards((7, 8))) == 8",
     "assert backwards([1]) != [1]",
     "assert list(backwards(range(3))) == [2, 1, 0]"])

case("groupby_runs", ITERATORS, """
    from itertools import groupby
    def runs(s):
        return ((k, len(list(g))) for k, g in groupby(s))
    """,
    ["""
    def runs(s):
        return ((k, s.count(k)) for k in dict.fromkeys(s))
    """],
    ["assert list(runs('aabccc')) == [('a', 2), ('b', 1), ('c', 3)]",
     "assert dict(runs('aab')) == {'a': 2, 'b': 1}",
     "assert max(runs('abbb'), key=lambda p: p[1]) == ('b', 3)",
     "assert sum(n for _, n in runs('aabb')) == 4",
     "assert list(runs('aabaa')) == [('a', 2), ('b', 1), ('a', 2)]"])

case("combinations_pair_sums", ITERATORS, """
    from itertools import combinations
    def pair_sums(xs):
        return map(sum, combinations(xs, 2))
    """,
    [edit("from itertools import combinations", "from itertools import permutations as combinations")],
    ["assert sorted(pair_sums([1, 2, 3])) == [3, 4, 5]",
     "assert list(pair_sums([1, 2])) == [3]",
     "assert len(list(pair_sums(range(5)))) == 10",
     "assert min(pair_sums([5, 1, 3])) == 4"])

case("accumulate_running_max", ITERATORS, """
    from itertools import accumulate
    def running_max(xs):
        return accumulate(xs, max)
    """,
    [edit("accumulate(xs, max)", "accumulate(xs)")],
    ["assert list(running_max([1, 3, 2, 5])) == [1, 3, 3, 5]",
     "assert list(running_max([])) == []",
     "assert next(running_max([4, 1])) == 4",
     "assert tuple(running_max('abca')) == ('a', 'b', 'c', 'c')"])

case("product_grid", ITERATORS, """
    from itertools import product
    def grid(n):
        return product(range(n), repeat=2)
    """,
    ["""
    from itertools import combinations_with_replacement
    def grid(n):
        return combinations_with_replacement(range(n), 2)
    """],
    ["assert list(grid(2)) == [(0, 0), (0, 1), (1, 0), (1, 1)]",
     "assert sum(1 for _ in grid(3)) == 9",
     "assert (1, 2) in grid(3)",
     "assert (2, 1) in grid(3)",
     "assert all(a < 3 and b < 3 for a, b in grid(3))"])

case("dict_items_word_freq", ITERATORS, """
    def word_freq(text):
        d = {}
        for w in text.lower().split():
            d[w] = d.get(w, 0) + 1
        return d.items()
    """,
    [edit("text.lower().split()", "text.split()")],
    ["assert sorted(word_freq('b a b')) == [('a', 1), ('b', 2)]",
     "assert dict(word_freq('x X')) == {'x': 2}",
     "assert ('b', 2) in word_freq('b a B')",
     "assert len(word_freq('a b c a')) == 3",
     "assert word_freq('a') == {('a', 1)}"])

case("dict_values_totals", ITERATORS, """
    def totals(orders):
        d = {}
        for k, v in orders:
            d[k] = d.get(k, 0) + v
        return d.values()
    """,
    [edit("d[k] = d.get(k, 0) + v", "d[k] = v")],
    ["assert sum(totals([('a', 1), ('a', 2), ('b', 5)])) == 8",
     "assert sorted(totals([('a', 1), ('a', 2), ('b', 5)])) == [3, 5]",
     "assert max(totals([('a', 1), ('a', 2), ('b', 5)])) == 5",
     "assert list(totals([])) == []",
     "assert totals([('a', 1)]) != [1]",
     "assert 3 in totals([('a', 1), ('a', 2)])"])

case("next_with_default", ITERATORS, """
    def first_negative(xs):
        return next((x for x in xs if x < 0), None)
    """,
    [edit("x < 0", "x <= 0")],
    ["assert first_negative([1, -2, -3]) == -2",
     "assert first_negative([1, 2]) is None",
     "assert first_negative([]) is None",
     "assert first_negative([0, -0.5]) == -0.5"])

case("iter_sentinel_chunks", ITERATORS, """
    import io
    from functools import partial
    def read_chunks(data, n):
        return iter(partial(io.BytesIO(data).read, n), b'')
    """,
    ["""
    def read_chunks(data, n):
        return (data[i:i + n] for i in range(0, len(data) - 1, n))
    """],
    ["assert list(read_chunks(b'abcde', 2)) == [b'ab', b'cd', b'e']",
     "assert b''.join(read_chunks(b'xyz', 5)) == b'xyz'",
     "assert len(list(read_chunks(b'', 3))) == 0",
     "assert next(read_chunks(b'abc', 1)) == b'a'"])

case("generator_any_all", ITERATORS, """
    def positives(xs):
        return (x for x in xs if x > 0)
    """,
    [edit("x > 0", "x >= 0")],
    ["assert all(x > 0 for x in positives([-1, 2, 3]))",
     "assert any(positives([-1, 2]))",
     "assert not any(positives([-1, -2]))",
     "assert min(positives([5, -1, 3])) == 3",
     "assert list(positives([0, 1])) == [1]"])

case("pairwise_diffs", ITERATORS, """
    from itertools import pairwise
    def diffs(xs):
        return (b - a for a, b in pairwise(xs))
    """,
    [edit("b - a", "a - b")],
    ["assert list(diffs([1, 4, 9])) == [3, 5]",
     "assert sum(diffs([1, 10])) == 9",
     "assert list(diffs([1])) == []",
     "assert all(d > 0 for d in diffs([1, 2, 5]))"])

case("zip_unzip", ITERATORS, """
    def unzip(pairs):
        return zip(*pairs)
    """,
    [edit("zip(*pairs)", "zip(pairs)")],
    ["assert list(unzip([(1, 'a'), (2, 'b')])) == [(1, 2), ('a', 'b')]",
     "assert [list(t) for t in unzip([(1, 2), (3, 4)])] == [[1, 3], [2, 4]]",
     "assert next(unzip([(1, 2)])) == (1,)",
     "assert list(unzip([])) == []"])

case("keys_view_set_ops", ITERATORS, """
    def common_keys(a, b):
        return a.keys() & b.keys()
    """,
    [edit("a.keys() & b.keys()", "a.keys() | b.keys()")],
    ["assert common_keys({'a': 1, 'b': 2}, {'b': 3}) == {'b'}",
     "assert isinstance(common_keys({}, {}), set)",
     "assert common_keys({'a': 1}, {'c': 1}) == set()",
     "assert sorted(common_keys(dict.fromkeys('abc'), dict.fromkeys('bcd'))) == ['b', 'c']"])

case("iterator_exhaustion", ITERATORS, """
    def once(xs):
        return iter(xs)
    """,
    [edit("return iter(xs)", "return list(xs)")],
    ["assert (it := once([1, 2, 3])) is not None and list(it) == [1, 2, 3] and list(it) == []",
     "assert next(once([]), 'empty') == 'empty'",
     "assert sum(once(range(4))) == 6",
     "assert iter(once('ab')) is not None"])

case("range_countdown", ITERATORS, """
    def countdown(n):
        return range(n, 0, -1)
    """,
    [edit("range(n, 0, -1)", "range(n, -1, -1)")],
    ["assert list(countdown(3)) == [3, 2, 1]",
     "assert countdown(3) == range(3, 0, -1)",
     "assert sum(countdown(4)) == 10",
     "assert list(reversed(countdown(3))) == [1, 2, 3]",
     "assert countdown(0) == range(0)",
     "assert 0 not in countdown(5)"])

case("map_compared_directly", ITERATORS, """
    def doubled(xs):
        return map(lambda x: 2 * x, xs)
    """,
    [edit("2 * x", "x + 2")],
    ["assert doubled([1]) == [2]",
     "assert doubled([1]) != [2]",
     "assert list(doubled([1, 3])) == [2, 6]",
     "assert not isinstance(doubled([]), list)",
     "assert doubled([1, 2]) == map(lambda x: 2 * x, [1, 2])"],
    false_tests=(0, 4))

# --------------------------------------------------------------------------------------------
# The program's own functions and classes as values inside the test
# --------------------------------------------------------------------------------------------

case("sort_key_function", OBJECTS, """
    def score(w):
        return (len(w), w)
    """,
    [edit("return (len(w), w)", "return len(w)")],
    ["assert sorted(['bb', 'a', 'ab'], key=score) == ['a', 'ab', 'bb']",
     "assert max(['x', 'yyy', 'zz'], key=score) == 'yyy'",
     "assert min(['b', 'a'], key=score) == 'a'",
     "assert list(map(score, ['ab'])) == [(2, 'ab')]",
     "assert sorted({'bb': 1, 'a': 2, 'ab': 3}, key=score, reverse=True) == ['bb', 'ab', 'a']"])

case("dataclass_flip", OBJECTS, """
    from dataclasses import dataclass
    @dataclass
    class P:
        x: int
        y: int
    def flip(p):
        return P(p.y, p.x)
    """,
    [edit("return P(p.y, p.x)", "return (p.y, p.x)"), edit("return P(p.y, p.x)", "return P(p.x, p.y)")],
    ["assert flip(P(1, 2)) == P(2, 1)",
     "assert flip(P(1, 2)) != (2, 1)",
     "assert flip(P(1, 2)).x == 2",
     "assert isinstance(flip(P(0, 0)), P)",
     "assert repr(flip(P(1, 2))) == 'P(x=2, y=1)'",
     "assert type(flip(P(1, 1))) is P",
     "assert [flip(p) for p in [P(1, 2), P(3, 4)]] == [P(2, 1), P(4, 3)]"])

case("dataclass_frozen_set_of_cells", OBJECTS, """
    from dataclasses import dataclass
    @dataclass(frozen=True)
    class Cell:
        r: int
        c: int
    def neighbors(cell):
        steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
        return {Cell(cell.r + dr, cell.c + dc) for dr, dc in steps}
    """,
    [edit("steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]",
          "steps = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]")],
    ["assert neighbors(Cell(0, 0)) == {Cell(0, 1), Cell(1, 0), Cell(-1, 0), Cell(0, -1)}",
     "assert Cell(1, 0) in neighbors(Cell(0, 0))",
     "assert len(neighbors(Cell(5, 5))) == 4",
     "assert hash(Cell(1, 2)) == hash(Cell(1, 2))",
     "assert Cell(1, 1) not in neighbors(Cell(0, 0))"])

case("dataclass_order_versions", OBJECTS, """
    from dataclasses import dataclass
    @dataclass(order=True)
    class Version:
        major: int
        minor: int
        patch: int
    def parse(s):
        return Version(*map(int, s.split('.')))
    """,
    [edit("Version(*map(int, s.split('.')))", "Version(*s.split('.'))")],
    ["assert parse('1.2.3') < parse('1.10.0')",
     "assert max(map(parse, ['1.2.3', '1.10.0', '1.9.9'])) == Version(1, 10, 0)",
     "assert sorted([parse('2.0.0'), parse('1.0.0')])[0] == parse('1.0.0')",
     "assert parse('0.1.0') <= parse('0.1.0')",
     "assert parse('3.4.5').minor == 4"])

case("dataclass_default_factory_chaining", OBJECTS, """
    from dataclasses import dataclass, field
    @dataclass
    class Bag:
        items: list = field(default_factory=list)
        def add(self, x):
            self.items.append(x)
            return self
    """,
    [edit("        return self\n", "")],
    ["assert Bag().add(1).add(2) == Bag([1, 2])",
     "assert Bag().items is not Bag().items",
     "assert len(Bag().add(3).items) == 1",
     "assert (b := Bag()).add(1) is b",
     "assert Bag().add('x').items == ['x']"])

case("custom_eq_hash_money", OBJECTS, """
    class Money:
        def __init__(self, amount, currency):
            self.amount = amount
            self.currency = currency
        def __eq__(self, other):
            return isinstance(other, Money) and (self.amount, self.currency) == (other.amount, other.currency)
        def __hash__(self):
            return hash((self.amount, self.currency))
        def __repr__(self):
            return f'Money({self.amount!r}, {self.currency!r})'
    def convert(m, rate):
        return Money(m.amount * rate, 'EUR')
    """,
    [edit("Money(m.amount * rate, 'EUR')", "Money(m.amount * rate, m.currency)")],
    ["assert convert(Money(10, 'USD'), 2) == Money(20, 'EUR')",
     "assert len({Money(1, 'X'), Money(1, 'X')}) == 1",
     "assert convert(Money(1, 'USD'), 3) in {Money(3, 'EUR')}",
     "assert convert(Money(1, 'USD'), 2) != Money(2, 'USD')",
     "assert repr(convert(Money(1, 'USD'), 2)) == \"Money(2, 'EUR')\"",
     "assert [convert(Money(1, 'USD'), 1)] == [Money(1, 'EUR')]"])

case("linked_list_build", OBJECTS, """
    class Node:
        def __init__(self, val, next=None):
            self.val = val
            self.next = next
    def build(xs):
        head = None
        for x in reversed(xs):
            head = Node(x, head)
        return head
    def to_list(head):
        out = []
        while head:
            out.append(head.val)
            head = head.next
        return out
    """,
    [edit("for x in reversed(xs):", "for x in xs:")],
    ["assert isinstance(build([1]), Node)",
     "assert to_list(build([1, 2, 3])) == [1, 2, 3]",
     "assert build([]) is None",
     "assert build([4, 5]).next.val == 5",
     "assert build([4]).next is None",
     "assert type(build([1])) is Node"])

case("solution_reverse_list", OBJECTS, """
    from typing import Optional
    class ListNode:
        def __init__(self, val=0, next=None):
            self.val = val
            self.next = next
    def from_list(xs):
        head = None
        for x in reversed(xs):
            head = ListNode(x, head)
        return head
    def to_list(node):
        out = []
        while node:
            out.append(node.val)
            node = node.next
        return out
    class Solution:
        def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:
            prev = None
            while head:
                head.next, prev, head = prev, head, head.next
            return prev
    """,
    [edit("        return prev", "        return head")],
    ["assert to_list(Solution().reverseList(from_list([1, 2, 3]))) == [3, 2, 1]",
     "assert Solution().reverseList(None) is None",
     "assert Solution().reverseList(from_list([7])).val == 7",
     "assert Solution().reverseList(from_list([1, 2])).next.next is None"])

case("bst_insert_inorder", OBJECTS, """
    class TreeNode:
        def __init__(self, val):
            self.val = val
            self.left = None
            self.right = None
    def insert(root, v):
        if root is None:
            return TreeNode(v)
        if v < root.val:
            root.left = insert(root.left, v)
        else:
            root.right = insert(root.right, v)
        return root
    def build_bst(xs):
        root = None
        for x in xs:
            root = insert(root, x)
        return root
    def inorder(root):
        return inorder(root.left) + [root.val] + inorder(root.right) if root else []
    def height(root):
        return 1 + max(height(root.left), height(root.right)) if root else 0
    """,
    [edit("if v < root.val:", "if v > root.val:")],
    ["assert inorder(build_bst([3, 1, 2])) == [1, 2, 3]",
     "assert height(build_bst([1, 2, 3])) == 3",
     "assert build_bst([2]).left is None",
     "assert build_bst([2, 1]).left.val == 1",
     "assert isinstance(build_bst([5]), TreeNode)",
     "assert height(None) == 0"])

case("stack_walrus", OBJECTS, """
    class Stack:
        def __init__(self):
            self._items = []
        def push(self, x):
            self._items.append(x)
        def pop(self):
            return self._items.pop()
        def peek(self):
            return self._items[-1]
        def is_empty(self):
            return not self._items
        def __len__(self):
            return len(self._items)
    """,
    [edit("return self._items.pop()", "return self._items.pop(0)"),
     edit("return self._items[-1]", "return self._items[0]")],
    ["assert (s := Stack()).push(1) is None and s.pop() == 1",
     "assert (s := Stack()).push(1) is None and s.push(2) is None and s.peek() == 2 and len(s) == 2",
     "assert Stack().is_empty()",
     "assert not (s := Stack()).push(0) and not s.is_empty()",
     "assert (s := Stack()).push('a') is None and s.push('b') is None and s.pop() == 'b' and s.pop() == 'a'"])

case("stateful_counter", OBJECTS, """
    class Counter_:
        def __init__(self, start=0):
            self.n = start
        def inc(self):
            self.n += 1
            return self.n
    """,
    ["""
    class Counter_:
        def __init__(self, start=0):
            self.n = start
        def inc(self):
            old = self.n
            self.n += 1
            return old
    """],
    ["assert (c := Counter_()).inc() == 1 and c.inc() == 2",
     "assert Counter_(5).inc() == 6",
     "assert (c := Counter_()) and [c.inc() for _ in range(3)] == [1, 2, 3]",
     "assert (c := Counter_(10)).inc() + c.inc() == 23"])

case("closures_compose", OBJECTS, """
    def make_adder(n):
        return lambda x: x + n
    def compose(f, g):
        return lambda x: f(g(x))
    """,
    [edit("lambda x: f(g(x))", "lambda x: g(f(x))")],
    ["assert make_adder(2)(3) == 5",
     "assert compose(make_adder(1), make_adder(10))(0) == 11",
     "assert compose(str, make_adder(1))(1) == '2'",
     "assert compose(len, str)(12345) == 5",
     "assert list(map(make_adder(1), [1, 2])) == [2, 3]",
     "assert callable(make_adder(0))"])

case("closures_late_binding", OBJECTS, """
    def make_multipliers():
        return [lambda x, i=i: x * i for i in range(4)]
    """,
    [edit("lambda x, i=i: x * i", "lambda x: x * i")],
    ["assert [m(2) for m in make_multipliers()] == [0, 2, 4, 6]",
     "assert make_multipliers()[3](3) == 9",
     "assert len(make_multipliers()) == 4",
     "assert make_multipliers()[1]('ab') == 'ab'"])

case("exception_instance_returned", OBJECTS, """
    def safe_div(a, b):
        try:
            return a / b
        except ZeroDivisionError as e:
            return e
    """,
    [edit("        return e\n", "        return None\n")],
    ["assert isinstance(safe_div(1, 0), ZeroDivisionError)",
     "assert safe_div(6, 3) == 2",
     "assert isinstance(safe_div(1, 0), ArithmeticError)",
     "assert str(safe_div(1, 0)) == 'division by zero'",
     "assert type(safe_div(1, 0)).__name__ == 'ZeroDivisionError'"])

case("validation_error_value", OBJECTS, """
    def parse_age(s):
        try:
            n = int(s)
        except ValueError as e:
            return e
        if n < 0:
            return ValueError('negative')
        return n
    """,
    [edit("    if n < 0:\n        return ValueError('negative')\n", "")],
    ["assert isinstance(parse_age('x'), ValueError)",
     "assert parse_age('42') == 42",
     "assert isinstance(parse_age('-1'), ValueError)",
     "assert parse_age('0') == 0",
     "assert parse_age('-1').args == ('negative',)"])

case("str_repr_fstring_vector", OBJECTS, """
    class Vector:
        def __init__(self, x, y):
            self.x, self.y = x, y
        def __add__(self, other):
            return Vector(self.x + other.x, self.y + other.y)
        def __repr__(self):
            return f'Vector({self.x}, {self.y})'
        def __str__(self):
            return f'({self.x}, {self.y})'
    """,
    [edit("    def __str__(self):\n        return f'({self.x}, {self.y})'\n", "")],
    ["assert str(Vector(1, 2) + Vector(3, 4)) == '(4, 6)'",
     "assert repr(Vector(1, 2)) == 'Vector(1, 2)'",
     "assert f'{Vector(0, 1)}' == '(0, 1)'",
     "assert f'{Vector(0, 1)!r}' == 'Vector(0, 1)'",
     "assert '%s' % (Vector(1, 1),) == '(1, 1)'",
     "assert [str(v) for v in [Vector(1, 0)]] == ['(1, 0)']",
     "assert repr([Vector(1, 2)]) == '[Vector(1, 2)]'"])

case("format_protocol_temperature", OBJECTS, """
    class Temp:
        def __init__(self, celsius):
            self.c = celsius
        def __format__(self, spec):
            if spec == 'F':
                return f'{self.c * 9 / 5 + 32:.1f}°F'
            return f'{self.c:.1f}°C'
    """,
    [edit("self.c * 9 / 5 + 32", "self.c * 9 / 5 + 31")],
    ["assert f'{Temp(21.5):C}' == '21.5°C'",
     "assert format(Temp(0), 'F') == '32.0°F'",
     "assert f'{Temp(100):F}' == '212.0°F'",
     "assert '{:C}'.format(Temp(-4)) == '-4.0°C'"])

case("solution_two_sum", OBJECTS, """
    from typing import List
    class Solution:
        def twoSum(self, nums: List[int], target: int) -> List[int]:
            seen = {}
            for i, x in enumerate(nums):
                if target - x in seen:
                    return [seen[target - x], i]
                seen[x] = i
            return []
    """,
    [edit("return [seen[target - x], i]", "return (seen[target - x], i)")],
    ["assert Solution().twoSum([2, 7, 11, 15], 9) == [0, 1]",
     "assert sorted(Solution().twoSum([3, 2, 4], 6)) == [1, 2]",
     "assert Solution().twoSum([3, 3], 6) == [0, 1]",
     "assert Solution().twoSum([1], 5) == []"])

case("properties_rect", OBJECTS, """
    class Rect:
        def __init__(self, w, h):
            self.w, self.h = w, h
        @property
        def area(self):
            return self.w * self.h
        def scale(self, k):
            return Rect(self.w * k, self.h * k)
        def __eq__(self, other):
            return isinstance(other, Rect) and (self.w, self.h) == (other.w, other.h)
    """,
    [edit("return Rect(self.w * k, self.h * k)", "return Rect(self.w * k, self.h)")],
    ["assert Rect(2, 3).area == 6",
     "assert Rect(1, 2).scale(2).area == 8",
     "assert Rect(1, 2).scale(3).w == 3",
     "assert Rect(2, 3) == Rect(2, 3)",
     "assert Rect(1, 1).scale(2) == Rect(2, 2)",
     "assert Rect(1, 1) != Rect(1, 2)"])

case("iterator_protocol_class", OBJECTS, """
    class Countdown:
        def __init__(self, n):
            self.n = n
        def __iter__(self):
            return self
        def __next__(self):
            if self.n <= 0:
                raise StopIteration
            self.n -= 1
            return self.n + 1
    """,
    [edit("if self.n <= 0:", "if self.n < 0:")],
    ["assert list(Countdown(3)) == [3, 2, 1]",
     "assert sum(Countdown(4)) == 10",
     "assert next(iter(Countdown(1))) == 1",
     "assert [x for x in Countdown(0)] == []",
     "assert max(Countdown(5)) == 5"])

case("sequence_protocol_span", OBJECTS, """
    class Span:
        def __init__(self, start, stop):
            self.start, self.stop = start, stop
        def __len__(self):
            return self.stop - self.start
        def __getitem__(self, i):
            if i < 0:
                i += len(self)
            if not 0 <= i < len(self):
                raise IndexError(i)
            return self.start + i
        def __contains__(self, x):
            return self.start <= x < self.stop
    """,
    [edit("return self.stop - self.start", "return self.stop - self.start + 1"),
     edit("return self.start <= x < self.stop", "return self.start <= x <= self.stop")],
    ["assert len(Span(2, 5)) == 3",
     "assert Span(2, 5)[0] == 2",
     "assert 4 in Span(2, 5)",
     "assert 5 not in Span(2, 5)",
     "assert list(Span(1, 4)) == [1, 2, 3]",
     "assert Span(0, 3)[-1] == 2"],
     unscorable=(2, 3))

case("total_ordering_cards", OBJECTS, """
    from functools import total_ordering
    RANKS = '23456789TJQKA'
    @total_ordering
    class Card:
        def __init__(self, rank):
            self.rank = rank
        def __eq__(self, other):
            return self.rank == other.rank
        def __lt__(self, other):
            return RANKS.index(self.rank) < RANKS.index(other.rank)
        def __repr__(self):
            return f'Card({self.rank!r})'
    """,
    [edit("return RANKS.index(self.rank) < RANKS.index(other.rank)", "return self.rank < other.rank")],
    ["assert Card('K') > Card('Q')",
     "assert sorted([Card('A'), Card('2'), Card('T')]) == [Card('2'), Card('T'), Card('A')]",
     "assert max([Card('3'), Card('J')]).rank == 'J'",
     "assert Card('5') >= Card('5')",
     "assert min(Card(r) for r in 'KA9') == Card('9')"])

case("hashable_symbols_as_keys", OBJECTS, """
    class Sym:
        def __init__(self, name):
            self.name = name
        def __eq__(self, other):
            return isinstance(other, Sym) and self.name == other.name
        def __hash__(self):
            return hash(self.name)
    def intern_all(names):
        counts = {}
        for n in names:
            counts[Sym(n)] = counts.get(Sym(n), 0) + 1
        return counts
    """,
    [edit("    def __hash__(self):\n        return hash(self.name)\n", "")],
    ["assert intern_all(['a', 'b', 'a'])[Sym('a')] == 2",
     "assert len(intern_all(['a', 'a'])) == 1",
     "assert Sym('b') in intern_all(['b'])",
     "assert sorted(s.name for s in intern_all(['y', 'x'])) == ['x', 'y']"])

case("bound_method_key", OBJECTS, """
    class Ranker:
        def __init__(self, prefs):
            self.prefs = prefs
        def key(self, x):
            return self.prefs.index(x)
    """,
    [edit("return self.prefs.index(x)", "return -self.prefs.index(x)")],
    ["assert sorted('cab', key=Ranker('abc').key) == ['a', 'b', 'c']",
     "assert max('xyz', key=Ranker('zyx').key) == 'x'",
     "assert sorted([3, 1, 2], key=Ranker([2, 3, 1]).key) == [2, 3, 1]",
     "assert list(map(Ranker('pq').key, 'qp')) == [1, 0]"])

case("callable_polynomial", OBJECTS, """
    class Poly:
        def __init__(self, coeffs):
            self.coeffs = coeffs
        def __call__(self, x):
            return sum(c * x ** i for i, c in enumerate(self.coeffs))
    """,
    [edit("enumerate(self.coeffs)", "enumerate(reversed(self.coeffs))")],
    ["assert Poly([1, 0, 2])(3) == 19",
     "assert list(map(Poly([0, 1]), [1, 2])) == [1, 2]",
     "assert callable(Poly([1]))",
     "assert Poly([5])(100) == 5",
     "assert [Poly([1, 1])(x) for x in range(3)] == [1, 2, 3]"])

case("program_class_registry", OBJECTS, """
    class Shape:
        registry = {}
        def __init_subclass__(cls, **kw):
            super().__init_subclass__(**kw)
            Shape.registry[cls.__name__.lower()] = cls
    class Circle(Shape):
        pass
    class Square(Shape):
        pass
    def make(kind):
        return Shape.registry[kind]()
    """,
    [edit("Shape.registry[cls.__name__.lower()] = cls", "Shape.registry[cls.__name__] = cls")],
    ["assert isinstance(make('circle'), Circle)",
     "assert type(make('square')) is Square",
     "assert isinstance(make('square'), Shape)",
     "assert sorted(Shape.registry) == ['circle', 'square']",
     "assert make('circle').__class__.__name__ == 'Circle'"])

# --------------------------------------------------------------------------------------------
# The program defines a name the test also knows as a builtin or a module
# --------------------------------------------------------------------------------------------

case("shadow_sum_two_args", SHADOWING, """
    def sum(a, b):
        return a + b
    """,
    [edit("return a + b", "return a - b")],
    ["assert sum(2, 3) == 5",
     "assert sum('a', 'b') == 'ab'",
     "assert sum([1], [2]) == [1, 2]",
     "assert all(sum(i, i) == 2 * i for i in range(5))"])

case("shadow_max_empty_none", SHADOWING, """
    def max(lst):
        if not lst:
            return None
        best = lst[0]
        for x in lst:
            if x > best:
                best = x
        return best
    """,
    [edit("if x > best:", "if x < best:")],
    ["assert max([3, 1, 2]) == 3",
     "assert max([]) is None",
     "assert max([-1]) == -1",
     "assert max(['b', 'c', 'a']) == 'c'"])

case("shadow_sorted_is_sorted", SHADOWING, """
    def sorted(arr):
        return all(a <= b for a, b in zip(arr, arr[1:]))
    """,
    [edit("a <= b", "a < b")],
    ["assert sorted([1, 2, 3]) is True",
     "assert sorted([2, 1]) is False",
     "assert sorted([]) is True",
     "assert sorted([1, 1, 2])"])

case("shadow_len_word_count", SHADOWING, """
    def len(s):
        return s.split().__len__()
    """,
    [edit("return s.split().__len__()", "return s.count(' ') + 1")],
    ["assert len('a b c') == 3",
     "assert len('') == 0",
     "assert len('  hi  ') == 1",
     "assert len('one') == 1"])

case("shadow_abs_vector_norm", SHADOWING, """
    import math
    def abs(v):
        return math.hypot(*v)
    """,
    [edit("return math.hypot(*v)", "return builtins_abs(v[0]) + builtins_abs(v[1])",
          "import math\n", "import math\nimport builtins\nbuiltins_abs = builtins.abs\n")],
    ["assert abs((3, 4)) == 5",
     "assert abs((0, 0)) == 0",
     "assert math.isclose(abs((1, 1)), math.sqrt(2))",
     "assert abs((-6, 8)) == 10.0"])

case("shadow_round_half_away", SHADOWING, """
    import math
    def round(x):
        return int(math.copysign(math.floor(math.fabs(x) + 0.5), x))
    """,
    [edit("return int(math.copysign(math.floor(math.fabs(x) + 0.5), x))", "return int(x + 0.5)")],
    ["assert round(2.5) == 3",
     "assert round(0.5) == 1",
     "assert round(-1.5) == -2",
     "assert round(1.4) == 1",
     "assert [round(x) for x in (0.5, 1.5, 2.5)] == [1, 2, 3]"])

case("shadow_min_skips_none", SHADOWING, """
    def min(*args):
        vals = [a for a in args if a is not None]
        if not vals:
            return None
        best = vals[0]
        for v in vals[1:]:
            if v < best:
                best = v
        return best
    """,
    [edit("vals = [a for a in args if a is not None]", "vals = list(args)")],
    ["assert min(3, None, 1) == 1",
     "assert min(None) is None",
     "assert min(2, 5) == 2",
     "assert min() is None"])

case("shadow_filter_threshold", SHADOWING, """
    def filter(xs, threshold):
        return [x for x in xs if x > threshold]
    """,
    [edit("x > threshold", "x >= threshold")],
    ["assert filter([1, 5, 3], 2) == [5, 3]",
     "assert filter([], 0) == []",
     "assert filter([2, 2, 3], 2) == [3]",
     "assert len(filter(range(10), 4)) == 5"])

case("shadow_map_to_dict", SHADOWING, """
    def map(f, xs):
        return {x: f(x) for x in xs}
    """,
    [edit("return {x: f(x) for x in xs}", "return [(x, f(x)) for x in xs]")],
    ["assert map(str, [1, 2]) == {1: '1', 2: '2'}",
     "assert map(len, []) == {}",
     "assert map(lambda v: v * v, range(3))[2] == 4",
     "assert sorted(map(abs, [-1, 1])) == [-1, 1]"])

case("shadow_math_calculator", SHADOWING, """
    def math(a, op, b):
        if op == '+':
            return a + b
        if op == '-':
            return a - b
        if op == '*':
            return a * b
        if op == '/':
            return a / b
        if op == '**':
            return a ** b
        raise ValueError(op)
    """,
    [edit("return a / b", "return a // b")],
    ["assert math(2, '+', 3) == 5",
     "assert math(6, '/', 4) == 1.5",
     "assert math(2, '**', 3) == 8",
     "assert math(1, '-', 1) == 0"])

case("shadow_type_name", SHADOWING, """
    def type(x):
        return x.__class__.__name__
    """,
    [edit("return x.__class__.__name__", "return str(x.__class__)")],
    ["assert type(1) == 'int'",
     "assert type([]) == 'list'",
     "assert type(None) == 'NoneType'",
     "assert type('s').upper() == 'STR'"])

case("shadow_print_returns", SHADOWING, """
    def print(x):
        return f'[{x}]'
    """,
    [edit("return f'[{x}]'", "return f'({x})'")],
    ["assert print(1) == '[1]'",
     "assert print('a') == '[a]'",
     "assert print(print(2)) == '[[2]]'"])

case("shadow_any_membership", SHADOWING, """
    def any(lst, x):
        return x in lst
    """,
    [edit("return x in lst", "return lst.index(x) >= 0")],
    ["assert any([1, 2], 2)",
     "assert not any([1, 2], 3)",
     "assert any('abc', 'b') is True",
     "assert any([], 0) is False"])

case("shadow_hash_rolling", SHADOWING, """
    def hash(s, base=31, mod=10**9 + 7):
        h = 0
        for ch in s:
            h = (h * base + ord(ch)) % mod
        return h
    """,
    [edit("base=31", "base=37")],
    ["assert hash('ab') == 97 * 31 + 98",
     "assert hash('') == 0",
     "assert hash('a') == 97",
     "assert hash('abc') == (97 * 31 * 31 + 98 * 31 + 99) % (10**9 + 7)"])

case("shadow_range_spread", SHADOWING, """
    def range(xs):
        return max(xs) - min(xs)
    """,
    [edit("return max(xs) - min(xs)", "return max(xs) - min(xs) + 1")],
    ["assert range([3, 9, 1]) == 8",
     "assert range([5]) == 0",
     "assert range([-2, 2]) == 4"])

case("shadow_len_used_by_program_helper", SHADOWING, """
    def len(node):
        count = 0
        while node is not None:
            count += 1
            node = node[1]
        return count
    def cons(*xs):
        node = None
        for x in xs[::-1]:
            node = (x, node)
        return node
    """,
    [edit("count = 0", "count = 1")],
    ["assert len(cons(1, 2, 3)) == 3",
     "assert len(None) == 0",
     "assert len(cons('a')) == 1",
     "assert cons(1, 2) == (1, (2, None))"])

# --------------------------------------------------------------------------------------------
# Big integers, floats, sets, nested containers, unicode, bytes
# --------------------------------------------------------------------------------------------

case("bigint_factorial", NUMBERS, """
    import math
    def fact(n):
        result = 1
        for k in range(2, n + 1):
            result *= k
        return result
    """,
    [edit("range(2, n + 1)", "range(2, n)")],
    ["assert fact(10000) == math.factorial(10000)",
     "assert fact(10000) % (10**9 + 7) == math.factorial(10000) % (10**9 + 7)",
     "assert fact(20) == 2432902008176640000",
     "assert fact(10000).bit_length() == math.factorial(10000).bit_length()",
     "assert len(str(fact(1000))) == 2568",
     "assert fact(0) == 1",
     "assert fact(2000) > 10**5000",
     "assert len(str(fact(2000))) == 5736"],
    false_tests=(7,))

case("bigint_power_of_two", NUMBERS, """
    def two_pow(n):
        return 1 << n
    """,
    [edit("1 << n", "1 << (n - 1)")],
    ["assert two_pow(100000) == 2**100000",
     "assert two_pow(100000) % 1000 == pow(2, 100000, 1000)",
     "assert two_pow(100000).bit_length() == 100001",
     "assert two_pow(3) == 8",
     "assert two_pow(100000) // two_pow(99999) == 2"])

case("bigint_fibonacci_50000", NUMBERS, """
    def fib(n):
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return a
    """,
    [edit("a, b = 0, 1", "a, b = 1, 1")],
    ["assert fib(50000) % (10**9 + 7) == 544942611",
     "assert fib(50000).bit_length() == 34711",
     "assert fib(100) == 354224848179261915075",
     "assert fib(50000) == fib(49999) + fib(49998)",
     "assert fib(1) == 1 and fib(0) == 0",
     "assert str(fib(50000))[:2] == '10'"],
    false_tests=(5,))

case("bigint_isqrt", NUMBERS, """
    import math
    def isqrt_newton(n):
        if n < 2:
            return n
        x = n
        y = (x + 1) // 2
        while y < x:
            x = y
            y = (x + n // x) // 2
        return x
    """,
    ["""
    import math
    def isqrt_newton(n):
        return int(n ** 0.5)
    """],
    ["assert isqrt_newton(10**200) == 10**100",
     "assert isqrt_newton(2 * 10**100) == math.isqrt(2 * 10**100)",
     "assert isqrt_newton(15) == 3",
     "assert isqrt_newton(0) == 0",
     "assert isqrt_newton(10**4000 + 1) == 10**2000"])

case("bigint_digit_sum", NUMBERS, """
    import math
    def digit_sum(n):
        return sum(map(int, str(n)))
    """,
    ["""
    import math
    def digit_sum(n):
        while n > 9:
            n = sum(map(int, str(n)))
        return n
    """],
    ["assert digit_sum(2**1000) == 1366",
     "assert digit_sum(0) == 0",
     "assert digit_sum(math.factorial(100)) == 648",
     "assert digit_sum(99) == 18"])

case("float_nan_result", NUMBERS, """
    import math
    def safe_mean(xs):
        return sum(xs) / len(xs) if xs else float('nan')
    """,
    [edit("float('nan')", "0.0")],
    ["assert math.isnan(safe_mean([]))",
     "assert safe_mean([]) != safe_mean([])",
     "assert safe_mean([1, 2]) == 1.5",
     "assert not (safe_mean([]) == safe_mean([]))",
     "assert safe_mean([]) != 0",
     "assert str(safe_mean([])) == 'nan'"])

case("float_infinity", NUMBERS, """
    import math
    def min_cost(costs):
        best = float('inf')
        for c in costs:
            best = min(best, c)
        return best
    """,
    [edit("float('inf')", "__import__('sys').maxsize")],
    ["assert min_cost([]) == float('inf')",
     "assert math.isinf(min_cost([]))",
     "assert min_cost([3, 1]) == 1",
     "assert min_cost([]) > 10**308",
     "assert -min_cost([]) == -math.inf",
     "assert repr(min_cost([])) == 'inf'"])

case("float_negative_zero", NUMBERS, """
    import math
    def negate(x):
        return -x
    """,
    [edit("return -x", "return 0 - x")],
    ["assert math.copysign(1, negate(0.0)) == -1",
     "assert negate(0.0) == 0",
     "assert str(negate(0.0)) == '-0.0'",
     "assert negate(2.5) == -2.5",
     "assert negate(-0.0) == 0 and math.copysign(1, negate(-0.0)) == 1"])

case("float_tolerance", NUMBERS, """
    import math
    def avg_speed(distance, time):
        return distance / time
    """,
    [edit("distance / time", "distance // time")],
    ["assert abs(avg_speed(10, 3) - 3.3333) < 1e-3",
     "assert math.isclose(avg_speed(1, 3), 1 / 3)",
     "assert round(avg_speed(10, 3), 2) == 3.33",
     "assert avg_speed(0.1 + 0.2, 1) != 0.3",
     "assert math.isclose(avg_speed(0.1 + 0.2, 1), 0.3)",
     "assert abs(avg_speed(22, 7) - math.pi) < 0.01"])

case("float_formatting", NUMBERS, """
    def fmt(x):
        return f'{x:.2f}'
    """,
    [edit("return f'{x:.2f}'", "return str(round(x, 2))")],
    ["assert fmt(3.14159) == '3.14'",
     "assert fmt(2.675) == '2.67'",
     "assert fmt(-0.001) == '-0.00'",
     "assert fmt(1e6) == '1000000.00'",
     "assert '%.1f' % float(fmt(0.25)) == '0.2'"])

case("complex_roots", NUMBERS, """
    import cmath
    def roots(a, b, c):
        d = cmath.sqrt(b * b - 4 * a * c)
        return ((-b + d) / (2 * a), (-b - d) / (2 * a))
    """,
    [edit("import cmath\n", "import math as cmath\n")],
    ["assert roots(1, 0, 1) == (1j, -1j)",
     "assert roots(1, -3, 2) == (2 + 0j, 1 + 0j)",
     "assert abs(roots(1, 0, 4)[0] - 2j) < 1e-12",
     "assert roots(1, 2, 1)[0] == -1",
     "assert isinstance(roots(1, 0, -1)[0], complex)"])

case("set_of_tuples_edges", NUMBERS, """
    def edges(adj):
        return {(min(u, v), max(u, v)) for u, vs in adj.items() for v in vs}
    """,
    [edit("(min(u, v), max(u, v))", "(u, v)")],
    ["assert edges({1: [2], 2: [1, 3], 3: [2]}) == {(1, 2), (2, 3)}",
     "assert (2, 1) not in edges({1: [2], 2: [1]})",
     "assert len(edges({})) == 0",
     "assert edges({1: [2], 2: [1]}) == {(1, 2)}",
     "assert isinstance(edges({}), set)"])

case("frozenset_keys", NUMBERS, """
    def by_letters(words):
        d = {}
        for w in words:
            d.setdefault(frozenset(w), []).append(w)
        return d
    """,
    [edit("frozenset(w)", "tuple(sorted(w))")],
    ["assert by_letters(['ab', 'ba', 'c'])[frozenset('ab')] == ['ab', 'ba']",
     "assert frozenset('c') in by_letters(['c'])",
     "assert len(by_letters(['aab', 'ab'])) == 1",
     "assert set(map(len, by_letters(['ab', 'ba', 'c']).values())) == {1, 2}",
     "assert by_letters(['xy']) == {frozenset({'x', 'y'}): ['xy']}"])

case("set_symmetric_difference", NUMBERS, """
    def unique_to_each(a, b):
        return set(a) ^ set(b)
    """,
    [edit("set(a) ^ set(b)", "set(a) - set(b)")],
    ["assert unique_to_each([1, 2], [2, 3]) == {1, 3}",
     "assert unique_to_each('ab', 'ab') == set()",
     "assert unique_to_each([1], [1]) != {}",
     "assert sorted(unique_to_each([3, 1], [2])) == [1, 2, 3]",
     "assert frozenset(unique_to_each([1], [2])) == {1, 2}",
     "assert unique_to_each([1], [2]) == frozenset({1, 2})"])

case("power_set_of_frozensets", NUMBERS, """
    from itertools import combinations
    def power_set(xs):
        xs = list(xs)
        return {frozenset(c) for r in range(len(xs) + 1) for c in combinations(xs, r)}
    """,
    [edit("range(len(xs) + 1)", "range(1, len(xs) + 1)")],
    ["assert power_set([1, 2]) == {frozenset(), frozenset({1}), frozenset({2}), frozenset({1, 2})}",
     "assert len(power_set(range(4))) == 16",
     "assert frozenset({1}) in power_set([1])",
     "assert frozenset() in power_set([])"])

case("nested_dict_of_lists_of_tuples", NUMBERS, """
    def index_words(text):
        index = {}
        for line_no, line in enumerate(text.split('\\n')):
            for col, word in enumerate(line.split()):
                index.setdefault(word, []).append((line_no, col))
        return index
    """,
    [edit("append((line_no, col))", "append([line_no, col])")],
    ["assert index_words('a b\\nb') == {'a': [(0, 0)], 'b': [(0, 1), (1, 0)]}",
     "assert index_words('x')['x'][0] == (0, 0)",
     "assert sorted(index_words('b a')) == ['a', 'b']",
     "assert index_words('') == {}"])

case("list_of_sets_components", NUMBERS, """
    def components(n, edges):
        parent = list(range(n))
        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x
        for a, b in edges:
            parent[find(a)] = find(b)
        groups = {}
        for v in range(n):
            groups.setdefault(find(v), set()).add(v)
        return sorted(groups.values(), key=min)
    """,
    [edit("for v in range(n):", "for v in sorted({x for e in edges for x in e}):")],
    ["assert components(4, [(0, 1), (2, 3)]) == [{0, 1}, {2, 3}]",
     "assert components(3, []) == [{0}, {1}, {2}]",
     "assert len(components(5, [(0, 1), (1, 2), (3, 4)])) == 2",
     "assert {0, 1, 2} in components(3, [(0, 1), (1, 2)])"])

case("nested_dict_builder", NUMBERS, """
    def nest(keys, value):
        for k in reversed(keys):
            value = {k: value}
        return value
    """,
    [edit("for k in reversed(keys):", "for k in keys:")],
    ["assert nest(['a', 'b'], 1) == {'a': {'b': 1}}",
     "assert nest([], 5) == 5",
     "assert nest(list('abc'), [1])['a']['b']['c'] == [1]",
     "assert nest(['x'], (1, 2)) == {'x': (1, 2)}"])

case("deeply_nested_lists", NUMBERS, """
    def deep(n):
        x = []
        for _ in range(n):
            x = [x]
        return x
    def depth(x):
        d = 0
        while isinstance(x, list):
            d += 1
            x = x[0] if x else None
        return d
    """,
    [edit("for _ in range(n):", "for _ in range(n - 1):")],
    ["assert len(str(deep(3))) == 8",
     "assert deep(0) == []",
     "assert deep(2) == [[[]]]",
     "assert depth(deep(100)) == 101",
     "assert deep(100)[0][0] == deep(98)"])

case("unicode_emoji_words", NUMBERS, """
    def reverse_words(s):
        return ' '.join(reversed(s.split(' ')))
    """,
    [edit("return ' '.join(reversed(s.split(' ')))", "return s[::-1]")],
    ["assert reverse_words('hi 👋 there') == 'there 👋 hi'",
     "assert len(reverse_words('🙂🙃')) == 2",
     "assert reverse_words('é à') == 'à é'",
     "assert reverse_words('👨‍👩‍👧 x') == 'x 👨‍👩‍👧'"])

case("unicode_combining_nfc", NUMBERS, """
    import unicodedata
    def normalize(s):
        return unicodedata.normalize('NFC', s)
    """,
    [edit("'NFC'", "'NFD'")],
    [r"assert normalize('e\u0301') == '\u00e9'",
     r"assert len(normalize('e\u0301')) == 1",
     "assert normalize('\u00e9') == 'é'",
     r"assert len('e\u0301') == 2 and len(normalize('e\u0301')) == 1",
     r"assert normalize('Cafe\u0301') == 'Café'"])

case("unicode_lone_surrogates", NUMBERS, r"""
    def to_surrogates(cp):
        cp -= 0x10000
        return chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF))
    def lone():
        return '\ud800'
    """,
    [edit("cp -= 0x10000\n", "")],
    [r"assert to_surrogates(0x1F600) == '\ud83d\ude00'",
     r"assert to_surrogates(0x10000) == '\ud800\udc00'",
     r"assert to_surrogates(0x1F600)[0] == '\ud83d'",
     "assert len(to_surrogates(0x10FFFF)) == 2",
     "assert to_surrogates(0x1F600).encode('utf-16-le', 'surrogatepass') == '😀'.encode('utf-16-le')",
     r"assert lone() == '\ud800'",
     r"assert lone().encode('utf-8', 'surrogatepass') == b'\xed\xa0\x80'"])

case("unicode_casefold", NUMBERS, """
    def same_ci(a, b):
        return a.casefold() == b.casefold()
    """,
    [edit("a.casefold() == b.casefold()", "a.lower() == b.lower()")],
    ["assert same_ci('Straße', 'STRASSE')",
     "assert not same_ci('a', 'b')",
     "assert same_ci('ΣΑΣ', 'σας')",
     "assert same_ci('ǅ', 'ǆ')"])

case("bytes_varint", NUMBERS, """
    def encode_varint(n):
        out = []
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)
    """,
    [edit("return bytes(out)", "return bytearray(out)"), edit("out.append(byte | 0x80)", "out.append(byte)")],
    [r"assert encode_varint(300) == b'\xac\x02'",
     r"assert encode_varint(0) == b'\x00'",
     "assert encode_varint(1) == bytes([1])",
     "assert isinstance(encode_varint(5), bytes)",
     "assert encode_varint(127)[-1] == 127",
     "assert list(encode_varint(128)) == [0x80, 0x01]"])

case("string_escapes", NUMBERS, """
    def escape(s):
        return s.encode('unicode_escape').decode('ascii')
    """,
    [edit("return s.encode('unicode_escape').decode('ascii')", "return repr(s)[1:-1]")],
    [r"assert escape('a\tb') == 'a\\tb'",
     r"assert escape('\x00') == '\\x00'",
     r"assert escape('é') == '\\xe9'",
     r"assert escape('😀') == '\\U0001f600'",
     "assert escape('plain') == 'plain'"])

case("divmod_floor_semantics", NUMBERS, """
    def div_mod(a, b):
        return divmod(a, b)
    """,
    [edit("return divmod(a, b)", "return (int(a / b), a % b)")],
    ["assert div_mod(-7, 2) == (-4, 1)",
     "assert div_mod(7, -2) == (-4, -1)",
     "assert div_mod(7.5, 2) == (3.0, 1.5)",
     "assert div_mod(10**30, 7) == (10**30 // 7, 10**30 % 7)"])

case("large_prime_list", NUMBERS, """
    def primes(n):
        sieve = bytearray([1]) * (n + 1)
        sieve[0:2] = b'\\x00\\x00'
        for i in range(2, int(n ** 0.5) + 1):
            if sieve[i]:
                sieve[i * i::i] = bytearray(len(range(i * i, n + 1, i)))
        return [i for i, is_p in enumerate(sieve) if is_p]
    """,
    [edit("bytearray([1]) * (n + 1)", "bytearray([1]) * n")],
    ["assert len(primes(200000)) == 17984",
     "assert primes(200000)[-1] == 199999",
     "assert sum(primes(10)) == 17",
     "assert primes(2) == [2]",
     "assert primes(7)[-1] == 7"])

case("bool_is_true_exactly", NUMBERS, """
    def is_even(n):
        return n % 2 == 0
    """,
    [edit("return n % 2 == 0", "return 1 - n % 2")],
    ["assert is_even(2) is True",
     "assert is_even(3) is False",
     "assert is_even(4) == 1",
     "assert isinstance(is_even(0), bool)",
     "assert [is_even(i) for i in range(3)] == [True, False, True]"])

case("bytes_hexdump", NUMBERS, """
    def hexdump(data):
        return ' '.join(f'{b:02x}' for b in data)
    def unhex(s):
        return bytes.fromhex(s)
    """,
    [edit("f'{b:02x}'", "f'{b:x}'")],
    [r"assert hexdump(b'\xde\xad\x01') == 'de ad 01'",
     r"assert unhex('de ad') == b'\xde\xad'",
     "assert unhex(hexdump(b'xyz')) == b'xyz'",
     "assert hexdump(bytearray(2)) == '00 00'"])

# --------------------------------------------------------------------------------------------
# Programs that use the standard library and installed packages
# --------------------------------------------------------------------------------------------

case("typing_generic_stack", LIBRARIES, """
    from typing import Generic, List, TypeVar
    T = TypeVar('T')
    class Stack(Generic[T]):
        def __init__(self) -> None:
            self.items: List[T] = []
        def push(self, item: T) -> 'Stack[T]':
            self.items.append(item)
            return self
        def peek(self) -> T:
            return self.items[-1]
    """,
    [edit("return self.items[-1]", "return self.items[0]")],
    ["assert Stack[int]().push(1).push(2).peek() == 2",
     "assert isinstance(Stack[int](), Stack)",
     "assert Stack().push('a').items == ['a']",
     "assert Stack[str]().push('x').peek() == 'x'"])

case("typing_protocol_runtime", LIBRARIES, """
    from typing import Protocol, runtime_checkable
    @runtime_checkable
    class SupportsArea(Protocol):
        def area(self) -> float: ...
    class Sq:
        def __init__(self, side):
            self.side = side
        def area(self):
            return self.side ** 2
    def total_area(shapes):
        return sum(s.area() for s in shapes)
    """,
    [edit("return sum(s.area() for s in shapes)", "return sum(s.side for s in shapes)")],
    ["assert total_area([Sq(2), Sq(3)]) == 13",
     "assert isinstance(Sq(1), SupportsArea)",
     "assert not isinstance(1, SupportsArea)",
     "assert total_area([]) == 0"])

case("typing_typeddict", LIBRARIES, """
    from typing import TypedDict
    class Movie(TypedDict):
        title: str
        year: int
    def make_movie(title: str, year: int) -> Movie:
        return {'title': title, 'year': year}
    """,
    [edit("'year': year}", "'year': str(year)}")],
    ["assert make_movie('x', 1) == {'title': 'x', 'year': 1}",
     "assert type(make_movie('a', 2)) is dict",
     "assert Movie(title='x', year=1) == make_movie('x', 1)",
     "assert Movie.__required_keys__ == frozenset({'title', 'year'})",
     "assert make_movie('m', 1999)['year'] + 1 == 2000"])

case("typing_optional_future_annotations", LIBRARIES, """
    from __future__ import annotations
    from typing import Optional
    def find(xs: list[int], x: int) -> Optional[int]:
        for i, v in enumerate(xs):
            if v == x:
                return i
        return None
    """,
    [edit("    return None", "    return -1")],
    ["assert find([1, 2], 2) == 1",
     "assert find([], 1) is None",
     "assert find.__annotations__['return'] == 'Optional[int]'",
     "assert find([5, 5], 5) == 0"])

case("enum_auto_state_machine", LIBRARIES, """
    from enum import Enum, auto
    class State(Enum):
        IDLE = auto()
        RUNNING = auto()
        DONE = auto()
    def next_state(s):
        members = list(State)
        return members[(members.index(s) + 1) % len(members)]
    """,
    [edit("members[(members.index(s) + 1) % len(members)]", "members[min(members.index(s) + 1, len(members) - 1)]")],
    ["assert next_state(State.IDLE) is State.RUNNING",
     "assert next_state(State.RUNNING).value == 3",
     "assert [s.name for s in State] == ['IDLE', 'RUNNING', 'DONE']",
     "assert State(2) is next_state(State.IDLE)",
     "assert next_state(State.DONE) is State.IDLE"])

case("abc_shapes", LIBRARIES, """
    import math
    from abc import ABC, abstractmethod
    class Shape(ABC):
        @abstractmethod
        def area(self): ...
    class Circle(Shape):
        def __init__(self, r):
            self.r = r
        def area(self):
            return math.pi * self.r ** 2
    class Square(Shape):
        def __init__(self, s):
            self.s = s
        def area(self):
            return self.s ** 2
    def shape_from(spec):
        kind, size = spec.split()
        return {'circle': Circle, 'square': Square}[kind](float(size))
    """,
    [edit("return self.s ** 2", "return 2 * self.s")],
    ["assert isinstance(shape_from('circle 1'), Circle)",
     "assert isinstance(shape_from('square 2'), Shape)",
     "assert math.isclose(shape_from('circle 1').area(), math.pi)",
     "assert shape_from('square 3').area() == 9",
     "assert type(shape_from('square 1')).__name__ == 'Square'",
     "assert Shape.__abstractmethods__ == frozenset({'area'})"])

case("lru_cache_stairs", LIBRARIES, """
    from functools import lru_cache
    @lru_cache(maxsize=None)
    def ways(n):
        if n <= 1:
            return 1
        return ways(n - 1) + ways(n - 2)
    """,
    [edit("if n <= 1:\n        return 1", "if n <= 1:\n        return n")],
    ["assert ways(100) == 573147844013817084101",
     "assert ways(1) == 1",
     "assert ways.cache_info().maxsize is None",
     "assert ways(30) == 1346269",
     "assert [ways(i) for i in range(5)] == [1, 1, 2, 3, 5]"])

case("functools_cache_grid_paths", LIBRARIES, """
    import math
    from functools import cache
    @cache
    def paths(r, c):
        if r == 0 or c == 0:
            return 1
        return paths(r - 1, c) + paths(r, c - 1)
    """,
    [edit("return paths(r - 1, c) + paths(r, c - 1)", "return paths(r - 1, c) + paths(r - 1, c - 1)")],
    ["assert paths(16, 16) == math.comb(32, 16)",
     "assert paths(2, 2) == 6",
     "assert paths(0, 5) == 1",
     "assert all(paths(a, b) == math.comb(a + b, a) for a in range(6) for b in range(6))"])

case("reduce_partial", LIBRARIES, """
    import operator
    from functools import partial, reduce
    def product(xs):
        return reduce(operator.mul, xs, 1)
    pow2 = partial(pow, 2)
    """,
    [edit("reduce(operator.mul, xs, 1)", "reduce(operator.mul, xs)")],
    ["assert product([1, 2, 3, 4]) == 24",
     "assert product([]) == 1",
     "assert pow2(10) == 1024",
     "assert list(map(pow2, range(3))) == [1, 2, 4]",
     "assert pow2.args == (2,)"])

case("threading_lock_sum", LIBRARIES, """
    import threading
    def parallel_sum(chunks):
        total = 0
        lock = threading.Lock()
        def work(chunk):
            nonlocal total
            s = sum(chunk)
            with lock:
                total += s
        threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return total
    """,
    [edit("total += s", "total = s")],
    ["assert parallel_sum([[1, 2], [3]]) == 6",
     "assert parallel_sum([]) == 0",
     "assert parallel_sum([[i] for i in range(50)]) == 1225"],
     needs=("threads",))

case("threadpool_map_submit", LIBRARIES, """
    from concurrent.futures import ThreadPoolExecutor
    def squares_parallel(xs):
        with ThreadPoolExecutor(max_workers=4) as ex:
            return list(ex.map(lambda x: x * x, xs))
    def lengths(words):
        with ThreadPoolExecutor(max_workers=2) as ex:
            futures = [ex.submit(len, w) for w in words]
            return [f.result() for f in futures]
    """,
    [edit("lambda x: x * x", "lambda x: x * 2")],
    ["assert squares_parallel([1, 2, 3]) == [1, 4, 9]",
     "assert squares_parallel([]) == []",
     "assert lengths(['a', 'bcd']) == [1, 3]",
     "assert sum(squares_parallel(range(10))) == 285"],
     needs=("threads",))

case("importlib_metadata_version", LIBRARIES, """
    import importlib.metadata
    import numpy as np
    def pkg_version(name):
        return importlib.metadata.version(name)
    """,
    [edit("return importlib.metadata.version(name)", "return tuple(map(int, importlib.metadata.version(name).split('.')[:2]))")],
    ["assert isinstance(pkg_version('numpy'), str)",
     "assert pkg_version('numpy').count('.') >= 1",
     "assert pkg_version('numpy') == np.__version__",
     "assert pkg_version('numpy').split('.')[0].isdigit()"],
    needs=("numpy",))

case("networkx_shortest_path", LIBRARIES, """
    import networkx as nx
    def shortest(edges, a, b):
        g = nx.Graph()
        g.add_weighted_edges_from(edges)
        return nx.shortest_path(g, a, b, weight='weight')
    def graph(edges):
        return nx.Graph(edges)
    """,
    [edit("nx.shortest_path(g, a, b, weight='weight')", "nx.shortest_path(g, a, b)")],
    ["assert shortest([(1, 2, 1), (2, 3, 1), (1, 3, 5)], 1, 3) == [1, 2, 3]",
     "assert len(shortest([(1, 2, 1), (2, 3, 1), (1, 3, 5)], 1, 3)) == 3",
     "assert graph([(1, 2)]).number_of_edges() == 1",
     "assert sorted(graph([(1, 2), (2, 3)]).neighbors(2)) == [1, 3]",
     "assert nx.shortest_path_length(graph([(1, 2), (2, 3)]), 1, 3) == 2"],
    needs=("networkx",))

case("networkx_topological_order", LIBRARIES, """
    import networkx as nx
    def order(deps):
        return list(nx.topological_sort(nx.DiGraph(deps)))
    """,
    [edit("nx.DiGraph(deps)", "nx.DiGraph(deps).reverse()")],
    ["assert order([('a', 'b'), ('b', 'c')]) == ['a', 'b', 'c']",
     "assert nx.is_directed_acyclic_graph(nx.DiGraph([('a', 'b')]))",
     "assert set(order([('x', 'y')])) == {'x', 'y'}",
     "assert order([('shirt', 'tie'), ('tie', 'jacket')]).index('shirt') == 0"],
    needs=("networkx",))

case("scipy_minimize_scalar", LIBRARIES, """
    import scipy.optimize
    def minimize_quad():
        return float(scipy.optimize.minimize_scalar(lambda x: (x - 3) ** 2).x)
    """,
    [edit("(x - 3) ** 2", "(x + 3) ** 2")],
    ["assert abs(minimize_quad() - 3) < 1e-5",
     "assert round(minimize_quad(), 3) == 3.0",
     "assert isinstance(minimize_quad(), float)",
     "assert 2.9 < minimize_quad() < 3.1"],
    needs=("scipy",))

case("scipy_special_comb", LIBRARIES, """
    import scipy.special
    def choose(n, k):
        return scipy.special.comb(n, k, exact=True)
    """,
    [edit("exact=True", "exact=False")],
    ["assert choose(5, 2) == 10",
     "assert choose(50, 25) == 126410606437752",
     "assert isinstance(choose(5, 2), int)",
     "assert scipy.special.gamma(5) == 24"],
    needs=("scipy",))

case("scipy_brentq_root", LIBRARIES, """
    import math
    from scipy.optimize import brentq
    def cube_root_two():
        return brentq(lambda x: x ** 3 - 2, 0, 2)
    """,
    [edit("x ** 3 - 2", "x ** 2 - 2")],
    ["assert math.isclose(cube_root_two(), 2 ** (1 / 3), rel_tol=1e-9)",
     "assert 0 < cube_root_two() < 2",
     "assert abs(cube_root_two() ** 3 - 2) < 1e-9"],
    needs=("scipy",))

case("numpy_linalg_solve", LIBRARIES, """
    import numpy as np
    def solve(a, b):
        return np.linalg.solve(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    """,
    [edit("return np.linalg.solve(np.asarray(a, dtype=float), np.asarray(b, dtype=float))",
          "return np.linalg.inv(np.asarray(a, dtype=float)) * np.asarray(b, dtype=float)")],
    ["assert np.allclose(solve([[2, 0], [0, 4]], [2, 4]), [1, 1])",
     "assert solve([[1, 0], [0, 1]], [3, 4]).shape == (2,)",
     "assert solve([[1, 1], [1, -1]], [3, 1]).round(6).tolist() == [2.0, 1.0]",
     "assert np.allclose(np.dot([[1, 2], [3, 4]], solve([[1, 2], [3, 4]], [5, 6])), [5, 6])"],
    needs=("numpy",))

case("numpy_uint8_clip", LIBRARIES, """
    import numpy as np
    def to_uint8(img):
        return np.clip(np.asarray(img), 0, 255).astype(np.uint8)
    """,
    [edit("np.clip(np.asarray(img), 0, 255)", "np.round(np.clip(np.asarray(img), 0, 255))")],
    ["assert to_uint8([-5, 300, 12.7]).tolist() == [0, 255, 12]",
     "assert to_uint8([1]).dtype == np.uint8",
     "assert to_uint8([[1, 2]]).shape == (1, 2)",
     "assert to_uint8([250.9])[0] == 250"],
    needs=("numpy",))

case("heapq_helpers", LIBRARIES, """
    import heapq
    def k_smallest(xs, k):
        return heapq.nsmallest(k, xs)
    def merge_sorted(*lists):
        return list(heapq.merge(*lists))
    """,
    [edit("heapq.nsmallest(k, xs)", "heapq.nlargest(k, xs)")],
    ["assert k_smallest([5, 1, 4, 2], 2) == [1, 2]",
     "assert merge_sorted([1, 4], [2, 3]) == [1, 2, 3, 4]",
     "assert k_smallest([], 3) == []",
     "assert merge_sorted() == []"])

case("heapq_task_queue", LIBRARIES, """
    import heapq
    class TaskQueue:
        def __init__(self):
            self._heap = []
            self._n = 0
        def push(self, priority, task):
            heapq.heappush(self._heap, (priority, self._n, task))
            self._n += 1
        def pop(self):
            return heapq.heappop(self._heap)[-1]
        def __len__(self):
            return len(self._heap)
    """,
    [edit("(priority, self._n, task)", "(-priority, self._n, task)")],
    ["assert (q := TaskQueue()).push(2, 'b') is None and q.push(1, 'a') is None and q.pop() == 'a'",
     "assert (q := TaskQueue()).push(1, 'x') is None and q.push(1, 'y') is None and [q.pop(), q.pop()] == ['x', 'y']",
     "assert len(TaskQueue()) == 0",
     "assert (q := TaskQueue()).push(3, 'c') is None and q.push(5, 'e') is None and q.pop() == 'c' and len(q) == 1"])

case("bisect_grades", LIBRARIES, """
    import bisect
    def grade(score, breakpoints=(60, 70, 80, 90), grades='FDCBA'):
        return grades[bisect.bisect(breakpoints, score)]
    """,
    [edit("bisect.bisect(breakpoints, score)", "bisect.bisect_left(breakpoints, score)")],
    ["assert [grade(s) for s in [33, 99, 77, 70, 89, 90, 100]] == ['F', 'A', 'C', 'C', 'B', 'A', 'A']",
     "assert grade(60) == 'D'",
     "assert bisect.bisect_left([1, 2, 2, 3], 2) == 1",
     "assert grade(0) == 'F'"])

case("re_findall_groupdict", LIBRARIES, r"""
    import re
    def find_emails(text):
        return re.findall(r'[\w.]+@[\w.]+', text)
    def parse_date(s):
        m = re.fullmatch(r'(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})', s)
        return m.groupdict() if m else None
    def first_num(s):
        return re.search(r'\d+', s)
    """,
    [edit("re.search(r'\\d+', s)", "re.match(r'\\d+', s)")],
    ["assert find_emails('a a@b.c x d@e.f') == ['a@b.c', 'd@e.f']",
     "assert parse_date('2024-01-02') == {'y': '2024', 'm': '01', 'd': '02'}",
     "assert parse_date('nope') is None",
     "assert first_num('ab12c').group() == '12'",
     "assert first_num('abc') is None",
     "assert first_num('x7').span() == (1, 2)",
     r"assert re.fullmatch(r'\d+', str(len(find_emails('q@r.s'))))"])

case("json_roundtrip", LIBRARIES, """
    import json
    def roundtrip(obj):
        return json.loads(json.dumps(obj))
    def to_json(obj):
        return json.dumps(obj, sort_keys=True)
    """,
    [edit("json.dumps(obj, sort_keys=True)", "json.dumps(obj)")],
    ["assert roundtrip({'a': (1, 2)}) == {'a': [1, 2]}",
     "assert roundtrip({1: 'x'}) == {'1': 'x'}",
     "assert json.loads(to_json({'b': 1, 'a': 2})) == {'a': 2, 'b': 1}",
     "assert to_json({'b': 1, 'a': 2}) == '{\"a\": 2, \"b\": 1}'",
     "assert roundtrip([None, True, 1.5]) == [None, True, 1.5]"])

case("collections_abc_flatten", LIBRARIES, """
    from collections.abc import Iterable, Mapping
    def flatten(x):
        out = []
        for item in x:
            if isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
                out.extend(flatten(item))
            else:
                out.append(item)
        return out
    """,
    [edit("isinstance(item, Iterable) and not isinstance(item, (str, bytes))", "isinstance(item, list)")],
    ["assert flatten([1, [2, (3, [4])], 'ab']) == [1, 2, 3, 4, 'ab']",
     "assert isinstance(flatten([]), list)",
     "assert flatten(x for x in [[1], [2]]) == [1, 2]",
     "assert isinstance({}, Mapping) and flatten([{1: 2}]) == [1]"])

case("collections_abc_mapping_class", LIBRARIES, """
    from collections.abc import Mapping
    class Frozen(Mapping):
        def __init__(self, data):
            self._data = dict(data)
        def __getitem__(self, key):
            return self._data[key]
        def __iter__(self):
            return iter(self._data)
        def __len__(self):
            return len(self._data)
    """,
    [edit("return iter(self._data)", "return iter(self._data.values())")],
    ["assert Frozen({'a': 1}) == {'a': 1}",
     "assert dict(Frozen({'a': 1})) == {'a': 1}",
     "assert 'a' in Frozen({'a': 1})",
     "assert len(Frozen({})) == 0",
     "assert Frozen({'a': 1}).get('b', 0) == 0",
     "assert list(Frozen({'x': 1, 'y': 2}).keys()) == ['x', 'y']"],
     unscorable=(2,))

case("contextlib_tools", LIBRARIES, """
    from contextlib import contextmanager, suppress
    @contextmanager
    def tag(name, out):
        out.append(f'<{name}>')
        yield out
        out.append(f'</{name}>')
    def render():
        out = []
        with tag('b', out):
            out.append('hi')
        return out
    def safe_int(s):
        with suppress(ValueError):
            return int(s)
        return None
    """,
    [edit("suppress(ValueError)", "suppress(TypeError)"), edit("    out.append(f'</{name}>')\n", "")],
    ["assert safe_int('3') == 3",
     "assert safe_int('x') is None",
     "assert render() == ['<b>', 'hi', '</b>']",
     "assert len(render()) == 3"])

case("copy_deepcopy", LIBRARIES, """
    import copy
    def clone_grid(g):
        return copy.deepcopy(g)
    """,
    [edit("copy.deepcopy(g)", "copy.copy(g)")],
    ["assert (g := [[1]]) and clone_grid(g) == g and clone_grid(g) is not g and clone_grid(g)[0] is not g[0]",
     "assert clone_grid({'a': [1]}) == {'a': [1]}",
     "assert (g := [[0, 0]]) and (c := clone_grid(g)) and c[0].append(1) is None and g == [[0, 0]]"])

case("random_seeded", LIBRARIES, """
    import random
    def shuffled(xs, seed):
        r = random.Random(seed)
        ys = list(xs)
        r.shuffle(ys)
        return ys
    def roll(seed):
        random.seed(seed)
        return random.randint(1, 6)
    """,
    [edit("    r.shuffle(ys)\n    return ys", "    return r.shuffle(ys)")],
    ["assert shuffled(range(10), 42) == shuffled(range(10), 42)",
     "assert sorted(shuffled(range(10), 1)) == list(range(10))",
     "assert shuffled(range(10), 42) == [7, 3, 2, 8, 5, 6, 9, 4, 0, 1]",
     "assert roll(0) == 4 and roll(7) == 3",
     "assert 1 <= roll(3) <= 6"])

case("statistics_summary", LIBRARIES, """
    import math
    import statistics
    def summary(xs):
        return statistics.mean(xs), statistics.median(xs), statistics.pstdev(xs)
    """,
    [edit("statistics.pstdev(xs)", "statistics.stdev(xs)")],
    ["assert summary([1, 2, 3, 4]) == (2.5, 2.5, statistics.pstdev([1, 2, 3, 4]))",
     "assert summary([2, 2]) == (2, 2, 0)",
     "assert math.isclose(summary([1, 2, 3, 4])[2], 1.118033988749895)",
     "assert statistics.mode([1, 1, 2]) == 1"])

case("string_caesar", LIBRARIES, """
    import string
    def caesar(s, k):
        lo, up = string.ascii_lowercase, string.ascii_uppercase
        table = str.maketrans(lo + up, lo[k:] + lo[:k] + up[k:] + up[:k])
        return s.translate(table)
    """,
    ["""
    import string
    def caesar(s, k):
        return ''.join(chr(ord(c) + k) if c.isalpha() else c for c in s)
    """],
    ["assert caesar('abc', 1) == 'bcd'",
     "assert caesar('xyz', 3) == 'abc'",
     "assert caesar('Hi!', 1) == 'Ij!'",
     "assert string.ascii_letters[:3] == 'abc'",
     "assert caesar(caesar('Zebra', 5), 21) == 'Zebra'"])

case("decimal_local_context", LIBRARIES, """
    from decimal import Decimal, getcontext, localcontext
    def div_prec(a, b, prec):
        with localcontext() as ctx:
            ctx.prec = prec
            return Decimal(a) / Decimal(b)
    """,
    ["""
    from decimal import Decimal, getcontext, localcontext
    def div_prec(a, b, prec):
        getcontext().prec = prec
        return Decimal(a) / Decimal(b)
    """],
    ["assert div_prec(1, 3, 5) == Decimal('0.33333')",
     "assert str(div_prec(2, 3, 3)) == '0.667'",
     "assert div_prec(1, 8, 2) == Decimal('0.12')",
     "assert getcontext().prec == 28"])

case("fractions_egyptian", LIBRARIES, """
    import math
    from fractions import Fraction
    def egyptian(fr):
        out = []
        while fr > 0:
            d = math.ceil(fr.denominator / fr.numerator)
            out.append(Fraction(1, d))
            fr -= Fraction(1, d)
        return out
    """,
    [edit("out.append(Fraction(1, d))", "out.append(d)")],
    ["assert egyptian(Fraction(4, 13)) == [Fraction(1, 4), Fraction(1, 18), Fraction(1, 468)]",
     "assert sum(egyptian(Fraction(3, 7))) == Fraction(3, 7)",
     "assert all(f.numerator == 1 for f in egyptian(Fraction(5, 6)))",
     "assert egyptian(Fraction(1, 2)) == [0.5]"])

case("datetime_strptime_weekday", LIBRARIES, """
    from datetime import datetime
    def weekday_name(s):
        return datetime.strptime(s, '%Y-%m-%d').strftime('%A')
    """,
    [edit("strftime('%A')", "strftime('%a')")],
    ["assert weekday_name('2024-01-01') == 'Monday'",
     "assert weekday_name('2000-02-29') == 'Tuesday'",
     "assert weekday_name('1970-01-01').endswith('day')"])

case("zoneinfo_local_time", LIBRARIES, """
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo
    def local_time(utc_iso, tz):
        return datetime.fromisoformat(utc_iso).astimezone(ZoneInfo(tz))
    """,
    [edit("astimezone(ZoneInfo(tz))", "astimezone(timezone(timedelta(hours=1)))")],
    ["assert local_time('2024-07-01T12:00:00+00:00', 'Europe/Paris').hour == 14",
     "assert local_time('2024-01-01T12:00:00+00:00', 'Europe/Paris').utcoffset() == timedelta(hours=1)",
     "assert str(local_time('2024-01-01T12:00:00+00:00', 'America/New_York').tzinfo) == 'America/New_York'",
     "assert local_time('2024-07-01T12:00:00+00:00', 'Europe/Paris') == datetime(2024, 7, 1, 12, tzinfo=timezone.utc)"],
    needs=("zoneinfo:Europe/Paris", "zoneinfo:America/New_York"))

case("textwrap_helpers", LIBRARIES, """
    import textwrap
    def wrap(s, width):
        return textwrap.wrap(s, width)
    def block():
        return textwrap.dedent('''
            a
              b
        ''').strip('\\n')
    """,
    [edit("return textwrap.wrap(s, width)", "return textwrap.fill(s, width)")],
    ["assert wrap('the quick brown fox', 10) == ['the quick', 'brown fox']",
     "assert block() == 'a\\n  b'",
     "assert textwrap.indent(block(), '> ') == '> a\\n>   b'",
     "assert len(wrap('x ' * 30, 20)) == 3"])

case("operator_getters", LIBRARIES, """
    import operator
    from collections import namedtuple
    Rec = namedtuple('Rec', 'name age')
    def sort_records(rs):
        return sorted(rs, key=operator.itemgetter(1, 0))
    def names(rs):
        return list(map(operator.attrgetter('name'), rs))
    """,
    [edit("operator.itemgetter(1, 0)", "operator.itemgetter(0, 1)")],
    ["assert sort_records([('b', 2), ('a', 2), ('c', 1)]) == [('c', 1), ('a', 2), ('b', 2)]",
     "assert names([Rec('x', 1), Rec('y', 2)]) == ['x', 'y']",
     "assert sort_records([Rec('z', 9), Rec('q', 1)])[0].name == 'q'",
     "assert operator.methodcaller('upper')(names([Rec('k', 0)])[0]) == 'K'"])

case("itertools_chunked_chain", LIBRARIES, """
    from itertools import chain, islice
    def chunked(xs, n):
        it = iter(xs)
        return list(iter(lambda: list(islice(it, n)), []))
    def flatten(xss):
        return list(chain.from_iterable(xss))
    """,
    [edit("islice(it, n)", "islice(it, n - 1)")],
    ["assert chunked(range(5), 2) == [[0, 1], [2, 3], [4]]",
     "assert chunked([], 3) == []",
     "assert flatten(chunked('abcde', 2)) == list('abcde')",
     "assert len(chunked(range(9), 3)) == 3"])

# --------------------------------------------------------------------------------------------
# Assert shapes
# --------------------------------------------------------------------------------------------

case("shape_chained_comparisons", SHAPES, """
    def clamp(x, lo, hi):
        return max(lo, min(x, hi))
    """,
    [edit("return max(lo, min(x, hi))", "return min(lo, max(x, hi))")],
    ["assert 0 <= clamp(-5, 0, 10) < 1",
     "assert 0 < clamp(5, 0, 10) < 10",
     "assert clamp(15, 0, 10) == 10 == clamp(99, 0, 10)",
     "assert clamp(1, 0, 10) <= clamp(2, 0, 10) <= clamp(3, 0, 10)",
     "assert not (clamp(5, 0, 10) < 0 < 1)"])

case("shape_in_not_in", SHAPES, """
    def vowels(s):
        return {c for c in s if c in 'aeiou'}
    """,
    [edit("return {c for c in s if c in 'aeiou'}", "return [c for c in s if c in 'aeiou']")],
    ["assert 'a' in vowels('banana')",
     "assert 'b' not in vowels('banana')",
     "assert vowels('xyz') == set()",
     "assert not vowels('xyz')",
     "assert 'e' in vowels('hello') and 'o' in vowels('hello')"])

case("shape_is_none", SHAPES, """
    def find_index(xs, x):
        for i, v in enumerate(xs):
            if v == x:
                return i
        return None
    """,
    ["""
    def find_index(xs, x):
        i = xs.index(x) if x in xs else None
        if i:
            return i
        return None
    """],
    ["assert find_index([1, 2], 3) is None",
     "assert find_index([1, 2], 1) is not None",
     "assert find_index([1, 2], 1) == 0",
     "assert find_index([5], 5) is not None and find_index([5], 5) == 0",
     "assert find_index([], 0) is None"])

case("shape_isinstance_types", SHAPES, """
    def parse_num(s):
        try:
            return int(s)
        except ValueError:
            return float(s)
    """,
    ["""
    def parse_num(s):
        return float(s)
    """],
    ["assert isinstance(parse_num('3'), int)",
     "assert isinstance(parse_num('3.5'), float)",
     "assert not isinstance(parse_num('3'), bool)",
     "assert isinstance(parse_num('1e3'), (int, float))",
     "assert type(parse_num('3')) is int",
     "assert parse_num('1e3') == 1000"])

case("shape_comprehensions_with_bindings", SHAPES, """
    def double(x):
        return x * 2
    """,
    [edit("x * 2", "x + 2")],
    ["assert all(double(x) == x * 2 for x in range(5))",
     "assert any(double(x) > 7 for x in range(5))",
     "assert not any(double(x) < 0 for x in range(5))",
     "assert all(double(a) + double(b) == double(a + b) for a in range(3) for b in range(3))",
     "assert {x: double(x) for x in range(3)} == {0: 0, 1: 2, 2: 4}",
     "assert {double(x) for x in [1, 1, 2]} == {2, 4}",
     "assert [double(x) for x in range(3) if x] == [2, 4]",
     "assert [[double(i * j) for j in range(3)] for i in range(2)] == [[0, 0, 0], [0, 2, 4]]",
     "assert sum(double(x) for x in range(10) if x % 2) == 50"])

case("shape_zip_inputs_expected", SHAPES, """
    def rev(s):
        return s[::-1]
    """,
    [edit("return s[::-1]", "return ''.join(sorted(s, reverse=True))")],
    ["assert all(rev(i) == o for i, o in zip(['ab', 'x', ''], ['ba', 'x', '']))",
     "assert [rev(s) for s in ('abc', 'de')] == ['cba', 'ed']",
     "assert list(map(rev, ['bca'])) == ['acb']",
     "assert all(rev(rev(s)) == s for s in ['hello', 'world'])",
     "assert [(i, rev(s)) for i, s in enumerate(['ab', 'cab'])] == [(0, 'ba'), (1, 'bac')]"])

case("shape_lambdas_over_objects", SHAPES, """
    from dataclasses import dataclass
    @dataclass
    class Player:
        name: str
        score: int
    def roster():
        return [Player('a', 7), Player('b', 3), Player('c', 9)]
    def leaderboard(players):
        return sorted(players, key=lambda p: (-p.score, p.name))
    """,
    [edit("key=lambda p: (-p.score, p.name)", "key=lambda p: (p.score, p.name)")],
    ["assert sorted(roster(), key=lambda p: p.score)[0].name == 'b'",
     "assert max(roster(), key=lambda p: (p.score, p.name)).name == 'c'",
     "assert [p.name for p in leaderboard(roster())] == ['c', 'a', 'b']",
     "assert list(filter(lambda p: p.score > 5, leaderboard(roster()))) == [Player('c', 9), Player('a', 7)]",
     "assert leaderboard(roster())[0] == Player('c', 9)",
     "assert (lambda ps: ps[-1].score)(leaderboard(roster())) == 3"])

case("shape_star_args_kwargs", SHAPES, """
    def f(*args, **kw):
        return sum(args) * kw.get('k', 1)
    """,
    [edit("kw.get('k', 1)", "kw.get('k', 0)")],
    ["assert f(*[1, 2], **{'k': 3}) == 9",
     "assert f(1, 2) == 3",
     "assert f(**{'k': 2}) == 0",
     "assert f(*range(4), k=2) == 12",
     "assert (lambda *a, **kw: f(*a, **kw))(5) == 5"])

case("shape_walrus", SHAPES, """
    def parse(s):
        out = {}
        for part in s.split(','):
            if part:
                k, v = part.split('=')
                out[k] = int(v)
        return out
    """,
    [edit("out[k] = int(v)", "out[k] = v")],
    ["assert (r := parse('a=1')) and r['a'] == 1",
     "assert (n := len(parse('a=1,b=2'))) == 2 and n > 1",
     "assert [y for x in ['a=1', 'b=2'] if (y := parse(x))] == [{'a': 1}, {'b': 2}]",
     "assert parse('a=1,b=2') == {'a': 1, 'b': 2}",
     "assert not (e := parse('')) and e == {}"])

case("shape_fstrings", SHAPES, """
    def sq(x):
        return x * x
    """,
    [edit("return x * x", "return x * abs(x)")],
    ["assert f'{sq(3)}' == '9'",
     "assert f'{sq(2):03d}' == '004'",
     "assert f'{sq(1.5):.1f}' == '2.2'",
     "assert f'{sq(2)!r}' == '4'",
     "assert f'{sq(-1) = }' == 'sq(-1) = 1'",
     "assert f'{sq(-2)}-{sq(3)}' == '4-9'"])

case("shape_assert_messages", SHAPES, """
    def add(a, b):
        return a + b
    """,
    [edit("return a + b", "return a - b")],
    ["assert add(1, 2) == 3, 'basic'",
     "assert add(-1, 1) == 0, f'got {add(-1, 1)}'",
     "assert add('a', 'b') == 'ab', ('strings', add('a', 'b'))",
     "assert add(2, 2) == 4, 'two plus two is %d' % add(2, 2)"])

case("shape_multiline_asserts", SHAPES, """
    def merge_intervals(intervals):
        out = []
        for start, end in sorted(intervals):
            if out and start <= out[-1][1]:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        return out
    """,
    [edit("start <= out[-1][1]", "start < out[-1][1]")],
    ["""assert (
        merge_intervals([[1, 3], [2, 6], [8, 10]])
        == [[1, 6], [8, 10]]
    )""",
     """assert merge_intervals(
        [[1, 4], [4, 5]]
    ) == [[1, 5]], "touching intervals merge\"""",
     """assert all(
        len(merge_intervals(case)) == n
        for case, n in [
            ([[1, 2]], 1),
            ([[1, 2], [2, 3], [5, 6]], 2),
        ]
    )""",
     """assert merge_intervals([]) == [
    ]"""])

case("shape_float_closeness", SHAPES, """
    import math
    def circle_area(r):
        return math.pi * r * r
    """,
    [edit("math.pi * r * r", "3.14 * r * r")],
    ["assert math.isclose(circle_area(1), math.pi)",
     "assert abs(circle_area(2) - 12.566370614359172) < 1e-9",
     "assert __import__('math').isclose(circle_area(0.5), 0.7853981633974483)",
     "assert round(circle_area(1), 2) == 3.14",
     "assert math.isclose(circle_area(1), 3.14159, rel_tol=1e-5)"])

case("shape_ternaries", SHAPES, """
    def sign(x):
        return (x > 0) - (x < 0)
    """,
    [edit("return (x > 0) - (x < 0)", "return 1 if x >= 0 else -1")],
    ["assert (sign(5) if True else 0) == 1",
     "assert sign(-2) == (-1 if -2 < 0 else 1)",
     "assert ('neg' if sign(-3) < 0 else 'pos') == 'neg'",
     "assert sign(0) == 0",
     "assert (sign(0) if sign(1) > 0 else 99) == 0"])

case("shape_slicing_subscripting", SHAPES, """
    def stats(xs):
        return {'mean': sum(xs) / len(xs), 'sorted': sorted(xs)}
    """,
    [edit("'sorted': sorted(xs)", "'sorted': list(xs)")],
    ["assert stats([1, 2, 3])['mean'] == 2",
     "assert stats([3, 2, 1])['sorted'][1:] == [2, 3]",
     "assert stats([3, 1])['sorted'][::-1] == [3, 1]",
     "assert list(stats([1])) == ['mean', 'sorted']",
     "assert stats([5, 1])['sorted'][-1] == 5"])

case("shape_attribute_chains", SHAPES, """
    from types import SimpleNamespace
    from urllib.parse import parse_qsl, urlsplit
    def parse_url(u):
        parts = urlsplit(u)
        return SimpleNamespace(scheme=parts.scheme, host=parts.hostname,
                               query=SimpleNamespace(**dict(parse_qsl(parts.query))))
    """,
    ["""
    from types import SimpleNamespace
    from urllib.parse import parse_qs, urlsplit
    def parse_url(u):
        parts = urlsplit(u)
        return SimpleNamespace(scheme=parts.scheme, host=parts.hostname,
                               query=SimpleNamespace(**parse_qs(parts.query)))
    """],
    ["assert parse_url('http://a.com/x?page=2').query.page == '2'",
     "assert parse_url('http://a.com/x').host.upper() == 'A.COM'",
     "assert parse_url('https://b.org/').scheme == 'https'",
     "assert vars(parse_url('http://h/?a=1&b=2').query) == {'a': '1', 'b': '2'}"])

case("shape_method_calls_on_results", SHAPES, """
    def greet(name):
        return f'Hello, {name}!'
    """,
    [edit("return f'Hello, {name}!'", "return f'Hello, {name}'")],
    ["assert greet('bob').upper() == 'HELLO, BOB!'",
     "assert greet('x').startswith('Hello')",
     "assert greet('a').split(', ') == ['Hello', 'a!']",
     "assert greet('ann').count('n') == 2",
     "assert greet('z').endswith('!')",
     "assert greet('q').replace('Hello', 'Bye') == 'Bye, q!'"])

case("shape_builtins_over_results", SHAPES, """
    def letter_counts(s):
        d = {}
        for c in s:
            d[c] = d.get(c, 0) + 1
        return d
    """,
    [edit("for c in s:", "for c in s[:-1]:")],
    ["assert sorted(letter_counts('aba').items()) == [('a', 2), ('b', 1)]",
     "assert len(set(letter_counts('abcabc'))) == 3",
     "assert sum(1 for _ in letter_counts('xyz')) == 3",
     "assert sum(letter_counts('hello').values()) == 5",
     "assert max(letter_counts('hello'), key=letter_counts('hello').get) == 'l'",
     "assert letter_counts('aab')['a'] == 2"])

case("shape_two_program_calls", SHAPES, """
    def slow_fib(n):
        return n if n < 2 else slow_fib(n - 1) + slow_fib(n - 2)
    def fast_fib(n):
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return a
    def norm(s):
        return s.strip().lower()
    """,
    [edit("for _ in range(n):", "for _ in range(n + 1):")],
    ["assert all(slow_fib(n) == fast_fib(n) for n in range(15))",
     "assert fast_fib(slow_fib(5)) == 5",
     "assert norm('Hello') == norm('hello ')",
     "assert norm('a b') != norm('ab')",
     "assert norm(norm(' X ')) == norm(' X ')",
     "assert fast_fib(10) == slow_fib(10)"])

case("shape_nested_calls", SHAPES, """
    def inc(x):
        return x + 1
    def twice(f, x):
        return f(f(x))
    """,
    [edit("return f(f(x))", "return f(x)")],
    ["assert inc(inc(inc(0))) == 3",
     "assert twice(inc, 5) == 7",
     "assert twice(lambda v: inc(v) * 2, 1) == 10",
     "assert twice(str.upper, 'a') == 'A'",
     "assert inc(twice(inc, 0)) == 3"])

case("shape_percent_formatting", SHAPES, """
    def pct(a, b):
        return 100 * a / b
    def count(xs):
        return len(xs)
    def split_pair(s):
        left, right = s.split(':')
        return left, right
    def point_dict():
        return {'x': 1, 'y': 2}
    """,
    [edit("return left, right", "return [left, right]")],
    ["assert '%.1f%%' % pct(1, 3) == '33.3%'",
     "assert '%d items' % count([1, 2]) == '2 items'",
     "assert '%s-%s' % split_pair('a:b') == 'a-b'",
     "assert '%(x)s/%(y)s' % point_dict() == '1/2'",
     "assert '%r' % (split_pair('p:q'),) == \"('p', 'q')\""])

case("shape_not_and_bool", SHAPES, """
    def is_palindrome(s):
        return s == s[::-1]
    """,
    [edit("return s == s[::-1]", "return s.lower() == s.lower()[::-1]")],
    ["assert is_palindrome('racecar')",
     "assert not is_palindrome('ab')",
     "assert is_palindrome('') is True",
     "assert is_palindrome('Aba') is False",
     "assert is_palindrome('abba') == True",
     "assert not not is_palindrome('x')"])

case("shape_and_or", SHAPES, """
    def f(x):
        return 2 * x
    """,
    [edit("return 2 * x", "return 2 * abs(x)")],
    ["assert f(1) == 2 or f(1) == 3",
     "assert f(0) == 0 and f(2) == 4",
     "assert f(-1) == -2 and not f(0)",
     "assert f(3) == 7 or f(3) == 6",
     "assert (f(1) or None) == 2"])

case("shape_container_displays", SHAPES, """
    def f(x):
        return 2 * x
    """,
    [edit("return 2 * x", "return x * x")],
    ["assert [f(x) for x in [1, 2, 3]] == [2, 4, 6]",
     "assert (f(1), f(2)) == (2, 4)",
     "assert {f(1): 'a'}[2] == 'a'",
     "assert f(1) in [f(0), f(1)]",
     "assert [f(1), *map(f, [2, 3])] == [2, 4, 6]",
     "assert {**{'k': f(1)}} == {'k': 2}",
     "assert {f(3), f(3)} == {6}"])

case("shape_immediate_lambdas", SHAPES, """
    def f(x):
        return 2 * x
    """,
    [edit("return 2 * x", "return x + x + 1")],
    ["assert (lambda v: f(v) + 1)(2) == 5",
     "assert (lambda *a: f(*a))(3) == 6",
     "assert (lambda g=f: g(4))() == 8",
     "assert sorted([3, 1, 2], key=lambda v: -f(v)) == [3, 2, 1]"])

case("shape_function_attributes", SHAPES, """
    def solve(n):
        \"\"\"Return the sum of the first n odd numbers.\"\"\"
        return n * n
    """,
    ["""
    def solve(n):
        return n * n
    """, edit("return n * n", "return sum(range(1, 2 * n, 2)) + 1")],
    ["assert solve.__name__ == 'solve'",
     "assert solve.__doc__.startswith('Return')",
     "assert callable(solve)",
     "assert solve.__code__.co_argcount == 1",
     "assert solve(4) == 16"])

case("shape_program_constants", SHAPES, """
    MOD = 10**9 + 7
    def power(b, e):
        return pow(b, e, MOD)
    """,
    [edit("MOD = 10**9 + 7", "MOD = 10**9 + 9")],
    ["assert power(2, 10) == 1024",
     "assert power(2, 10**18) == pow(2, 10**18, MOD)",
     "assert power(3, 0) == 1",
     "assert MOD == 1000000007",
     "assert power(10, 9) == MOD - 7"])

case("shape_bool_exact_type", SHAPES, """
    def has_duplicates(xs):
        return len(set(xs)) != len(xs)
    """,
    [edit("return len(set(xs)) != len(xs)", "return len(xs) - len(set(xs))")],
    ["assert has_duplicates([1, 1]) is True",
     "assert has_duplicates([1, 2]) is False",
     "assert has_duplicates([]) == False",
     "assert type(has_duplicates([3])) is bool"])

case("shape_string_results", SHAPES, """
    def title_words(s):
        return ' '.join(w.capitalize() for w in s.split())
    """,
    [edit("w.capitalize()", "w.title()")],
    ["assert title_words('hello world') == 'Hello World'",
     "assert title_words(\"it's ok\") == \"It's Ok\"",
     "assert title_words('  a  b ') == 'A B'",
     "assert title_words('x')[0] == 'X'",
     "assert title_words('ab cd')[3:] == 'Cd'"])

case("shape_exception_in_test", SHAPES, """
    def first(xs):
        return xs[0]
    """,
    [edit("return xs[0]", "return xs[-1]")],
    ["assert first([1, 2]) == 1",
     "assert first('xy') == 'x'",
     "assert first([[]]) == []",
     "assert first([3])[0] == 3"],
    false_tests=(3,))

case("shape_generic_entry_point_names", SHAPES, """
    def candidate(xs):
        return [x for x in xs if x % 2 == 0]
    check = candidate
    """,
    [edit("x % 2 == 0", "x % 2 == 1")],
    ["assert check([1, 2, 3, 4]) == [2, 4]",
     "assert candidate([]) == []",
     "assert check is candidate",
     "assert candidate(range(5)) == [0, 2, 4]"])
