"""The CPU demo: the AceCoder loop end to end, as resumable stages over one workdir, assembled only
from the library's public builders (data stages, trainers, rerank, export) as a user would.

seed tasks -> test synthesis -> proxy filter -> tokenizer -> SFT warm start -> sample N programs
-> execute -> pairs -> reward model -> best-of-N -> RL (test reward, RM reward) -> HF export check
-> HumanEval -> report.

Each stage writes `stages/<name>.json` (its result and wall time) when it finishes; a rerun skips
finished stages, and a stage killed midway resumes through its own machinery (data stages skip
finished shards, trainers restore their last orbax checkpoint).
"""
from __future__ import annotations

import ast
import dataclasses
import json
import logging
import os
import random
import time

import numpy as np

from acecoder_jax.builders import CONFIG_FILE, WorkdirConfigChanged, config_changes_in
from acecoder_jax.config_blocks import shown_changes
from acecoder_jax.data import io
from acecoder_jax.demo.report import build_report, first_last
from acecoder_jax.registry import Registry

DEMO_STAGES = Registry("demo stage")  # name -> stage(run) -> result dict; run in registration order


@dataclasses.dataclass
class DemoRun:
    """Where a demo run lives and what its finished stages returned."""
    config: object
    workdir: str
    results: dict = dataclasses.field(default_factory=dict)

    def path(self, *parts: str) -> str:
        return "/".join([self.workdir, *parts])


def run_demo(config, workdir: str, *, overwrite: bool = False) -> dict:
    """Runs (or resumes) every stage in `workdir`; returns the report (also written as report.md/json/png).

    Every stage depends on the config, so a workdir made with another one is refused, naming the
    changed fields; `overwrite` empties the workdir and runs every stage again.
    """
    if config.get("sandbox_allow_weaker_isolation"):
        os.environ.setdefault("SANDBOX_ALLOW_WEAKER_ISOLATION", "1")  # read by SandboxPool
    run = DemoRun(config, workdir.rstrip("/"))
    t0 = time.perf_counter()
    if overwrite and io.exists(run.workdir):
        fs, path = io.fs_and_path(run.workdir)
        fs.rm(path, recursive=True)
    io.makedirs(run.workdir)
    snapshot = json.loads(config.to_json_best_effort())
    changes = config_changes_in(run.workdir, snapshot)
    if changes:
        raise WorkdirConfigChanged(f"{run.workdir} holds a demo run made with another config "
                                   f"({shown_changes(changes)}); pass --overwrite to run it again from the "
                                   "start, or use another --workdir")
    io.write_json(run.path(CONFIG_FILE), snapshot)
    for name, stage in DEMO_STAGES.items():
        _run_stage(run, name, stage)
    return build_report(run, time.perf_counter() - t0)


def _run_stage(run: DemoRun, name: str, stage) -> dict:
    """A finished stage leaves stages/<name>.json and is skipped on a rerun."""
    marker = run.path("stages", f"{name}.json")
    if io.exists(marker):
        done = io.read_json(marker)
        logging.info("stage %s: finished earlier (%.1fs), skipped", name, done["wall_s"])
    else:
        logging.info("stage %s: running", name)
        t0 = time.perf_counter()
        result = stage(run)
        done = {"result": result, "wall_s": round(time.perf_counter() - t0, 2)}
        io.write_json(marker, done)
        logging.info("stage %s: done in %.1fs", name, done["wall_s"])
    run.results[name] = done
    return done["result"]


def _normalised(program: str) -> str:
    try:
        return ast.unparse(ast.parse(program))
    except SyntaxError:
        return program


def _tokenizer(run):
    from acecoder_jax.tokenization import load_tokenizer

    return load_tokenizer(run.path("tokenizer"))


def _prompt(run, tokenizer, question: str) -> str:
    from acecoder_jax.prompts import render_prompt

    return render_prompt(run.config.template, tokenizer, question)


def _records(run, name: str) -> list[dict]:
    return io.read_records(run.path("data", name))


