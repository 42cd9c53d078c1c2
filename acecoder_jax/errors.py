"""Mistakes in what a run was asked to do, as opposed to bugs.

A `ConfigError` names the config field or flag and what is wrong with it; the command-line tools
(acecoder_jax.cli) print such errors, and missing input files, as one line and exit 2, where a
bug still gets its traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class ConfigError(ValueError):
    """A config field or flag has a value the run cannot use; the message names the field."""


class UnknownName(KeyError, ConfigError):
    """A name looked up in a registry (estimator, loss, benchmark, ...) that nothing registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def nearest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices closest to a mistyped `name`, best first (none when nothing is close)."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    close += [c for c in choices if c not in close and (name and (name in c or c in name))][: n - len(close)]
    return close


def unknown_choice(kind: str, name: str, choices: Iterable[str]) -> str:
    """`unknown {kind} 'x' (did you mean 'y'?); known: a, b, c`, for a name not among `choices`."""
    choices = sorted(str(c) for c in choices)
    close = nearest(name, choices)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; known: {', '.join(choices) or '(none)'}"
