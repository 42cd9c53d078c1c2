"""Prompt formats and code extraction on clean and messy model replies."""
import ast

import pytest

from acecoder_jax import prompts as P

Q = "Write a function add(a, b) that returns the sum of two integers."
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(0, 0) == 0"]


def test_policy_prompt_holds_question_and_first_tests_in_a_docstring():
    text = P.policy_prompt(Q, TESTS, num_tests=1)
    assert "```python" in text and "markdown block" in text
    doc = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert ast.literal_eval(doc) == "\n" + Q + "\n" + TESTS[0] + "\n"
    assert TESTS[1] not in text
    two = P.policy_prompt(Q, TESTS, num_tests=2)
    assert TESTS[1] in two and TESTS[2] not in two
    # Triple quotes in the question cannot break out of the docstring.
    doc = P.problem_docstring('say """hi"""', [], 0)
    assert ast.literal_eval(doc) == "\nsay '''hi'''\n"
    assert P.policy_messages(Q, TESTS) == [{"role": "user", "content": P.policy_prompt(Q, TESTS)}]


def test_prompt_input_errors():
    with pytest.raises(ValueError, match="question must be a non-empty str"):
        P.policy_prompt("  ", TESTS)
    with pytest.raises(TypeError, match="list of assert strings"):
        P.policy_prompt(Q, "assert add(1, 2) == 3")
    with pytest.raises(ValueError, match=r"tests\[1\]"):
        P.policy_prompt(Q, ["assert 1", ""])
    with pytest.raises(ValueError, match="num_tests"):
        P.policy_prompt(Q, TESTS, num_tests=-1)


def test_r1_prompt_and_parsing():
    prompt = P.r1_prompt(Q, TESTS)
    assert prompt.endswith("Assistant: <think>") and Q in prompt and TESTS[0] in prompt
    good = " add ints </think>\n<answer>\n```python\ndef add(a, b):\n    return a + b\n```\n</answer>"
    thinking, answer = P.parse_r1_response(good)
    assert thinking == "add ints" and answer.startswith("```python")
    assert P.r1_format_ok(good)
    assert not P.r1_format_ok("no tags at all")
    assert not P.r1_format_ok("x</think><answer>a</answer><answer>b</answer>")
    assert not P.r1_format_ok("x</think><answer>a</answer> trailing")
    assert not P.r1_format_ok("x</think><answer>unclosed")
    assert P.parse_r1_response("x</think><answer>unclosed") == ("x", "unclosed")
    assert P.parse_r1_response("nothing") == (None, None)
    assert P.extract_code(good) == "def add(a, b):\n    return a + b\n"


def test_reward_model_input_is_a_user_assistant_chat():
    from acecoder_jax.tokenization import FALLBACK_CHAT_TEMPLATE

    assert P.reward_model_messages(Q, "code") == [
        {"role": "user", "content": Q}, {"role": "assistant", "content": "code"}]

    class NoTemplate:  # the fallback path must not need a real tokenizer's template
        chat_template = None

        def apply_chat_template(self, messages, chat_template, tokenize, add_generation_prompt):
            import jinja2

            assert chat_template == FALLBACK_CHAT_TEMPLATE and not tokenize
            return jinja2.Template(chat_template).render(
                messages=messages, add_generation_prompt=add_generation_prompt)

    text = P.reward_model_text(NoTemplate(), Q, "def add(a, b): return a + b")
    assert text == (f"<|im_start|>user\n{Q}<|im_end|>\n"
                    "<|im_start|>assistant\ndef add(a, b): return a + b<|im_end|>\n")
    assert P.policy_text(NoTemplate(), Q, TESTS).endswith("<|im_start|>assistant\n")
    with pytest.raises(TypeError, match="response must be a str"):
        P.reward_model_messages(Q, None)


SOLUTION = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize("reply", [
    f"Here you go:\n```python\n{SOLUTION}```\nThis adds numbers.",
    f"```python\n{SOLUTION}\nassert add(1, 2) == 3\nassert add(2, 2) == 4\n```",
    f"```py\n{SOLUTION}\nif __name__ == '__main__':\n    print(add(1, 2))\n```",
    f"```\n{SOLUTION}\n# Test cases\nprint(add(1, 2))\n```",
    f"```python\n{SOLUTION}\n# Example usage:\nresult = add(1, 2)\n```",
    f"```python\n{SOLUTION}\ndef test_add():\n    assert add(1, 2) == 3\n```",
    f"```python\n{SOLUTION}\nimport unittest\nclass TestAdd(unittest.TestCase):\n    pass\n```"[:-4],
    f"```python\n{SOLUTION}\ndef check(candidate):\n    assert candidate(1, 2) == 3\n\ncheck(add)\n```",
    f"```python\n{SOLUTION}",  # truncated generation: no closing fence
    f"Explanation first.\n\n```bash\npip install nothing\n```\n```python\n{SOLUTION}```",
    "1. Solution:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n",  # indented in a list
    f"{SOLUTION}\nassert add(1, 2) == 3\n",  # no fence at all
    f"Sure! The function:\n{SOLUTION}",  # prose then bare code
    f"```python\r\n{SOLUTION}```".replace("\n", "\r\n"),  # CRLF
    f"```python\n{SOLUTION}```\n\nTests:\n```python\nassert add(1, 2) == 3\n```",
    f"```python\nprint('demo')\n```\n```python\n{SOLUTION}```",  # prefer the block that defines
])
def test_extract_code_recovers_the_solution(reply):
    code = P.extract_code(reply)
    assert code.replace("\n\n", "\n").strip() == SOLUTION.strip(), code
    ast.parse(code)


def test_extract_code_keeps_asserts_and_markers_that_are_not_top_level():
    code = (
        "import unittest\n"  # before any definition: kept
        "def f(x):\n"
        "    assert x > 0\n"
        "    doc = '''\n"
        "assert this is inside a string\n"
        "if __name__ == '__main__':\n"
        "'''\n"
        "    return doc\n"
        "\n"
        "@staticmethod\n"
        "def g():\n"
        "    return 1\n"
        "assert f(1)\n"
        "def h():\n"
        "    return 2\n"
    )
    got = P.extract_code(f"```python\n{code}```")
    assert got == code.split("assert f(1)")[0].rstrip() + "\n"
    assert "def h" not in got


def test_extract_code_on_messy_or_empty_replies():
    assert P.extract_code("") == ""
    assert P.extract_code("I cannot help with that.") == ""
    assert P.extract_code("```bash\nls\n```") == ""
    assert P.extract_code("```python\n```") == ""
    # Script without definitions: harness markers apply everywhere.
    assert P.extract_code("```python\nx = int('3')\nprint(x)\nassert x == 3\n```") == \
        "x = int('3')\nprint(x)\n"
    # Tilde fences and longer fences with a nested ``` line inside.
    assert P.extract_code(f"~~~python\n{SOLUTION}~~~") == SOLUTION
    nested = "````python\ndef md():\n    return '''\n```\n'''\n````"
    assert P.extract_code(nested) == "def md():\n    return '''\n```\n'''\n"
    # Broken code is returned as is (the executor reports the syntax error).
    assert P.extract_code("```python\ndef broken(:\n    pass\n```") == "def broken(:\n    pass\n"
    with pytest.raises(TypeError, match="completion must be a str"):
        P.extract_code(None)
