"""Every variant of every configs/*.py resolves, directly and through absl's --config=file:variant flag,
and --config.a.b=v overrides land. Files and variants are discovered, so new ones are covered.

Variants come from a module's VARIANTS dict, or else from the "Variants:" section of its docstring;
where both exist they must agree, so the usage text users read lists what actually resolves.
"""
import glob
import importlib.util
import inspect
import json
import math
import os
import re

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CONFIG_FILES = sorted(p for p in glob.glob(os.path.join(REPO, "configs", "*.py"))
                      if not os.path.basename(p).startswith("_"))


def load(path):
    name = "_test_configs_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_variants(doc):
    """Names in a docstring's "Variants:" section: lines `  name  text` or `  a / b / c  text`."""
    names, inside = [], False
    for line in (doc or "").splitlines():
        if line.strip() == "Variants:":
            inside = True
            continue
        if not inside:
            continue
        if not line.startswith("  "):
            break
        match = re.match(r"^  ([A-Za-z_]\w*(?: / [A-Za-z_]\w*)*)(?:\s|$)", line)
        if match:
            names += match.group(1).split(" / ")
    return names


def variants_of(module):
    if hasattr(module, "VARIANTS"):
        return list(module.VARIANTS)
    return documented_variants(module.__doc__)


CASES = [(path, variant) for path in CONFIG_FILES for variant in variants_of(load(path))]
IDS = [f"{os.path.basename(p)}:{v}" for p, v in CASES]


def rel(path):
    return os.path.relpath(path, REPO)


def parse_config_flag(*argv):
    """Parse argv with a fresh FlagValues holding only absl's --config flag, as every launcher defines it.

    The flag reads its --config.* overrides from the command line it is given (sys.argv in a launcher)."""
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "config file[:variant]", flag_values=values,
                                    sys_argv=["prog", *argv])
    values(["prog", *argv])
    return values.config


def scalar_leaves(config, prefix=""):
    """(dotted path, value) for every bool/int/float/str/int-tuple field."""
    for key, value in sorted(config.items()):
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict):
            yield from scalar_leaves(value, path + ".")
        elif isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
            yield path, value
        elif isinstance(value, tuple) and value and all(type(v) is int for v in value):
            yield path, value


def changed(value):
    """A different value of the same type, and its command-line spelling."""
    if isinstance(value, bool):
        return (not value), str(not value).lower()
    if isinstance(value, int):
        return value + 7, str(value + 7)
    if isinstance(value, float):
        new = value * 2 + 0.25
        return new, repr(new)
    if isinstance(value, str):
        return value + "_override", value + "_override"
    new = tuple(v + 1 for v in value)
    return new, "(" + ",".join(map(str, new)) + ",)"


def flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def get(config, dotted):
    for key in dotted.split("."):
        config = config[key]
    return config


def test_configs_and_variants_are_discovered():
    names = {os.path.basename(p) for p in CONFIG_FILES}
    assert {"rm.py", "rl.py", "best_of_n.py", "lm.py", "data.py"} <= names
    for path in CONFIG_FILES:
        assert variants_of(load(path)), f"{rel(path)} names no variants (a VARIANTS dict or a 'Variants:' docstring)"


@pytest.mark.parametrize("path, variant", CASES, ids=IDS)
def test_variant_resolves_and_serialises(path, variant):
    module = load(path)
    config = module.get_config(variant)
    assert isinstance(config, ml_collections.ConfigDict), f"{rel(path)}:{variant} returned {type(config)}"
    # Saved into the workdir as JSON; the round trip keeps every field.
    assert set(json.loads(config.to_json())) == set(config.keys())
    # Each call builds a fresh config: editing one must not leak into the next.
    leaves = list(scalar_leaves(config))
    assert leaves, f"{rel(path)}:{variant} has no fields"
    dotted, value = leaves[0]
    parent, _, key = dotted.rpartition(".")
    (get(config, parent) if parent else config)[key] = changed(value)[0]
    assert get(module.get_config(variant), dotted) == value


