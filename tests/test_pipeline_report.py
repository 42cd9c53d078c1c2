"""The demo report's verdicts on the paper's claims follow the numbers, in both directions."""
import copy

from acecoder_jax.demo.report import paper_claims, render_markdown

REPORT = {
    "counts": {"pairs": 300, "heldout_questions": 48, "tests_per_question_before_filter": 12.0,
               "tests_per_question_after_filter": 12.0},
    "rm": {"heldout_accuracy": 0.85, "heldout_loss": 0.4, "heldout_pairs": 200, "heldout_pairs_scored": 192},
    "bon": {"problems": 400, "greedy": 0.40, "mean_over_samples": 0.35, "oracle_pass_at_n": 0.8,
            "best_of_n": {"1": 0.35, "2": 0.45, "4": 0.50, "8": 0.55}},
    "rl": {"test_reward": {"pass1_before": 0.3, "pass1_after": 0.6, "eval_problems": 200, "eval_samples_per_problem": 8,
                           "steps": 40},
           "rm_reward": {"pass1_before": 0.3, "pass1_after": 0.1, "eval_problems": 200, "eval_samples_per_problem": 8,
                         "steps": 40, "train_raw_score_first5": -0.5, "train_raw_score_last5": 2.0,
                         "train_all_pass_first5": 0.45, "train_all_pass_last5": 0.2}},
    "export": {}, "humaneval": {"problems": 164, "pass1_greedy": 0.0}, "stage_wall_s": {"sft": 1.0},
    "wall_time_s": 1.0,
}


def _verdicts(report):
    return {row["claim"]: row["verdict"] for row in paper_claims(report)}


def test_clear_results_get_clear_verdicts():
    v = _verdicts(REPORT)
    assert v["the Bradley-Terry RM trained on pass-rate pairs ranks held-out pairs above chance"] == "shown"
    assert v["best-of-8 reranked by the RM beats greedy"] == "shown"
    assert v["best-of-8 reranked by the RM beats the mean sample"] == "shown"
    assert v["RL with the test (rule) reward raises held-out pass@1"] == "shown"
    assert v["RL with the RM reward raises held-out pass@1"] == "contradicted"
    md = render_markdown(REPORT)
    assert md.index("## What this run shows about the paper's claims") < md.index("## Data")
    assert "| RL with the RM reward raises held-out pass@1 |" in md and "**contradicted** |" in md


def test_small_or_reversed_differences_are_not_called_shown():
    r = copy.deepcopy(REPORT)
    r["rm"].update(heldout_accuracy=0.6, heldout_pairs_scored=32)  # 0.6 +/- 0.087 on 32 pairs
    r["bon"].update(problems=48, best_of_n={"1": 0.33, "8": 0.25}, greedy=0.6, mean_over_samples=0.33)
    v = _verdicts(r)
    assert v["the Bradley-Terry RM trained on pass-rate pairs ranks held-out pairs above chance"] == \
        "not resolved at this size"
    assert v["best-of-8 reranked by the RM beats greedy"] == "contradicted"
    assert v["best-of-8 reranked by the RM beats the mean sample"] == "not resolved at this size"
    rows = {row["claim"]: row for row in paper_claims(r)}
    assert "did not beat greedy or the mean sample" in rows["best-of-8 reranked by the RM beats the mean sample"]["note"]
    rm_rl = rows["RL with the RM reward raises held-out pass@1"]
    assert "raw RM score rose -0.50 -> 2.00" in rm_rl["run"] and "0.450 -> 0.200" in rm_rl["run"]
    assert "over-optimisation" in rm_rl["note"] and "300 pairs" in rm_rl["note"]


def test_no_overoptimisation_note_when_the_rm_run_improved():
    r = copy.deepcopy(REPORT)
    r["rl"]["rm_reward"].update(pass1_after=0.5)
    row = next(x for x in paper_claims(r) if x["claim"] == "RL with the RM reward raises held-out pass@1")
    assert row["verdict"] == "shown" and "note" not in row
