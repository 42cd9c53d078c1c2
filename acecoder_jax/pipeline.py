"""The AceCoder loop end to end, as resumable stages over one workdir.

seed tasks -> test synthesis -> proxy filter -> tokenizer -> SFT warm start -> sample N programs
-> execute -> pairs -> reward model -> best-of-N -> RL (test reward, RM reward) -> HF export check
-> HumanEval -> report.

Each stage writes `stages/<name>.json` (its result and wall time) when it finishes; a rerun skips
finished stages, and a stage killed midway resumes through its own machinery (data stages skip
finished shards, trainers restore their last orbax checkpoint).
"""

from __future__ import annotations

import ast
import logging
import os
import random
import time
from typing import Any, Callable

import numpy as np

from acecoder_jax.data import io

STAGES = ("synthesize", "filter", "split", "tokenizer", "sft", "sample", "execute", "pairs", "rm", "best_of_n",
          "rl_test_reward", "rl_rm_reward", "export_check", "humaneval")


def _normalised(program: str) -> str:
    try:
        return ast.unparse(ast.parse(program))
    except SyntaxError:
        return program


def _first_last(rows: list[dict], suffixes: tuple[str, ...], k: int = 5) -> dict:
    """Mean of the first and last `k` logged values of each per-reward metric ending in a suffix."""
    out = {}
    for suffix in suffixes:
        key = next((name for name in (rows[0] if rows else {}) if name.endswith(suffix)), None)
        if key is not None:
            values = [float(r[key]) for r in rows]
            out[f"train_{suffix}_first{k}"] = float(np.mean(values[:k]))
            out[f"train_{suffix}_last{k}"] = float(np.mean(values[-k:]))
    return out


