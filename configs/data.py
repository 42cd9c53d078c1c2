"""Data pipeline config (synthesis, proxy filter, inferences, pairs).

Usage: --config=configs/data.py:VARIANT --config.synthesis.num_tests=25
Variants:
  toy        bundled toy seed corpus + LLM-free reference-execution synthesizer (default, CPU)
  openai     instruction/response seeds (Evol/OSS-Instruct jsonl) + an OpenAI-compatible endpoint
  stack      Stack-style raw python functions + an OpenAI-compatible endpoint
  humaneval  HumanEval canonical solutions as seeds (kind=seed) + reference synthesizer
"""
import ml_collections

from acecoder_jax import config_blocks


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.shard_size = 64
    c.progress = True
    # A stage that reads no records, or keeps none, fails (exit 2) naming its input; False: a warning.
    c.fail_on_empty = True

    c.execution = config_blocks.execution_config()

    c.seeds = ml_collections.ConfigDict()
    c.seeds.kind = "toy"  # toy | instruction | stack | seed
    c.seeds.source = ""  # label written to `source`; defaults to the kind
    c.seeds.num_toy_tasks = 200
    c.seeds.toy_seed = 0
    c.seeds.toy_difficulties = (1, 2, 3)
    c.seeds.instruction_key = "instruction"
    c.seeds.response_key = "response"
    c.seeds.content_key = "content"
    c.seeds.id_key = ""
    c.seeds.min_program_chars = 100

    c.synthesis = ml_collections.ConfigDict()
    c.synthesis.backend = "reference"  # reference | openai | sampler (in-process JAX sampler)
    c.synthesis.num_tests = 20
    c.synthesis.reference = ml_collections.ConfigDict()
    c.synthesis.reference.num_candidates = 160
    c.synthesis.reference.seed = 0
    c.synthesis.reference.call_timeout_s = 0.25
    c.synthesis.openai = ml_collections.ConfigDict()
    c.synthesis.openai.base_url = "https://api.openai.com/v1"
    c.synthesis.openai.model = "gpt-4o-mini"
    c.synthesis.openai.api_key_env = "OPENAI_API_KEY"
    c.synthesis.openai.temperature = 0.7
    c.synthesis.openai.max_tokens = 2048
    c.synthesis.openai.concurrency = 16
    c.synthesis.openai.max_retries = 6
    c.synthesis.openai.backoff_s = 1.0
    c.synthesis.openai.timeout_s = 120.0
    c.synthesis.openai.cache_dir = ""  # "": <workdir>/openai_cache

    c.synthesis.sampler = ml_collections.ConfigDict()
    c.synthesis.sampler.model = config_blocks.inference_model_config()  # e.g. Qwen2.5-Coder-32B-Instruct
    c.synthesis.sampler.mesh = config_blocks.mesh_config()
    c.synthesis.sampler.batch_size = 32
    c.synthesis.sampler.prompt_buckets = (512, 1024, 2048)
    c.synthesis.sampler.temperature = 0.7
    c.synthesis.sampler.max_new_tokens = 2048
    c.synthesis.sampler.seed = 0

    c.proxy = ml_collections.ConfigDict()
    c.proxy.source = "seed"  # seed: the seed program | completions: a jsonl of proxy completions
    c.proxy.completions = ""
    c.proxy.model_name = ""  # pick this model's completion from the completions file ("" = first)
    c.proxy.min_tests = 5

    c.pairs = ml_collections.ConfigDict()
    c.pairs.rule = "acecoder"
    c.pairs.min_best = 0.8
    c.pairs.min_gap = 0.4
    c.pairs.min_worst_exclusive = 0.0
    return c


def toy() -> ml_collections.ConfigDict:
    return base()


def openai() -> ml_collections.ConfigDict:
    c = base()
    c.seeds.kind = "instruction"
    c.synthesis.backend = "openai"
    return c


def stack() -> ml_collections.ConfigDict:
    c = base()
    c.seeds.kind = "stack"
    c.seeds.source = "stack_python_fns"
    c.synthesis.backend = "openai"
    return c


def humaneval() -> ml_collections.ConfigDict:
    c = base()
    c.seeds.kind = "seed"
    c.seeds.source = "humaneval"
    return c


VARIANTS = {"toy": toy, "openai": openai, "stack": stack, "humaneval": humaneval}


def get_config(variant: str = "toy") -> ml_collections.ConfigDict:
    return config_blocks.select_variant(VARIANTS, variant, "data")
