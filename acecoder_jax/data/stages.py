"""The pipeline's stages as resumable `Stage` runs: synthesize -> proxy filter -> attach inferences
-> pairs (and the hard subset). Launch scripts under launch/ are thin absl wrappers over these.

Each `run_*` takes the data config (configs/data.py), input path(s), an output .jsonl path and an
optional workdir for shards, and returns the stage's stats dict (also written to <output>.stats.json).
"""
from __future__ import annotations

import os
from typing import Any

from acecoder_jax.data import inferences as infmod
from acecoder_jax.data import io, pairs, schemas, seeds, stage, toy_tasks
from acecoder_jax.execution import build_executor
from acecoder_jax.data.synthesis import parser as synth_parser
from acecoder_jax.errors import ConfigError
from acecoder_jax.registry import Registry

PARSE_ERRORS = ("empty_reply", "no_json", "no_question", "no_tests")


def _fingerprinted(cfg, *blocks: str) -> dict:
    """The blocks of the data config a stage's output depends on (where programs run and progress
    bars do not count: config_blocks.OPERATIONAL_FIELDS)."""
    return {name: cfg[name].to_dict() for name in blocks}


def _stage(cfg, name: str, output: str, workdir: str | None, overwrite: bool, config: dict, **kw) -> stage.Stage:
    return stage.Stage(name, output, _workdir(output, workdir, name), cfg.shard_size, config=config,
                       progress=cfg.progress, overwrite=overwrite, fail_on_empty=cfg.fail_on_empty, **kw)


SYNTHESIZERS = Registry("synthesis backend")  # config.synthesis.backend -> builder(cfg, workdir)


@SYNTHESIZERS.register("reference")
def _reference_synthesizer(cfg, workdir: str):
    """LLM-free: tests from executing the seed's own program (the toy and HumanEval-seed paths)."""
    from acecoder_jax.data.synthesis.reference_backend import ReferenceSynthesizer

    syn = cfg.synthesis
    return ReferenceSynthesizer(executor=build_executor(cfg.execution, progress=cfg.progress),
                                num_tests=syn.num_tests, num_candidates=syn.reference.num_candidates,
                                seed=syn.reference.seed, call_timeout_s=syn.reference.call_timeout_s)


@SYNTHESIZERS.register("openai")
def _openai_synthesizer(cfg, workdir: str):
    """The paper's path: an OpenAI-compatible chat endpoint writes the question and tests."""
    from acecoder_jax.data.synthesis.backend import LLMSynthesizer
    from acecoder_jax.data.synthesis.openai_backend import OpenAIChatModel

    syn, o = cfg.synthesis, cfg.synthesis.openai
    model = OpenAIChatModel(o.base_url, o.model, api_key_env=o.api_key_env, temperature=o.temperature,
                            max_tokens=o.max_tokens, concurrency=o.concurrency, max_retries=o.max_retries,
                            backoff_s=o.backoff_s, timeout_s=o.timeout_s,
                            cache_dir=o.cache_dir or io.join(workdir, "openai_cache"))
    return LLMSynthesizer(model, num_tests=syn.num_tests)


@SYNTHESIZERS.register("sampler")
def _sampler_synthesizer(cfg, workdir: str):
    """An in-process JAX model as the test writer."""
    from acecoder_jax import builders
    from acecoder_jax.data.synthesis.backend import LLMSynthesizer
    from acecoder_jax.data.synthesis.sampler_backend import SamplerChatModel
    from acecoder_jax.models.init import build_model
    from acecoder_jax.sampling import Sampler
    from acecoder_jax.tokenization import pad_token_id
    syn = cfg.synthesis
    sc = syn.sampler
    what = "config.synthesis.sampler.model"
    tok = builders.tokenizer_from(sc.model, what)
    model, _ = build_model(sc.model, head="lm", mesh=builders.mesh_from(sc), tokenizer=tok, seed=sc.seed, what=what)
    sampler = Sampler(model, tok, batch_size=sc.batch_size, prompt_buckets=tuple(sc.prompt_buckets),
                      pad_id=pad_token_id(tok))
    chat = SamplerChatModel(sampler, temperature=sc.temperature, max_new_tokens=sc.max_new_tokens,
                            seed=sc.seed, model_name=sc.model.hf_path.rstrip("/").rsplit("/", 1)[-1])
    return LLMSynthesizer(chat, num_tests=syn.num_tests)


def make_synthesizer(cfg, workdir: str):
    return SYNTHESIZERS[cfg.synthesis.backend](cfg, workdir)


