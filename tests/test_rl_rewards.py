"""Rewards: executed tests (real subprocesses), reward-model normalisation, R1 format, sums."""
import subprocess
import sys

import numpy as np
import pytest

from acecoder_jax import config_blocks
from acecoder_jax.errors import ConfigError
from acecoder_jax.execution import Executor, build_executor
from acecoder_jax.rl import rewards as rw

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2, 2) == 4",
             "assert add(0, 0) == 0"]


def fenced(code):
    return f"Here is my solution.\n```python\n{code}\n```\nIt adds numbers."


GOOD = fenced("def add(a, b):\n    return a + b")
PARTIAL = fenced("def add(a, b):\n    return a + b if a > 0 else 1")  # passes 2 of 4
SYNTAX = fenced("def add(a, b)\n    return a + b")
LOOP = fenced("def add(a, b):\n    while True:\n        pass")
NO_CODE = "I cannot solve this."


def subprocess_executor(jobs):
    """A plain executor for these tests: each assert runs in a fresh python subprocess."""
    for job in jobs:
        try:
            compile(job["program"], "<program>", "exec")
        except SyntaxError:
            yield {"id": job["id"], "status": "syntax_error", "pass_rate": 0.0,
                   "outcomes": ["not_run"] * len(job["tests"]), "duration_s": 0.0}
            continue
        outcomes = []
        for test in job["tests"]:
            try:
                proc = subprocess.run([sys.executable, "-c", job["program"] + "\n" + test],
                                      capture_output=True, timeout=job.get("timeout_s", 5.0))
                outcomes.append("pass" if proc.returncode == 0 else "fail")
            except subprocess.TimeoutExpired:
                outcomes.append("timeout")
                break
        outcomes += ["not_run"] * (len(job["tests"]) - len(outcomes))
        status = "timeout" if "timeout" in outcomes else "ok"
        yield {"id": job["id"], "status": status, "outcomes": outcomes, "duration_s": 0.0,
               "pass_rate": outcomes.count("pass") / len(outcomes)}


class Flaky:
    """Wraps an executor and injects infrastructure failures on its first calls."""

    def __init__(self, inner, *, raise_calls=0, drop_calls=0, lost_calls=0):
        self.inner, self.calls = inner, 0
        self.raise_calls, self.drop_calls, self.lost_calls = raise_calls, drop_calls, lost_calls
        self.job_counts = []

    def __call__(self, jobs):
        self.calls += 1
        self.job_counts.append(len(jobs))
        if self.calls <= self.raise_calls:
            raise ConnectionError("executor unreachable")
        results = list(self.inner(jobs))
        if self.calls <= self.drop_calls:
            results = results[1:]
        if self.calls <= self.lost_calls:
            results[0] = dict(results[0], status="worker_lost", pass_rate=0.0)
        return results


def test_rule_reward_and_pass_rate_from_executed_programs():
    completions = [GOOD, PARTIAL, SYNTAX, LOOP, NO_CODE]
    tests = [ADD_TESTS] * 5
    prompts = ["q"] * 5
    rule = rw.ExecutionReward(subprocess_executor, mode="all_pass", timeout_s=0.5)
    out = rule(prompts, completions, tests)
    assert out.values.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert out.details["pass_rate"].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]
    assert out.details["has_code"].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]
    rate = rw.ExecutionReward(subprocess_executor, mode="pass_rate", timeout_s=1.0)
    assert rate(prompts[:2], completions[:2], tests[:2]).values.tolist() == [1.0, 0.5]


def test_r1_answer_code_is_what_runs():
    completion = "let me think</think> <answer>\n" + GOOD + "\n</answer>"
    out = rw.ExecutionReward(subprocess_executor)(["q"], [completion], [ADD_TESTS])
    assert out.values.tolist() == [1.0]


@pytest.mark.parametrize("flaw", ["raise_calls", "drop_calls", "lost_calls"])
def test_infrastructure_failures_are_retried(flaw):
    flaky = Flaky(subprocess_executor, **{flaw: 1})
    reward = rw.ExecutionReward(flaky, retries=1, retry_backoff_s=0.0)
    out = reward(["q", "q"], [GOOD, GOOD], [ADD_TESTS, ADD_TESTS[:2]])
    assert out.values.tolist() == [1.0, 1.0]
    assert flaky.calls == 2
    # only the jobs without a valid result go out again
    assert flaky.job_counts == [2, 2 if flaw == "raise_calls" else 1]


@pytest.mark.parametrize("flaw", ["raise_calls", "drop_calls", "lost_calls"])
def test_failure_after_retries_raises_instead_of_zero(flaw):
    flaky = Flaky(subprocess_executor, **{flaw: 3})
    reward = rw.ExecutionReward(flaky, retries=2, retry_backoff_s=0.0)
    with pytest.raises(rw.RewardError, match=r"no valid result after 3 attempt"):
        reward(["q", "q"], [GOOD, PARTIAL], [ADD_TESTS, ADD_TESTS])
    assert flaky.calls == 3


