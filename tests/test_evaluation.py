"""Best-of-N metrics against brute force, benchmark readers on real-format files, reports."""
import base64
import itertools
import json
import math
import pickle
import zlib

import numpy as np
import pytest

from acecoder_jax.evaluation import benchmarks as B
from acecoder_jax.evaluation import metrics as M
from acecoder_jax.evaluation import report as R


# ------------------------------------------------------------------------------------ metrics


def _brute_pass_at_k(flags, k):
    subsets = list(itertools.combinations(range(len(flags)), k))
    return sum(any(flags[i] for i in s) for s in subsets) / len(subsets)


def _brute_best_of_n(scores, flags, n):
    """Average over every size-n subset; within a subset, ties at the top split the pick evenly."""
    total = 0.0
    subsets = list(itertools.combinations(range(len(scores)), n))
    for s in subsets:
        top = max(scores[i] for i in s)
        winners = [i for i in s if scores[i] == top]
        total += np.mean([flags[i] for i in winners])
    return total / len(subsets)


def test_pass_at_k_matches_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 9))
        flags = list(rng.random(n) < rng.random())
        for k in range(1, n + 1):
            assert M.pass_at_k(n, sum(flags), k) == pytest.approx(_brute_pass_at_k(flags, k), abs=1e-12)
    assert M.pass_at_k(200, 0, 10) == 0.0 and M.pass_at_k(200, 191, 10) == 1.0
    # Large n stays finite and matches the closed form.
    assert M.pass_at_k(1000, 3, 5) == pytest.approx(1 - math.comb(997, 5) / math.comb(1000, 5))
    with pytest.raises(ValueError, match="num_correct"):
        M.pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="k=5"):
        M.pass_at_k(4, 1, 5)


def test_best_of_n_subsets_is_the_exact_expectation_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(40):
        n_samples = int(rng.integers(1, 8))
        scores = rng.integers(0, 3, n_samples).astype(float)  # many ties on purpose
        flags = rng.random(n_samples) < 0.5
        for n in range(1, n_samples + 1):
            got = M.select_subsets(scores, flags, n)
            assert got == pytest.approx(_brute_best_of_n(scores, flags, n), abs=1e-12)
    scores = np.array([0.1, 0.9, 0.5, 0.9])
    flags = np.array([True, False, True, True])
    assert M.select_subsets(scores, flags, 1) == pytest.approx(flags.mean())  # n=1 is the mean
    assert M.select_subsets(scores, flags, 4) == pytest.approx(0.5)  # tie of two at the top


def test_best_of_n_prefix_uses_first_n_and_earliest_tie():
    scores = np.array([0.2, 0.7, 0.7, 0.9])
    flags = np.array([False, True, False, False])
    assert [M.select_prefix(scores, flags, n) for n in (1, 2, 3, 4)] == [0.0, 1.0, 1.0, 0.0]


def test_summarize_on_a_hand_computed_case():
    scores = [[3.0, 1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 3.0]]
    passed = [[True, False, False, False], [False, False, False, False]]
    s = M.summarize(scores, passed, greedy_passed=[True, False])
    assert s["num_problems"] == 2 and s["num_samples"] == 4 and s["selection"] == "subsets"
    assert s["greedy"] == 0.5
    assert s["mean_over_samples"] == pytest.approx(0.125)
    assert s["oracle_pass_at_n"] == 0.5
    assert list(s["best_of_n"]) == ["1", "2", "4"]
    # Problem 0: the passing sample has the top score, so it is picked whenever it is drawn.
    assert s["best_of_n"] == {"1": pytest.approx(0.125), "2": pytest.approx(0.25), "4": pytest.approx(0.5)}
    assert s["pass_at_k"] == s["best_of_n"]  # the RM ranks the only correct sample first
    prefix = M.summarize(scores, passed, selection="prefix")
    assert prefix["best_of_n"] == {"1": 0.5, "2": 0.5, "4": 0.5}
    assert prefix["greedy"] is None
    json.dumps(s)