@pytest.mark.parametrize("path, variant", CASES, ids=IDS)
def test_absl_flag_resolves_variant_and_applies_overrides(path, variant):
    expected = load(path).get_config(variant)
    assert parse_config_flag(f"--config={path}:{variant}").to_dict() == expected.to_dict()

    # Override every scalar field at once; each lands with its type, nothing else moves.
    leaves = dict(scalar_leaves(expected))
    assert len(leaves) >= 5, f"{rel(path)}:{variant}: only {len(leaves)} overridable fields"
    overrides = {dotted: changed(value) for dotted, value in leaves.items()}
    argv = [f"--config={path}:{variant}"] + [f"--config.{d}={spelled}" for d, (_, spelled) in overrides.items()]
    config = parse_config_flag(*argv)
    for dotted, (new, _) in overrides.items():
        got = get(config, dotted)
        assert got == new and type(got) is type(new), f"--config.{dotted}: got {got!r}, wanted {new!r}"
    before, after = flatten(expected.to_dict()), flatten(config.to_dict())
    assert set(before) == set(after)
    assert {d: after[d] for d in before if d not in leaves} == {d: v for d, v in before.items() if d not in leaves}


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[os.path.basename(p) for p in CONFIG_FILES])
def test_default_variant_and_bad_input(path):
    module = load(path)
    default = parse_config_flag(f"--config={path}")
    assert default.to_dict() == module.get_config().to_dict()
    if inspect.signature(module.get_config).parameters:
        with pytest.raises(ValueError, match="no_such_variant"):
            module.get_config("no_such_variant")
        with pytest.raises(Exception, match="no_such_variant"):
            parse_config_flag(f"--config={path}:no_such_variant")
    with pytest.raises(Exception, match="no_such_field"):
        parse_config_flag(f"--config={path}", "--config.no_such_field=1")


@pytest.mark.parametrize("path", [p for p in CONFIG_FILES if hasattr(load(p), "VARIANTS")],
                         ids=lambda p: os.path.basename(p))
def test_docstring_lists_the_variants(path):
    module = load(path)
    documented = documented_variants(module.__doc__)
    if documented:
        assert sorted(documented) == sorted(module.VARIANTS), (
            f"{rel(path)}: docstring lists {sorted(documented)}, VARIANTS has {sorted(module.VARIANTS)}")


# The paper's setups (DESIGN.md) as named variants, with the figures that define them.
_RL_PAPER = {"optim.lr": 5e-7, "algo.estimator": "reinforce++", "algo.kl_coef": 0.01, "algo.kl_estimator": "k1",
             "algo.clip_low": 0.2, "algo.gamma": 1.0, "algo.train_batch": 128, "rollout.prompts_per_step": 256,
             "rollout.n_samples": 8, "rollout.temperature": 1.0, "rollout.max_new_tokens": 2048}
PAPER_SETUPS = {
    ("rm.py", "paper_7b"): {"optim.lr": 1e-5, "optim.warmup_ratio": 0.1, "train.epochs": 1.0,
                            "train.global_batch": 128, "data.max_length": 2048, "objective": "bradley_terry"},
    ("rm.py", "paper_32b"): {"optim.lr": 1e-5, "optim.warmup_ratio": 0.1, "train.global_batch": 128,
                             "data.max_length": 1024},
    ("rl.py", "paper_base_rule_r1"): {**_RL_PAPER, "data.template": "r1", "reward.tests.mode": "all_pass",
                                      "train.total_steps": 80},
    ("rl.py", "paper_base_rm"): {**_RL_PAPER, "data.template": "r1"},
    ("rl.py", "paper_instruct_rule"): {**_RL_PAPER, "data.template": "chat", "reward.tests.mode": "all_pass"},
    ("rl.py", "paper_instruct_rm"): {**_RL_PAPER, "data.template": "chat"},
    ("best_of_n.py", "paper_bo16"): {"bon.n": 16, "bon.temperature": 0.7, "bon.max_new_tokens": 1024},
    ("best_of_n.py", "paper_bo32"): {"bon.n": 32, "bon.temperature": 0.7},
    ("best_of_n.py", "paper_bo64"): {"bon.n": 64, "bon.temperature": 0.7},
    ("data.py", "toy"): {"pairs.min_best": 0.8, "pairs.min_gap": 0.4, "pairs.min_worst_exclusive": 0.0,
                         "proxy.min_tests": 5, "synthesis.num_tests": 20},
    ("data.py", "openai"): {"synthesis.backend": "openai", "synthesis.openai.model": "gpt-4o-mini",
                            "synthesis.openai.temperature": 0.7},
}


