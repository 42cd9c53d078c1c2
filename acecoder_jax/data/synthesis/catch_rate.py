"""How well synthesized tests discriminate: the share of deliberately wrong variants they catch.

Wrong variants are single-point mutants of the reference (data/mutants.py). When official tests are
given (e.g. HumanEval's check()), a mutant counts as wrong only if it fails one of them, so
behaviour-preserving mutants do not dilute the figure; a wrong mutant is caught when it fails at
least one synthesized test.
"""
from __future__ import annotations

from typing import Sequence

from acecoder_jax.data import mutants as mutmod


def catch_rate(seeds: Sequence[dict], tests: dict[str, list[str]], executor,
               official: dict[str, list[str]] | None = None, mutants_per_seed: int = 10,
               seed: int = 0) -> dict:
    jobs, plan = [], []
    for s in seeds:
        sid = str(s["id"])
        if not tests.get(sid):
            continue
        for m_i, program in enumerate(mutmod.mutants(s["program"], limit=mutants_per_seed, seed=seed)):
            jobs.append({"id": f"syn|{sid}|{m_i}", "program": program, "tests": tests[sid]})
            if official is not None:
                jobs.append({"id": f"off|{sid}|{m_i}", "program": program, "tests": official[sid]})
            plan.append((sid, m_i))
    results = executor.run(jobs)

    def failed(r):
        return any(o != "pass" for o in r.get("outcomes", [])) or r.get("status") != "ok"

    wrong = caught = 0
    per_seed: dict[str, list[int]] = {}
    for sid, m_i in plan:
        if official is not None and not failed(results[f"off|{sid}|{m_i}"]):
            continue  # the official tests accept it: possibly an equivalent mutant
        wrong += 1
        hit = failed(results[f"syn|{sid}|{m_i}"])
        caught += hit
        per_seed.setdefault(sid, [0, 0])
        per_seed[sid][0] += 1
        per_seed[sid][1] += hit
    return {"seeds_with_tests": len({sid for sid, _ in plan}), "mutants": len(plan), "wrong_mutants": wrong,
            "caught": caught, "catch_rate": caught / wrong if wrong else 0.0,
            "seeds_all_caught": sum(1 for w, c in per_seed.values() if w == c)}