def test_best_of_n_curve_below_oracle_and_default_ns():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(20, 12))
    passed = rng.random((20, 12)) < 0.3
    curve = M.best_of_n_curve(scores, passed)
    oracle = M.pass_at_k_curve(passed)
    assert list(curve) == [1, 2, 4, 8, 12] == M.default_ns(12)
    for n in curve:
        assert curve[n] <= oracle[n] + 1e-12
    assert curve[1] == pytest.approx(M.mean_over_samples(passed))
    # Scores that equal the pass flags make the RM an oracle.
    assert M.best_of_n_curve(passed.astype(float), passed) == pytest.approx(oracle)
    # Ragged rows: n is bounded by the problem with the fewest samples.
    ragged = M.best_of_n_curve([[1.0, 2.0], [1.0, 2.0, 3.0]], [[1, 0], [0, 0, 1]])
    assert list(ragged) == [1, 2]


def test_metric_input_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"problem 1: 2 scores but 3 pass flags"):
        M.best_of_n_curve([[1, 2], [1, 2]], [[1, 0], [1, 0, 1]])
    with pytest.raises(ValueError, match=r"passed\[0\] must hold booleans"):
        M.best_of_n_curve([[1, 2]], [[0.5, 1]])
    with pytest.raises(ValueError, match=r"scores\[0\] has non-finite"):
        M.best_of_n_curve([[np.nan, 2]], [[0, 1]])
    with pytest.raises(ValueError, match="unknown selection 'max'"):
        M.best_of_n_curve([[1, 2]], [[0, 1]], selection="max")
    with pytest.raises(ValueError, match=r"each n must be in \[1, 2\]"):
        M.best_of_n_curve([[1, 2]], [[0, 1]], ns=[4])
    with pytest.raises(ValueError, match="greedy_passed has 2 problems"):
        M.summarize([[1, 2]], [[0, 1]], greedy_passed=[1, 0])


# ------------------------------------------------------------------------------- benchmarks


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _run_asserts(program, tests):
    """Trusted check that generated asserts hold for a reference program (no sandbox needed)."""
    ns = {}
    exec(program, ns)
    for t in tests:
        exec(t, ns)


HE_PLUS_ROW = {
    "task_id": "HumanEval/0",
    "prompt": "from typing import List\n\n\ndef mean(xs: List[float]) -> float:\n    \"\"\"Mean.\"\"\"\n",
    "canonical_solution": "    return sum(xs) / len(xs)\n",
    "entry_point": "mean",
    "base_input": [[[1.0, 2.0]], [[3.0]]],
    "plus_input": [[[0.1, 0.2, 0.3]], [[]]],  # [] raises ZeroDivisionError in the reference
    "atol": 1e-6,
}


def test_evalplus_reader_runs_the_reference_to_get_expected_outputs(tmp_path):
    path = _write_jsonl(tmp_path / "HumanEvalPlus.jsonl", [HE_PLUS_ROW])
    bench = B.load_evalplus(path, name="humaneval_plus")
    (p,) = bench.problems
    assert p.tests == (
        "assert math.isclose(mean([1.0, 2.0]), 1.5, rel_tol=1e-07, abs_tol=1e-06)",
        "assert math.isclose(mean([3.0]), 3.0, rel_tol=1e-07, abs_tol=1e-06)",
        f"assert math.isclose(mean([0.1, 0.2, 0.3]), {repr((0.1 + 0.2 + 0.3) / 3)}, rel_tol=1e-07, "
        "abs_tol=1e-06)",
    )
    assert p.setup_code == "from typing import List"
    _run_asserts("import math\n" + p.canonical_solution, p.tests)
    # A correct program that rounds differently still passes; lists of floats compare closely too.
    _run_asserts("import math\ndef mean(xs):\n    return sum(x / len(xs) for x in xs)\n", p.tests)
    scaled = B._io_assert("f", [[1.0]], repr([0.1 + 0.2, 1.0]), 0.0)
    _run_asserts("import math\ndef f(xs):\n    return [0.3, 1.0]\n", [scaled])
    with pytest.raises(AssertionError):
        _run_asserts("import math\ndef f(xs):\n    return [0.3]\n", [scaled])
    base_only = B.load_evalplus(path, include_plus=False).problems[0]
    assert len(base_only.tests) == 2
    with pytest.raises(AssertionError):  # a wrong program fails them
        _run_asserts("import math\ndef mean(xs):\n    return 0.0\n", p.tests)


