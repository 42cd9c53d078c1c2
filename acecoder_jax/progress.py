"""What a person watching a run sees: live bars on a terminal, one readable line per logged step.

Bars (`bar`) are tqdm with rate and ETA; they draw only when stderr is a terminal and on process 0,
so logs, CI and pytest stay quiet, and a `progress=False` setting turns them off everywhere.
Step lines (`step_line` + `emit`) go above a live bar on a terminal and to the INFO log otherwise;
the same numbers go to metrics.jsonl and TensorBoard through train.metrics.MetricsWriter.
"""
from __future__ import annotations

import logging
import sys
from typing import Iterable, Mapping, Sequence

# (metric key, label, format) for step lines, in the order shown; absent keys are skipped.
STEP_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("loss", "loss", ".4f"),
    ("policy_loss", "pg_loss", ".4f"),
    ("accuracy", "acc", ".3f"),
    ("token_accuracy", "tok_acc", ".3f"),
    ("reward_mean", "reward", ".3f"),
    ("raw_score", "rm_score", ".3f"),
    ("pass@1", "pass@1", ".3f"),
    ("pass_rate", "pass", ".3f"),
    ("all_pass", "all_pass", ".3f"),
    ("kl", "kl", ".4f"),
    ("entropy", "entropy", ".3f"),
    ("lr", "lr", ".2e"),
)


def _main_process() -> bool:
    jax = sys.modules.get("jax")  # data stages may run without JAX; do not import it for this
    return jax is None or jax.process_index() == 0


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str, unit: str = "it",
        enabled: bool | None = True, initial: int = 0, leave: bool = True, delay: float = 1.0):
    """A tqdm bar (rate, ETA once `total` is known) that draws only on a terminal, on process 0,
    and only once it has run `delay` seconds (many small batches would otherwise flicker)."""
    from tqdm.auto import tqdm

    disable = None if (enabled is not False and _main_process()) else True  # None: tqdm's TTY check
    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, disable=disable,
                dynamic_ncols=True, mininterval=0.5, delay=delay, file=sys.stderr)


# Reward details are logged per reward (tests_pass_rate, reward_model_raw_score): one shown by base name.
_REWARD_DETAILS = ("pass_rate", "all_pass", "raw_score")


def _metric(row: Mapping[str, float], key: str):
    """`key` itself, or for a reward detail the one per-reward key ending in it."""
    if key in row or key not in _REWARD_DETAILS:
        return row.get(key)
    matches = [k for k in row if k.endswith("_" + key)]
    return row[matches[0]] if len(matches) == 1 else None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.1f}"


def step_line(name: str, step: int, total: int, row: Mapping[str, float], *, tokens_per_s: float | None = None,
              seconds_per_step: float | None = None, fields: Sequence[tuple[str, str, str]] = STEP_FIELDS) -> str:
    """`rl[tests] step 12/40  loss 0.0123  reward 0.453  kl 0.0012  1.2k tok/s  1.4 s/step  eta 0m39s`."""
    parts = [f"{name} step {step}/{total}"]
    for key, label, fmt in fields:
        value = _metric(row, key)
        if value is not None:
            parts.append(f"{label} {value:{fmt}}")
    if tokens_per_s is not None:
        parts.append(f"{_rate(tokens_per_s)} tok/s")
    if seconds_per_step is not None:
        parts.append(f"{seconds_per_step:.2f} s/step")
        parts.append(f"eta {_duration(seconds_per_step * max(total - step, 0))}")
    return "  ".join(parts)


def emit(line: str) -> None:
    """A step line: printed above any live bar on a terminal, logged at INFO where no one watches."""
    if not _main_process():
        return
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        logging.info("%s", line)