def _rl_config(run, reward: str):
    c = run.config.rl.copy_and_resolve_references()
    c.model.tokenizer = run.path("tokenizer")
    c.model.hf_path = run.path("sft", "hf")
    c.data.train = run.path("data", "train.jsonl")
    c.data.eval = run.path("data", "heldout.jsonl")
    c.seed = run.config.seed
    if reward == "rm":
        import ml_collections

        from acecoder_jax import config_blocks

        # The tests stay on with weight 0: they do not move the policy, they show what the RM
        # score is worth (train pass rate beside the raw RM score, step by step).
        c.reward = ml_collections.ConfigDict({"tests": c.reward.tests.to_dict()})
        c.reward.tests.weight = 0.0
        c.reward.reward_model = ml_collections.ConfigDict()
        c.reward.reward_model.weight = 1.0
        c.reward.reward_model.normalize = run.config.rl_rm.normalize
        with c.unlocked():
            c.reward_model = config_blocks.reward_model_config(
                hf_path=run.path("rm", "hf"), param_dtype="float32", compute_dtype="float32", batch_size=64,
                max_length=run.config.rm.data.max_length)
    return c


@DEMO_STAGES.register('synthesize')
def stage_synthesize(run) -> dict:
    from acecoder_jax.data.stages import run_synthesize

    stats = run_synthesize(run.config.data, None, run.path("data", "synthesized.jsonl"),
                           workdir=run.path("data", "work"))
    return {"stats": stats}


@DEMO_STAGES.register('filter')
def stage_filter(run) -> dict:
    from acecoder_jax.data.stages import run_proxy_filter

    stats = run_proxy_filter(run.config.data, [run.path("data", "synthesized.jsonl")],
                             run.path("data", "filtered.jsonl"), workdir=run.path("data", "work"))
    before = _records(run, "synthesized.jsonl")
    after = _records(run, "filtered.jsonl")
    seeds_in = run.results["synthesize"]["result"]["stats"]["records_in"]
    return {"stats": stats, "questions_in": seeds_in,
            "questions_synthesized": len(before), "questions_after_filter": len(after),
            "tests_per_question_before": float(np.mean([len(r["test_cases"]) for r in before])),
            "tests_per_question_after": float(np.mean([len(r["test_cases"]) for r in after]))}


@DEMO_STAGES.register('split')
def stage_split(run) -> dict:
    records = _records(run, "filtered.jsonl")
    order = np.random.default_rng([run.config.seed, 17]).permutation(len(records))
    n_held = max(1, int(round(run.config.heldout_fraction * len(records))))
    held = [records[i] for i in sorted(order[:n_held])]
    train = [records[i] for i in sorted(order[n_held:])]
    io.write_records(run.path("data", "train.jsonl"), train)
    io.write_records(run.path("data", "heldout.jsonl"), held)
    return {"train_questions": len(train), "heldout_questions": len(held)}


@DEMO_STAGES.register('tokenizer')
def stage_tokenizer(run) -> dict:
    from acecoder_jax.data.mutants import mutants
    from acecoder_jax.tokenization import train_sentencepiece

    corpus = []
    for r in _records(run, "filtered.jsonl"):
        program = _normalised(r["seed_program"])
        corpus.append("\n".join([r["question"], program, *mutants(r["seed_program"], seed=0)[:4], *r["test_cases"]]))
    tok = train_sentencepiece(corpus, run.config.tokenizer_training.vocab_size, run.path("tokenizer"))
    return {"vocab_size": len(tok), "corpus_documents": len(corpus)}


@DEMO_STAGES.register('sft')
def stage_sft(run) -> dict:
    """Warm start: the policy learns the task format from reference solutions and mutants of them."""
    from acecoder_jax.data.mutants import mutants
    from acecoder_jax.train.run import run_training

    tok = _tokenizer(run)
    mix = run.config.sft_mix
    rng = random.Random(run.config.seed)
    rows = []
    for r in _records(run, "train.jsonl"):
        wrong = mutants(r["seed_program"], seed=0)
        for _ in range(mix.copies):
            right = rng.random() < mix.correct_fraction or not wrong
            rows.append({"prompt": _prompt(run, tok, r["question"]),
                         "response": _normalised(r["seed_program"]) if right else rng.choice(wrong)})
    io.write_jsonl(run.path("sft", "sft.jsonl"), rows)
    c = run.config.sft.copy_and_resolve_references()
    c.model.tokenizer = run.path("tokenizer")
    c.data.train = run.path("sft", "sft.jsonl")
    c.seed = run.config.seed
    result = run_training(c, run.path("sft"))
    last = result.evals[-1] if result.evals else {}
    return {"examples": len(rows), "steps": int(c.train.total_steps),
            "final_eval_loss": float(last["loss"]) if "loss" in last else None}


