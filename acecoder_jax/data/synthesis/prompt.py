"""The synthesis prompt: our own wording of the paper's requirements.

The model gets a seed (instruction + program) and must return JSON {"question": ..., "tests": [...]}:
a LeetCode-style problem solvable by one function, needing no external resources (files, network,
packages beyond the standard library), asking nothing about complexity, plus about 20 independent
`assert` statements that call the function on constant arguments.
"""
from __future__ import annotations

SYSTEM = (
    "You turn code snippets into self-contained programming exercises with unit tests. "
    "You answer with a single JSON object and nothing else."
)

TEMPLATE = """Below is a programming request and a program that was written for it.

Write a new coding problem in the style of LeetCode that is inspired by them:
- It must be solvable by implementing exactly one Python function (or one method of a class named
  `Solution`); state the function's name and parameters in the problem text.
- It must not need files, network access, user input, randomness, or packages outside the Python
  standard library.
- Do not ask about time or space complexity; ask only for the function.

Then write about {num_tests} test cases for that function. Every test case is one line of Python: an
`assert` statement that calls the function with constant (literal) arguments and compares the result
with the expected constant value. Tests must not depend on each other, on shared variables, or on
helper code; cover ordinary inputs and edge cases.

Reply with JSON only, in exactly this shape:
{{"question": "<the problem statement>", "tests": ["assert ...", "assert ..."]}}

Programming request:
{instruction}

Program:
```python
{program}
```"""


def synthesis_messages(instruction: str, program: str, num_tests: int = 20) -> list[dict]:
    """Chat messages asking for a question + tests for one seed."""
    if not isinstance(program, str) or not program.strip():
        raise ValueError("synthesis prompt needs a non-empty program")
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": TEMPLATE.format(num_tests=num_tests, instruction=(instruction or "").strip(),
                                                    program=program.rstrip())},
    ]
