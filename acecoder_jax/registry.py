"""Name -> function tables: everything a config chooses by name (objectives, advantage estimators,
policy losses, KL estimators, rewards, pair rules, synthesizers, prompt templates, benchmark
readers, toy task families) is registered where it is defined, in one kind of table.

`python -m acecoder_jax.registry` lists every table and what is registered in it.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from acecoder_jax.errors import UnknownName, unknown_choice

_TABLES: dict[str, "Registry"] = {}
# The modules that define tables: imported by `registered()` so that the listing is complete.
_HOMES = ("acecoder_jax.train.objectives", "acecoder_jax.rl.algorithms", "acecoder_jax.rl.rewards",
          "acecoder_jax.data.pairs", "acecoder_jax.data.stages", "acecoder_jax.prompts",
          "acecoder_jax.evaluation.benchmarks", "acecoder_jax.data.toy_tasks", "acecoder_jax.demo.pipeline")


class Registry(dict):
    """A name -> entry table whose failed lookups say what exists."""

    def __init__(self, kind: str):
        super().__init__()
        if kind in _TABLES:
            raise ValueError(f"a registry of {kind}s exists already")
        self.kind = kind
        _TABLES[kind] = self

    def __missing__(self, name):
        raise UnknownName(unknown_choice(self.kind, name, self))

    def add(self, name: str, entry: Any) -> Any:
        """Register `entry` under `name`; a duplicate name is an error."""
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self[name]!r})")
        self[name] = entry
        return entry

    def register(self, name: str) -> Callable[[Callable], Callable]:
        """Decorator adding a function under `name`."""
        return lambda fn: self.add(name, fn)


def registered() -> dict[str, list[str]]:
    """{kind: sorted names} over every table."""
    for module in _HOMES:
        importlib.import_module(module)
    return {kind: sorted(table) for kind, table in sorted(_TABLES.items())}


if __name__ == "__main__":
    from acecoder_jax import registry  # this file runs as __main__: the tables live in the imported module

    for kind, names in registry.registered().items():
        print(f"{kind}: {', '.join(names)}")