@DEMO_STAGES.register('sample')
def stage_sample(run) -> dict:
    from acecoder_jax.models import load_hf
    from acecoder_jax.sampling import Sampler, SamplingParams
    from acecoder_jax.tokenization import pad_token_id, stop_token_ids

    s = run.config.sample
    tok = _tokenizer(run)
    model, _ = load_hf(run.path("sft", "hf"))
    sampler = Sampler(model, tok, batch_size=s.batch_size, prompt_buckets=tuple(s.prompt_buckets),
                      pad_id=pad_token_id(tok))
    records = _records(run, "train.jsonl")
    sp = SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, n=s.n,
                        stop_token_ids=tuple(stop_token_ids(tok)), seed=run.config.seed)
    t0 = time.perf_counter()
    out = sampler.generate([_prompt(run, tok, r["question"]) for r in records], sp, progress=run.config.progress)
    seconds = time.perf_counter() - t0
    rows = [{"id": r["id"], "model_name": s.model_name, "completion_id": i, "completion": c.text}
            for r, group in zip(records, out) for i, c in enumerate(group)]
    io.write_jsonl(run.path("data", "completions.jsonl"), rows)
    tokens = sum(len(c.tokens) for g in out for c in g)
    return {"completions": len(rows), "tokens": tokens, "tokens_per_s": tokens / seconds}


@DEMO_STAGES.register('execute')
def stage_execute(run) -> dict:
    from acecoder_jax.data.stages import run_attach_inferences

    stats = run_attach_inferences(run.config.data, [run.path("data", "train.jsonl")],
                                  run.path("data", "completions.jsonl"),
                                  run.path("data", "with_inferences.jsonl"), workdir=run.path("data", "work"))
    rates = [i["pass_rate"] for r in _records(run, "with_inferences.jsonl") for i in r["inferences"]]
    return {"stats": stats, "programs": len(rates), "mean_pass_rate": float(np.mean(rates)),
            "all_pass_fraction": float(np.mean([x == 1.0 for x in rates]))}


@DEMO_STAGES.register('pairs')
def stage_pairs(run) -> dict:
    from acecoder_jax.data.stages import run_build_pairs

    stats = run_build_pairs(run.config.data, [run.path("data", "with_inferences.jsonl")],
                            run.path("data", "pairs.jsonl"), workdir=run.path("data", "work"))
    pairs = _records(run, "pairs.jsonl")
    return {"stats": stats, "pairs": len(pairs)}


@DEMO_STAGES.register('rm')
def stage_rm(run) -> dict:
    from acecoder_jax.train.run import run_training

    c = run.config.rm.copy_and_resolve_references()
    c.model.tokenizer = run.path("tokenizer")
    c.model.hf_path = run.path("sft", "hf")
    c.data.train = run.path("data", "pairs.jsonl")
    c.seed = run.config.seed
    result = run_training(c, run.path("rm"))
    evals = result.evals or []
    if not evals:
        raise RuntimeError("reward-model training logged no held-out evaluation")
    from acecoder_jax.train.run import DATA_STATS_FILE

    held = int(io.read_json(run.path("rm", DATA_STATS_FILE))["eval_examples"])
    batch = min(c.train.eval_batch or c.train.global_batch, held)
    batches = held // batch if not c.train.eval_batches else min(c.train.eval_batches, held // batch)
    return {"heldout_accuracy": float(evals[-1]["accuracy"]), "heldout_loss": float(evals[-1]["loss"]),
            "heldout_accuracy_first": float(evals[0]["accuracy"]), "steps": int(c.train.total_steps),
            "heldout_pairs": held, "heldout_pairs_scored": batches * batch}  # full eval batches only


def _best_of_n(run, problems, policy_dir: str, bon_cfg, n: int, temperature: float) -> tuple[dict, list]:
    from acecoder_jax.rm.best_of_n import rerank

    cfg = bon_cfg.copy_and_resolve_references()
    cfg.policy.hf_path, cfg.reward_model.hf_path = policy_dir, run.path("rm", "hf")
    cfg.bon.n, cfg.bon.temperature = n, temperature
    cfg.bon.seed, cfg.bon.template, cfg.progress = run.config.seed, run.config.template, run.config.progress
    return rerank(problems, cfg)