def _workdir(output: str, workdir: str | None, name: str) -> str:
    return io.join(workdir, name) if workdir else output + ".shards"


# ---------------- synthesize ----------------

def run_synthesize(cfg, inputs: list[str] | None, output: str, workdir: str | None = None,
                   overwrite: bool = False) -> dict:
    sc = cfg.seeds
    records = None
    if sc.kind == "toy":
        difficulties = tuple(sc.get("toy_difficulties", (1, 2, 3)))
        records = toy_tasks.toy_seed_corpus(sc.num_toy_tasks, sc.toy_seed, difficulties)
        inputs = [f"toy:{sc.num_toy_tasks}:{sc.toy_seed}:{','.join(map(str, difficulties))}"]
    elif not inputs:
        raise ConfigError(f"config.seeds.kind={sc.kind!r} needs --input")
    synthesizer = make_synthesizer(cfg, workdir or os.path.dirname(output) or ".")
    kind_kwargs: dict[str, Any] = {}
    if sc.kind == "instruction":
        kind_kwargs = {"instruction_key": sc.instruction_key, "response_key": sc.response_key,
                       "id_key": sc.id_key or None}
    elif sc.kind == "stack":
        kind_kwargs = {"content_key": sc.content_key, "min_program_chars": sc.min_program_chars,
                       "id_key": sc.id_key or None}

    def process(shard: list[dict], ctx: stage.ShardContext) -> None:
        if sc.kind == "toy":
            batch = shard
        else:
            batch = []
            for item in seeds.seeds_from_records(shard, "seed" if sc.kind == "seed" else sc.kind,
                                                 sc.source or sc.kind, **kind_kwargs):
                if isinstance(item, seeds.SeedReject):
                    if item.reason.startswith("missing"):
                        ctx.reject("missing_field", item.reason, item.id)
                    else:
                        ctx.drop("seed_filter: " + item.reason)
                else:
                    batch.append(item)
        ctx.count("seeds", len(batch))
        for seed, res in zip(batch, synthesizer.synthesize(batch)):
            if not res.ok:
                if res.error in PARSE_ERRORS:
                    ctx.reject("unparsable_synthesis", f"{res.error}: {res.detail}", res.seed_id, res.raw[:2000])
                else:
                    ctx.drop(res.error)
                continue
            ctx.count("tests_synthesized", len(res.tests))
            ctx.count("tests_invalid", res.invalid_tests)
            ctx.count("repaired_json", int(res.repaired))
            rec = {"id": str(seed["id"]), "source": seed.get("source", ""), "question": res.question,
                   "test_cases": res.tests, "inferences": [],
                   "context_messages": [{"role": "user", "content": res.question}],
                   "seed_program": seed["program"], "synthesizer": synthesizer.name}
            for extra in ("entry_point", "difficulty"):
                if extra in seed:
                    rec[extra] = seed[extra]
            ctx.emit(rec)

    def derive(t: dict) -> dict:
        n = t.get("records_out", 0)
        return {"tests_per_question": (t.get("tests_synthesized", 0) / n) if n else 0.0}

    # Raw seeds carry no ids of their own (they are derived): uniqueness is checked on the output.
    st = _stage(cfg, "synthesize", output, workdir, overwrite, _fingerprinted(cfg, "seeds", "synthesis", "execution"),
                derive=derive, record_key=None, output_key=stage.record_id)
    try:
        return st.run(inputs, process, records=records)
    finally:
        synthesizer.close()


# ---------------- proxy filter ----------------

def load_completions(path: str) -> dict[str, list[dict]]:
    """{question id: [{"model_name", "completion_id", "completion"}]} from a completions jsonl.
    Lines need "id" and "completion"; model_name defaults to "unknown", completion_id to the index."""
    index: dict[str, list[dict]] = {}
    first: dict[tuple, int] = {}
    for lineno, rec in io.iter_records(path):
        if isinstance(rec, io.RecordReadError):
            raise ValueError(f"completions file {rec}")
        if not isinstance(rec.get("completion"), str) or rec.get("id") is None:
            raise ValueError(f"{path}:{lineno}: completion record needs 'id' and string 'completion'")
        group = index.setdefault(str(rec["id"]), [])
        entry = {"model_name": rec.get("model_name", "unknown"),
                 "completion_id": rec.get("completion_id", len(group)), "completion": rec["completion"]}
        key = (str(rec["id"]), entry["model_name"], entry["completion_id"])
        if key in first:
            raise ValueError(f"{path}:{lineno}: completion {entry['completion_id']!r} of question {key[0]!r} by "
                             f"{key[1]!r} repeats line {first[key]} (completion ids must be unique)")
        first[key] = lineno
        group.append(entry)
    return index


