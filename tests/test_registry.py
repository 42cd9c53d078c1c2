"""One registry kind for everything chosen by name: lookups name the alternatives, and one command lists them."""
import subprocess
import sys

import pytest

from acecoder_jax import registry
from acecoder_jax.errors import ConfigError, UnknownName

KINDS = {"objective", "advantage estimator", "policy loss", "KL estimator", "reward", "pair rule",
         "synthesis backend", "prompt template", "benchmark", "toy task family"}


def test_every_table_is_listed_with_its_entries():
    tables = registry.registered()
    assert KINDS <= set(tables), sorted(KINDS - set(tables))
    assert {"bradley_terry", "lm"} <= set(tables["objective"])
    assert {"grpo", "reinforce++", "rloo"} <= set(tables["advantage estimator"])
    assert {"acecoder", "any_gap"} <= set(tables["pair rule"])
    assert {"reference", "openai", "sampler"} <= set(tables["synthesis backend"])
    assert {"humaneval", "livecodebench"} <= set(tables["benchmark"])
    out = subprocess.run([sys.executable, "-m", "acecoder_jax.registry"], capture_output=True, text=True, check=True)
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines())
    assert set(lines) == set(tables) and lines["pair rule"] == "acecoder, any_gap"


def test_unknown_names_say_what_exists_and_duplicates_are_refused():
    from acecoder_jax.data.pairs import PAIR_RULES

    with pytest.raises(UnknownName, match=r"unknown pair rule 'acecodr' \(did you mean 'acecoder'\?\); "
                                          r"known: acecoder, any_gap") as caught:
        PAIR_RULES["acecodr"]
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ConfigError)
    assert not str(caught.value).startswith("'")
    with pytest.raises(ValueError, match="pair rule 'acecoder' is already registered"):
        PAIR_RULES.register("acecoder")(lambda **kw: None)
    with pytest.raises(ValueError, match="a registry of pair rules exists already"):
        registry.Registry("pair rule")
