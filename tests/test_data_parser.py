"""Synthesis reply parser on messy model outputs."""
import json

import pytest

from acecoder_jax.data.synthesis.parser import SynthesisParseError, check_test, parse_synthesis

Q = "Write a function add_one(x) that returns x plus one."
TESTS = ["assert add_one(1) == 2", "assert add_one(-1) == 0", "assert add_one(41) == 42"]


def test_plain_json():
    got = parse_synthesis(json.dumps({"question": Q, "tests": TESTS}))
    assert got.question == Q and got.tests == TESTS and not got.repaired and got.invalid_tests == []


def test_fenced_with_prose_around():
    text = "Here you go!\n```json\n" + json.dumps({"question": Q, "tests": TESTS}) + "\n```\nLet me know if..."
    got = parse_synthesis(text)
    assert got.tests == TESTS and got.question == Q


def test_trailing_prose_without_fence():
    text = json.dumps({"question": Q, "tests": TESTS}) + "\n\nThese tests cover {edge} cases."
    assert parse_synthesis(text).tests == TESTS


def test_truncated_mid_list_keeps_complete_tests():
    full = json.dumps({"question": Q, "tests": TESTS})
    cut = full[: full.index(TESTS[2]) + 10]  # cut inside the third test string
    got = parse_synthesis(cut)
    assert got.repaired and got.tests == TESTS[:2] and got.question == Q


def test_truncated_inside_fence():
    full = "```json\n" + json.dumps({"question": Q, "tests": TESTS})
    got = parse_synthesis(full[:-5])
    assert got.tests == TESTS[:2]


def test_wrong_keys_are_mapped():
    got = parse_synthesis(json.dumps({"Problem": Q, "test_cases": TESTS}))
    assert got.question == Q and got.tests == TESTS
    got = parse_synthesis(json.dumps({"statement_text": Q, "checks": TESTS}))  # unknown keys, by shape
    assert got.question == Q and got.tests == TESTS


def test_python_literal_dict_and_tests_as_one_string():
    text = repr({"question": Q, "tests": "\n".join(TESTS) + "\nprint('done')"})
    got = parse_synthesis(text)
    assert got.tests == TESTS


def test_invalid_tests_reported_and_duplicates_dropped():
    tests = TESTS + [TESTS[0], "x = add_one(1)", "assert True", "assert add_one(1 == 2", "y = 1; assert add_one(1)"]
    got = parse_synthesis(json.dumps({"question": Q, "tests": tests}))
    assert got.tests == TESTS
    reasons = dict(got.invalid_tests)
    assert reasons["x = add_one(1)"] == "not a single assert statement"
    assert reasons["assert True"] == "assert calls no function"
    assert reasons["assert add_one(1 == 2"].startswith("syntax error")
    assert "y = 1; assert add_one(1)" in reasons


@pytest.mark.parametrize("text,reason", [
    ("", "empty_reply"),
    ("I cannot help with that.", "no_json"),
    (json.dumps({"tests": TESTS}), "no_question"),
    (json.dumps({"question": Q, "tests": ["print(1)"]}), "no_tests"),
    (json.dumps({"question": Q}), "no_tests"),
])
def test_unusable_replies_raise_with_reason(text, reason):
    with pytest.raises(SynthesisParseError) as e:
        parse_synthesis(text)
    assert e.value.reason == reason


def test_check_test():
    assert check_test("assert f(1) == 2") is None
    assert check_test("assert Solution().g([1, 2]) == [2]") is None
    assert check_test("assert (\n  f(1)\n  == 2)") is None
    assert check_test("f(1)") == "not a single assert statement"
