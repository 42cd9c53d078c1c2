"""Test-case synthesis: seed (instruction, program) -> LeetCode-style question + assert tests.

Backends implement `backend.Synthesizer`. LLM backends only implement `backend.ChatModel.generate`
(messages -> text) and are wrapped by `backend.LLMSynthesizer`, which owns the prompt and parser.
"""
