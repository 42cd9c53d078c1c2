"""The command-line tools as a newcomer meets them: mistakes get one line naming what is wrong
(and the nearest valid choices), exit 2 and no traceback; --help and --config_help document
flags, defaults, config fields and variants; the sandbox CLIs document the job format."""
import os
import re
import subprocess
import sys

import pytest

from acecoder_jax import cli
from sandbox_workers import jobs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(REPO, "launch")


def _launch(script, *args, env=None):
    return subprocess.run([sys.executable, os.path.join(LAUNCH, script), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, **(env or {})})


def _one_line_mistake(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("args, expected", [
    (["--config.nonexistent_key=3"], r"--config.nonexistent_key: no field 'nonexistent_key' in the config; "
                                     r"its fields: .*heldout_fraction.*seed"),
    (["--config.data.seedz.kind=x"], r"no field 'seedz' in config.data \(did you mean 'seeds'\?\)"),
    (["--config=configs/demo_cpu.py:ci", "--config.sft.train.total_stepz=3"],
     r"no field 'total_stepz' in config.sft.train \(did you mean 'total_steps'\?\).*configs/demo_cpu.py:ci"),
    (["--config=configs/demo_cpu.py:cii"], r"unknown demo_cpu config variant 'cii' \(did you mean 'ci'\?\); "
                                           r"known: ci, default"),
    (["--config=configs/nope.py"], r"config file 'configs/nope.py' does not exist"),
    (["--config.seed=abc"], r"--config.seed=abc: invalid literal for int"),
    (["--config.seed.x=1"], r"config.seed is a value \(int\), not a block of fields"),
    (["--bogus_flag=1"], r"Unknown command line flag 'bogus_flag'"),
    (["--config.rl.reward.tests.queue_uri=gs://b/q"],
     r"config.rl.reward.tests.queue_uri is now config.rl.execution.uri"),
    (["--config.data.execution.executor=gs://b/q"],
     r"config.data.execution.executor is now config.data.execution.backend and config.data.execution.uri"),
])
def test_config_and_flag_mistakes_get_one_line(args, expected):
    line = _one_line_mistake(_launch("pipeline.py", "--workdir=/tmp/unused-cli-test", *args))
    assert re.search(expected, line), line


def test_an_old_spelling_reaches_the_new_field_with_a_warning():
    """A deprecated one-to-one spelling still works: the value reaches the new field (the run then
    fails on that value, naming it) and stderr says which field to use instead."""
    proc = _launch("train_rm.py", "--workdir=/tmp/unused-cli-test", "--config.tokenizer=/nonexistent/old-spelling")
    assert "warning: --config.tokenizer is deprecated; use --config.model.tokenizer" in proc.stderr, proc.stderr
    assert "/nonexistent/old-spelling" in _one_line_mistake(proc)


@pytest.mark.parametrize("spec, arg, rewritten", [
    ("rl.py:paper_base_rm", "--config.reward.reward_model.path=gs://b/rm", "--config.reward_model.hf_path=gs://b/rm"),
    ("rl.py:paper_base_rm", "--config.reward.reward_model.max_length=512", "--config.reward_model.max_length=512"),
    ("data.py:toy", "--config.synthesis.sampler.mesh_shape=(1,1,1)", "--config.synthesis.sampler.mesh.shape=(1,1,1)"),
    ("demo_cpu.py:ci", "--config.rm.tokenizer=/t", "--config.rm.model.tokenizer=/t"),  # inside a stage block
    ("demo_cpu.py:ci", "--config.tokenizer.vocab_size=300", "--config.tokenizer_training.vocab_size=300"),
    # not rewritten: the old path is still a field here, or the new one is not (then the unknown-field error)
    ("best_of_n.py:cpu_tiny", "--config.policy.tokenizer=/t", "--config.policy.tokenizer=/t"),
    ("rl.py:cpu_toy", "--config.reward.reward_model.path=gs://b/rm", "--config.reward.reward_model.path=gs://b/rm"),
])
def test_aliases_rewrite_only_where_the_new_field_exists(spec, arg, rewritten, capsys):
    out = cli._apply_aliases(["prog", arg, "--workdir=/w"], os.path.join(REPO, "configs", spec))
    assert out == ["prog", rewritten, "--workdir=/w"]
    assert ("deprecated" in capsys.readouterr().err) == (arg != rewritten)


def test_traceback_env_shows_the_traceback_of_a_mistake():
    proc = _launch("pipeline.py", "--workdir=/tmp/unused-cli-test", "--config.nonexistent_key=3",
                   env={"ACECODER_TRACEBACK": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.parametrize("script, args, expected", [
    ("filter_tests.py", ["--input=/nonexistent/seeds.jsonl", "--output=/tmp/unused-cli-test/f.jsonl"],
     r"input not found: /nonexistent/seeds.jsonl"),
    ("synthesize.py", ["--config=configs/data.py:openai", "--output=/tmp/unused-cli-test/s.jsonl"],
     r"--input is required"),
    ("best_of_n.py", ["--workdir=/tmp/unused-cli-test"], r"config.policy.hf_path is empty: give "
                                                        r"--config.policy.hf_path="),
    ("train_rm.py", ["--workdir=/tmp/unused-cli-test"], r"config.model.tokenizer and config.model.hf_path are "
                                                       r"both empty: give --config.model.tokenizer="),
])
def test_run_time_mistakes_get_one_line(script, args, expected):
    line = _one_line_mistake(_launch(script, *args))
    assert re.search(expected, line), line


def test_config_help_lists_variants_and_every_field_with_its_default():
    proc = _launch("train_rm.py", "--config=configs/rm.py:paper_7b", "--config_help")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"^variants: paper_7b, paper_32b, cpu_tiny; shown: paper_7b$", out, re.M), out[:2000]
    assert re.search(r"^  optim\.lr\s+= 1e-05$", out, re.M), out
    assert re.search(r"^  train\.global_batch\s+= 128$", out, re.M), out
    assert re.search(r"^  model\.hf_path\s+= ", out, re.M), out


def test_helpfull_names_the_config_variants():
    proc = _launch("train_rl.py", "--helpfull")
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # absl's help exits 1
    text = " ".join(proc.stdout.split())
    assert "paper_base_rule_r1" in text and "--config_help" in text, text[:3000]

SANDBOX_CLIS = ["sandbox_workers.run", "sandbox_workers.worker"]


def _help(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("module", SANDBOX_CLIS)
def test_sandbox_cli_help_documents_the_job_format_and_every_default(module):
    text = _help(module)
    job_fields = ["id", "mode", "program", "tests", "expressions", "timeout_s", "load_timeout_s", "memory_mb",
                  "details", "fresh_state", "max_timeouts"]
    for field in job_fields:
        assert re.search(rf"^  {field}\s", text, re.M), f"{module} --help does not document job field {field!r}"
    for word in (*jobs.STATUSES, *jobs.OUTCOMES, "docs/sandbox.md"):
        assert word in text, f"{module} --help does not mention {word!r}"
    options = text.split("options:", 1)[1].split("job (", 1)[0]
    entries = re.split(r"\n  (?=-)", options.strip())
    for entry in entries:
        flag = entry.split()[0].rstrip(",")
        if flag in ("-h", "--help", "--jobs", "--results", "--queue"):  # required or help itself
            continue
        assert "default" in entry, f"{module} {flag}: no default in --help:\n{entry}"
