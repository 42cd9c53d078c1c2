"""End to end through the real executor and the launch CLIs: synthesize (killed midway, resumed)
-> filter tests (with bad records) -> stand-in completions -> attach inferences -> pairs -> hard subset."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from acecoder_jax.data import io, schemas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(script, *args, check=True):
    cmd = [sys.executable, os.path.join(ROOT, "launch", script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]) if check else proc


TOY = ["--config.seeds.num_toy_tasks=36", "--config.shard_size=4", "--config.progress=False",
       "--config.execution.timeout_s=3"]


@pytest.mark.slow
def test_pipeline_kill_resume_and_stats(tmp_path):
    work = str(tmp_path / "work")
    synth = str(tmp_path / "synth.jsonl")
    # 1. synthesize, killed after a few shards
    cmd = [sys.executable, os.path.join(ROOT, "launch", "synthesize.py"), f"--output={synth}",
           f"--workdir={work}", *TOY]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    shard_dir = os.path.join(work, "synthesize")
    deadline = time.time() + 300
    while time.time() < deadline:
        done = [f for f in os.listdir(shard_dir) if f.endswith(".done.json")] if os.path.isdir(shard_dir) else []
        if len(done) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(synth), "the run was meant to be killed before finishing"
    done_before = len([f for f in os.listdir(shard_dir) if f.endswith(".done.json")])
    assert 3 <= done_before < 9
    stats = _cli("synthesize.py", f"--output={synth}", f"--workdir={work}", *TOY)
    assert stats["shards"] == 9 and stats["shards_resumed"] >= done_before
    assert stats["shards_processed_this_run"] == 9 - stats["shards_resumed"]
    records = io.read_jsonl(synth)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 36 and stats["records_out"] == 36
    # the same as an uninterrupted run
    clean = str(tmp_path / "clean.jsonl")
    _cli("synthesize.py", f"--output={clean}", *TOY)
    assert io.read_jsonl(clean) == records
    # a rerun of a finished stage is a no-op
    assert _cli("synthesize.py", f"--output={synth}", f"--workdir={work}", *TOY)["skipped_finished"] is True
    # a resume with another config is refused
    os.remove(synth)
    bad = _cli("synthesize.py", f"--output={synth}", f"--workdir={work}", *TOY, "--config.synthesis.num_tests=5",
               check=False)
    assert bad.returncode == 2 and "came from other inputs or config (config.synthesis.num_tests: 20 -> 5); " \
        "pass --overwrite" in bad.stderr, bad.stderr
    _cli("synthesize.py", f"--output={synth}", f"--workdir={work}", *TOY)

    # 2. proxy filter, with bad records appended
    dirty = str(tmp_path / "dirty.jsonl")
    good = open(synth, "rb").read()
    broken_tests = {**records[0], "id": "broken", "test_cases": ["assert f(1 ==", "x = 1"]}
    no_question = {**{k: v for k, v in records[1].items() if k != "question"}, "id": "no_question"}
    empty = {**records[2], "id": "empty", "test_cases": []}
    # a proxy that fails most tests -> question dropped for too few
    weak = {**records[3], "id": "weak", "seed_program": records[3]["seed_program"].replace("return", "return 0 and")}
    extra = [json.dumps(x).encode() for x in (broken_tests, no_question, empty, weak)]
    with open(dirty, "wb") as f:
        f.write(good + b"{not json\n" + b'{"id": "\xff\xfe"}\n' + b"\n".join(extra) + b"\n")
    filtered = str(tmp_path / "filtered.jsonl")
    fstats = _cli("filter_tests.py", f"--input={dirty}", f"--output={filtered}", *TOY)
    assert fstats["rejected"] == {"malformed_json": 1, "not_utf8": 1, "missing_field": 1, "empty_tests": 1,
                                  "unparsable_tests": 1}
    assert fstats["dropped"] == {"fewer_than_5_tests_pass_proxy": 1}
    assert fstats["records_out"] == 36 and fstats["counts"]["tests_unparsable"] == 2
    rejects = io.read_jsonl(filtered + ".rejects.jsonl")
    assert sorted(r["reason"] for r in rejects) == sorted(fstats["rejected"])
    assert all(r["detail"] for r in rejects)
    kept = io.read_jsonl(filtered)
    assert all(len(r["test_cases"]) >= 5 for r in kept)
    assert fstats["derived"]["tests_per_question_after"] <= fstats["derived"]["tests_per_question_before"]

    # 3. stand-in completions (labelled), 4. attach inferences
    comps = str(tmp_path / "standin.jsonl")
    _cli("mutant_completions.py", f"--input={filtered}", f"--output={comps}", "--per_question=6")
    acecode = str(tmp_path / "acecode.jsonl")
    astats = _cli("attach_inferences.py", f"--input={filtered}", f"--completions={comps}",
                  f"--output={acecode}", *TOY)
    recs = [schemas.validate_acecode(r) for r in io.read_jsonl(acecode)]
    assert len(recs) == 36 and all(r["inferences"] for r in recs)
    assert all(r["inferences"][0]["pass_rate"] == 1.0 for r in recs)  # the seed program passes its tests
    rates = [i["pass_rate"] for r in recs for i in r["inferences"]]
    assert min(rates) < 0.5 and astats["counts"]["completions_executed"] == len(rates)

    # 5. pairs
    pairs_path = str(tmp_path / "pairs.jsonl")
    pstats = _cli("build_pairs.py", f"--input={acecode}", f"--output={pairs_path}", *TOY)
    got = [schemas.validate_pair(p) for p in io.read_jsonl(pairs_path)]
    assert len(got) == pstats["records_out"] > 0
    assert all(p["chosen_pass_rate"] >= 0.8 - 1e-9 and p["rejected_pass_rate"] > 0 and
               p["chosen_pass_rate"] - p["rejected_pass_rate"] >= 0.4 - 1e-9 for p in got)
    assert len({(p["id"], p["chosen"], p["rejected"]) for p in got}) == len(got)

    # 6. hard subset
    hard = str(tmp_path / "hard.jsonl")
    hstats = _cli("hard_subset.py", f"--input={acecode}", f"--output={hard}")
    assert 0 < hstats["records_out"] <= hstats["after_mean_rule"] <= 36
    assert os.path.exists(hard + ".stats.json") and os.path.exists(pairs_path + ".stats.json")