def test_bad_results_and_inputs_are_named():
    def forged(jobs):
        return [{"id": "99", "status": "ok", "pass_rate": 1.0, "outcomes": ["pass"]}]

    with pytest.raises(rw.RewardError, match="unknown job id '99'"):
        rw.ExecutionReward(forged)(["q"], [GOOD], [ADD_TESTS])

    def wrong_length(jobs):
        return [{"id": j["id"], "status": "ok", "pass_rate": 1.0, "outcomes": ["pass"]}
                for j in jobs]

    with pytest.raises(rw.RewardError, match="1 outcomes for 4 tests"):
        rw.ExecutionReward(wrong_length, retries=0)(["q"], [GOOD], [ADD_TESTS])
    reward = rw.ExecutionReward(subprocess_executor)
    with pytest.raises(ValueError, match="sample 1 needs a non-empty list"):
        reward(["q", "q"], [GOOD, GOOD], [ADD_TESTS, []])
    with pytest.raises(ValueError, match="one test list per completion"):
        reward(["q"], [GOOD], None)
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        reward(["q", "q"], [GOOD], [ADD_TESTS])
    with pytest.raises(ValueError, match="mode 'binary'"):
        rw.ExecutionReward(subprocess_executor, mode="binary")
    with pytest.raises(ConfigError, match="execution backend 'ray'.*embedded, queue"):
        Executor("ray")
    with pytest.raises(ConfigError, match="needs execution.uri"):
        Executor("queue")
    with pytest.raises(ValueError, match="needs a run_jobs resource"):
        rw.build_reward({"tests": {"weight": 1.0}})


def lengths_score(prompts, completions):
    return np.array([len(c) for c in completions], np.float64)


def test_model_reward_normalisations():
    batches = [["a", "bbb", "cc"], ["dddd", "e"], ["ffffff", "gg", "h", "iii"]]
    plain = rw.ModelReward(lengths_score)
    assert plain(["q"] * 3, batches[0]).values.tolist() == [1.0, 3.0, 2.0]

    batch = rw.ModelReward(lengths_score, normalize="batch")
    v = batch(["q"] * 4, batches[2]).values
    assert abs(v.mean()) < 1e-6 and abs(v.std() - 1.0) < 1e-4

    running = rw.ModelReward(lengths_score, normalize="running", eps=0.0)
    seen = []
    for b in batches:
        out = running(["q"] * len(b), b)
        seen += [len(c) for c in b]
        expected = (np.array([len(c) for c in b]) - np.mean(seen)) / np.std(seen)
        np.testing.assert_allclose(out.values, expected, rtol=1e-5)
        np.testing.assert_array_equal(out.details["raw_score"], [len(c) for c in b])


def test_running_normalisation_resumes_exactly():
    batches = [["a", "bbb", "cc"], ["dddd", "e"], ["ffffff", "gg", "h", "iii"]]
    straight = rw.ModelReward(lengths_score, normalize="running")
    expected = [straight(["q"] * len(b), b).values for b in batches]
    first = rw.ModelReward(lengths_score, normalize="running")
    first(["q"] * 3, batches[0])
    resumed = rw.ModelReward(lengths_score, normalize="running")
    resumed.load_state_dict(dict(first.state_dict()))
    for b, want in zip(batches[1:], expected[1:]):
        np.testing.assert_array_equal(resumed(["q"] * len(b), b).values, want)
    with pytest.raises(KeyError, match="m2"):
        resumed.load_state_dict({"count": 1, "mean": 0.0})


def test_model_reward_failures_raise_or_retry():
    def nan_score(prompts, completions):
        return np.array([1.0, np.nan])

    with pytest.raises(rw.RewardError, match=r"non-finite scores for samples \[1\]"):
        rw.ModelReward(nan_score)(["q", "q"], ["a", "b"])
    with pytest.raises(rw.RewardError, match=r"shape \(3,\), expected \(2,\)"):
        rw.ModelReward(lambda p, c: np.zeros(3))(["q", "q"], ["a", "b"])

    calls = []

    def flaky_score(prompts, completions):
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("RM server timed out")
        return lengths_score(prompts, completions)

    out = rw.ModelReward(flaky_score, retries=1, retry_backoff_s=0.0)(["q"], ["abc"])
    assert out.values.tolist() == [3.0] and len(calls) == 2
    calls.clear()
    with pytest.raises(rw.RewardError, match="failed after 1 attempt.*timed out"):
        rw.ModelReward(flaky_score)(["q"], ["abc"])
    with pytest.raises(ValueError, match="normalize 'zscore'"):
        rw.ModelReward(lengths_score, normalize="zscore")


