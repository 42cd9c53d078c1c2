"""Data stages never hand on stale, duplicated or silently empty data (issue #15, points 1-4).

Each test is one scenario a user meets: a finished stage rerun with other inputs or config, repeated
ids within a file / across files / across shards, a huge invalid record, an empty input. The
stages run in process (stages.run_*) and, where the exit status is the point, through launch/.
"""
import json
import os
import subprocess
import sys

import pytest

from acecoder_jax.configs import data as data_configs
from acecoder_jax.data import io, stage, stages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _question(qid, rates=(1.0, 0.5, 0.0), model="m"):
    return {"id": qid, "source": "t", "question": f"Question {qid}?", "test_cases": ["assert f(1) == 1"],
            "inferences": [{"model_name": model, "completion_id": i, "completion": f"def f(x):  # {qid} {i}\n"
                            f"    return x", "pass_rate": r} for i, r in enumerate(rates)]}


def _write(path, records):
    io.write_jsonl(str(path), records)
    return str(path)


def _cfg(**overrides):
    c = data_configs.get_config("toy")
    c.progress = False
    c.shard_size = 2
    c.update_from_flattened_dict(overrides)
    return c


def _cli(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "launch", script), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def _balanced(stats):
    return stats["records_in"] == stats["records_kept"] + sum(stats["rejected"].values()) + sum(
        stats["dropped"].values())


def test_a_finished_stage_rerun_with_other_inputs_or_config_is_refused(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_question(f"q{i}") for i in range(5)])
    b = _write(tmp_path / "b.jsonl", [_question(f"r{i}", rates=(1.0, 0.4)) for i in range(3)])
    out = str(tmp_path / "pairs.jsonl")
    first = stages.run_build_pairs(_cfg(), [a], out)
    assert first["records_out"] > 0 and _balanced(first)
    # the same inputs and config: a no-op
    assert stages.run_build_pairs(_cfg(), [a], out)["skipped_finished"] is True
    # another input file, a changed config field, the same path with other content: refused, naming it
    with pytest.raises(stage.StageChanged, match=rf"input {b} added; input {a} no longer given.*--overwrite"):
        stages.run_build_pairs(_cfg(), [b], out)
    with pytest.raises(stage.StageChanged, match=r"config.pairs.min_gap: 0.4 -> 0.6"):
        stages.run_build_pairs(_cfg(**{"pairs.min_gap": 0.6}), [a], out)
    _write(tmp_path / "a.jsonl", [_question(f"q{i}") for i in range(4)])
    with pytest.raises(stage.StageChanged, match=rf"input {a} changed \(size \d+ -> \d+\)"):
        stages.run_build_pairs(_cfg(), [a], out)


def test_overwrite_redoes_and_the_cli_exits_2_naming_the_change(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_question(f"q{i}") for i in range(4)])
    b = _write(tmp_path / "b.jsonl", [_question(f"r{i}") for i in range(2)])
    out = str(tmp_path / "pairs.jsonl")
    assert _cli("build_pairs.py", f"--input={a}", f"--output={out}").returncode == 0
    refused = _cli("build_pairs.py", f"--input={b}", f"--output={out}")
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert f"error: build_pairs: {out} came from other inputs or config (input {b} added" in refused.stderr
    redone = _cli("build_pairs.py", f"--input={b}", f"--output={out}", "--overwrite")
    assert redone.returncode == 0, redone.stderr[-2000:]
    assert {p["id"] for p in io.read_jsonl(out)} == {"r0", "r1"}


def test_config_fields_that_do_not_change_the_output_do_not_count(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_question(f"q{i}") for i in range(3)])
    out = str(tmp_path / "pairs.jsonl")
    stages.run_build_pairs(_cfg(), [a], out)
    again = stages.run_build_pairs(_cfg(**{"execution.num_workers": 7, "progress": True}), [a], out)
    assert again["skipped_finished"] is True