def _validated(rec: dict, ctx: stage.ShardContext, require_tests: bool = True) -> dict | None:
    try:
        return schemas.validate_acecode(rec, require_tests=require_tests)
    except schemas.SchemaError as e:
        reason = "empty_tests" if (e.field == "test_cases" and e.reason == "empty") else (
            "missing_field" if e.reason == "missing" else "bad_field")
        ctx.reject(reason, str(e), rec.get("id") if isinstance(rec, dict) else None, rec)
        return None


def run_proxy_filter(cfg, inputs: list[str], output: str, workdir: str | None = None,
                     overwrite: bool = False) -> dict:
    pc = cfg.proxy
    executor = build_executor(cfg.execution, progress=cfg.progress)
    completions = load_completions(pc.completions) if pc.source == "completions" else None
    if pc.source not in ("seed", "completions"):
        raise ConfigError(f"config.proxy.source must be 'seed' or 'completions', got {pc.source!r}")

    def proxy_program(rec: dict) -> str | None:
        if completions is None:
            return rec.get("seed_program")
        group = [c for c in completions.get(rec["id"], []) if not pc.model_name or c["model_name"] == pc.model_name]
        return infmod.completion_program(group[0]["completion"]) if group else None

    def process(shard: list[dict], ctx: stage.ShardContext) -> None:
        jobs, kept_recs = [], []
        for raw in shard:
            rec = _validated(raw, ctx)
            if rec is None:
                continue
            parsable = [t for t in rec["test_cases"] if synth_parser.check_test(t) is None]
            ctx.count("tests_unparsable", len(rec["test_cases"]) - len(parsable))
            if not parsable:
                ctx.reject("unparsable_tests", "no test is a single assert with a call", rec["id"])
                continue
            program = proxy_program(rec)
            if not program:
                ctx.drop("no_proxy_program")
                continue
            rec["test_cases"] = parsable
            jobs.append({"id": str(len(kept_recs)), "program": program, "tests": parsable})
            kept_recs.append(rec)
        results = executor.run(jobs)
        for i, rec in enumerate(kept_recs):
            r = results[str(i)]
            outcomes = list(r.get("outcomes", []))
            passed = [t for t, o in zip(rec["test_cases"], outcomes) if o == "pass"]
            ctx.count("questions_checked", 1)
            ctx.count("tests_before", len(rec["test_cases"]))
            if len(passed) < pc.min_tests:
                ctx.drop(f"fewer_than_{pc.min_tests}_tests_pass_proxy")
                continue
            ctx.count("tests_after", len(passed))
            rec["tests_before_filter"] = len(rec["test_cases"])
            rec["test_cases"] = passed
            ctx.emit(rec)

    def derive(t: dict) -> dict:
        q_in, q_out = t.get("questions_checked", 0), t.get("records_out", 0)
        return {"tests_per_question_before": t.get("tests_before", 0) / q_in if q_in else 0.0,
                "tests_per_question_after": t.get("tests_after", 0) / q_out if q_out else 0.0}

    config = _fingerprinted(cfg, "proxy", "execution")
    if completions is not None:
        config["proxy_completions_file"] = io.file_identity(pc.completions)
    st = _stage(cfg, "filter_tests", output, workdir, overwrite, config, derive=derive)
    with executor:  # the pool lives as long as the stage
        return st.run(inputs, process)


# ---------------- attach inferences ----------------

