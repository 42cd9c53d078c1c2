"""Pass@k and best-of-n metrics as small pure functions over per-sample pass flags and RM scores.

Conventions: `passed[p][i]` is True when sample i of problem p passes all of its tests;
`scores[p][i]` is the reward model's score of that sample. Accuracies are fractions in [0, 1],
averaged uniformly over problems.

Best-of-n selection rules, registered by name in `SELECTIONS`:
- "subsets" (default): the exact expected accuracy of picking the top-scored sample from a
  uniformly random size-n subset of the N samples, ties broken uniformly at random. Computed in
  closed form, so there is no sampling noise and no seed.
- "prefix": pick the top-scored sample among the first n samples (ties: the earliest), the
  cheaper "sample only n" reading.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), in a stable product form."""
    if not 0 <= num_correct <= num_samples:
        raise ValueError(f"need 0 <= num_correct <= num_samples, got c={num_correct}, n={num_samples}")
    if not 1 <= k <= num_samples:
        raise ValueError(f"need 1 <= k <= num_samples, got k={k}, n={num_samples}")
    if num_samples - num_correct < k:
        return 1.0
    ratio = np.prod(1.0 - k / np.arange(num_samples - num_correct + 1, num_samples + 1))
    return float(1.0 - ratio)


def _as_rows(name: str, rows, dtype) -> list[np.ndarray]:
    if isinstance(rows, np.ndarray) and rows.ndim != 2:
        raise ValueError(f"{name} must be [problems, samples], got shape {rows.shape}")
    out = []
    for p, row in enumerate(rows):
        arr = np.asarray(row)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name}[{p}] must be a non-empty 1-D sequence, got shape {arr.shape}")
        if dtype is bool:
            if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
                raise ValueError(f"{name}[{p}] must hold booleans (passes all tests), got {row!r}")
            arr = arr.astype(bool)
        else:
            arr = arr.astype(np.float64)
            if not np.isfinite(arr).all():
                raise ValueError(f"{name}[{p}] has non-finite scores: {row!r}")
        out.append(arr)
    if not out:
        raise ValueError(f"{name} is empty")
    return out


def _check_pairs(scores: list[np.ndarray], passed: list[np.ndarray]) -> None:
    if len(scores) != len(passed):
        raise ValueError(f"scores has {len(scores)} problems but passed has {len(passed)}")
    for p, (s, f) in enumerate(zip(scores, passed)):
        if s.shape != f.shape:
            raise ValueError(f"problem {p}: {s.size} scores but {f.size} pass flags")


def select_subsets(scores: np.ndarray, passed: np.ndarray, n: int) -> float:
    """Exact E[passed of argmax-score sample] over uniform size-n subsets, random tie-breaking.

    Sort by score; for the tie group g with a_g samples scored strictly higher and s_g members,
    P(subset's best lies in g) = [C(N - a_g, n) - C(N - a_g - s_g, n)] / C(N, n), and given that,
    each member of the subset within g is equally likely to be picked, i.e. mean(passed[g]).
    """
    total = scores.size
    if not 1 <= n <= total:
        raise ValueError(f"best-of-{n} needs 1 <= n <= {total} samples")
    order = np.argsort(-scores, kind="stable")
    s, f = scores[order], passed[order].astype(np.float64)
    denom = math.comb(total, n)
    expected = 0.0
    start = 0
    while start < total:
        end = start
        while end < total and s[end] == s[start]:
            end += 1
        weight = math.comb(total - start, n) - math.comb(total - end, n)
        if weight:
            expected += weight / denom * float(f[start:end].mean())
        start = end
    return expected


def select_prefix(scores: np.ndarray, passed: np.ndarray, n: int) -> float:
    """Passed flag of the top-scored sample among the first n (earliest wins ties)."""
    if not 1 <= n <= scores.size:
        raise ValueError(f"best-of-{n} needs 1 <= n <= {scores.size} samples")
    return float(passed[int(np.argmax(scores[:n]))])


SELECTIONS: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {
    "subsets": select_subsets,
    "prefix": select_prefix,
}