def test_mbpp_plus_style_rows(tmp_path):
    rows = [
        {"task_id": "Mbpp/2", "prompt": "Write a function to find the shared elements of two lists.",
         "entry_point": "similar_elements",
         "code": "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n",
         "base_input": [[[3, 4, 5, 6], [5, 7, 4, 10]]], "plus_input": [[[1, 2], [3]]], "atol": 0},
        {"task_id": "Mbpp/3", "prompt": "Is n not prime?", "entry_point": "is_not_prime",
         "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True"]},
        {"task_id": "Mbpp/4", "prompt": "p", "entry_point": "f", "code": "def f(x):\n    raise ValueError\n",
         "base_input": [[1]]},
    ]
    bench = B.load_evalplus(_write_jsonl(tmp_path / "MbppPlus.jsonl", rows), name="mbpp_plus")
    assert [p.task_id for p in bench.problems] == ["Mbpp/2", "Mbpp/3"]
    assert bench.problems[0].tests == ("assert similar_elements([3, 4, 5, 6], [5, 7, 4, 10]) == (4, 5)",
                                       "assert similar_elements([1, 2], [3]) == ()")
    assert bench.skipped == [("Mbpp/4", "no test could be expressed as an assert")]
    assert B.load_evalplus(_write_jsonl(tmp_path / "m.jsonl", rows), max_tests=1).problems[0].tests == \
        bench.problems[0].tests[:1]


def test_reader_errors_point_at_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(HE_PLUS_ROW) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: malformed JSON"):
        B.load_evalplus(str(bad))
    missing = _write_jsonl(tmp_path / "missing.jsonl", [{"task_id": "x", "prompt": "p"}])
    with pytest.raises(ValueError, match=r"missing.jsonl:1: missing field\(s\) \['entry_point'\]"):
        B.load_evalplus(missing)
    not_assert = _write_jsonl(tmp_path / "na.jsonl", [
        {"task_id": "t", "prompt": "p", "entry_point": "f", "tests": ["print(f(1))"]}])
    with pytest.raises(ValueError, match=r"na.jsonl:1 \(t\): test 'print\(f\(1\)\)' cannot run in the sandbox"):
        B.load_evalplus(not_assert)
    unsafe = _write_jsonl(tmp_path / "unsafe.jsonl", [
        {"task_id": "u", "prompt": "p", "entry_point": "f", "test_list": ["assert (yield f(1))"]}])
    with pytest.raises(ValueError, match=r"unsafe.jsonl:1 \(u\).*cannot run in the sandbox"):
        B.load_evalplus(unsafe)
    with pytest.raises(ValueError, match="unknown benchmark 'mbpp'"):
        B.load_benchmark("mbpp", "x")
    with pytest.raises(ValueError, match="pass its path"):
        B.load_benchmark("mbpp_plus")
    with pytest.raises(ValueError, match=r"unknown task ids \['nope'\]"):
        B.load_evalplus(_write_jsonl(tmp_path / "ok.jsonl", [HE_PLUS_ROW]), task_ids=["nope"])


BCB_TEST = '''
import unittest
import os

class TestCases(unittest.TestCase):
    def test_basic(self):
        """Docstring is ignored."""
        result = task_func([1, 2, 3])
        self.assertEqual(result, 6)
        self.assertIsInstance(task_func([]), int)
        self.assertTrue(task_func([5]) > 4)

    def test_local_chain(self):
        xs = [4, 5]
        total = task_func(xs)
        assert total == 9
        self.assertNotIn(total, [1, 2])

    def test_needs_module(self):
        self.assertEqual(task_func([1]), os.sep and 1)

    def test_loop(self):
        for i in range(3):
            self.assertEqual(task_func([i]), i)

class TestWithFixture(unittest.TestCase):
    def setUp(self):
        self.data = [1]
    def test_uses_fixture(self):
        self.assertEqual(task_func(self.data), 1)
'''