class Pipeline:
    def __init__(self, config, workdir: str):
        self.config = config
        self.workdir = workdir.rstrip("/")
        self.results: dict[str, dict] = {}
        if config.get("sandbox_allow_weaker_isolation"):
            os.environ.setdefault("SANDBOX_ALLOW_WEAKER_ISOLATION", "1")  # read by SandboxPool

    def path(self, *parts: str) -> str:
        return "/".join([self.workdir, *parts])

    # -- stage bookkeeping --

    def _run_stage(self, name: str, fn: Callable[[], dict]) -> dict:
        marker = self.path("stages", f"{name}.json")
        if io.exists(marker):
            done = io.read_json(marker)
            logging.info("stage %s: finished earlier (%.1fs), skipped", name, done["wall_s"])
        else:
            logging.info("stage %s: running", name)
            t0 = time.perf_counter()
            result = fn()
            done = {"result": result, "wall_s": round(time.perf_counter() - t0, 2)}
            io.write_json(marker, done)
            logging.info("stage %s: done in %.1fs", name, done["wall_s"])
        self.results[name] = done
        return done["result"]

    def run(self) -> dict:
        t0 = time.perf_counter()
        io.makedirs(self.workdir)
        io.write_json(self.path("config.json"), self.config.to_dict())
        for name in STAGES:
            self._run_stage(name, getattr(self, f"stage_{name}"))
        report = self.report(time.perf_counter() - t0)
        return report

    # -- shared pieces --

    def _tokenizer(self):
        from acecoder_jax.tokenization import load_tokenizer

        return load_tokenizer(self.path("tokenizer"))

    def _prompt(self, tokenizer, question: str) -> str:
        from acecoder_jax.prompts import render_prompt

        return render_prompt(self.config.template, tokenizer, question)

    def _records(self, name: str) -> list[dict]:
        return io.read_records(self.path("data", name))

    def _rl_config(self, reward: str):
        c = self.config.rl.copy_and_resolve_references()
        c.tokenizer = self.path("tokenizer")
        c.model.hf_path = self.path("sft", "hf")
        c.data.train = self.path("data", "train.jsonl")
        c.data.eval = self.path("data", "heldout.jsonl")
        c.seed = self.config.seed
        if reward == "rm":
            import ml_collections

            # The tests stay on with weight 0: they do not move the policy, they show what the RM
            # score is worth (train pass rate beside the raw RM score, step by step).
            c.reward = ml_collections.ConfigDict({"tests": c.reward.tests.to_dict()})
            c.reward.tests.weight = 0.0
            c.reward.reward_model = ml_collections.ConfigDict()
            c.reward.reward_model.weight = 1.0
            c.reward.reward_model.path = self.path("rm", "hf")
            c.reward.reward_model.normalize = self.config.rl_rm.normalize
            c.reward.reward_model.batch_size = 64
            c.reward.reward_model.max_length = self.config.rm.data.max_length
            c.reward.reward_model.param_dtype = "float32"
            c.reward.reward_model.compute_dtype = "float32"
        return c

    # -- stages --

    def stage_synthesize(self) -> dict:
        from acecoder_jax.data.stages import run_synthesize

        stats = run_synthesize(self.config.data, None, self.path("data", "synthesized.jsonl"),
                               workdir=self.path("data", "work"))
        return {"stats": stats}

    def stage_filter(self) -> dict:
        from acecoder_jax.data.stages import run_proxy_filter

        stats = run_proxy_filter(self.config.data, [self.path("data", "synthesized.jsonl")],
                                 self.path("data", "filtered.jsonl"), workdir=self.path("data", "work"))
        before = self._records("synthesized.jsonl")
        after = self._records("filtered.jsonl")
        seeds_in = self.results["synthesize"]["result"]["stats"]["records_in"]
        return {"stats": stats, "questions_in": seeds_in,
                "questions_synthesized": len(before), "questions_after_filter": len(after),
                "tests_per_question_before": float(np.mean([len(r["test_cases"]) for r in before])),
                "tests_per_question_after": float(np.mean([len(r["test_cases"]) for r in after]))}

    def stage_split(self) -> dict:
        records = self._records("filtered.jsonl")
        order = np.random.default_rng([self.config.seed, 17]).permutation(len(records))
        n_held = max(1, int(round(self.config.heldout_fraction * len(records))))
        held = [records[i] for i in sorted(order[:n_held])]
        train = [records[i] for i in sorted(order[n_held:])]
        io.write_records(self.path("data", "train.jsonl"), train)
        io.write_records(self.path("data", "heldout.jsonl"), held)
        return {"train_questions": len(train), "heldout_questions": len(held)}

    def stage_tokenizer(self) -> dict:
        from acecoder_jax.data.mutants import mutants
        from acecoder_jax.tokenization import train_sentencepiece

        corpus = []
        for r in self._records("filtered.jsonl"):
            program = _normalised(r["seed_program"])
            corpus.append("\n".join([r["question"], program, *mutants(r["seed_program"], seed=0)[:4], *r["test_cases"]]))
        tok = train_sentencepiece(corpus, self.config.tokenizer.vocab_size, self.path("tokenizer"))
        return {"vocab_size": len(tok), "corpus_documents": len(corpus)}

    def stage_sft(self) -> dict:
        """Warm start: the policy learns the task format from reference solutions and mutants of them."""
        from acecoder_jax.data.mutants import mutants
        from acecoder_jax.train.run import run_training

        tok = self._tokenizer()
        mix = self.config.sft_mix
        rng = random.Random(self.config.seed)
        rows = []
        for r in self._records("train.jsonl"):
            wrong = mutants(r["seed_program"], seed=0)
            for _ in range(mix.copies):
                right = rng.random() < mix.correct_fraction or not wrong
                rows.append({"prompt": self._prompt(tok, r["question"]),
                             "response": _normalised(r["seed_program"]) if right else rng.choice(wrong)})
        io.write_jsonl(self.path("sft", "sft.jsonl"), rows)
        c = self.config.sft.copy_and_resolve_references()
        c.tokenizer = self.path("tokenizer")
        c.data.train = self.path("sft", "sft.jsonl")
        c.seed = self.config.seed
        result = run_training(c, self.path("sft"))
        last = result.evals[-1] if result.evals else {}
        return {"examples": len(rows), "steps": int(c.train.total_steps),
                "final_eval_loss": float(last["loss"]) if "loss" in last else None}

    def stage_sample(self) -> dict:
        from acecoder_jax.models import load_hf
        from acecoder_jax.sampling import Sampler, SamplingParams
        from acecoder_jax.tokenization import pad_token_id, stop_token_ids

        s = self.config.sample
        tok = self._tokenizer()
        model, _ = load_hf(self.path("sft", "hf"))
        sampler = Sampler(model, tok, batch_size=s.batch_size, prompt_buckets=tuple(s.prompt_buckets),
                          pad_id=pad_token_id(tok))
        records = self._records("train.jsonl")
        sp = SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, n=s.n,
                            stop_token_ids=tuple(stop_token_ids(tok)), seed=self.config.seed)
        t0 = time.perf_counter()
        out = sampler.generate([self._prompt(tok, r["question"]) for r in records], sp, progress=self.config.progress)
        seconds = time.perf_counter() - t0
        rows = [{"id": r["id"], "model_name": s.model_name, "completion_id": i, "completion": c.text}
                for r, group in zip(records, out) for i, c in enumerate(group)]
        io.write_jsonl(self.path("data", "completions.jsonl"), rows)
        tokens = sum(len(c.tokens) for g in out for c in g)
        return {"completions": len(rows), "tokens": tokens, "tokens_per_s": tokens / seconds}

    def stage_execute(self) -> dict:
        from acecoder_jax.data.stages import run_attach_inferences

        stats = run_attach_inferences(self.config.data, [self.path("data", "train.jsonl")],
                                      self.path("data", "completions.jsonl"),
                                      self.path("data", "with_inferences.jsonl"), workdir=self.path("data", "work"))
        rates = [i["pass_rate"] for r in self._records("with_inferences.jsonl") for i in r["inferences"]]
        return {"stats": stats, "programs": len(rates), "mean_pass_rate": float(np.mean(rates)),
                "all_pass_fraction": float(np.mean([x == 1.0 for x in rates]))}

    def stage_pairs(self) -> dict:
        from acecoder_jax.data.stages import run_build_pairs

        stats = run_build_pairs(self.config.data, [self.path("data", "with_inferences.jsonl")],
                                self.path("data", "pairs.jsonl"), workdir=self.path("data", "work"))
        pairs = self._records("pairs.jsonl")
        return {"stats": stats, "pairs": len(pairs)}

    def stage_rm(self) -> dict:
        from acecoder_jax.train.run import run_training

        c = self.config.rm.copy_and_resolve_references()
        c.tokenizer = self.path("tokenizer")
        c.model.hf_path = self.path("sft", "hf")
        c.data.train = self.path("data", "pairs.jsonl")
        c.seed = self.config.seed
        result = run_training(c, self.path("rm"))
        evals = result.evals or []
        if not evals:
            raise RuntimeError("reward-model training logged no held-out evaluation")
        from acecoder_jax.train.run import DATA_STATS_FILE

        held = int(io.read_json(self.path("rm", DATA_STATS_FILE))["eval_examples"])
        batch = min(c.train.eval_batch or c.train.global_batch, held)
        batches = held // batch if not c.train.eval_batches else min(c.train.eval_batches, held // batch)
        return {"heldout_accuracy": float(evals[-1]["accuracy"]), "heldout_loss": float(evals[-1]["loss"]),
                "heldout_accuracy_first": float(evals[0]["accuracy"]), "steps": int(c.train.total_steps),
                "heldout_pairs": held, "heldout_pairs_scored": batches * batch}  # full eval batches only

    def _best_of_n(self, problems, policy_dir: str, bon_cfg, n: int, temperature: float) -> tuple[dict, list]:
        from acecoder_jax.rm.best_of_n import rerank

        cfg = bon_cfg.copy_and_resolve_references()
        cfg.policy.hf_path, cfg.reward_model.hf_path = policy_dir, self.path("rm", "hf")
        cfg.bon.n, cfg.bon.temperature = n, temperature
        cfg.bon.seed, cfg.bon.template, cfg.progress = self.config.seed, self.config.template, self.config.progress
        return rerank(problems, cfg)

    def stage_best_of_n(self) -> dict:
        from acecoder_jax.evaluation.benchmarks import Problem
        from acecoder_jax.evaluation.report import make_run, write_report

        problems = [Problem(task_id=r["id"], prompt=r["question"], entry_point=r.get("entry_point", ""),
                            tests=tuple(r["test_cases"])) for r in self._records("heldout.jsonl")]
        summary, records = self._best_of_n(problems, self.path("sft", "hf"), self.config.bon,
                                           self.config.bon.bon.n, self.config.bon.bon.temperature)
        write_report(self.path("best_of_n"), [make_run(summary, benchmark="toy-heldout", policy="sft",
                                                       reward_model="demo-rm")])
        io.write_jsonl(self.path("best_of_n", "samples.jsonl"), records)
        return summary

    def _rl(self, reward: str) -> dict:
        from acecoder_jax.rl.trainer import run_rl

        name = "rl_test_reward" if reward == "tests" else "rl_rm_reward"
        c = self._rl_config(reward)
        result = run_rl(c, self.path(name))
        from acecoder_jax.train.metrics import read_metrics

        evals = read_metrics(self.path(name), "eval")
        train = read_metrics(self.path(name), "train")
        if len(evals) < 2:
            raise RuntimeError(f"{name}: expected held-out evaluations before and after training, got {len(evals)}")
        timing = {k[len("time_"):]: round(float(sum(r.get(k, 0.0) for r in train)), 2)
                  for k in ("time_rollout", "time_execution", "time_logprobs", "time_update", "time_step")}
        return {"pass1_before": float(evals[0]["pass@1"]), "pass1_after": float(evals[-1]["pass@1"]),
                "steps": int(result.steps_done), "eval_problems": int(evals[-1]["problems"]),
                "eval_samples_per_problem": int(evals[-1]["samples_per_problem"]),
                "reward_mean_first": float(train[0]["reward_mean"]) if train else None,
                "reward_mean_last": float(train[-1]["reward_mean"]) if train else None, "time_split_s": timing,
                **_first_last(train, ("raw_score", "all_pass"))}

    def stage_rl_test_reward(self) -> dict:
        return self._rl("tests")

    def stage_rl_rm_reward(self) -> dict:
        if not self.config.rl_rm.enabled:
            return {"skipped": True}
        return self._rl("rm")

    def stage_export_check(self) -> dict:
        """Reload the exported policy and RM with transformers (PyTorch) and compare outputs with ours."""
        import torch
        import transformers

        from acecoder_jax.models import load_hf

        transformers.utils.logging.disable_progress_bar()  # its bars draw even in logs; loading is instant

        tok = self._tokenizer()
        texts = [self._prompt(tok, r["question"]) + _normalised(r["seed_program"])
                 for r in self._records("heldout.jsonl")[:4]]
        from acecoder_jax.tokenization import encode_batch

        batch = encode_batch(tok, texts, buckets=(256,), max_length=256, truncation="left")
        ids, mask = batch.input_ids, batch.attention_mask
        out = {}
        policy_dir = self.path("rl_test_reward", "hf")
        for name, path, head, cls in [("policy", policy_dir, "lm", transformers.AutoModelForCausalLM),
                                      ("reward_model", self.path("rm", "hf"), "reward",
                                       transformers.AutoModelForSequenceClassification)]:
            ours, _ = load_hf(path, head=head)
            theirs = cls.from_pretrained(path, dtype=torch.float32).eval()
            with torch.no_grad():
                ref = theirs(input_ids=torch.tensor(ids).long(), attention_mask=torch.tensor(mask).long()).logits.numpy()
            mine = np.asarray(ours(ids, mask))
            if head == "lm":
                diff = float(np.abs(mine - ref)[mask.astype(bool)].max())
            else:
                diff = float(np.abs(mine - ref[:, 0]).max())
            out[name] = {"path": path, "transformers_class": type(theirs).__name__, "max_abs_diff": diff}
            if diff > 1e-3:
                raise RuntimeError(f"exported {name} disagrees with transformers: max |diff| {diff}")
        return out

    def stage_humaneval(self) -> dict:
        """The final policy on HumanEval through the real harness (a tiny model scores near zero)."""
        from acecoder_jax.evaluation.benchmarks import load_humaneval

        h = self.config.humaneval
        problems = load_humaneval(limit=h.limit or None).problems
        cfg = self.config.bon.copy_and_resolve_references()
        cfg.sampler.batch_size = h.batch_size
        cfg.sampler.prompt_buckets = tuple(h.prompt_buckets)
        cfg.bon.max_new_tokens = h.max_new_tokens
        cfg.reward_model.max_length = 1024
        cfg.reward_model.batch_size = h.rm_batch_size
        summary, _ = self._best_of_n(problems, self.path("rl_test_reward", "hf"), cfg, 1, 1.0)
        return {"problems": len(problems), "pass1_greedy": summary["greedy"],
                "pass1_sampled": summary["mean_over_samples"]}

    # -- report --

    def report(self, wall_s: float) -> dict:
        r = {k: v["result"] for k, v in self.results.items()}
        filt = r["filter"]
        report: dict[str, Any] = {
            "counts": {
                "questions_in": filt["questions_in"],
                "questions_synthesized": filt["questions_synthesized"],
                "synthesis_dropped": r["synthesize"]["stats"].get("dropped", {}),
                "questions_after_filter": filt["questions_after_filter"],
                "tests_per_question_before_filter": round(filt["tests_per_question_before"], 2),
                "tests_per_question_after_filter": round(filt["tests_per_question_after"], 2),
                "train_questions": r["split"]["train_questions"],
                "heldout_questions": r["split"]["heldout_questions"],
                "sampled_programs": r["sample"]["completions"],
                "mean_sample_pass_rate": round(r["execute"]["mean_pass_rate"], 4),
                "pairs": r["pairs"]["pairs"],
            },
            "rm": {k: r["rm"][k] for k in ("heldout_accuracy", "heldout_loss", "heldout_accuracy_first",
                                             "heldout_pairs", "heldout_pairs_scored") if k in r["rm"]},
            "bon": {"problems": r["best_of_n"]["num_problems"],
                    "greedy": r["best_of_n"]["greedy"], "mean_over_samples": r["best_of_n"]["mean_over_samples"],
                    "best_of_n": r["best_of_n"]["best_of_n"], "oracle_pass_at_n": r["best_of_n"]["oracle_pass_at_n"]},
            "rl": {"test_reward": r["rl_test_reward"], "rm_reward": r["rl_rm_reward"]},
            "export": r["export_check"],
            "humaneval": r["humaneval"],
            "stage_wall_s": {k: v["wall_s"] for k, v in self.results.items()},
            "wall_time_s": round(sum(v["wall_s"] for v in self.results.values()), 1),
            "this_invocation_s": round(wall_s, 1),
        }
        io.write_json(self.path("report.json"), report)
        self._plots(report)
        io.write_text(self.path("report.md"), render_markdown(report))
        return report

    def _plots(self, report: dict) -> None:
        """report.png: best-of-N, RM training and stage times on top; the two RL runs below."""
        from acecoder_jax import plots
        from acecoder_jax.evaluation.report import make_run
        from acecoder_jax.train.metrics import read_metrics

        fig = plots.new_figure(18, 12)
        fig.suptitle(f"AceCoder CPU demo: run {self.workdir} ({time.strftime('%Y-%m-%d %H:%M')}, "
                     f"seed {self.config.seed})", fontsize=14)
        top, bottom = fig.subfigures(2, 1, height_ratios=(1, 1.25))
        bon_ax, rm_ax, time_ax = top.subplots(1, 3)
        heldout = report["counts"]["heldout_questions"]
        plots.best_of_n(bon_ax, [make_run(self.results["best_of_n"]["result"], benchmark="toy held-out",
                                          policy="SFT policy", reward_model="demo RM")],
                        title=f"Best-of-N on {heldout} held-out toy questions")
        plots.rm_training(rm_ax, read_metrics(self.path("rm"), "train"), read_metrics(self.path("rm"), "eval"))
        plots.stage_times(time_ax, report["stage_wall_s"])
        titles = {"rl_test_reward": "RL with the test reward (all tests pass: 1, else 0)",
                  "rl_rm_reward": "RL with the RM reward (tests run as a monitor, weight 0)"}
        runs = [name for name in titles if read_metrics(self.path(name), "train")]
        for panel, name in zip(bottom.subfigures(1, len(runs)) if len(runs) > 1 else [bottom], runs):
            plots.rl_run(panel, read_metrics(self.path(name), "train"), read_metrics(self.path(name), "eval"),
                         titles[name])
        io.write_bytes(self.path("report.png"), plots.png_bytes(fig))


