"""The RL trainer: rollouts from the current policy, clipped-ratio updates, metrics, checkpoints.

One RL step = one rollout batch (``prompts_per_step`` prompts x ``n_samples``) followed by
``epochs`` passes over it in mini-batches of ``train_batch`` rows; each mini-batch is one optimizer
update (split into micro-batches by the shared train step), and every loss is normalised by the
mini-batch's global response-token count.

Exact resume: the actor's TrainState is checkpointed with orbax; the meta holds the RL step, the
seed, the data position and the rewards' running statistics. Prompts, sampling seeds and mini-batch
orders are pure functions of (seed, step), so a resumed run replays the uninterrupted one.
The reference model is frozen: a copy of the initial actor (or its own checkpoint) on the same mesh.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from acecoder_jax import progress
from acecoder_jax.checkpoints.orbax import Checkpointer
from acecoder_jax.data import io
from acecoder_jax.errors import ConfigError
from acecoder_jax.models.init import build_model
from acecoder_jax.rl.algorithms import POLICY_LOSSES, kl_loss
from acecoder_jax.execution import build_executor
from acecoder_jax.rl.rewards import ExecutionReward, build_reward
from acecoder_jax.rl.rollout import (AdvantageSpec, ProblemSet, RolloutWorker, load_problems, make_problem,
                                     response_log_probs, toy_problem_records)
from acecoder_jax.sampling import Sampler, SamplingParams
from acecoder_jax.train.data import BatchSchedule
from acecoder_jax.train.loop import batch_sharding, place_batch
from acecoder_jax.train.metrics import MetricsWriter, read_metrics
from acecoder_jax.train.optimizer import adamw, warmup_cosine
from acecoder_jax.train.step import init_train_state, make_train_step

CHECKPOINT_DIR = "checkpoints"
EXPORT_DIR = "hf"
EXPORT_TRIGGER = "EXPORT_NOW"  # touch <workdir>/EXPORT_NOW to export the policy at the next step
CURVE_FILE = "reward_curve.png"
# What an RL step line shows (the rest is in metrics.jsonl / TensorBoard): loss, reward, pass rates, KL.
RL_STEP_FIELDS = tuple(f for f in progress.STEP_FIELDS
                       if f[0] in ("loss", "reward_mean", "raw_score", "pass@1", "pass_rate", "all_pass", "kl"))
CONFIG_FILE = "config.json"
TIMING_KEYS = ("time_rollout", "time_execution", "time_logprobs", "time_update", "time_step", "tokens_per_s",
               "eval_time")


# --------------------------------------------------------------------------------------------
# The policy loss over a packed mini-batch
# --------------------------------------------------------------------------------------------


def rl_loss(model, batch: dict, *, policy_loss: str = "ppo-clip", clip_low: float = 0.2,
            clip_high: Optional[float] = None, dual_clip: Optional[float] = None, temperature: float = 1.0,
            chunk: int = 512, kl_loss_coef: float = 0.0, kl_loss_estimator: str = "k3"):
    """Clipped policy loss (+ optional KL-to-reference term), both / the global token count.

    batch: input_ids, attention_mask [B, P+R]; response_mask, logp_old, advantages[, logp_ref] [B, R];
    num_tokens [B] (every entry the mini-batch's response-token count / accumulation steps).
    """
    mask = batch["response_mask"]
    logp, _ = response_log_probs(model, batch["input_ids"], batch["attention_mask"], mask.shape[1],
                                 temperature=temperature, chunk=chunk)
    num_tokens = batch["num_tokens"][0]
    kw = {"clip_low": clip_low, "clip_high": clip_high, "dual_clip": dual_clip} if policy_loss == "ppo-clip" else {}
    pl = POLICY_LOSSES[policy_loss](logp, batch["logp_old"], batch["advantages"], mask, num_tokens=num_tokens, **kw)
    loss = pl.loss
    metrics = {"policy_loss": pl.loss, "clip_fraction": pl.clip_fraction, "approx_kl": pl.approx_kl,
               "ratio_mean": pl.ratio_mean}
    if kl_loss_coef > 0:
        kl = kl_loss(logp, batch["logp_ref"], mask, kl_loss_estimator, num_tokens)
        loss = loss + kl_loss_coef * kl
        metrics["kl_loss"] = kl
    metrics["loss"] = loss
    return loss, metrics


# --------------------------------------------------------------------------------------------
# Building blocks from config
# --------------------------------------------------------------------------------------------


def reward_model_scorer(path: str, tokenizer, *, mesh=None, batch_size: int = 8, max_length: int = 2048,
                        param_dtype: str = "bfloat16", compute_dtype: str = "bfloat16"):
    """score_fn(questions, completions) -> [B] from an RM checkpoint (ours or an imported AceCodeRM)."""
    from acecoder_jax.models import load_hf
    from acecoder_jax.prompts import reward_model_text
    from acecoder_jax.tokenization import left_pad, pad_token_id

    model, _ = load_hf(path, head="reward", mesh=mesh, param_dtype=param_dtype, compute_dtype=compute_dtype)
    graphdef, params = nnx.split(model)
    forward = jax.jit(lambda p, ids, m: nnx.merge(graphdef, p)(ids, m))
    pad = pad_token_id(tokenizer)
    sharding = batch_sharding(mesh, batch_size)

    def score(questions: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        texts = [reward_model_text(tokenizer, q, c) for q, c in zip(questions, completions)]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        out = []
        for lo in range(0, len(ids), batch_size):
            chunk = list(ids[lo:lo + batch_size])
            real = len(chunk)
            chunk += [chunk[0]] * (batch_size - real)
            enc = left_pad(chunk, pad, max_length=max_length, truncation="left")
            batch = place_batch({"ids": enc.input_ids, "mask": enc.attention_mask}, sharding)
            out.append(np.asarray(forward(params, batch["ids"], batch["mask"]))[:real])
        return np.concatenate(out)

    return score


def _replicate_rest(state, mesh):
    """Leaves not already on `mesh` (step counter, optimizer counts) are replicated over it."""
    if mesh is None:
        return state
    replicated = NamedSharding(mesh, PartitionSpec())

    def put(x):
        s = getattr(x, "sharding", None)
        return x if isinstance(s, NamedSharding) and s.mesh == mesh else jax.device_put(x, replicated)

    return jax.tree.map(put, state)


def step_seed(seed: int, step: int) -> int:
    """The sampling seed of RL step `step`: a pure function of (seed, step)."""
    return int(np.random.default_rng([seed, step, 0x5EED]).integers(2**31 - 1))


def plot_reward_curve(workdir: str, path: Optional[str] = None, title: Optional[str] = None) -> Optional[str]:
    """PNG of the run's pass rates (and raw RM score), held-out pass@1 and KL against RL step."""
    from acecoder_jax import plots

    train = read_metrics(workdir, "train")
    if not train:
        return None
    fig = plots.new_figure(8, 6.5)
    plots.rl_run(fig, train, read_metrics(workdir, "eval"), title or f"RL run {workdir}")
    path = path or io.join(workdir, CURVE_FILE)
    io.write_bytes(path, plots.png_bytes(fig))
    return path


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RLResult:
    history: list[dict]  # train rows logged by this run
    evals: list[dict]
    resumed_from: Optional[int]
    steps_done: int


class RLTrainer:
    """Builds the run described by an ml_collections config (configs/rl.py) in `workdir`.

    Overrides for tests and embedding: `problems` / `eval_problems` (ProblemSet), `reward`
    (a callable reward), `run_jobs` (the executor of the "tests" reward).
    """

    def __init__(self, config, workdir: str, *, problems: Optional[ProblemSet] = None,
                 eval_problems: Optional[ProblemSet] = None, reward: Optional[Callable] = None,
                 run_jobs: Optional[Callable] = None):
        from acecoder_jax.parallel import make_mesh
        from acecoder_jax.tokenization import load_tokenizer, stop_token_ids, tokenizer_path

        if not workdir:
            raise ValueError("workdir is required")
        self.config, self.workdir = config, workdir
        c = config
        io.makedirs(workdir)
        if jax.process_index() == 0:
            io.write_text(io.join(workdir, CONFIG_FILE), c.to_json_best_effort(indent=2, sort_keys=True) + "\n")
        self.mesh = make_mesh(tuple(c.mesh.shape))
        self.tokenizer = load_tokenizer(tokenizer_path(c.tokenizer, c.model.hf_path,
                                                       "config.tokenizer", "config.model.hf_path"))

        ro, al, tr = c.rollout, c.algo, c.train
        self.rows = ro.prompts_per_step * ro.n_samples
        self._check_sizes()
        self.updates_per_step = al.epochs * (self.rows // al.train_batch)
        self.accum_steps = al.train_batch // (al.micro_batch or al.train_batch)

        # data
        if problems is None:
            problems, default_eval = self._load_problems()
            eval_problems = eval_problems if eval_problems is not None else default_eval
        self.problems, self.eval_problems = problems, eval_problems
        if len(self.problems) < ro.prompts_per_step:
            raise ValueError(f"{len(self.problems)} training problems, fewer than rollout.prompts_per_step="
                             f"{ro.prompts_per_step}")
        self.schedule = BatchSchedule(self.problems, ro.prompts_per_step, seed=c.seed)

        # rewards
        self.executor = run_jobs
        self.reward = reward if reward is not None else self._build_reward()

        # models
        model, self.model_config = build_model(c.model, head="lm", mesh=self.mesh, tokenizer=self.tokenizer, seed=c.seed)
        sampler_params = SamplingParams(max_new_tokens=ro.max_new_tokens, temperature=ro.temperature,
                                        top_p=ro.top_p, top_k=ro.top_k, n=ro.n_samples,
                                        stop_token_ids=tuple(stop_token_ids(self.tokenizer)),
                                        stop_strings=tuple(ro.stop_strings))
        self.sampler = Sampler(model, self.tokenizer, batch_size=ro.sampler_batch,
                               prompt_buckets=tuple(ro.prompt_buckets))
        total_updates = tr.total_steps * self.updates_per_step
        o = c.optim
        warmup = int(round(o.warmup_ratio * total_updates))
        self.optimizer = adamw(o.lr, total_updates, warmup_steps=warmup, min_lr_ratio=o.min_lr_ratio,
                               weight_decay=o.weight_decay, b1=o.b1, b2=o.b2, clip_norm=o.clip_norm or None)
        self.lr_schedule = warmup_cosine(o.lr, total_updates, warmup, o.min_lr_ratio)
        self.graphdef, state = init_train_state(model, self.optimizer)
        self.state = _replicate_rest(state, self.mesh)
        self.need_reference = al.kl_coef > 0 or al.kl_loss_coef > 0
        self.ref_params = self._reference_params() if self.need_reference else None

        place_rows = batch_sharding(self.mesh, ro.logprob_batch)
        self.worker = RolloutWorker(
            self.sampler, self.tokenizer, self.reward, n_samples=ro.n_samples, sampling=sampler_params,
            advantage=AdvantageSpec(al.estimator, al.gamma, al.reward_clip, al.kl_coef, al.kl_estimator),
            place=lambda x: place_batch({"x": x}, place_rows)["x"], logprob_rows=ro.logprob_batch,
            logprob_chunk=ro.logprob_chunk, prompt_buckets=tuple(ro.prompt_buckets),
            need_reference=self.need_reference)
        loss_fn = functools.partial(rl_loss, policy_loss=al.policy_loss, clip_low=al.clip_low,
                                    clip_high=al.clip_high or None, dual_clip=al.dual_clip or None,
                                    temperature=ro.temperature or 1.0, chunk=ro.logprob_chunk,
                                    kl_loss_coef=al.kl_loss_coef, kl_loss_estimator=al.kl_loss_estimator)
        self.state_sharding = jax.tree.map(lambda x: x.sharding, self.state)
        self.train_sharding = batch_sharding(self.mesh, al.train_batch)
        self.train_step = make_train_step(self.graphdef, loss_fn, self.optimizer, state_sharding=self.state_sharding,
                                          batch_sharding=self.train_sharding, accum_steps=self.accum_steps)

    # -- construction helpers --

    def _check_sizes(self) -> None:
        c, ro, al = self.config, self.config.rollout, self.config.algo
        micro = al.micro_batch or al.train_batch
        problems = []
        if self.rows % al.train_batch:
            problems.append(f"rollout rows {self.rows} (prompts_per_step x n_samples) is not a multiple of "
                            f"algo.train_batch={al.train_batch}")
        if al.train_batch % micro:
            problems.append(f"algo.train_batch={al.train_batch} is not a multiple of algo.micro_batch={micro}")
        if self.rows % ro.logprob_batch:
            problems.append(f"rollout rows {self.rows} is not a multiple of rollout.logprob_batch={ro.logprob_batch}")
        data_ways = self.mesh.shape["data"] * self.mesh.shape["fsdp"]
        for name, size in (("algo.micro_batch", micro), ("rollout.logprob_batch", ro.logprob_batch),
                           ("rollout.sampler_batch", ro.sampler_batch)):
            if size % data_ways:
                problems.append(f"{name}={size} is not divisible by the mesh's {data_ways} batch shards")
        if al.epochs < 1 or c.train.total_steps < 1:
            problems.append(f"algo.epochs={al.epochs} and train.total_steps={c.train.total_steps} must be >= 1")
        if problems:
            raise ConfigError("RL config: " + "; ".join(problems))

    def _load_problems(self) -> tuple[ProblemSet, Optional[ProblemSet]]:
        c, d = self.config, self.config.data
        if d.source == "toy":
            records = toy_problem_records(d.toy.num_tasks, seed=d.toy.seed, num_tests=d.toy.num_tests,
                                          difficulties=tuple(d.toy.difficulties),
                                          families=tuple(d.toy.families) or None)
            problems = ProblemSet([make_problem(self.tokenizer, d.template, r["id"], r["question"], r["test_cases"],
                                                d.num_prompt_tests) for r in records])
        elif d.source == "files":
            if not d.train:
                raise ConfigError("config.data.train is empty: give --config.data.train=FILES (AceCode problems: "
                                  "question, test_cases)")
            problems = load_problems(d.train, self.tokenizer, template=d.template, num_prompt_tests=d.num_prompt_tests)
        else:
            raise ConfigError(f"config.data.source={d.source!r}; expected 'toy' or 'files'")
        if d.eval:
            return problems, load_problems(d.eval, self.tokenizer, template=d.template,
                                           num_prompt_tests=d.num_prompt_tests)
        if d.eval_fraction > 0:
            return problems.split_holdout(d.eval_fraction, c.seed)
        return problems, None

    def _build_reward(self):
        spec = self.config.reward.to_dict()
        resources = {}
        if "tests" in spec:
            resources["run_jobs"] = self._executor()
        if "reward_model" in spec:
            rm = spec["reward_model"]
            if not rm.get("path"):
                raise ConfigError("config.reward.reward_model.path is empty: give the RM checkpoint (HF dir, "
                                  "gs:// or Hub id)")
            resources["score_fn"] = reward_model_scorer(
                rm["path"], self.tokenizer, mesh=self.mesh, batch_size=rm.get("batch_size", 8),
                max_length=rm.get("max_length", 2048), param_dtype=rm.get("param_dtype", "bfloat16"),
                compute_dtype=rm.get("compute_dtype", "bfloat16"))
        for name in spec:
            spec[name] = {k: v for k, v in spec[name].items() if k not in ("path", "batch_size", "max_length",
                                                                           "param_dtype", "compute_dtype")}
        return build_reward(spec, **resources)

    def _reference_params(self):
        ref = self.config.reference
        if ref.hf_path:
            cfg = self.config.model.copy_and_resolve_references()
            cfg.init, cfg.hf_path = "hf", ref.hf_path
            model, _ = build_model(cfg, head="lm", mesh=self.mesh, tokenizer=self.tokenizer, seed=self.config.seed)
            return nnx.split(model, nnx.Param)[1]
        # a copy of the initial actor: the actor's buffers are donated by every update
        return jax.tree.map(lambda x: jnp.array(x, copy=True), self.state.params)

    def _executor(self):
        """The run's one executor (the test reward's and evaluation's): config.execution."""
        if self.executor is None:
            self.executor = build_executor(self.config.execution)
        return self.executor

    # -- checkpoint meta --

    def _reward_states(self) -> dict:
        comps = getattr(self.reward, "components", {})
        return {name: r.state_dict() for name, (r, _) in comps.items() if hasattr(r, "state_dict")}

    def _load_reward_states(self, states: dict) -> None:
        comps = getattr(self.reward, "components", {})
        for name, s in states.items():
            if name not in comps:
                raise ValueError(f"checkpoint has running statistics for reward {name!r}, which this config lacks")
            comps[name][0].load_state_dict(s)

    def _meta(self, step: int) -> dict:
        return {"step": step, "seed": self.config.seed, "data": self.schedule.position(step),
                "next_sampling_seed": step_seed(self.config.seed, step), "reward_state": self._reward_states(),
                "updates_per_step": self.updates_per_step}

    # -- evaluation, export --

    def evaluate(self, problems: Optional[ProblemSet] = None, *, n: Optional[int] = None, seed: Optional[int] = None,
                 temperature: Optional[float] = None) -> dict:
        """Held-out pass@1 (mean over problems of passing samples / n) and mean test pass rate."""
        problems = problems if problems is not None else self.eval_problems
        if problems is None or not len(problems):
            raise ValueError("no held-out problems to evaluate (set data.eval or data.eval_fraction)")
        e = self.config.eval
        n = n or e.n_samples
        sp = dataclasses.replace(self.worker.sampling, n=n,
                                 temperature=e.temperature if temperature is None else temperature)
        t0 = time.perf_counter()
        out = self.worker.sample(problems.problems, self.state.params, e.seed if seed is None else seed, sp)
        texts = [c.text for cs in out for c in cs]
        tests = [list(p.tests) for p in problems.problems for _ in range(n)]
        scored = ExecutionReward(self._executor(), mode="all_pass")(
            [p.question for p in problems.problems for _ in range(n)], texts, tests)
        per_problem = scored.details["all_pass"].reshape(len(problems), n).mean(1)
        return {"pass@1": float(per_problem.mean()), "pass_rate": float(scored.details["pass_rate"].mean()),
                "problems": len(problems), "samples_per_problem": n, "eval_time": time.perf_counter() - t0}

    def policy_model(self):
        return nnx.merge(self.graphdef, self.state.params)

    def export(self, out_dir: Optional[str] = None) -> str:
        """Writes the current policy as an HF *ForCausalLM checkpoint (+ tokenizer files)."""
        from acecoder_jax.models import export_hf
        from acecoder_jax.tokenization import save_tokenizer

        out_dir = out_dir or self.config.export.dir or io.join(self.workdir, EXPORT_DIR)
        export_hf(self.policy_model(), self.model_config, out_dir, dtype=self.config.export.dtype or None)
        if jax.process_index() == 0:
            save_tokenizer(self.tokenizer, out_dir)
        logging.info("exported the policy to %s", out_dir)
        return out_dir

    # -- one RL step --

    def _update(self, rb, step: int) -> dict:
        al = self.config.algo
        arrays = {k: v for k, v in rb.arrays.items() if k != "logp_ref" or al.kl_loss_coef > 0}
        rows_metrics = []
        for epoch in range(al.epochs):
            order = np.random.default_rng([self.config.seed, step, epoch, 0xB47C]).permutation(self.rows)
            for lo in range(0, self.rows, al.train_batch):
                idx = np.sort(order[lo:lo + al.train_batch])
                batch = {k: v[idx] for k, v in arrays.items()}
                tokens = float(batch["response_mask"].sum())
                batch["num_tokens"] = np.full((al.train_batch,), max(tokens, 1.0) / self.accum_steps, np.float32)
                self.state, m = self.train_step(self.state, place_batch(batch, self.train_sharding))
                rows_metrics.append(m)
        fetched = jax.device_get(rows_metrics)
        return {k: float(np.mean([float(r[k]) for r in fetched])) for k in fetched[0]}

    def step(self, step: int) -> dict:
        """Runs RL step `step` (0-based) and returns its metrics row."""
        t0 = time.perf_counter()
        problems = self.schedule.batch(step)
        rb = self.worker.collect(problems, self.graphdef, self.state.params, self.ref_params,
                                 step_seed(self.config.seed, step))
        t1 = time.perf_counter()
        row = dict(rb.metrics)
        row.update(self._update(rb, step))
        jax.block_until_ready(self.state.params)
        t2 = time.perf_counter()
        row["time_update"] = t2 - t1
        row["time_step"] = t2 - t0
        row["lr"] = float(self.lr_schedule(int(jax.device_get(self.state.step)) - 1))
        row["optimizer_updates"] = float(jax.device_get(self.state.step))
        self.last_rollout = rb
        return row

    # -- the loop --

    def train(self, hooks: Sequence[Callable[[int, dict], None]] = ()) -> RLResult:
        """Runs (or resumes) train.total_steps RL steps; exports HF at the end when export.enabled.

        hooks(step, row) run after each step (step counts completed steps).
        """
        c, tr = self.config, self.config.train
        ckpt = Checkpointer(io.join(self.workdir, CHECKPOINT_DIR), save_every=tr.save_every, keep=tr.keep,
                            async_save=tr.async_save)
        start, resumed_from = 0, None
        if ckpt.latest_step() is not None:
            resumed_from = ckpt.latest_step()
            self.state, meta = ckpt.restore(self.state)
            start = int(meta["step"])
            saved, now = meta.get("data", {}), self.schedule.position(start)
            diff = {k: (saved.get(k), now[k]) for k in ("seed", "examples", "global_batch") if saved.get(k) != now[k]}
            if diff or meta.get("seed") != c.seed or meta.get("updates_per_step") != self.updates_per_step:
                raise ValueError(f"checkpoint {resumed_from} under {self.workdir} was written by a different setup "
                                 f"(data (saved, now): {diff}; seed {meta.get('seed')} vs {c.seed}; updates per "
                                 f"step {meta.get('updates_per_step')} vs {self.updates_per_step}): resuming would "
                                 f"not replay the same run")
            self._load_reward_states(meta.get("reward_state", {}))
            logging.info("resumed RL from step %d", start)
        writer = MetricsWriter(self.workdir)
        writer.truncate_after(start)
        history, evals, step_seconds = [], [], []
        done = start
        rewards = "+".join(k for k in c.reward.keys() if c.reward[k].weight)  # weight 0: a monitor only
        name = f"rl[{rewards}]"

        def run_eval(step: int):
            if self.eval_problems is None or not len(self.eval_problems):
                return
            row = self.evaluate()
            evals.append(writer.write(step, row, split="eval"))
            writer.flush()
            progress.emit(progress.step_line(f"eval[{rewards}]", step, tr.total_steps, row))

        try:
            if start == 0 and tr.eval_at_start:
                run_eval(0)
            for step in range(start, tr.total_steps):
                row = self.step(step)
                done = step + 1
                history.append(writer.write(done, row))
                step_seconds.append(row["time_step"])
                if done % tr.log_every == 0 or done == tr.total_steps:
                    writer.flush()
                    progress.emit(progress.step_line(name, done, tr.total_steps, row, fields=RL_STEP_FIELDS,
                                                     tokens_per_s=row.get("tokens_per_s"),
                                                     seconds_per_step=float(np.median(step_seconds[-10:]))))
                if tr.eval_every and done % tr.eval_every == 0 and done != tr.total_steps:
                    run_eval(done)
                if ckpt.should_save(done) and done != tr.total_steps:
                    ckpt.save(done, self.state, self._meta(done))
                trigger = io.join(self.workdir, EXPORT_TRIGGER)
                if (c.export.every and done % c.export.every == 0) or io.exists(trigger):
                    self.export(io.join(self.workdir, f"{EXPORT_DIR}_step{done}"))
                    if io.exists(trigger):
                        io.fs_and_path(trigger)[0].rm(io.fs_and_path(trigger)[1])
                for hook in hooks:
                    hook(done, row)
            final = tr.total_steps
            if start < final:
                run_eval(final)
            if start < final or ckpt.latest_step() != final:
                ckpt.save(final, self.state, self._meta(final), force=True)
        finally:
            ckpt.close()
            writer.close()
            if jax.process_index() == 0:
                plot_reward_curve(self.workdir)
        if c.export.enabled and done == tr.total_steps:
            self.export()
        return RLResult(history=history, evals=evals, resumed_from=resumed_from, steps_done=done)

    def close(self) -> None:
        if self.executor is not None and hasattr(self.executor, "close"):
            self.executor.close()


def run_rl(config, workdir: str, **overrides) -> RLResult:
    """Builds the trainer for `config`, trains (or resumes) in `workdir`, and releases the executor."""
    from acecoder_jax.parallel import initialize_multihost

    initialize_multihost()
    trainer = RLTrainer(config, workdir, **overrides)
    try:
        return trainer.train()
    finally:
        trainer.close()