def test_bigcodebench_unittest_methods_become_asserts(tmp_path):
    tests = B.bigcodebench_asserts(BCB_TEST, "task_func")
    assert tests == [
        "assert task_func([1, 2, 3]) == 6",
        "assert isinstance(task_func([]), int)",
        "assert task_func([5]) > 4",
        "assert task_func([4, 5]) == 9",
        "assert task_func([4, 5]) not in [1, 2]",
    ]
    rows = [
        {"task_id": "BigCodeBench/0", "complete_prompt": "def task_func(xs):\n    \"\"\"Sum.\"\"\"\n",
         "instruct_prompt": "Sum a list.", "code_prompt": "def task_func(xs):\n",
         "canonical_solution": "    return sum(xs)\n", "entry_point": "task_func", "test": BCB_TEST},
        {"task_id": "BigCodeBench/1", "complete_prompt": "p", "instruct_prompt": "p", "code_prompt": "",
         "canonical_solution": "", "entry_point": "task_func",
         "test": "import unittest\nclass T(unittest.TestCase):\n    def setUp(self):\n        pass\n"},
    ]
    bench = B.load_bigcodebench(_write_jsonl(tmp_path / "bcb.jsonl", rows), prompt_field="instruct_prompt")
    (p,) = bench.problems
    assert p.prompt == "Sum a list." and p.tests == tuple(tests)
    assert bench.skipped[0][0] == "BigCodeBench/1"
    _run_asserts("def task_func(xs):\n    return sum(xs)\n", p.tests)


def _compress_cases(cases):
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


def test_livecodebench_functional_and_stdin_problems(tmp_path):
    functional = {
        "question_id": "lc-1", "question_title": "Two Sum", "question_content": "Find two indices.",
        "starter_code": "class Solution:\n    def twoSum(self, nums, target):\n        ",
        "platform": "leetcode", "contest_date": "2024-06-01T00:00:00",
        "public_test_cases": json.dumps([{"input": "[2, 7, 11]\n9", "output": "[0, 1]", "testtype": "functional"}]),
        "private_test_cases": _compress_cases([{"input": "[3, 3]\n6", "output": "[0, 1]", "testtype": "functional"}]),
        "metadata": json.dumps({"func_name": "twoSum"}),
    }
    stdin = {"question_id": "cf-1", "question_content": "Read n.", "starter_code": "",
             "contest_date": "2024-07-01T00:00:00",
             "public_test_cases": json.dumps([{"input": "3\n", "output": "6\n", "testtype": "stdin"}]),
             "private_test_cases": "", "metadata": "{}"}
    old = dict(functional, question_id="lc-old", contest_date="2023-01-01T00:00:00")
    path = _write_jsonl(tmp_path / "test.jsonl", [functional, stdin, old])
    bench = B.load_livecodebench(path, since="2024-01-01")
    (p,) = bench.problems
    assert p.task_id == "lc-1" and p.entry_point == "Solution"
    assert p.tests == ("assert Solution().twoSum([2, 7, 11], 9) == [0, 1]",
                       "assert Solution().twoSum([3, 3], 6) == [0, 1]")
    assert p.prompt.startswith("Find two indices.") and "class Solution" in p.prompt
    assert bench.skipped == [("cf-1", "stdin/stdout tests need an I/O executor")]
    _run_asserts("class Solution:\n    def twoSum(self, nums, target):\n"
                 "        seen = {}\n        for i, x in enumerate(nums):\n"
                 "            if target - x in seen:\n                return [seen[target - x], i]\n"
                 "            seen[x] = i\n", p.tests)
    # Reading a directory of release files gives the same problems.
    assert [q.task_id for q in B.load_livecodebench(str(tmp_path)).problems] == ["lc-1", "lc-old"]


def test_livecodebench_blob_cannot_run_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(ValueError, match="private_test_cases: test cases are neither JSON"):
        B.decode_test_cases(blob, "f.jsonl:1 private_test_cases")


def test_program_for_prepends_prompt_helpers():
    prompt = ("import math\n\ndef helper(x):\n    return x * 2\n\n\ndef f(x):\n"
              "    \"\"\"Uses helper.\"\"\"\n")
    p = B.Problem("t", prompt, "f", ("assert f(2) == 4",), setup_code=B._prompt_setup(prompt, "f"))
    assert p.setup_code == "import math\n\ndef helper(x):\n    return x * 2"
    program = B.program_for(p, "def f(x):\n    return helper(x)\n")
    _run_asserts(program, p.tests)
    assert B.program_for(B.Problem("t", "q", "f", ()), "code") == "code"
    assert p.to_dict()["tests"] == ["assert f(2) == 4"]