def default_ns(num_samples: int) -> list[int]:
    """1, 2, 4, ... up to num_samples (num_samples itself is always included)."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    ns, n = [], 1
    while n < num_samples:
        ns.append(n)
        n *= 2
    return ns + [num_samples]


def _ns_for(rows: list[np.ndarray], ns: Sequence[int] | None) -> list[int]:
    smallest = min(r.size for r in rows)
    ns = default_ns(smallest) if ns is None else sorted({int(n) for n in ns})
    if not ns or ns[0] < 1 or ns[-1] > smallest:
        raise ValueError(f"each n must be in [1, {smallest}] (fewest samples of any problem); got {ns}")
    return ns


def best_of_n_curve(scores, passed, ns: Sequence[int] | None = None,
                    selection: str = "subsets") -> dict[int, float]:
    """{n: accuracy of the RM's pick among n samples}, averaged over problems."""
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; choose from {sorted(SELECTIONS)}")
    scores, passed = _as_rows("scores", scores, float), _as_rows("passed", passed, bool)
    _check_pairs(scores, passed)
    pick = SELECTIONS[selection]
    return {n: float(np.mean([pick(s, f, n) for s, f in zip(scores, passed)]))
            for n in _ns_for(scores, ns)}


def pass_at_k_curve(passed, ks: Sequence[int] | None = None) -> dict[int, float]:
    """{k: unbiased pass@k}, averaged over problems (the oracle that needs no reward model)."""
    passed = _as_rows("passed", passed, bool)
    return {k: float(np.mean([pass_at_k(f.size, int(f.sum()), k) for f in passed]))
            for k in _ns_for(passed, ks)}


def mean_over_samples(passed) -> float:
    """Fraction of all samples that pass, per problem then averaged (= pass@1)."""
    return float(np.mean([f.mean() for f in _as_rows("passed", passed, bool)]))


def oracle_pass_at_n(passed) -> float:
    """Fraction of problems where at least one of the N samples passes."""
    return float(np.mean([f.any() for f in _as_rows("passed", passed, bool)]))


def greedy_accuracy(greedy_passed: Sequence[bool]) -> float:
    """Fraction of problems whose greedy sample passes."""
    flags = np.asarray(greedy_passed)
    if flags.ndim != 1 or flags.size == 0 or not np.isin(flags, (0, 1)).all():
        raise ValueError(f"greedy_passed must be a non-empty 1-D list of booleans, got {greedy_passed!r}")
    return float(flags.astype(bool).mean())


def bootstrap_intervals(per_problem: dict[str, Sequence[float]], *, level: float = 0.95,
                        resamples: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """{name: [low, high]}: percentile bootstrap intervals of the mean over problems, every
    figure resampled with the same draws of problems (so intervals of figures measured on the same
    problems are comparable). `per_problem[name][p]` is problem p's value of that figure."""
    lengths = {len(v) for v in per_problem.values()}
    if len(lengths) != 1 or not lengths.pop():
        raise ValueError("every figure needs one value per problem, for the same non-empty problems")
    values = {k: np.asarray(v, np.float64) for k, v in per_problem.items()}
    n = len(next(iter(values.values())))
    draws = np.random.default_rng([seed, 2027]).integers(0, n, size=(resamples, n))
    tail = (1.0 - level) / 2 * 100
    return {k: [float(x) for x in np.percentile(v[draws].mean(axis=1), [tail, 100 - tail])] for k, v in values.items()}


def within_question_auc(scores, pass_rates) -> tuple[float | None, int]:
    """(mean AUC, questions used): per question, the chance that of two of its samples with
    different pass rates the better one has the higher RM score (ties count half), averaged over
    the questions that have such a pair. How well the RM ranks one question's candidates, the way
    best-of-N uses it."""
    aucs = []
    for s, r in zip(_as_rows("scores", scores, float), _as_rows("pass_rates", pass_rates, float)):
        if s.shape != r.shape:
            raise ValueError(f"a question has {s.size} scores but {r.size} pass rates")
        better = r[:, None] > r[None, :]
        if better.any():
            wins = (s[:, None] > s[None, :]) + 0.5 * (s[:, None] == s[None, :])
            aucs.append(float(wins[better].mean()))
    return (float(np.mean(aucs)) if aucs else None), len(aucs)


def summarize(scores, passed, greedy_passed: Sequence[bool] | None = None,
              ns: Sequence[int] | None = None, selection: str = "subsets", level: float = 0.95) -> dict:
    """All best-of-N numbers for one (policy, reward model, benchmark) triple, JSON-ready, with a
    `level` bootstrap interval over problems for greedy, the mean sample, each best-of-n and the
    oracle (`intervals`)."""
    rows = _as_rows("passed", passed, bool)
    if greedy_passed is not None and len(greedy_passed) != len(rows):
        raise ValueError(f"greedy_passed has {len(greedy_passed)} problems but passed has {len(rows)}")
    curve = best_of_n_curve(scores, rows, ns, selection)
    score_rows, pick = _as_rows("scores", scores, float), SELECTIONS[selection]
    per_problem = {"mean_over_samples": [f.mean() for f in rows], "oracle_pass_at_n": [f.any() for f in rows],
                   **{f"best_of_{n}": [pick(s, f, n) for s, f in zip(score_rows, rows)] for n in curve}}
    if greedy_passed is not None:
        per_problem["greedy"] = np.asarray(greedy_passed, bool)
    intervals = bootstrap_intervals(per_problem, level=level)
    return {
        "num_problems": len(rows),
        "num_samples": min(r.size for r in rows),
        "selection": selection,
        "greedy": None if greedy_passed is None else greedy_accuracy(greedy_passed),
        "mean_over_samples": mean_over_samples(rows),
        "best_of_n": {str(n): v for n, v in curve.items()},
        "pass_at_k": {str(k): v for k, v in pass_at_k_curve(rows, list(curve)).items()},
        "oracle_pass_at_n": oracle_pass_at_n(rows),
        "interval_level": level,
        "intervals": intervals,  # bootstrap over problems: greedy, mean_over_samples, best_of_<n>, oracle_pass_at_n
    }
