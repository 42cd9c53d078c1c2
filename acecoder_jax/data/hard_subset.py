"""The RL hard subset: questions that are hard on average yet not uniformly hopeless.

Per question, mean and (population) standard deviation of its samples' pass rates. Keep questions
with mean <= median(mean over all questions); of those, keep std >= median(std over the remainder).
Questions without inferences have no statistics and are left out.
"""
from __future__ import annotations

import statistics


def pass_rate_stats(record: dict) -> tuple[float, float] | None:
    rates = [float(i["pass_rate"]) for i in record.get("inferences") or []]
    if not rates:
        return None
    return statistics.fmean(rates), statistics.pstdev(rates)


def hard_subset(records: list[dict]) -> tuple[list[dict], dict]:
    """(kept records in input order, stats with both medians and counts)."""
    scored = [(r, pass_rate_stats(r)) for r in records]
    usable = [(r, s) for r, s in scored if s is not None]
    stats = {"records_in": len(records), "without_inferences": len(records) - len(usable)}
    if not usable:
        return [], {**stats, "records_out": 0}
    mean_median = statistics.median(s[0] for _, s in usable)
    hard = [(r, s) for r, s in usable if s[0] <= mean_median]
    std_median = statistics.median(s[1] for _, s in hard)
    kept = [r for r, s in hard if s[1] >= std_median]
    return kept, {**stats, "mean_median": mean_median, "after_mean_rule": len(hard),
                  "std_median_of_remainder": std_median, "records_out": len(kept)}
