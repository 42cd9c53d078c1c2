"""Best-of-N reports: results.json, a markdown table and a PNG of accuracy vs n.

A run is one `metrics.summarize` dict plus labels {"benchmark", "policy", "reward_model"}; a
report is a list of runs. Output dirs may be local or any fsspec URL.
"""
from __future__ import annotations

import json
from typing import Sequence

import fsspec

RESULTS_JSON = "results.json"
TABLE_MD = "results.md"
PLOT_PNG = "best_of_n.png"
LABELS = ("benchmark", "policy", "reward_model")


def make_run(summary: dict, *, benchmark: str, policy: str, reward_model: str) -> dict:
    """Attach labels to a `metrics.summarize` result."""
    for key in ("best_of_n", "pass_at_k", "mean_over_samples", "oracle_pass_at_n", "greedy"):
        if key not in summary:
            raise ValueError(f"summary lacks {key!r}; build it with metrics.summarize")
    return {"benchmark": benchmark, "policy": policy, "reward_model": reward_model, **summary}


def _check_runs(runs: Sequence[dict]) -> None:
    if not runs:
        raise ValueError("report needs at least one run")
    for i, run in enumerate(runs):
        missing = [k for k in (*LABELS, "best_of_n", "pass_at_k") if k not in run]
        if missing:
            raise ValueError(f"run {i} lacks {missing}; build runs with report.make_run")


def _pct(x) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}"


def markdown_table(runs: Sequence[dict]) -> str:
    """One row per run: greedy, mean over samples, best-of-n for every n, oracle pass@N (in %)."""
    _check_runs(runs)
    ns = sorted({int(n) for run in runs for n in run["best_of_n"]})
    header = ["benchmark", "policy", "reward model", "greedy", "mean",
              *[f"best-of-{n}" for n in ns], "oracle pass@N"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    for run in runs:
        cells = [run["benchmark"], run["policy"], run["reward_model"], _pct(run.get("greedy")),
                 _pct(run.get("mean_over_samples")),
                 *[_pct(run["best_of_n"].get(str(n))) for n in ns], _pct(run.get("oracle_pass_at_n"))]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def plot_png(runs: Sequence[dict], title: str = "Best-of-N accuracy") -> bytes:
    """PNG bytes: best-of-n (solid), oracle pass@k (dashed) and greedy (dotted) vs n on a log2 axis."""
    from acecoder_jax import plots

    _check_runs(runs)
    if len(runs) == 1:  # the legend names no run then: the title does
        run = runs[0]
        title = f"{title}\n{run['benchmark']}, policy {run['policy']}, RM {run['reward_model']}"
    fig = plots.new_figure(7.5, 5.5)
    plots.best_of_n(fig.add_subplot(), runs, title)
    return plots.png_bytes(fig)


def write_report(out_dir: str, runs: Sequence[dict], title: str = "Best-of-N accuracy") -> dict[str, str]:
    """Write results.json, results.md and best_of_n.png under out_dir; returns their paths."""
    _check_runs(runs)
    fs, root = fsspec.core.url_to_fs(out_dir)
    fs.makedirs(root, exist_ok=True)
    base = out_dir.rstrip("/")
    paths = {"json": f"{base}/{RESULTS_JSON}", "markdown": f"{base}/{TABLE_MD}", "plot": f"{base}/{PLOT_PNG}"}
    payload = {"runs": list(runs)}
    with fsspec.open(paths["json"], "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    with fsspec.open(paths["markdown"], "w") as f:
        f.write(markdown_table(runs))
    with fsspec.open(paths["plot"], "wb") as f:
        f.write(plot_png(runs, title))
    return paths


def read_results(out_dir_or_file: str) -> list[dict]:
    """The runs stored in a results.json (or the dir holding one)."""
    path = out_dir_or_file if out_dir_or_file.endswith(".json") else f"{out_dir_or_file.rstrip('/')}/{RESULTS_JSON}"
    with fsspec.open(path, "r") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError(f"{path}: expected an object with a 'runs' list")
    return data["runs"]
