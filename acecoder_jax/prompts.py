"""Every prompt format in the pipeline, and the one function that pulls a program out of a reply.

- policy prompt: the question plus its first tests in a docstring, asking for one self-contained
  Python script in a markdown block (chat models);
- R1-style template: reason in <think>, answer in <answer> (base models, RL);
- reward-model input: question as the user turn, response as the assistant turn;
- `extract_code`: the program a reply contains, cut before any tests or demo harness.

Samplers, trainers, RL and best-of-N import these so all stages see identical text.
"""
from __future__ import annotations

import io
import re
import textwrap
import tokenize
from typing import Sequence

from acecoder_jax.registry import Registry

POLICY_INSTRUCTION = (
    "Solve the programming problem described in the docstring below. Reply with one complete, "
    "self-contained Python script inside a single ```python markdown block. Define every "
    "function and class the tests use, and do not include tests or example usage."
)

R1_TEMPLATE = (
    "The user gives the assistant a programming task. The assistant first reasons about it step "
    "by step, then gives its final answer. The reasoning goes between <think> and </think>, the "
    "answer between <answer> and </answer>; the answer holds one complete Python script in a "
    "```python markdown block.\n"
    "User: {task}\n"
    "Assistant: <think>"
)


def _check_question(question: str, where: str) -> None:
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: question must be a non-empty str, got {question!r}")


def _check_tests(tests: Sequence[str], where: str) -> None:
    if isinstance(tests, str):
        raise TypeError(f"{where}: tests must be a list of assert strings, not one str")
    for i, t in enumerate(tests):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"{where}: tests[{i}] must be a non-empty str, got {t!r}")


def problem_docstring(question: str, tests: Sequence[str] = (), num_tests: int = 1) -> str:
    """The question and its first `num_tests` tests inside a triple-quoted docstring."""
    _check_question(question, "problem_docstring")
    _check_tests(tests, "problem_docstring")
    if num_tests < 0:
        raise ValueError(f"num_tests must be >= 0, got {num_tests}")
    body = question.strip().replace('"""', "'''")
    shown = [t.strip().replace('"""', "'''") for t in list(tests)[:num_tests]]
    return '"""\n' + "\n".join([body, *shown]) + '\n"""'


def policy_prompt(question: str, tests: Sequence[str] = (), num_tests: int = 1) -> str:
    """The AceCoder user message: instruction, then the question + first tests in a docstring."""
    return POLICY_INSTRUCTION + "\n\n```python\n" + problem_docstring(question, tests, num_tests) + "\n```\n"


def policy_messages(question: str, tests: Sequence[str] = (), num_tests: int = 1) -> list[dict]:
    """Chat messages for a policy model; render with `tokenization.apply_chat_template`."""
    return [{"role": "user", "content": policy_prompt(question, tests, num_tests)}]


def r1_prompt(question: str, tests: Sequence[str] = (), num_tests: int = 1) -> str:
    """Plain-text R1-style prompt for base models; generation continues inside <think>."""
    task = problem_docstring(question, tests, num_tests)
    return R1_TEMPLATE.format(task="\n" + task)


_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.DOTALL)


def parse_r1_response(completion: str) -> tuple[str | None, str | None]:
    """(thinking, answer) of an R1-style completion (generated after the prompt's "<think>").

    A missing piece is None; an unclosed <answer> runs to the end of the text.
    """
    head, sep, tail = completion.partition("</think>")
    thinking = head.replace("<think>", "", 1).strip() if sep else None
    match = _ANSWER.search(tail if sep else completion)
    answer = match.group(1).strip() if match else None
    return thinking, answer


def r1_format_ok(completion: str) -> bool:
    """True when the completion is `reasoning</think> <answer>...</answer>` and nothing more."""
    thinking, sep, rest = completion.partition("</think>")
    if not sep or "<think>" in thinking.replace("<think>", "", 1) or "</think>" in rest:
        return False
    return re.fullmatch(r"\s*<answer>(?:(?!</?answer>).)*</answer>\s*", rest, re.DOTALL) is not None


def reward_model_messages(question: str, response: str) -> list[dict]:
    """The reward model scores the response as the assistant turn of a one-question chat."""
    _check_question(question, "reward_model_messages")
    if not isinstance(response, str):
        raise TypeError(f"reward_model_messages: response must be a str, got {type(response).__name__}")
    return [{"role": "user", "content": question}, {"role": "assistant", "content": response}]


def reward_model_text(tokenizer, question: str, response: str) -> str:
    """Rendered reward-model input; the RM head reads the last non-pad token of this text."""
    from acecoder_jax.tokenization import apply_chat_template

    return apply_chat_template(tokenizer, reward_model_messages(question, response),
                               add_generation_prompt=False)


def policy_text(tokenizer, question: str, tests: Sequence[str] = (), num_tests: int = 1) -> str:
    """Rendered chat prompt for a policy model, ending where the assistant starts writing."""
    from acecoder_jax.tokenization import apply_chat_template

    return apply_chat_template(tokenizer, policy_messages(question, tests, num_tests),
                               add_generation_prompt=True)


# --------------------------------------------------------------------------------------------
# Prompt templates by name (policy prompts for RL rollouts, best-of-N and the demo)

