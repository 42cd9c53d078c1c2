"""Pair rule and hard-subset rule against hand-computed cases at the thresholds' edges."""
import pytest

from acecoder_jax.data import hard_subset, pairs


@pytest.mark.parametrize("a,b,keep", [
    (1.0, 0.6, True),    # gap exactly 0.4
    (0.8, 0.4, True),    # best exactly 0.8, gap 0.4
    (0.7, 0.3, False),   # best below 0.8
    (0.8, 0.41, False),  # gap 0.39
    (1.0, 0.0, False),   # worst must be > 0
    (1.0, 0.05, True),
    (0.9, 0.5, True),    # 0.9 - 0.5 is 0.3999999... in floats: still a 0.4 gap
    (1.0, 1.0, False),
    (0.6, 1.0, True),    # order does not matter
])
def test_acecoder_rule_edges(a, b, keep):
    assert pairs.make_rule().keeps(a, b) is keep


def test_rule_is_configurable_and_named():
    rule = pairs.make_rule("acecoder", min_best=1.0, min_gap=0.5, min_worst_exclusive=0.1)
    assert rule.keeps(1.0, 0.5) and not rule.keeps(0.9, 0.2) and not rule.keeps(1.0, 0.1)
    assert pairs.make_rule("any_gap").keeps(0.1, 0.0)
    with pytest.raises(ValueError, match="unknown pair rule 'nope'"):
        pairs.make_rule("nope")


def _inf(model, cid, text, rate):
    return {"model_name": model, "completion_id": cid, "completion": text, "pass_rate": rate}


def test_question_pairs_per_model_and_dedup():
    rec = {"id": "q", "question": "Q?", "inferences": [
        _inf("m1", 0, "A", 1.0), _inf("m1", 1, "B", 0.5), _inf("m1", 2, "C", 0.25),
        _inf("m1", 3, "A", 1.0),  # same text as 0: its pairs are duplicates
        _inf("m1", 4, "D", 0.0),  # never paired (worst must be > 0)
        _inf("m2", 0, "E", 0.5),  # other model: never paired with m1 samples
        _inf("m2", 1, "F", 0.9)]}
    got = pairs.question_pairs(rec, pairs.make_rule())
    triples = [(p["model_name"], p["chosen"], p["rejected"]) for p in got]
    assert triples == [("m1", "A", "B"), ("m1", "A", "C"), ("m2", "F", "E")]
    first = got[0]
    assert first["instruction"] == "Q?" and first["chosen_id"] == 0 and first["rejected_id"] == 1
    assert first["chosen_pass_rate"] == 1.0 and first["rejected_pass_rate"] == 0.5 and first["id"] == "q"


def _q(qid, rates):
    return {"id": qid, "question": qid, "inferences": [_inf("m", i, str(i), r) for i, r in enumerate(rates)]}


def test_hard_subset_hand_computed():
    # means: a .0, b .25, c .5, d .5, e .75, f 1.0 -> median .5 -> keep a, b, c, d
    # stds (population): a 0, b .25, c .5, d 0 -> median of remainder .125 -> keep b, c
    recs = [_q("a", [0, 0]), _q("b", [0, 0.5]), _q("c", [0, 1]), _q("d", [0.5, 0.5]), _q("e", [0.5, 1]),
            _q("f", [1, 1]), {"id": "g", "question": "g", "inferences": []}]
    kept, stats = hard_subset.hard_subset(recs)
    assert [r["id"] for r in kept] == ["b", "c"]
    assert stats["mean_median"] == 0.5 and stats["after_mean_rule"] == 4
    assert stats["std_median_of_remainder"] == 0.125 and stats["without_inferences"] == 1


def test_hard_subset_ties_are_inclusive():
    recs = [_q("a", [0.5, 0.5]), _q("b", [0.5, 0.5]), _q("c", [1, 1])]
    kept, stats = hard_subset.hard_subset(recs)  # mean median .5 keeps a, b; std median 0 keeps both
    assert [r["id"] for r in kept] == ["a", "b"]
    assert hard_subset.hard_subset([]) == ([], {"records_in": 0, "without_inferences": 0, "records_out": 0})
