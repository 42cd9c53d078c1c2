"""Peak RSS of `train_rm` on a large synthetic AceCodePair file, for this checkout and a git revision.

    python benchmarks/train_data_memory.py --pairs 300000 --baseline REV [--workdir DIR]

Writes (once, into --workdir) a synthetic pairs jsonl of --pairs records with texts of the sizes
AceCodePair has (a ~300-character question, ~400-character programs) and a SentencePiece tokenizer,
then runs `launch/train_rm.py --config=configs/rm.py:cpu_tiny` for one step on it, in a fresh
process per side under /usr/bin/time -v: this checkout, and REV checked out with `git worktree`
(its code on PYTHONPATH).
Prints one JSON line per side (peak RSS of the training process, its wall time, the examples
loaded) and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("value", "index", "result", "count", "items", "total", "left", "right", "node", "key", "window",
         "string", "number", "list", "merge", "sort", "prefix", "suffix", "matrix", "graph")


def _program(rng: random.Random, name: str) -> str:
    lines = [f"def {name}(xs, k):"]
    for i in range(rng.randint(8, 14)):
        a, b = rng.sample(WORDS, 2)
        lines.append(f"    {a}_{i} = [{b} for {b} in xs if {b} % {rng.randint(2, 9)} == {rng.randint(0, 1)}]")
    lines.append(f"    return sum({a}_{i}) + k")
    return "\n".join(lines) + "\n"


def write_pairs(path: str, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(45))
            question = f"Write a function solve_{i}(xs, k) that returns the {words}."
            f.write(json.dumps({"id": f"q{i // 4}", "instruction": question, "chosen": _program(rng, f"solve_{i}"),
                                "rejected": _program(rng, f"solve_{i}"), "chosen_pass_rate": 1.0,
                                "rejected_pass_rate": 0.25, "model_name": "synthetic"}) + "\n")


def prepare(workdir: str, n: int) -> tuple[str, str]:
    data, tok = os.path.join(workdir, f"pairs-{n}.jsonl"), os.path.join(workdir, "tokenizer")
    if not os.path.exists(data):
        write_pairs(data + ".tmp", n)
        os.replace(data + ".tmp", data)
    if not os.path.exists(tok):
        sys.path.insert(0, REPO)
        from acecoder_jax.tokenization import train_sentencepiece

        with open(data) as f:
            sample = [line for _, line in zip(range(2000), f)]
        train_sentencepiece(sample, 400, tok)
    return data, tok


def run_side(code_root: str, data: str, tok: str, workdir: str) -> dict:
    run_dir = tempfile.mkdtemp(prefix="rm-", dir=workdir)
    cmd = [sys.executable, os.path.join(code_root, "launch", "train_rm.py"),
           f"--config={os.path.join(code_root, 'configs', 'rm.py')}:cpu_tiny", f"--workdir={run_dir}",
           f"--config.data.train={data}", "--config.train.total_steps=1", "--config.train.eval_every=0",
           "--config.data.eval_fraction=0.001", "--config.export.enabled=False", "--config.train.progress=False"]
    tokenizer_flag = "--config.model.tokenizer" if _has_model_tokenizer(code_root) else "--config.tokenizer"
    cmd.append(f"{tokenizer_flag}={tok}")
    env = dict(os.environ, PYTHONPATH=code_root, JAX_PLATFORMS="cpu")
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, cwd=code_root)
    wall = time.perf_counter() - t0
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    killed = re.search(r"Command terminated by signal (\d+)", proc.stderr)
    if proc.returncode != 0 and not killed:
        raise SystemExit(f"{code_root}: train_rm failed:\n{proc.stderr[-3000:]}")
    row = {"code": code_root, "peak_rss_mb": round(peak_kb / 1024, 1), "wall_s": round(wall, 1)}
    if killed:  # the OOM killer: the peak is where it was stopped, a lower bound of what it needed
        return {**row, "killed_by_signal": int(killed.group(1))}
    with open(os.path.join(run_dir, "data_stats.json")) as f:
        return {**row, "train_examples": json.load(f)["train_examples"]}


def _has_model_tokenizer(code_root: str) -> bool:
    with open(os.path.join(code_root, "acecoder_jax", "config_blocks.py")) as f:
        return 'tokenizer="",  # "": the tokenizer files of hf_path' in f.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=300_000)
    parser.add_argument("--baseline", default=None, help="git revision to compare with (its own process)")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "acecoder-data-memory"))
    parser.add_argument("--side", choices=("both", "baseline", "current"), default="both")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    data, tok = prepare(args.workdir, args.pairs)
    print(json.dumps({"pairs": args.pairs, "file_mb": round(os.path.getsize(data) / 2 ** 20, 1),
                      "uptime": open("/proc/loadavg").read().split()[:3]}))
    rows = {}
    if args.baseline and args.side in ("both", "baseline"):
        tree = os.path.join(args.workdir, f"baseline-{args.baseline}")
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", tree, args.baseline], check=True,
                       capture_output=True)
        try:
            rows["baseline"] = run_side(tree, data, tok, args.workdir)
        finally:  # leave the user's repository as it was
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree], check=False)
        print(json.dumps({"side": f"baseline {args.baseline}", **rows["baseline"]}))
    if args.side in ("both", "current"):
        rows["current"] = run_side(REPO, data, tok, args.workdir)
        print(json.dumps({"side": "current", **rows["current"]}))
    if len(rows) == 2:
        print(json.dumps({"peak_rss_ratio_baseline_over_current":
                          round(rows["baseline"]["peak_rss_mb"] / rows["current"]["peak_rss_mb"], 2)}))


if __name__ == "__main__":
    main()