def run_attach_inferences(cfg, inputs: list[str], completions_path: str, output: str,
                          workdir: str | None = None, overwrite: bool = False) -> dict:
    executor = build_executor(cfg.execution, progress=cfg.progress)
    completions = load_completions(completions_path)

    def process(shard: list[dict], ctx: stage.ShardContext) -> None:
        jobs, plan = [], []
        recs = []
        for raw in shard:
            rec = _validated(raw, ctx)
            if rec is None:
                continue
            group = completions.get(rec["id"], [])
            if not group:
                ctx.count("questions_without_completions")
            for c in group:
                jobs.append({"id": str(len(jobs)), "program": infmod.completion_program(c["completion"]),
                             "tests": rec["test_cases"]})
                plan.append((len(recs), c))
            recs.append(rec)
        results = executor.run(jobs)
        new: list[list[dict]] = [[] for _ in recs]
        for j, (ri, c) in enumerate(plan):
            r = results[str(j)]
            rate = infmod.pass_rate(list(r.get("outcomes", [])), len(recs[ri]["test_cases"]))
            new[ri].append({**c, "pass_rate": rate})
            ctx.count(f"status.{r.get('status', 'unknown')}")
            ctx.count("completions_executed")
            ctx.count("pass_rate_sum", rate)
        for rec, infs in zip(recs, new):
            fresh = {(i["model_name"], i["completion_id"]) for i in infs}
            rec["inferences"] = [i for i in rec["inferences"]
                                 if (i["model_name"], i["completion_id"]) not in fresh] + infs
            ctx.emit(rec)

    def derive(t: dict) -> dict:
        n = t.get("completions_executed", 0)
        return {"mean_pass_rate": t.get("pass_rate_sum", 0.0) / n if n else 0.0}

    config = {**_fingerprinted(cfg, "execution"), "completions_file": io.file_identity(completions_path)}
    st = _stage(cfg, "attach_inferences", output, workdir, overwrite, config, derive=derive)
    with executor:  # the pool lives as long as the stage
        return st.run(inputs, process)


# ---------------- pairs ----------------

def run_build_pairs(cfg, inputs: list[str], output: str, workdir: str | None = None,
                    overwrite: bool = False) -> dict:
    p = cfg.pairs
    rule = pairs.make_rule(p.rule, min_best=p.min_best, min_gap=p.min_gap,
                           min_worst_exclusive=p.min_worst_exclusive)

    def process(shard: list[dict], ctx: stage.ShardContext) -> None:
        for raw in shard:
            rec = _validated(raw, ctx, require_tests=False)
            if rec is None:
                continue
            if not rec["inferences"]:
                ctx.drop("no_inferences")
                continue
            got = pairs.question_pairs(rec, rule)
            ctx.count("questions_with_pairs", int(bool(got)))
            if not got:
                ctx.drop("no_pair_meets_rule")
            for pr in got:
                ctx.emit(pr)

    # One question gives several pairs: the stats balance on questions that gave one.
    st = _stage(cfg, "build_pairs", output, workdir, overwrite, _fingerprinted(cfg, "pairs"),
                kept_key="questions_with_pairs")
    return st.run(inputs, process)


# ---------------- hard subset ----------------

def run_hard_subset(cfg, inputs: list[str], output: str, overwrite: bool = False) -> dict:
    """Not sharded: the rule needs medians over the whole input. Skips when done with the same
    inputs; refuses other inputs unless overwriting. Repeated ids are rejects, as in every stage."""
    from acecoder_jax.data import hard_subset
    fingerprint = stage.input_fingerprint(inputs, {}, None)
    done = stage.finished_stats("hard_subset", output, fingerprint, overwrite, cfg.fail_on_empty)
    if done is not None:
        return done
    ctx = stage.ShardContext(shard_index=0)
    records, n_in = [], 0
    for where, item in stage.unique(stage.read_located(inputs), stage.record_id):
        n_in += 1
        if stage.reject_unusable(ctx, item):
            continue
        try:
            records.append(schemas.validate_acecode(item, require_tests=False))
        except schemas.SchemaError as e:
            ctx.reject("bad_field", f"{where}: {e}", item.get("id"), item)
    kept, rule = hard_subset.hard_subset(records)
    kept_ids = {id(r) for r in kept}
    for r in records:
        if id(r) not in kept_ids:
            stats_r = hard_subset.pass_rate_stats(r)
            ctx.drop("no_inferences" if stats_r is None else
                     "mean_above_median" if stats_r[0] > rule["mean_median"] else "std_below_median")
    io.write_jsonl(stage.rejects_path(output), ctx.rejects)
    io.write_jsonl(output, kept)
    counts = stage.split_counts(ctx.counts)
    stats = {"stage": "hard_subset", "inputs": inputs, "output": output, "records_in": n_in,
             "records_out": len(kept), "records_kept": len(kept), "rejected": counts["rejected"],
             "dropped": counts["dropped"],
             **{k: v for k, v in rule.items() if k not in ("records_in", "records_out")},  # the medians
             "fingerprint": fingerprint}
    stage.balance(stats)
    io.write_json(stage.stats_path(output), stats)
    stage.check_not_empty(stats, cfg.fail_on_empty)
    return stats