def test_format_reward():
    good = "I should add.</think>\n<answer>\n" + GOOD + "\n</answer>"
    cases = {
        good: 1.0,
        "<think>x</think><answer>y</answer>": 1.0,
        "no tags at all": 0.0,
        "x</think>": 0.0,  # no answer
        "x</think><answer>y": 0.0,  # answer never closed
        "x</think><answer>y</answer> trailing": 0.0,
        "x</think><answer>y</answer><answer>z</answer>": 0.0,
    }
    out = rw.FormatReward(matched=1.0, unmatched=-1.0)(["q"] * len(cases), list(cases))
    assert out.details["format_ok"].tolist() == list(cases.values())
    assert out.values.tolist() == [1.0 if ok else -1.0 for ok in cases.values()]


def test_weighted_sum_and_build_from_spec():
    completions = ["a</think><answer>\n" + GOOD + "\n</answer>", PARTIAL, NO_CODE]
    tests = [ADD_TESTS] * 3
    reward = rw.build_reward(
        {"tests": {"weight": 1.0, "mode": "pass_rate", "timeout_s": 2.0},
         "format": {"weight": 0.5},
         "reward_model": {"weight": 0.1}},
        run_jobs=subprocess_executor, score_fn=lengths_score)
    out = reward(["q"] * 3, completions, tests)
    fmt = np.array([1.0, 0.0, 0.0])
    rate = np.array([1.0, 0.5, 0.0])
    lengths = np.array([len(c) for c in completions])
    np.testing.assert_allclose(out.values, rate + 0.5 * fmt + 0.1 * lengths, rtol=1e-6)
    assert out.details["tests/pass_rate"].tolist() == rate.tolist()
    assert out.details["format"].tolist() == fmt.tolist()
    assert set(out.details) >= {"tests", "format", "reward_model", "reward_model/raw_score"}

    import ml_collections

    spec = ml_collections.ConfigDict({"format": {"weight": 2.0}})
    assert rw.build_reward(spec)(["q"], [completions[0]]).values.tolist() == [2.0]
    with pytest.raises(KeyError, match="unknown reward 'style'"):
        rw.build_reward({"style": {"weight": 1.0}})
    with pytest.raises(ValueError, match="'format' has no 'weight'"):
        rw.build_reward({"format": {}})
    with pytest.raises(ValueError, match="needs a score_fn"):
        rw.build_reward({"reward_model": {"weight": 1.0}})
    with pytest.raises(ValueError, match="component 'x' must be"):
        rw.WeightedReward({"x": rw.FormatReward()})


# ------------------------------------------------------------------ the real sandbox executor


def test_rule_reward_through_the_sandbox_pool():
    executor = Executor("embedded", num_workers=2)
    try:
        reward = rw.ExecutionReward(executor, mode="all_pass", timeout_s=1.0)
        completions = [GOOD, PARTIAL, SYNTAX, LOOP, NO_CODE]
        out = reward(["q"] * 5, completions, [ADD_TESTS] * 5)
        assert out.values.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
        assert out.details["pass_rate"].tolist() == [1.0, 0.5, 0.0, 0.0, 0.0]
        # the pool persists across calls
        pool = executor._pool
        assert reward(["q"], [PARTIAL], [ADD_TESTS]).details["pass_rate"].tolist() == [0.5]
        assert executor._pool is pool
        # a job the executor refuses (timeout over its limit) fails loudly, without retries
        too_long = rw.ExecutionReward(executor, timeout_s=10_000.0, retries=3, retry_backoff_s=0.0)
        with pytest.raises(rw.RewardError, match="rejected sample 0's job.*timeout_s"):
            too_long(["q"], [GOOD], [ADD_TESTS])
    finally:
        executor.close()


def test_rule_reward_through_the_work_queue(tmp_path):
    import threading

    from sandbox_workers.worker import Worker

    uri = str(tmp_path / "queue")
    worker = Worker(uri, num_workers=1, heartbeat_s=0.5, lease_ttl_s=2.0, poll_s=0.05)
    thread = threading.Thread(target=worker.serve, kwargs={"exit_when_idle_s": 30.0}, daemon=True)
    thread.start()
    try:
        execution = config_blocks.execution_config(backend="queue", uri=uri, batch_timeout_s=60.0)
        reward = rw.build_reward({"tests": {"weight": 1.0, "mode": "pass_rate"}},
                                 run_jobs=build_executor(execution))
        out = reward(["q"] * 3, [GOOD, PARTIAL, SYNTAX], [ADD_TESTS] * 3)
        assert out.values.tolist() == [1.0, 0.5, 0.0]
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        worker.close()
    # nobody serves the queue any more: the reward raises after its retries, never returns 0
    down = rw.ExecutionReward(Executor("queue", uri=uri, batch_timeout_s=0.5), retries=1,
                              retry_backoff_s=0.0)
    with pytest.raises(rw.RewardError, match="after 2 attempt.*NoWorkerError|after 2 attempt.*Timeout"):
        down(["q"], [GOOD], [ADD_TESTS])