def _se(p: float, n: int) -> float:
    """Standard error of a rate measured on n independent items (normal approximation)."""
    return float(np.sqrt(max(p * (1 - p), 1e-12) / max(n, 1)))


def _verdict(delta: float, se: float, higher_is_claim: bool = True) -> str:
    """shown / contradicted / not resolved, for a difference and its standard error (|z| >= 1.96)."""
    z = delta / max(se, 1e-12) * (1 if higher_is_claim else -1)
    return "shown" if z >= 1.96 else "contradicted" if z <= -1.96 else "not resolved at this size"


def paper_claims(report: dict) -> list[dict]:
    """Each claim of the paper this run can speak to, with this run's numbers and a verdict.

    Uncertainties are normal approximations over the problems (or pairs) measured, treating them
    as independent and the two sides of a comparison as uncorrelated: a plain first read, not a
    paired test.
    """
    rows = []
    rm = report["rm"]
    n_pairs = rm.get("heldout_pairs_scored") or rm.get("heldout_pairs") or 0
    acc = rm["heldout_accuracy"]
    rows.append({"claim": "the Bradley-Terry RM trained on pass-rate pairs ranks held-out pairs above chance",
                 "paper": "AceCodeRM ranks programs well enough to rerank (Table 2)",
                 "run": f"held-out pair accuracy {acc:.3f} +/- {_se(acc, n_pairs):.3f} on {n_pairs} of "
                        f"{rm.get('heldout_pairs', n_pairs)} held-out pairs (full eval batches) "
                        f"(held-out loss {rm['heldout_loss']:.3f})",
                 "verdict": _verdict(acc - 0.5, _se(acc, n_pairs))})
    bon, n_prob = report["bon"], report["bon"].get("problems", 0)
    n_max = str(max(int(n) for n in bon["best_of_n"]))
    best, greedy, mean = bon["best_of_n"][n_max], bon["greedy"], bon["mean_over_samples"]
    for other, name, paper in ((greedy, "greedy", "greedy 55.2 -> 57.8 best-of-32 (Qwen2.5-Coder-7B-Ins, "
                                                "9-benchmark average)"),
                               (mean, "the mean sample", "implied: reranking must beat taking any one sample")):
        se = float(np.hypot(_se(best, n_prob), _se(other, n_prob)))
        rows.append({"claim": f"best-of-{n_max} reranked by the RM beats {name}", "paper": paper,
                     "run": f"best-of-{n_max} {best:.3f} vs {name} {other:.3f} ({best - other:+.3f} +/- {se:.3f}, "
                            f"{n_prob} problems; oracle pass@{n_max} {bon['oracle_pass_at_n']:.3f})",
                     "verdict": _verdict(best - other, se)})
    missed = [name for row, name in zip(rows[-2:], ("greedy", "the mean sample")) if row["verdict"] != "shown"]
    if missed and bon["oracle_pass_at_n"] > max(best, greedy):
        rows[-1]["note"] = (f"Best-of-N did not beat {' or '.join(missed)}, yet a correct sample was among the {n_max} for "
                            f"{bon['oracle_pass_at_n']:.0%} of problems: the RM (pair accuracy {acc:.2f}) does "
                            "not rank a question's own samples well enough, so choosing its favourite among "
                            "more samples picks its mistakes more often.")
    for key, reward, paper in (("test_reward", "the test (rule) reward",
                                "HumanEval+ 53.0 -> 78.0 in 80 steps from Qwen2.5-Coder-7B-Base"),
                               ("rm_reward", "the RM reward", "the paper also runs RL with AceCodeRM as the reward and reports gains")):
        run = report["rl"].get(key, {})
        if "pass1_before" not in run:
            continue
        n = run["eval_problems"]
        before, after = run["pass1_before"], run["pass1_after"]
        se = float(np.hypot(_se(before, n), _se(after, n)))
        text = (f"held-out pass@1 {before:.3f} -> {after:.3f} ({after - before:+.3f} +/- {se:.3f}, {n} problems x "
                f"{run['eval_samples_per_problem']} samples, {run['steps']} steps)")
        if "train_raw_score_first5" in run:
            text += (f"; the raw RM score rose {run['train_raw_score_first5']:.2f} -> {run['train_raw_score_last5']:.2f}"
                     if run["train_raw_score_last5"] > run["train_raw_score_first5"] else
                     f"; the raw RM score moved {run['train_raw_score_first5']:.2f} -> {run['train_raw_score_last5']:.2f}")
            if "train_all_pass_first5" in run:
                text += (f" while the train all-pass rate (tests as a monitor) went {run['train_all_pass_first5']:.3f}"
                         f" -> {run['train_all_pass_last5']:.3f} (first/last 5 steps)")
        rows.append({"claim": f"RL with {reward} raises held-out pass@1", "paper": paper, "run": text,
                     "verdict": _verdict(after - before, se)})
        rose = run.get("train_raw_score_last5", 0.0) > run.get("train_raw_score_first5", 0.0)
        if "train_raw_score_first5" in run and rose and after < before:
            rows[-1]["note"] = ("The policy learned what the RM scores highly rather than what passes tests: the "
                                "raw RM score climbed while held-out pass@1 fell, i.e. reward over-optimisation "
                                f"of a small RM trained on {report['counts']['pairs']} pairs.")
    return rows