@pytest.mark.parametrize("shard_size", [2, 100])
def test_duplicate_ids_are_rejects_within_a_file_across_files_and_shards(tmp_path, shard_size):
    a = _write(tmp_path / "a.jsonl", [_question("q0"), _question("q1"), _question("q0", rates=(1.0, 0.2)),
                                      _question("q2")])
    b = _write(tmp_path / "b.jsonl", [_question("q1"), _question("q3")])
    out = str(tmp_path / "pairs.jsonl")
    stats = stages.run_build_pairs(_cfg(shard_size=shard_size), [a, b], out)
    assert stats["rejected"] == {"duplicate_id": 2} and _balanced(stats)
    pairs = io.read_jsonl(out)
    keys = [(p["id"], p["chosen"], p["rejected"]) for p in pairs]
    assert len(keys) == len(set(keys))
    assert sorted({p["id"] for p in pairs}) == ["q0", "q1", "q2", "q3"]
    # the first occurrence is the one kept: q0's pairs come from a.jsonl line 1 (rates 1.0/0.5/0.0)
    assert {p["rejected_pass_rate"] for p in pairs if p["id"] == "q0"} == {0.5}
    rejects = io.read_jsonl(stage.rejects_path(out))
    assert [(r["reason"], r["id"]) for r in rejects] == [("duplicate_id", "q0"), ("duplicate_id", "q1")]
    assert rejects[0]["detail"] == f"{a}:3: id 'q0' already read at {a}:1"
    assert rejects[1]["detail"] == f"{b}:1: id 'q1' already read at {a}:2"


def test_duplicate_ids_in_the_hard_subset_and_its_stats_balance(tmp_path):
    records = [_question(f"q{i}", rates=(i / 10, 1 - i / 10)) for i in range(8)] + [_question("q3")]
    src = _write(tmp_path / "acecode.jsonl", records + [{"id": "bad"}])
    out = str(tmp_path / "hard.jsonl")
    stats = stages.run_hard_subset(_cfg(), [src], out)
    assert stats["rejected"] == {"duplicate_id": 1, "bad_field": 1} and _balanced(stats)
    assert stats["records_in"] == 10 and set(stats["dropped"]) <= {"mean_above_median", "std_below_median"}
    assert len({r["id"] for r in io.read_jsonl(out)}) == stats["records_out"]


def test_resumed_stage_still_sees_the_ids_of_finished_shards(tmp_path):
    """Synthesize derives ids from the seeds: a repeat is caught on the output, across a resume."""
    seed = {"id": "s", "source": "x", "instruction": "Add one.", "program": "def inc(x):\n    return x + 1\n"}
    src = _write(tmp_path / "seeds.jsonl", [seed, {**seed, "id": "t"}, seed])
    cfg = _cfg(**{"seeds.kind": "seed", "shard_size": 1, "synthesis.num_tests": 3,
                  "synthesis.reference.num_candidates": 20})
    out = str(tmp_path / "synth.jsonl")
    st = stage.Stage("synthesize", out, out + ".shards", 1, config={}, progress=False,
                     record_key=None, output_key=stage.record_id)

    def process(shard, ctx):
        for rec in shard:
            ctx.emit({"id": rec["id"], "v": 1})

    st._check_manifest(stage.input_fingerprint([src], {}, 1))
    st._process_shard(0, [seed], process)  # as if killed after the first shard
    resumed = stage.Stage("synthesize", out, out + ".shards", 1, config={}, progress=False,
                          record_key=None, output_key=stage.record_id).run([src], process)
    assert resumed["shards_resumed"] == 1 and resumed["rejected"] == {"duplicate_id": 1}
    assert [r["id"] for r in io.read_jsonl(out)] == ["s", "t"]
    full = stages.run_synthesize(cfg, [src], str(tmp_path / "real.jsonl"))
    assert full["rejected"].get("duplicate_id") == 1 and _balanced(full)


