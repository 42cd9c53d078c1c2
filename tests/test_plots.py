"""Figures: every drawn line in a legend, coinciding series drawn once, the RM-reward run on its raw score."""
import numpy as np

from acecoder_jax import plots


def _rows(n, **series):
    return [{"step": i + 1, **{k: float(v[i]) for k, v in series.items()}} for i in range(n)]


def _lines(fig):
    return [line for ax in fig.axes for line in ax.get_lines()]


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def test_test_reward_run_merges_identical_series_and_labels_every_line():
    n = 12
    reward = np.linspace(0.2, 0.7, n)
    train = _rows(n, reward_mean=reward, tests_all_pass=reward, tests_pass_rate=reward + 0.1,
                  kl=np.linspace(0, 0.05, n))
    evals = [{"step": 0, "pass@1": 0.3, "problems": 48}, {"step": 12, "pass@1": 0.5, "problems": 48}]
    fig = plots.new_figure(8, 6)
    plots.rl_run(fig, train, evals, "test reward run")
    labels = _legend_texts(fig)
    assert "train reward mean = train all-pass rate" in labels  # one line for the two equal series
    assert {"train test pass rate", "held-out pass@1 (48 problems)", "KL(policy || reference), lower panel"} <= set(labels)
    drawn = [l for l in _lines(fig) if len(l.get_xdata())]
    assert len(drawn) == len(labels) == 4
    assert all(not l.get_label().startswith("_") for l in drawn)
    top, kl_ax = fig.axes[:2]
    assert kl_ax.get_ylabel() == "KL (nats/token)" and "RL step" in kl_ax.get_xlabel()
    assert top.get_title() == "test reward run" and top.get_ylabel()


def test_rm_reward_run_plots_the_raw_score_not_the_normalised_reward():
    n = 10
    train = _rows(n, reward_mean=np.zeros(n), reward_model_raw_score=np.linspace(-1, 2, n),
                  tests_all_pass=np.linspace(0.4, 0.2, n), kl=np.linspace(0, 0.3, n))
    fig = plots.new_figure(8, 6)
    plots.rl_run(fig, train, [{"step": 0, "pass@1": 0.3}, {"step": 10, "pass@1": 0.15}], "rm run")
    labels = _legend_texts(fig)
    assert not any(l.startswith("train reward mean") for l in labels)  # the flat normalised line is gone
    raw = [l for l in _lines(fig) if l.get_label().startswith("train RM score (raw")]
    assert len(raw) == 1 and np.allclose(raw[0].get_ydata(), np.linspace(-1, 2, n))
    assert any(ax.get_ylabel() == "RM score (logit)" for ax in fig.axes)
    assert {"train all-pass rate", "KL(policy || reference), lower panel"} <= set(labels)


def test_best_of_n_has_greedy_and_oracle_in_the_legend_outside_the_data():
    run = {"benchmark": "b", "policy": "p", "reward_model": "r", "greedy": 0.6,
           "best_of_n": {"1": 0.3, "2": 0.35, "4": 0.3, "8": 0.25}, "pass_at_k": {"1": 0.3, "2": 0.5, "4": 0.7, "8": 0.8}}
    fig = plots.new_figure(7, 5)
    ax = fig.add_subplot()
    plots.best_of_n(ax, [run])
    assert _legend_texts(fig) == ["best-of-n by RM", "oracle pass@n (any sample right)", "greedy"]
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend_box.y1 <= axes_box.y0  # below the axes: it covers no point
    assert ax.get_xlabel().startswith("n (") and ax.get_ylabel() == "problems solved (%)"
    assert plots.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"
