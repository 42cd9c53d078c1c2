"""Figures a researcher can put on a slide: best-of-N curves, RL runs, reward-model training, stage times.

Each panel function draws on axes it is given, so the per-stage PNGs (best_of_n.png,
reward_curve.png) and the pipeline's report.png share one drawing. Every line is in a legend,
legends sit outside the data, axes carry units, and figures carry the run they belong to.
Series that coincide (the binary test reward *is* the train all-pass rate) are drawn once, with
both names in the legend, rather than one hiding the other.
"""
from __future__ import annotations

import io as io_bytes
from typing import Mapping, Sequence

import numpy as np

PASS_AXIS = "fraction of samples / problems"


def new_figure(width: float, height: float):
    from acecoder_jax.extras import need

    matplotlib = need("matplotlib", "drawing figures")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def png_bytes(fig) -> bytes:
    buf = io_bytes.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _legend(ax, handles=None, labels=None, **kw) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2,
                  frameon=False, **kw)


def _plot_distinct(ax, x, series: Sequence[tuple[str, Sequence[float], dict]]) -> None:
    """Plot (label, values, style) series; ones equal to an earlier series join its label instead."""
    drawn: list[tuple[np.ndarray, list[str], dict]] = []
    for label, values, style in series:
        values = np.asarray(values, float)
        same = next((d for d in drawn if d[0].shape == values.shape and np.allclose(d[0], values, equal_nan=True)),
                    None)
        if same is not None:
            same[1].append(label)
        else:
            drawn.append((values, [label], style))
    for values, labels, style in drawn:
        ax.plot(x, values, label=" = ".join(labels), **style)


# -- best-of-N --------------------------------------------------------------------------------
def best_of_n(ax, runs: Sequence[Mapping], title: str = "Best-of-N accuracy") -> None:
    """best-of-n (solid), oracle pass@k (dashed), greedy (dotted) against n, per run, in %.

    With one run the figure's title names it; with several each legend entry does."""
    for i, run in enumerate(runs):
        color = f"C{i % 10}"
        name = f"{run['benchmark']} / {run['policy']} / {run['reward_model']}: " if len(runs) > 1 else ""
        ns = sorted(int(n) for n in run["best_of_n"])
        ax.plot(ns, [100 * run["best_of_n"][str(n)] for n in ns], "o-", color=color,
                label=f"{name}best-of-n by RM")
        ks = sorted(int(k) for k in run.get("pass_at_k", {}))
        if ks:
            ax.plot(ks, [100 * run["pass_at_k"][str(k)] for k in ks], "s--", color=color, alpha=0.6, ms=4,
                    label=f"{name}oracle pass@n (any sample right)")
        if run.get("greedy") is not None:
            ax.axhline(100 * run["greedy"], linestyle=":", color=color, alpha=0.9, label=f"{name}greedy")
    ax.set_xscale("log", base=2)
    ticks = sorted({int(n) for run in runs for n in run["best_of_n"]})
    ax.set_xticks(ticks, [str(n) for n in ticks])
    ax.set_xlabel("n (samples per problem, reranked by the RM)")
    ax.set_ylabel("problems solved (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    _legend(ax)


# -- RL -----------------------------------------------------------------------------------------
def _detail(rows: Sequence[Mapping], suffix: str) -> str | None:
    keys = [k for k in rows[0] if k.endswith(suffix)] if rows else []
    return keys[0] if keys else None


def rl_run(panel, train: Sequence[Mapping], evals: Sequence[Mapping], title: str) -> None:
    """Two stacked axes on `panel` (a Figure or SubFigure): pass rates and the raw RM score (right
    axis) over RL steps, then the KL to the reference policy."""
    top, bottom = panel.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    steps = [r["step"] for r in train]
    series = []
    all_pass, pass_rate = _detail(train, "all_pass"), _detail(train, "_pass_rate")
    raw = _detail(train, "raw_score")
    if raw is None:  # with an RM reward, reward_mean is the normalised score: the raw score is shown instead
        series.append(("train reward mean", [r["reward_mean"] for r in train], {"color": "C0"}))
    if all_pass:
        series.append(("train all-pass rate", [r[all_pass] for r in train], {"color": "C1", "ls": "--"}))
    if pass_rate:
        series.append(("train test pass rate", [r[pass_rate] for r in train], {"color": "C2", "alpha": 0.8}))
    _plot_distinct(top, steps, series)
    if evals and "pass@1" in evals[0]:
        top.plot([r["step"] for r in evals], [r["pass@1"] for r in evals], "o-", color="C3", ms=6,
                 label=f"held-out pass@1 ({evals[-1].get('problems', '?')} problems)")
    top.set_ylabel(PASS_AXIS)
    top.set_ylim(-0.03, 1.03)
    top.grid(True, alpha=0.3)
    top.set_title(title)
    handles, labels = top.get_legend_handles_labels()
    if raw is not None:
        right = top.twinx()
        right.plot(steps, [r[raw] for r in train], color="C4", lw=2, label="train RM score (raw, before normalising)")
        right.set_ylabel("RM score (logit)", color="C4")
        h, l = right.get_legend_handles_labels()
        handles, labels = handles + h, labels + l
    if train and "kl" in train[0]:
        bottom.plot(steps, [r["kl"] for r in train], color="C5", label="KL(policy || reference), lower panel")
        h, l = bottom.get_legend_handles_labels()
        handles, labels = handles + h, labels + l
    panel.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    bottom.set_ylabel("KL (nats/token)")
    bottom.set_xlabel("RL step (one rollout batch + update)")
    bottom.grid(True, alpha=0.3)


# -- reward model training and stage times ------------------------------------------------------
def rm_training(ax, train: Sequence[Mapping], evals: Sequence[Mapping]) -> None:
    """Pairwise accuracy (train, held-out) and held-out loss over optimizer steps."""
    ax.plot([r["step"] for r in train], [r["accuracy"] for r in train], color="C0", label="train pair accuracy")
    ax.plot([r["step"] for r in evals], [r["accuracy"] for r in evals], "o-", color="C1",
            label="held-out pair accuracy")
    ax.axhline(0.5, color="gray", ls=":", label="chance")
    ax.set_ylabel("pairs ranked right (fraction)")
    ax.set_xlabel("optimizer step")
    ax.set_title("Reward model (Bradley-Terry)")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if evals:
        right = ax.twinx()
        right.plot([r["step"] for r in evals], [r["loss"] for r in evals], "s--", color="C2", ms=4,
                   label="held-out loss")
        right.set_ylabel("loss (nats)", color="C2")
        h, l = right.get_legend_handles_labels()
        handles, labels = handles + h, labels + l
    _legend(ax, handles, labels)


def stage_times(ax, seconds: Mapping[str, float]) -> None:
    names = list(seconds)
    ax.barh(names, [seconds[n] for n in names], color="C0", label="wall time")
    ax.invert_yaxis()  # first stage on top
    ax.set_xlabel("seconds")
    ax.set_title(f"Wall time per stage (total {sum(seconds.values()):.0f} s)")
    ax.grid(True, axis="x", alpha=0.3)
