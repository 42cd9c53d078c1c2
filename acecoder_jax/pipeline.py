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
import io as io_bytes
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

    def _executor(self):
        from acecoder_jax.data.stages import make_executor

        return make_executor(self.config.data)

    def _rl_config(self, reward: str):
        c = self.config.rl.copy_and_resolve_references()
        c.tokenizer = self.path("tokenizer")
        c.model.hf_path = self.path("sft", "hf")
        c.data.train = self.path("data", "train.jsonl")
        c.data.eval = self.path("data", "heldout.jsonl")
        c.seed = self.config.seed
        if reward == "rm":
            import ml_collections

            c.reward = ml_collections.ConfigDict()
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
        out = sampler.generate([self._prompt(tok, r["question"]) for r in records], sp)
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
        return {"heldout_accuracy": float(evals[-1]["accuracy"]), "heldout_loss": float(evals[-1]["loss"]),
                "heldout_accuracy_first": float(evals[0]["accuracy"]), "steps": int(c.train.total_steps)}

    def _best_of_n(self, problems, policy_dir: str, bon_cfg, n: int, temperature: float) -> tuple[dict, list]:
        from acecoder_jax.models import load_hf
        from acecoder_jax.rm.best_of_n import BestOfNSettings, evaluate_best_of_n
        from acecoder_jax.rm.scoring import RewardScorer
        from acecoder_jax.sampling import Sampler
        from acecoder_jax.tokenization import pad_token_id, stop_token_ids

        tok = self._tokenizer()
        policy, _ = load_hf(policy_dir)
        rm, _ = load_hf(self.path("rm", "hf"), head="reward")
        sampler = Sampler(policy, tok, batch_size=bon_cfg.sampler.batch_size,
                          prompt_buckets=tuple(bon_cfg.sampler.prompt_buckets), pad_id=pad_token_id(tok))
        scorer = RewardScorer(rm, tok, batch_size=64, max_length=bon_cfg.reward_model.max_length)
        b = bon_cfg.bon
        settings = BestOfNSettings(n=n, temperature=temperature, top_p=b.top_p, max_new_tokens=b.max_new_tokens,
                                   seed=self.config.seed, timeout_s=b.timeout_s, selection=b.selection,
                                   template=self.config.template)
        return evaluate_best_of_n(problems, sampler, scorer, self._executor(), settings,
                                  stop_token_ids=stop_token_ids(tok))

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
                "reward_mean_last": float(train[-1]["reward_mean"]) if train else None, "time_split_s": timing}

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
            "rm": {"heldout_accuracy": r["rm"]["heldout_accuracy"], "heldout_loss": r["rm"]["heldout_loss"]},
            "bon": {"greedy": r["best_of_n"]["greedy"], "mean_over_samples": r["best_of_n"]["mean_over_samples"],
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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        bon = report["bon"]
        ns = sorted(int(n) for n in bon["best_of_n"])
        axes[0].plot(ns, [bon["best_of_n"][str(n)] for n in ns], "o-", label="best-of-n (RM)")
        axes[0].axhline(bon["greedy"], color="gray", ls="--", label="greedy")
        axes[0].axhline(bon["oracle_pass_at_n"], color="green", ls=":", label=f"oracle pass@{ns[-1]}")
        axes[0].set_xscale("log", base=2)
        axes[0].set(title="Best-of-N on held-out toy tasks", xlabel="n", ylabel="accuracy")
        axes[0].legend()
        rl = report["rl"]
        labels = [k for k in ("test_reward", "rm_reward") if "pass1_before" in rl[k]]
        x = np.arange(len(labels))
        axes[1].bar(x - 0.2, [rl[k]["pass1_before"] for k in labels], 0.4, label="before RL")
        axes[1].bar(x + 0.2, [rl[k]["pass1_after"] for k in labels], 0.4, label="after RL")
        axes[1].set_xticks(x, labels)
        axes[1].set(title="Held-out pass@1", ylabel="pass@1")
        axes[1].legend()
        stages = report["stage_wall_s"]
        axes[2].barh(list(stages), list(stages.values()))
        axes[2].set(title=f"Wall time per stage (total {report['wall_time_s']:.0f}s)", xlabel="seconds")
        fig.tight_layout()
        buf = io_bytes.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        io.write_bytes(self.path("report.png"), buf.getvalue())


def render_markdown(report: dict) -> str:
    c, bon, rl = report["counts"], report["bon"], report["rl"]
    lines = ["# AceCoder CPU demo report", "", "## Data", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in c.items()]
    lines += ["", "## Reward model", "", f"Held-out pairwise accuracy: {report['rm']['heldout_accuracy']:.3f} "
              f"(loss {report['rm']['heldout_loss']:.3f})", "", "## Best-of-N (held-out toy tasks)", "",
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
