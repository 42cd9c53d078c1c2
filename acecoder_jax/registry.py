"""Name -> function tables (estimators, losses, prompt templates, ...): a new entry is one function."""

from __future__ import annotations

from typing import Callable

from acecoder_jax.errors import unknown_choice


class Registry(dict):
    """A name -> function table whose failed lookups say what exists."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def __missing__(self, name):
        raise KeyError(unknown_choice(self.kind, name, self))

    def register(self, name: str) -> Callable[[Callable], Callable]:
        """Decorator adding a function under `name`; a duplicate name is an error."""

        def add(fn: Callable) -> Callable:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is already registered ({self[name]!r})")
            self[name] = fn
            return fn

        return add