# ---------------------------------------------------------------------------------- reports


def _runs():
    rng = np.random.default_rng(3)
    scores, passed = rng.normal(size=(6, 8)), rng.random((6, 8)) < 0.4
    s = M.summarize(scores, passed, greedy_passed=passed[:, 0])
    return [R.make_run(s, benchmark="humaneval", policy="tiny|policy", reward_model="tiny-rm"),
            R.make_run(M.summarize(scores, passed, ns=[1, 8], selection="prefix"),
                       benchmark="humaneval", policy="tiny", reward_model="prefix")]


def test_write_report_creates_json_table_and_png(tmp_path):
    runs = _runs()
    paths = R.write_report(str(tmp_path / "out"), runs)
    assert R.read_results(str(tmp_path / "out")) == json.loads(json.dumps(runs))
    with open(paths["plot"], "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    table = open(paths["markdown"]).read().splitlines()
    assert table[0].startswith("| benchmark | policy | reward model | greedy | mean | best-of-1 |")
    assert "best-of-8 | oracle pass@N |" in table[0]
    assert len(table) == 4
    first = runs[0]
    assert f"| {100 * first['best_of_n']['8']:.1f} | {100 * first['oracle_pass_at_n']:.1f} |" in table[2]
    assert "tiny\\|policy" in table[2]
    # The prefix run has no best-of-2/4: shown as "-" rather than invented.
    assert table[3].count("| - |") >= 2


def test_report_to_fsspec_url_and_bad_runs():
    import fsspec

    paths = R.write_report("memory://reports/run1", _runs())
    assert fsspec.filesystem("memory").exists("/reports/run1/best_of_n.png")
    assert len(R.read_results("memory://reports/run1/results.json")) == 2
    assert paths["json"] == "memory://reports/run1/results.json"
    with pytest.raises(ValueError, match="at least one run"):
        R.markdown_table([])
    with pytest.raises(ValueError, match=r"run 0 lacks \['benchmark'"):
        R.markdown_table([{"best_of_n": {}, "pass_at_k": {}}])
    with pytest.raises(ValueError, match="summary lacks 'best_of_n'"):
        R.make_run({}, benchmark="b", policy="p", reward_model="r")


# ------------------------------------------------------------------- HumanEval (bundled data)


@pytest.fixture(scope="module")
def humaneval():
    return B.load_humaneval()


def test_humaneval_loads_all_problems_with_independent_asserts(humaneval):
    assert humaneval.name == "humaneval" and humaneval.skipped == []
    assert len(humaneval.problems) == 164
    assert [p.task_id for p in humaneval.problems[:2]] == ["HumanEval/0", "HumanEval/1"]
    for p in humaneval.problems:
        assert p.tests and all(t.startswith("assert ") and "candidate" not in t for t in p.tests)
        assert p.entry_point in "".join(p.tests)
    assert "import copy" in humaneval.problems[32].setup_code
    # Random-input checks (HumanEval/38) give the same asserts on every load.
    assert B.load_humaneval(task_ids=["HumanEval/38"]).problems[0].tests == humaneval.problems[38].tests
    assert [p.task_id for p in B.load_humaneval(limit=3).problems] == \
        ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail(humaneval):
    for p in humaneval.problems:
        _run_asserts(B.program_for(p, p.prompt + p.canonical_solution), p.tests)
        # Setup code + a body-less stub: the helpers from the prompt exist, the answer is wrong.
        stub = B.program_for(p, f"def {p.entry_point}(*args, **kwargs):\n    return None\n")
        with pytest.raises(Exception):
            _run_asserts(stub, p.tests)


def test_humaneval_through_the_real_sandbox_into_a_report(humaneval, tmp_path):
    """Reference and stub programs for a handful of problems run in the executor; their pass
    flags and made-up RM scores (which prefer the stub on odd problems) flow into a report."""
    from sandbox_workers import execute_jobs

    problems = humaneval.problems[:6]
    programs = {}
    for i, p in enumerate(problems):
        programs[(i, 0)] = B.program_for(p, p.prompt + p.canonical_solution)
        programs[(i, 1)] = B.program_for(p, f"def {p.entry_point}(*args):\n    return None\n")
    jobs = [{"id": f"{i}:{s}", "program": prog, "tests": list(problems[i].tests), "timeout_s": 10.0}
            for (i, s), prog in programs.items()]
    results = {r["id"]: r for r in execute_jobs(jobs, num_workers=2)}
    passed = np.zeros((len(problems), 2), dtype=bool)
    for (i, s) in programs:
        r = results[f"{i}:{s}"]
        assert r["status"] == "ok", r
        passed[i, s] = r["pass_rate"] == 1.0
    assert passed[:, 0].all() and not passed[:, 1].any()
    scores = np.array([[1.0, 0.0] if i % 2 == 0 else [0.0, 1.0] for i in range(len(problems))])
    summary = M.summarize(scores, passed, greedy_passed=passed[:, 0])
    assert summary["best_of_n"] == {"1": 0.5, "2": 0.5} and summary["oracle_pass_at_n"] == 1.0
    paths = R.write_report(str(tmp_path), [R.make_run(summary, benchmark="humaneval[:6]",
                                                      policy="reference+stub", reward_model="parity")])
    assert "| humaneval[:6] | reference+stub | parity | 100.0 | 50.0 | 50.0 | 50.0 | 100.0 |" in \
        open(paths["markdown"]).read()


def test_within_question_auc_ranks_each_questions_own_samples():
    perfect = M.within_question_auc([[3.0, 2.0, 1.0]], [[1.0, 0.5, 0.0]])
    assert perfect == (1.0, 1)
    assert M.within_question_auc([[1.0, 2.0, 3.0]], [[1.0, 0.5, 0.0]]) == (0.0, 1)
    assert M.within_question_auc([[1.0, 1.0]], [[1.0, 0.0]]) == (0.5, 1)  # a tie counts half
    # a question whose samples all pass equally has no pair to rank: left out, and counted as such
    auc, used = M.within_question_auc([[3.0, 1.0], [5.0, 9.0], [2.0, 2.0]], [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    assert (auc, used) == (0.75, 2)
    assert M.within_question_auc([[1.0]], [[1.0]]) == (None, 0)
    with pytest.raises(ValueError, match="2 scores but 3 pass rates"):
        M.within_question_auc([[1.0, 2.0]], [[1.0, 0.0, 0.5]])


def test_bootstrap_intervals_over_problems():
    rng = np.random.default_rng(0)
    coin = rng.random(400) < 0.5
    lo, hi = M.bootstrap_intervals({"x": coin})["x"]
    half = 1.96 * np.sqrt(0.25 / coin.size)  # the normal approximation's half width
    assert lo < coin.mean() < hi and abs((hi - lo) / 2 - half) < 0.25 * half
    assert M.bootstrap_intervals({"c": [0.3] * 20})["c"] == pytest.approx([0.3, 0.3])
    few = M.bootstrap_intervals({"x": coin[:40]})["x"]
    assert few[1] - few[0] > hi - lo  # fewer problems, a wider interval
    assert M.bootstrap_intervals({"x": coin}, seed=5) == M.bootstrap_intervals({"x": coin}, seed=5)
    with pytest.raises(ValueError, match="one value per problem"):
        M.bootstrap_intervals({"a": [1, 0], "b": [1]})


def test_summary_gives_an_interval_for_every_figure():
    rng = np.random.default_rng(1)
    passed = rng.random((60, 8)) < 0.4
    scores = rng.normal(size=(60, 8)) + passed
    s = M.summarize(scores, passed, greedy_passed=passed[:, 0], ns=[1, 4, 8])
    assert set(s["intervals"]) == {"greedy", "mean_over_samples", "oracle_pass_at_n", "best_of_1", "best_of_4",
                                   "best_of_8"} and s["interval_level"] == 0.95
    for name, point in [("greedy", s["greedy"]), ("mean_over_samples", s["mean_over_samples"]),
                        ("oracle_pass_at_n", s["oracle_pass_at_n"])] + [
                        (f"best_of_{n}", v) for n, v in s["best_of_n"].items()]:
        lo, hi = s["intervals"][name]
        assert lo <= point <= hi, (name, lo, point, hi)