@pytest.mark.parametrize("key", sorted(PAPER_SETUPS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_paper_setup_variants(key):
    file, variant = key
    config = load(os.path.join(REPO, "configs", file)).get_config(variant)
    wrong = {d: get(config, d) for d, v in PAPER_SETUPS[key].items() if get(config, d) != v}
    assert not wrong, f"configs/{file}:{variant} differs from the paper setup: {wrong}"


def test_rm_reward_variants_use_the_reward_model_and_rule_variants_the_tests():
    rl = load(os.path.join(REPO, "configs", "rl.py"))
    for variant in ("paper_base_rm", "paper_instruct_rm"):
        assert set(rl.get_config(variant).reward.keys()) == {"reward_model"}, variant
    for variant in ("paper_base_rule_r1", "paper_instruct_rule"):
        assert set(rl.get_config(variant).reward.keys()) == {"tests"}, variant


def test_rl_variants_name_registered_algorithms():
    from acecoder_jax.rl import algorithms

    rl = load(os.path.join(REPO, "configs", "rl.py"))
    for variant in rl.VARIANTS:
        algo = rl.get_config(variant).algo
        assert algo.estimator in algorithms.ADVANTAGE_ESTIMATORS, (variant, algo.estimator)
        assert algo.kl_estimator in algorithms.KL_ESTIMATORS, (variant, algo.kl_estimator)
        assert algo.kl_loss_estimator in algorithms.KL_ESTIMATORS, (variant, algo.kl_loss_estimator)
        assert algo.policy_loss in algorithms.POLICY_LOSSES, (variant, algo.policy_loss)


def _blocks(config, prefix=""):
    """(dotted path, block) for every ConfigDict inside `config`, itself included."""
    yield prefix.rstrip("."), config
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            yield from _blocks(value, f"{prefix}{key}.")


@pytest.mark.parametrize("path, variant", CASES, ids=IDS)
def test_each_block_is_spelled_one_way(path, variant):
    """Every model, mesh, optim, train, export and execution block in every variant (the demo's
    stage configs included) has the fields config_blocks defines for it, so a knob has one name."""
    from acecoder_jax import config_blocks as B

    model_fields = set(B.model_config())
    shapes = {"mesh": set(B.mesh_config()), "optim": set(B.optim_config()), "execution": set(B.execution_config())}
    config = load(path).get_config(variant)
    seen = set()
    for where, block in _blocks(config):
        name, fields = where.rsplit(".", 1)[-1], set(block)
        if "hf_path" in fields and name != "reference":
            extra = {"batch_size", "max_length"} if name == "reward_model" else set()
            assert fields == model_fields | extra, (where, sorted(fields ^ (model_fields | extra)))
            seen.add("model")
        elif name in shapes:
            assert fields == shapes[name], (where, sorted(fields ^ shapes[name]))
            seen.add(name)
        elif name == "train" and "log_every" in fields:
            loop = set(B.train_config())
            assert loop <= fields, (where, sorted(loop - fields))
        elif name == "export":
            assert set(B.export_config()) <= fields, where
        assert "mesh_shape" not in fields and not (name == "reward_model" and "path" in fields), (where, "old spelling")
    assert "model" in seen or "mesh" in seen or "execution" in seen, f"{rel(path)}:{variant} has no shared block"


def test_config_blocks_refuse_fields_they_do_not_have():
    from acecoder_jax import config_blocks as B
    from acecoder_jax.errors import ConfigError

    assert B.optim_config(lr=3e-4).lr == 3e-4
    with pytest.raises(ConfigError, match=r"the optim block has no field\(s\) learning_rate"):
        B.optim_config(learning_rate=3e-4)
    rm = B.reward_model_config(batch_size=4, hf_path="x")
    assert (rm.batch_size, rm.max_length, rm.hf_path, rm.remat, rm.scan_layers) == (4, 2048, "x", "none", False)