def test_a_50_mb_invalid_record_is_kept_as_a_bounded_prefix(tmp_path):
    huge = {"id": "big", "source": "t", "question": "x" * (50 << 20), "test_cases": "not a list"}
    src = _write(tmp_path / "in.jsonl", [huge, _question("q0")])
    out = str(tmp_path / "pairs.jsonl")
    stats = stages.run_build_pairs(_cfg(), [src], out)
    assert stats["rejected"] == {"bad_field": 1}
    assert os.path.getsize(stage.rejects_path(out)) < 2 * stage.MAX_REJECT_BYTES
    entry = io.read_jsonl(stage.rejects_path(out))[0]
    assert entry["raw_truncated"] is True and entry["raw_bytes"] > 50 << 20
    assert len(entry["raw"].encode()) <= stage.MAX_REJECT_BYTES and entry["raw"].startswith('{"id": "big"')


def test_empty_or_all_rejected_input_fails_naming_it_unless_accepted(tmp_path):
    empty = str(tmp_path / "empty.jsonl")
    open(empty, "w").close()
    out = str(tmp_path / "pairs.jsonl")
    with pytest.raises(stage.EmptyStage, match=rf"build_pairs: no records in {empty}"):
        stages.run_build_pairs(_cfg(), [empty], out)
    with pytest.raises(stage.EmptyStage, match="no records"):  # a rerun does not hide it
        stages.run_build_pairs(_cfg(), [empty], out)
    junk = _write(tmp_path / "junk.jsonl", [{"id": "a"}, {"id": "b"}])
    with pytest.raises(stage.EmptyStage, match=rf"all 2 records of {junk} were rejected or dropped"):
        stages.run_build_pairs(_cfg(), [junk], str(tmp_path / "p2.jsonl"))
    proc = _cli("build_pairs.py", f"--input={empty}", f"--output={tmp_path / 'p3.jsonl'}")
    assert proc.returncode == 2 and f"error: build_pairs: no records in {empty}" in proc.stderr, proc.stderr
    ok = _cli("build_pairs.py", f"--input={empty}", f"--output={tmp_path / 'p4.jsonl'}",
              "--config.fail_on_empty=False")
    assert ok.returncode == 0 and f"build_pairs: no records in {empty}" in ok.stderr, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["records_in"] == 0


def test_a_trainer_workdir_with_another_config_is_refused_unless_asked(tmp_path):
    from acecoder_jax import builders
    from acecoder_jax.configs import rm as rm_configs

    workdir = str(tmp_path / "run")
    builders.start_run(rm_configs.get_config("cpu_tiny"), workdir)
    changed = rm_configs.get_config("cpu_tiny")
    changed.optim.lr, changed.data.max_length = 3e-4, 64
    builders.start_run(changed, workdir)  # nothing computed yet (it failed before): not a run to protect
    builders.start_run(rm_configs.get_config("cpu_tiny"), workdir)
    os.makedirs(os.path.join(workdir, "checkpoints"))  # now it holds a run
    same = rm_configs.get_config("cpu_tiny")
    same.train.progress = False  # operational: not a change of the run
    builders.start_run(same, workdir)
    with pytest.raises(builders.WorkdirConfigChanged, match=r"holds a run made with another config "
                       r"\(config.data.max_length: 128 -> 64; config.optim.lr: 0.001 -> 0.0003\); pass "
                       r"--allow_config_change"):
        builders.start_run(changed, workdir)
    builders.start_run(changed, workdir, allow_config_change=True)
    assert io.read_json(os.path.join(workdir, "config.1.json"))["optim"]["lr"] == 1e-3
    assert io.read_json(os.path.join(workdir, "config.json"))["optim"]["lr"] == 3e-4


def test_the_demo_refuses_a_workdir_made_with_another_config(tmp_path):
    from acecoder_jax.builders import WorkdirConfigChanged
    from acecoder_jax.configs import demo_cpu
    from acecoder_jax.demo import pipeline

    workdir = str(tmp_path / "demo")
    os.makedirs(os.path.join(workdir, "stages"))
    io.write_json(os.path.join(workdir, "config.json"), json.loads(demo_cpu.get_config("ci").to_json_best_effort()))
    changed = demo_cpu.get_config("ci")
    changed.sft.train.total_steps = 7
    with pytest.raises(WorkdirConfigChanged, match=r"config.sft.train.total_steps: 300 -> 7\); pass --overwrite"):
        pipeline.run_demo(changed, workdir)
