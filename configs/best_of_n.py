"""Best-of-N reranking with a reward model (launch/best_of_n.py).

Usage: --config=configs/best_of_n.py:VARIANT --config.policy.hf_path=DIR --config.reward_model.hf_path=DIR
Variants:
  paper_bo16 / paper_bo32 / paper_bo64  Table 2 setups: Qwen2.5-Coder-7B-Instruct or
             Llama-3.1-8B-Instruct samples N programs (temperature 0.7, 1024 new tokens, as in the
             paper's sampling stage), AceCodeRM-7B/32B scores them; HumanEval bundled, or a
             user-supplied EvalPlus / BigCodeBench / LiveCodeBench file
  cpu_tiny   tiny models, a handful of HumanEval problems, for tests and the CPU demo
"""
import ml_collections

from acecoder_jax import config_blocks


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.policy = config_blocks.inference_model_config()  # an HF *ForCausalLM
    c.reward_model = config_blocks.reward_model_config(batch_size=8, max_length=2048)  # *ForSequenceClassification or AceCodeRM

    c.benchmark = ml_collections.ConfigDict()
    c.benchmark.name = "humaneval"  # humaneval | evalplus | bigcodebench | livecodebench
    c.benchmark.path = ""  # "": bundled HumanEval; else a user-supplied file (docs/evaluation.md)
    c.benchmark.limit = 0  # 0: all problems

    c.bon = ml_collections.ConfigDict()
    c.bon.n = 16
    c.bon.temperature = 0.7
    c.bon.top_p = 1.0
    c.bon.max_new_tokens = 1024
    c.bon.seed = 0
    c.bon.timeout_s = 5.0
    c.bon.selection = "subsets"  # subsets (exact expectation) | prefix
    c.bon.template = "chat"  # policy prompt: chat (instruct models) | r1 | plain

    c.sampler = ml_collections.ConfigDict()
    c.sampler.batch_size = 32
    c.sampler.prompt_buckets = (256, 512, 1024)

    c.execution = config_blocks.execution_config()
    c.mesh = config_blocks.mesh_config()
    c.progress = True  # bars on a terminal only
    return c


def paper_bo16() -> ml_collections.ConfigDict:
    return base()


def paper_bo32() -> ml_collections.ConfigDict:
    c = base()
    c.bon.n = 32
    return c


def paper_bo64() -> ml_collections.ConfigDict:
    c = base()
    c.bon.n = 64
    return c


def cpu_tiny() -> ml_collections.ConfigDict:
    c = base()
    c.policy.param_dtype = c.policy.compute_dtype = "float32"
    c.reward_model.param_dtype = c.reward_model.compute_dtype = "float32"
    c.reward_model.max_length = 512
    c.benchmark.limit = 4
    c.bon.n = 4
    c.bon.temperature = 1.0
    c.bon.max_new_tokens = 24
    c.bon.timeout_s = 2.0
    c.sampler.batch_size = 8
    c.sampler.prompt_buckets = (512, 1024)
    c.mesh.shape = (-1, 1, 1)
    return c


VARIANTS = {"paper_bo16": paper_bo16, "paper_bo32": paper_bo32, "paper_bo64": paper_bo64, "cpu_tiny": cpu_tiny}


def get_config(variant: str = "cpu_tiny") -> ml_collections.ConfigDict:
    return config_blocks.select_variant(VARIANTS, variant, "best_of_n")
