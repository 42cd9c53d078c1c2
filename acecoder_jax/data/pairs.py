"""Preference pairs from pass rates (the AceCoder rule), as pure functions registered by name.

Within one question and one policy model, every pair of samples (a, b) with
    max(pass) >= min_best,  |pass_a - pass_b| >= min_gap,  min(pass) > min_worst_exclusive
becomes (chosen = higher, rejected = lower). Defaults 0.8 / 0.4 / 0.0 are the paper's. Pass rates
are ratios of small integers, so comparisons allow 1e-9 of float slack (0.7 - 0.3 counts as 0.4).
Pairs with the same (chosen text, rejected text) are kept once, as are identical completions never.
"""
from __future__ import annotations

import dataclasses
import itertools

from acecoder_jax.registry import Registry

EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class PairRule:
    min_best: float = 0.8
    min_gap: float = 0.4
    min_worst_exclusive: float = 0.0

    def keeps(self, pass_a: float, pass_b: float) -> bool:
        hi, lo = max(pass_a, pass_b), min(pass_a, pass_b)
        return hi >= self.min_best - EPS and hi - lo >= self.min_gap - EPS and lo > self.min_worst_exclusive + EPS


PAIR_RULES = Registry("pair rule")


@PAIR_RULES.register("acecoder")
def _acecoder(**overrides) -> PairRule:
    """The paper's rule: best >= 0.8, gap >= 0.4, worst > 0."""
    return PairRule(**overrides)


@PAIR_RULES.register("any_gap")
def _any_gap(**overrides) -> PairRule:
    """All distinct pass rates, no thresholds: for ablations."""
    return PairRule(**{"min_best": 0.0, "min_gap": EPS * 10, "min_worst_exclusive": -1.0, **overrides})


def make_rule(name: str = "acecoder", **overrides) -> PairRule:
    return PAIR_RULES[name](**overrides)


def question_pairs(record: dict, rule: PairRule) -> list[dict]:
    """AceCodePair records for one AceCode record (per model, deduplicated)."""
    by_model: dict[str, list[dict]] = {}
    for inf in record.get("inferences") or []:
        by_model.setdefault(inf["model_name"], []).append(inf)
    out, seen = [], set()
    instruction = record["question"]
    for model in sorted(by_model):
        for a, b in itertools.combinations(by_model[model], 2):
            if a["completion"] == b["completion"] or not rule.keeps(a["pass_rate"], b["pass_rate"]):
                continue
            chosen, rejected = (a, b) if a["pass_rate"] > b["pass_rate"] else (b, a)
            key = (chosen["completion"], rejected["completion"])
            if key in seen:
                continue
            seen.add(key)
            out.append({"id": str(record["id"]), "instruction": instruction,
                        "chosen": chosen["completion"], "rejected": rejected["completion"],
                        "chosen_id": chosen["completion_id"], "rejected_id": rejected["completion_id"],
                        "chosen_pass_rate": float(chosen["pass_rate"]),
                        "rejected_pass_rate": float(rejected["pass_rate"]), "model_name": model})
    return out