def render_claims(report: dict) -> list[str]:
    rows = paper_claims(report)
    lines = ["## What this run shows about the paper's claims", "",
             "Verdicts: *shown* / *contradicted* when the difference is at least 1.96 standard errors "
             "(normal approximation over the problems measured, sides treated as independent), else "
             "*not resolved at this size*. This is a toy task family and a tiny model: a verdict here is about "
             "this run, not the paper's 7B setting.", "",
             "| claim | paper | this run | verdict |", "|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['paper']} | {r['run']} | **{r['verdict']}** |" for r in rows]
    lines += [""] + [f"- {r['note']}" for r in rows if r.get("note")]
    he = report["humaneval"]
    lines += [f"- Not shown by this run: HumanEval gains (a {he['problems']}-problem run of a toy-sized policy trained "
              f"on toy tasks scores {he['pass1_greedy']:.3f} greedy: the stage shows the harness runs end to end), "
              "and the proxy filter's effect (toy tests are derived from each reference program, so the filter "
              f"keeps {report['counts']['tests_per_question_after_filter']} of "
              f"{report['counts']['tests_per_question_before_filter']} tests per question; the paper's "
              "filter took 18.27 to 15.56).", ""]
    return lines


def render_markdown(report: dict) -> str:
    c, bon, rl = report["counts"], report["bon"], report["rl"]
    lines = ["# AceCoder CPU demo report", "", *render_claims(report), "## Data", "", "| quantity | value |",
             "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in c.items()]
    lines += ["", "## Reward model", "", f"Held-out pairwise accuracy: {report['rm']['heldout_accuracy']:.3f} "
              f"(loss {report['rm']['heldout_loss']:.3f}) on {report['rm'].get('heldout_pairs_scored', '?')} "
              f"held-out pairs", "", "## Best-of-N (held-out toy tasks)", "",
              "| selection | accuracy |", "|---|---|", f"| greedy | {bon['greedy']:.3f} |",
              f"| mean over samples | {bon['mean_over_samples']:.3f} |"]
    lines += [f"| best-of-{n} (RM) | {v:.3f} |" for n, v in sorted(bon["best_of_n"].items(), key=lambda kv: int(kv[0]))]
    lines += [f"| oracle pass@N | {bon['oracle_pass_at_n']:.3f} |", "", "## RL", "",
              "| reward | pass@1 before | pass@1 after | steps |", "|---|---|---|---|"]
    for k, v in rl.items():
        if "pass1_before" in v:
            lines.append(f"| {k} | {v['pass1_before']:.3f} | {v['pass1_after']:.3f} | {v['steps']} |")
    he = report["humaneval"]
    lines += ["", "## Export and HumanEval", ""]
    lines += [f"- {k}: reloaded as `{v['transformers_class']}`, max |diff| vs ours {v['max_abs_diff']:.2e}"
              for k, v in report["export"].items()]
    lines += [f"- HumanEval ({he['problems']} problems) greedy pass@1: {he['pass1_greedy']:.3f}", "",
              "## Wall time", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in report["stage_wall_s"].items()]
    lines += [f"| **total** | {report['wall_time_s']:.1f} |", ""]
    return "\n".join(lines)