@DEMO_STAGES.register('best_of_n')
def stage_best_of_n(run) -> dict:
    from acecoder_jax.evaluation.benchmarks import Problem
    from acecoder_jax.evaluation.report import make_run, write_report

    problems = [Problem(task_id=r["id"], prompt=r["question"], entry_point=r.get("entry_point", ""),
                        tests=tuple(r["test_cases"])) for r in _records(run, "heldout.jsonl")]
    summary, records = _best_of_n(run, problems, run.path("sft", "hf"), run.config.bon,
                                       run.config.bon.bon.n, run.config.bon.bon.temperature)
    write_report(run.path("best_of_n"), [make_run(summary, benchmark="toy-heldout", policy="sft",
                                                   reward_model="demo-rm")])
    io.write_jsonl(run.path("best_of_n", "samples.jsonl"), records)
    return summary


def _rl(run, reward: str) -> dict:
    from acecoder_jax.rl.trainer import run_rl

    name = "rl_test_reward" if reward == "tests" else "rl_rm_reward"
    c = _rl_config(run, reward)
    result = run_rl(c, run.path(name))
    from acecoder_jax.train.metrics import read_metrics

    evals = read_metrics(run.path(name), "eval")
    train = read_metrics(run.path(name), "train")
    if len(evals) < 2:
        raise RuntimeError(f"{name}: expected held-out evaluations before and after training, got {len(evals)}")
    timing = {k[len("time_"):]: round(float(sum(r.get(k, 0.0) for r in train)), 2)
              for k in ("time_rollout", "time_execution", "time_logprobs", "time_update", "time_step")}
    return {"pass1_before": float(evals[0]["pass@1"]), "pass1_after": float(evals[-1]["pass@1"]),
            "steps": int(result.steps_done), "eval_problems": int(evals[-1]["problems"]),
            "eval_samples_per_problem": int(evals[-1]["samples_per_problem"]),
            "reward_mean_first": float(train[0]["reward_mean"]) if train else None,
            "reward_mean_last": float(train[-1]["reward_mean"]) if train else None, "time_split_s": timing,
            **first_last(train, ("raw_score", "all_pass"))}


@DEMO_STAGES.register('rl_test_reward')
def stage_rl_test_reward(run) -> dict:
    return _rl(run, "tests")


@DEMO_STAGES.register('rl_rm_reward')
def stage_rl_rm_reward(run) -> dict:
    if not run.config.rl_rm.enabled:
        return {"skipped": True}
    return _rl(run, "rm")


@DEMO_STAGES.register('export_check')
def stage_export_check(run) -> dict:
    """Reload the exported policy and RM with transformers (PyTorch) and compare outputs with ours."""
    import torch
    import transformers

    from acecoder_jax.models import load_hf

    transformers.utils.logging.disable_progress_bar()  # its bars draw even in logs; loading is instant

    tok = _tokenizer(run)
    texts = [_prompt(run, tok, r["question"]) + _normalised(r["seed_program"])
             for r in _records(run, "heldout.jsonl")[:4]]
    from acecoder_jax.tokenization import encode_batch

    batch = encode_batch(tok, texts, buckets=(256,), max_length=256, truncation="left")
    ids, mask = batch.input_ids, batch.attention_mask
    out = {}
    policy_dir = run.path("rl_test_reward", "hf")
    for name, path, head, cls in [("policy", policy_dir, "lm", transformers.AutoModelForCausalLM),
                                  ("reward_model", run.path("rm", "hf"), "reward",
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


@DEMO_STAGES.register('humaneval')
def stage_humaneval(run) -> dict:
    """The final policy on HumanEval through the real harness (a tiny model scores near zero)."""
    from acecoder_jax.evaluation.benchmarks import load_humaneval

    h = run.config.humaneval
    problems = load_humaneval(limit=h.limit or None).problems
    cfg = run.config.bon.copy_and_resolve_references()
    cfg.sampler.batch_size = h.batch_size
    cfg.sampler.prompt_buckets = tuple(h.prompt_buckets)
    cfg.bon.max_new_tokens = h.max_new_tokens
    cfg.reward_model.max_length = 1024
    cfg.reward_model.batch_size = h.rm_batch_size
    summary, _ = _best_of_n(run, problems, run.path("rl_test_reward", "hf"), cfg, 1, 1.0)
    return {"problems": len(problems), "pass1_greedy": summary["greedy"],
            "pass1_sampled": summary["mean_over_samples"]}
