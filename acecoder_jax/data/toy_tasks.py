"""A procedurally generated family of small function-writing tasks.

Two jobs: the embedded default seed corpus of the synthesis pipeline (no download needed), and a
task family that models of a few hundred thousand parameters can learn on CPU in minutes for the
RL demo. Tasks are one short typed function each (arithmetic, strings, lists), built from templates
with random constants and names, seeded and reproducible, and spread over three difficulty levels
so that pass rates of a learning policy spread out too.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Callable

from acecoder_jax.registry import Registry


@dataclasses.dataclass(frozen=True)
class ToyTask:
    id: str
    family: str
    difficulty: int  # 1 (one expression) .. 3 (a loop / several branches)
    entry_point: str
    instruction: str
    solution: str

    def as_seed(self) -> dict:
        """Seed record consumed by the synthesis stage."""
        return {"id": self.id, "source": f"toy/{self.family}", "instruction": self.instruction,
                "program": self.solution, "entry_point": self.entry_point,
                "difficulty": self.difficulty}


# A template draws its constants from rng and returns (entry_point, instruction, solution).
Template = Callable[[random.Random], tuple[str, str, str]]
TOY_FAMILIES = Registry("toy task family")  # family -> (difficulty, template)


def _template(family: str, difficulty: int):
    def register(fn: Template) -> Template:
        TOY_FAMILIES.add(family, (difficulty, fn))
        return fn
    return register


def _fn(name: str, args: str, ret: str, body: str) -> str:
    return f"def {name}({args}) -> {ret}:\n" + "".join(f"    {line}\n" for line in body.split("\n"))


def _k(rng: random.Random, lo: int = 2, hi: int = 9) -> int:
    return rng.randint(lo, hi)


# ---- difficulty 1: a single expression ----

@_template("add_const", 1)
def _add_const(rng):
    k = _k(rng, 1, 20)
    name = f"add_{k}"
    return name, f"Write a function {name}(x: int) -> int that returns x plus {k}.", _fn(
        name, "x: int", "int", f"return x + {k}")


@_template("mul_const", 1)
def _mul_const(rng):
    k = _k(rng)
    name = f"times_{k}"
    return name, f"Write a function {name}(x: int) -> int that returns x multiplied by {k}.", _fn(
        name, "x: int", "int", f"return x * {k}")


@_template("sub_const", 1)
def _sub_const(rng):
    k = _k(rng, 1, 20)
    name = f"minus_{k}"
    return name, f"Write a function {name}(x: int) -> int that returns x minus {k}.", _fn(
        name, "x: int", "int", f"return x - {k}")


@_template("max_or_min", 1)
def _max_or_min(rng):
    op = rng.choice(["max", "min"])
    word = "larger" if op == "max" else "smaller"
    name = f"{word}_of"
    return name, f"Write a function {name}(a: int, b: int) -> int that returns the {word} of a and b.", _fn(
        name, "a: int, b: int", "int", f"return {op}(a, b)")


@_template("is_multiple", 1)
def _is_multiple(rng):
    k = _k(rng)
    name = f"divisible_by_{k}"
    return name, (f"Write a function {name}(n: int) -> bool that returns True when n is divisible "
                  f"by {k}, else False."), _fn(name, "n: int", "bool", f"return n % {k} == 0")


@_template("repeat_str", 1)
def _repeat_str(rng):
    k = _k(rng, 2, 5)
    name = f"repeat_{k}"
    return name, f"Write a function {name}(s: str) -> str that returns s repeated {k} times.", _fn(
        name, "s: str", "str", f"return s * {k}")


@_template("change_case", 1)
def _change_case(rng):
    method, words = rng.choice([("upper", "in upper case"), ("lower", "in lower case"),
                                ("swapcase", "with the case of every letter swapped")])
    name = f"to_{method}"
    return name, f"Write a function {name}(s: str) -> str that returns s {words}.", _fn(
        name, "s: str", "str", f"return s.{method}()")


@_template("reverse_str", 1)
def _reverse_str(rng):
    name = rng.choice(["reverse", "reversed_text", "backwards"])
    return name, f"Write a function {name}(s: str) -> str that returns s reversed.", _fn(
        name, "s: str", "str", "return s[::-1]")


@_template("prefix", 1)
def _prefix(rng):
    k = _k(rng, 1, 5)
    name = f"first_{k}"
    return name, (f"Write a function {name}(s: str) -> str that returns the first {k} characters "
                  f"of s (all of s if it is shorter)."), _fn(name, "s: str", "str", f"return s[:{k}]")


@_template("sum_list", 1)
def _sum_list(rng):
    name = rng.choice(["total", "sum_all", "list_sum"])
    return name, f"Write a function {name}(xs: list[int]) -> int that returns the sum of xs.", _fn(
        name, "xs: list[int]", "int", "return sum(xs)")


# ---- difficulty 2: a comprehension, a condition or two operations ----

@_template("count_value", 2)
def _count_value(rng):
    k = _k(rng, 0, 9)
    name = f"count_{k}s"
    return name, (f"Write a function {name}(xs: list[int]) -> int that returns how many times {k} "
                  f"occurs in xs."), _fn(name, "xs: list[int]", "int", f"return xs.count({k})")


@_template("keep_greater", 2)
def _keep_greater(rng):
    k = _k(rng, 0, 9)
    name = f"above_{k}"
    return name, (f"Write a function {name}(xs: list[int]) -> list[int] that returns the elements "
                  f"of xs greater than {k}, in order."), _fn(
        name, "xs: list[int]", "list[int]", f"return [x for x in xs if x > {k}]")


@_template("add_to_each", 2)
def _add_to_each(rng):
    k = _k(rng, 1, 9)
    name = f"shift_all_by_{k}"
    return name, (f"Write a function {name}(xs: list[int]) -> list[int] that adds {k} to every "
                  f"element of xs."), _fn(name, "xs: list[int]", "list[int]", f"return [x + {k} for x in xs]")


@_template("clamp", 2)
def _clamp(rng):
    lo = rng.randint(-10, 0)
    hi = rng.randint(1, 10)
    name = "clamp"
    return name, (f"Write a function {name}(x: int) -> int that returns x limited to the range "
                  f"{lo} to {hi}: values below {lo} become {lo}, values above {hi} become {hi}."), _fn(
        name, "x: int", "int", f"return min(max(x, {lo}), {hi})")


@_template("count_char", 2)
def _count_char(rng):
    c = rng.choice("abcdexyz")
    name = f"count_{c}"
    return name, f"Write a function {name}(s: str) -> int that returns how many times '{c}' occurs in s.", _fn(
        name, "s: str", "int", f"return s.count({c!r})")


@_template("join_words", 2)
def _join_words(rng):
    sep, word = rng.choice([("-", "dashes"), (",", "commas"), (" ", "spaces"), ("_", "underscores")])
    name = f"join_with_{word}"
    return name, (f"Write a function {name}(words: list[str]) -> str that joins the strings in "
                  f"words with {word} between them."), _fn(
        name, "words: list[str]", "str", f"return {sep!r}.join(words)")


@_template("polynomial", 2)
def _polynomial(rng):
    a, b, c = rng.randint(1, 5), rng.randint(-5, 5), rng.randint(-9, 9)
    name = "poly"
    return name, (f"Write a function {name}(x: int) -> int that returns {a}*x*x + {b}*x + {c}."), _fn(
        name, "x: int", "int", f"return {a} * x * x + {b} * x + {c}")


@_template("count_vowels", 2)
def _count_vowels(rng):
    name = rng.choice(["count_vowels", "vowel_count"])
    return name, (f"Write a function {name}(s: str) -> int that returns the number of vowels "
                  f"(a, e, i, o, u, lower or upper case) in s."), _fn(
        name, "s: str", "int", "return sum(1 for ch in s.lower() if ch in 'aeiou')")


@_template("is_palindrome", 2)
def _is_palindrome(rng):
    name = rng.choice(["is_palindrome", "reads_same_backwards"])
    return name, (f"Write a function {name}(s: str) -> bool that returns True when s reads the same "
                  f"forwards and backwards."), _fn(name, "s: str", "bool", "return s == s[::-1]")


@_template("digit_sum", 2)
def _digit_sum(rng):
    name = "digit_sum"
    return name, (f"Write a function {name}(n: int) -> int that returns the sum of the decimal "
                  f"digits of the absolute value of n."), _fn(
        name, "n: int", "int", "return sum(int(d) for d in str(abs(n)))")


# ---- difficulty 3: loops, state, several branches ----

@_template("fizzbuzz", 3)
def _fizzbuzz(rng):
    a, b = rng.sample([2, 3, 5, 7], 2)  # coprime, so all four answers occur
    name = "fizzbuzz"
    body = (f"if n % {a} == 0 and n % {b} == 0:\n    return 'FizzBuzz'\n"
            f"if n % {a} == 0:\n    return 'Fizz'\nif n % {b} == 0:\n    return 'Buzz'\nreturn str(n)")
    return name, (f"Write a function {name}(n: int) -> str that returns 'FizzBuzz' if n is divisible by "
                  f"both {a} and {b}, 'Fizz' if only by {a}, 'Buzz' if only by {b}, otherwise n as "
                  f"a string."), _fn(name, "n: int", "str", body)


@_template("sum_multiples", 3)
def _sum_multiples(rng):
    a, b = rng.sample([2, 3, 5, 7], 2)
    name = f"sum_multiples_{a}_{b}"
    return name, (f"Write a function {name}(n: int) -> int that returns the sum of all numbers from "
                  f"0 up to but not including n that are divisible by {a} or by {b}."), _fn(
        name, "n: int", "int", f"return sum(i for i in range(n) if i % {a} == 0 or i % {b} == 0)")


@_template("running_sum", 3)
def _running_sum(rng):
    name = rng.choice(["running_sum", "prefix_sums"])
    body = "out = []\ntotal = 0\nfor x in xs:\n    total += x\n    out.append(total)\nreturn out"
    return name, (f"Write a function {name}(xs: list[int]) -> list[int] whose i-th element is the sum "
                  f"of xs[0] through xs[i]."), _fn(name, "xs: list[int]", "list[int]", body)


@_template("dedup", 3)
def _dedup(rng):
    name = rng.choice(["unique", "dedup"])
    body = "seen = set()\nout = []\nfor x in xs:\n    if x not in seen:\n        seen.add(x)\n        out.append(x)\nreturn out"
    return name, (f"Write a function {name}(xs: list[int]) -> list[int] that removes repeated values "
                  f"from xs, keeping the first occurrence of each, in order."), _fn(
        name, "xs: list[int]", "list[int]", body)


@_template("rotate", 3)
def _rotate(rng):
    k = _k(rng, 1, 4)
    name = f"rotate_left_{k}"
    body = f"if not xs:\n    return []\nk = {k} % len(xs)\nreturn xs[k:] + xs[:k]"
    return name, (f"Write a function {name}(xs: list[int]) -> list[int] that rotates xs left by {k} "
                  f"positions (an empty list stays empty)."), _fn(name, "xs: list[int]", "list[int]", body)


@_template("caesar", 3)
def _caesar(rng):
    k = _k(rng, 1, 25)
    name = f"shift_letters_{k}"
    body = (f"out = ''\nfor ch in s:\n    if 'a' <= ch <= 'z':\n"
            f"        out += chr((ord(ch) - ord('a') + {k}) % 26 + ord('a'))\n"
            f"    else:\n        out += ch\nreturn out")
    return name, (f"Write a function {name}(s: str) -> str that shifts every lower-case letter of s "
                  f"{k} places forward in the alphabet, wrapping from z to a; other characters stay."), _fn(
        name, "s: str", "str", body)


@_template("count_runs", 3)
def _count_runs(rng):
    name = "count_runs"
    body = "runs = 0\nfor i, x in enumerate(xs):\n    if i == 0 or xs[i - 1] != x:\n        runs += 1\nreturn runs"
    return name, (f"Write a function {name}(xs: list[int]) -> int that returns the number of maximal "
                  f"blocks of equal adjacent values in xs."), _fn(name, "xs: list[int]", "int", body)


@_template("collatz_steps", 3)
def _collatz_steps(rng):
    name = "collatz_steps"
    body = ("steps = 0\nwhile n > 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps += 1\n"
            "return steps")
    return name, (f"Write a function {name}(n: int) -> int that counts the steps to reach 1 from n, "
                  f"halving even numbers and mapping odd n to 3*n + 1 (0 for n <= 1)."), _fn(
        name, "n: int", "int", body)


def families() -> dict[str, int]:
    """Family name -> difficulty."""
    return {name: d for name, (d, _) in TOY_FAMILIES.items()}


def generate_toy_tasks(num_tasks: int, seed: int = 0, difficulties: tuple[int, ...] = (1, 2, 3),
                       families_subset: tuple[str, ...] | None = None) -> list[ToyTask]:
    """`num_tasks` distinct tasks, same list for the same arguments.

    Families are visited round-robin (so every family appears once the count allows), constants
    drawn from a seeded RNG; duplicates (same family and program) are redrawn. When a family runs
    out of distinct variants it is retired, and generation stops early only if all are exhausted.
    """
    if num_tasks < 0:
        raise ValueError(f"num_tasks must be >= 0, got {num_tasks}")
    pool = [f for f, (d, _) in TOY_FAMILIES.items() if d in difficulties]
    if families_subset is not None:
        unknown = sorted(set(families_subset) - set(TOY_FAMILIES))
        if unknown:
            raise ValueError(f"unknown toy task families {unknown}; known: {sorted(TOY_FAMILIES)}")
        pool = [f for f in pool if f in families_subset]
    if not pool:
        raise ValueError(f"no toy task family matches difficulties={difficulties} families={families_subset}")
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    tasks: list[ToyTask] = []
    misses = {f: 0 for f in pool}
    i = 0
    while len(tasks) < num_tasks and pool:
        family = pool[i % len(pool)]
        i += 1
        difficulty, template = TOY_FAMILIES[family]
        entry, instruction, solution = template(rng)
        key = (family, solution)
        if key in seen:
            misses[family] += 1
            if misses[family] >= 50:  # this family has no fresh variants left
                pool.remove(family)
            continue
        seen.add(key)
        tasks.append(ToyTask(id=f"toy-{seed}-{len(tasks):05d}", family=family, difficulty=difficulty,
                             entry_point=entry, instruction=instruction, solution=solution))
    return tasks


def toy_seed_corpus(num_tasks: int = 200, seed: int = 0, difficulties: tuple[int, ...] = (1, 2, 3)) -> list[dict]:
    """The bundled default seed corpus as seed records."""
    return [t.as_seed() for t in generate_toy_tasks(num_tasks, seed, tuple(difficulties))]
