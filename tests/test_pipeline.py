"""The main job end to end (reduced `ci` variant of configs/demo_cpu.py), through the real executor,
killed midway and resumed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(workdir):
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "launch", "pipeline.py"),
         f"--config={os.path.join(ROOT, 'configs', 'demo_cpu.py')}:ci", f"--workdir={workdir}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.slow
def test_demo_pipeline_kill_resume_and_report(tmp_path):
    workdir = str(tmp_path / "demo")
    marker = os.path.join(workdir, "stages", "sft.json")
    proc = _start(workdir)
    deadline = time.time() + 600
    while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    time.sleep(3)  # into the next stage
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = sorted(os.listdir(os.path.join(workdir, "stages")))
    assert "sft.json" in finished_before and "report.json" not in os.listdir(workdir)
    sft_marker = open(marker).read()

    proc = _start(workdir)
    out = proc.communicate(timeout=1500)[0]
    assert proc.returncode == 0, out[-4000:]
    assert open(marker).read() == sft_marker  # finished stages were skipped, not redone
    for name in finished_before:
        assert f"stage {name[:-5]}: finished earlier" in out

    report = json.loads(open(os.path.join(workdir, "report.json")).read())
    c = report["counts"]
    assert 50 <= c["questions_in"] <= 160 and 0 < c["questions_after_filter"] <= c["questions_synthesized"] <= c["questions_in"]
    assert c["tests_per_question_after_filter"] >= 5
    assert c["sampled_programs"] == 12 * c["train_questions"]  # no duplicates after the kill
    assert c["pairs"] > 0
    assert 0.0 <= report["rm"]["heldout_accuracy"] <= 1.0
    bon = report["bon"]
    assert set(bon["best_of_n"]) == {"1", "2", "4"}
    assert bon["oracle_pass_at_n"] >= max(bon["best_of_n"].values()) - 1e-9
    for key in ("test_reward", "rm_reward"):
        rl = report["rl"][key]
        assert 0.0 <= rl["pass1_before"] <= 1.0 and 0.0 <= rl["pass1_after"] <= 1.0 and rl["steps"] == 4
    assert report["export"]["policy"]["transformers_class"] == "Qwen2ForCausalLM"
    assert report["export"]["reward_model"]["transformers_class"] == "Qwen2ForSequenceClassification"
    assert report["export"]["policy"]["max_abs_diff"] < 1e-3
    assert report["humaneval"]["problems"] == 8 and 0.0 <= report["humaneval"]["pass1_greedy"] <= 1.0
    assert set(report["stage_wall_s"]) == {
        "synthesize", "filter", "split", "tokenizer", "sft", "sample", "execute", "pairs", "rm", "best_of_n",
        "rl_test_reward", "rl_rm_reward", "export_check", "humaneval"}
    for name in ("report.md", "report.png", "config.json", "best_of_n/best_of_n.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 0, name
    md = open(os.path.join(workdir, "report.md")).read()
    assert "Held-out pairwise accuracy" in md and "best-of-4" in md
    assert "## What this run shows about the paper's claims" in md
    for claim in ("RL with the test (rule) reward raises held-out pass@1", "best-of-4 reranked by the RM beats greedy"):
        assert f"| {claim} |" in md, claim
    # the RM-reward run keeps the tests as a weight-0 monitor and logs the raw RM score beside it
    from acecoder_jax.train.metrics import read_metrics

    rm_rows = read_metrics(os.path.join(workdir, "rl_rm_reward"), "train")
    assert all("reward_model_raw_score" in r and "tests_all_pass" in r for r in rm_rows)
    assert "train_raw_score_first5" in report["rl"]["rm_reward"]
    # not a terminal: no progress bars, but one readable line per RL step in the log
    assert "\r" not in out and not any(f"{unit}/s]" in out for unit in ("it", "rec", "seq", "step", "prog"))
    assert sum("rl[tests] step " in line for line in out.splitlines()) == 4
    assert sum("rl[reward_model] step " in line for line in out.splitlines()) == 4