PROMPT_TEMPLATES = Registry("prompt template")


@PROMPT_TEMPLATES.register("r1")
def _r1_template(tokenizer, question: str, tests: Sequence[str], num_prompt_tests: int) -> str:
    return r1_prompt(question, tests, num_prompt_tests)


@PROMPT_TEMPLATES.register("chat")
def _chat_template(tokenizer, question: str, tests: Sequence[str], num_prompt_tests: int) -> str:
    return policy_text(tokenizer, question, tests, num_prompt_tests)


@PROMPT_TEMPLATES.register("plain")
def _plain_template(tokenizer, question: str, tests: Sequence[str], num_prompt_tests: int) -> str:
    """Question (and optionally its first tests) then a newline: for tiny CPU models."""
    shown = list(tests)[:num_prompt_tests]
    return "\n".join([question.strip(), *shown]) + "\n"


def render_prompt(template: str, tokenizer, question: str, tests: Sequence[str] = (), num_prompt_tests: int = 0) -> str:
    return PROMPT_TEMPLATES[template](tokenizer, question, tests, num_prompt_tests)


# --------------------------------------------------------------------------------------------
# Code extraction

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*$", re.MULTILINE)
_PYTHON_TAGS = {"", "python", "python3", "py", "py3", "pycon", "ipython"}
_HARNESS = re.compile(
    r"(assert\b"
    r"|if\s+__name__\s*=="
    r"|def\s+(?:test|test_\w*|check)\s*\("
    r"|class\s+Test\w*\s*[(:]"
    r"|(?:unittest|pytest|doctest)\.\w+\s*\("
    r"|(?:import|from)\s+(?:unittest|pytest|doctest)\b"
    r"|check\s*\("
    r"|#\s*(?:test|tests|test cases|testing|example usage|example|usage|sample usage|driver code)\b"
    r")",
    re.IGNORECASE,
)
_DEFINITION = re.compile(r"(?:async\s+)?(?:def|class)\s")


def _code_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language tag, body, closed) for each fenced block; an unclosed last block runs to the end."""
    blocks = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if not opening:
            break
        fence, tag = opening.group(1), opening.group(2).lower()
        start = opening.end() + 1
        closing = None
        for m in _FENCE.finditer(text, start):
            if m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2):
                closing = m
                break
        if closing is None:
            blocks.append((tag, text[start:], False))
            break
        blocks.append((tag, text[start:closing.start()], True))
        pos = closing.end()
    return blocks


def _lines_inside_strings(code: str) -> set[int]:
    """0-based line numbers that continue a multi-line string (their column 0 is not code)."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0]))  # 1-based start+1 .. end
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # truncated or broken code: fall back to treating every line as code
    return inside


def cut_test_harness(code: str) -> str:
    """Drop everything from the first top-level test/demo line that follows a definition.

    Top-level means column 0 and not inside a multi-line string. Lines before the first
    top-level def/class are kept even when they look like harness (e.g. `import unittest`),
    unless the program defines nothing at all.
    """
    lines = code.split("\n")
    in_string = _lines_inside_strings(code)
    seen_definition = not any(_DEFINITION.match(l) for l in lines)
    for i, line in enumerate(lines):
        if i in in_string or not line or line[0] in " \t":
            continue
        if seen_definition and _HARNESS.match(line):
            return "\n".join(lines[:i]).rstrip() + "\n"
        if _DEFINITION.match(line) or line.startswith("@"):
            seen_definition = True
    return code.rstrip() + "\n" if code.strip() else ""


def _pick_block(blocks: list[tuple[str, str, bool]]) -> str | None:
    python = [b for b in blocks if b[0] in _PYTHON_TAGS and b[1].strip()]
    if not python:
        return None
    with_defs = [b for b in python if re.search(r"^\s*(?:async\s+)?(?:def|class)\s", b[1], re.M)]
    return (with_defs or python)[0][1]


_CODE_START = re.compile(r"^(?:(?:async\s+)?def\s|class\s|import\s|from\s+\S+\s+import\s|@)", re.M)


def extract_code(completion: str) -> str:
    """The program in a model reply, ready to run against tests.

    Picks the first python (or untagged) fenced block that defines a function or class, else the
    first non-empty one; an unclosed block (truncated generation) runs to the end. Without any
    fence, takes the text from the first line that starts like code. Then cuts at the first
    top-level `assert`, `if __name__ ==`, test function/class, unittest/pytest call or
    "# Test"/"# Example usage" comment after a definition. Returns "" when nothing looks like code.
    """
    if not isinstance(completion, str):
        raise TypeError(f"extract_code: completion must be a str, got {type(completion).__name__}")
    text = completion.replace("\r\n", "\n").replace("\r", "\n")
    _, answer = parse_r1_response(text) if "<answer>" in text else (None, None)
    if answer is not None:
        text = answer
    blocks = _code_blocks(text)
    code = _pick_block(blocks) if blocks else None
    if code is None:
        if any(b[1].strip() for b in blocks):
            return ""  # only non-python blocks (e.g. ```bash)
        start = _CODE_START.search(text)
        if start is None:
            return ""
        code = text[start.start():]
    # Dedent blocks nested in markdown lists.
    return cut_test_harness(textwrap.dedent(code))
