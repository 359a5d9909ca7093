"""Prompt strings shared by VQA building, SFT, GRPO and inference (SPEC_REASONER §2.3, §4.2).

The suffix and the option layout must match the release byte for byte so the
released ChestX-Reasoner weights behave as trained.
"""

from __future__ import annotations

import re

# Exact string of §2.3 (needed to use the released weights).
THINK_SUFFIX = ("Let's think step by step. Enclose the reasoning within <think></think> "
                "and the answer within <answer></answer>.")
SYSTEM_PROMPT = "You are a helpful assistant."  # Qwen2-VL default; the release trains with it (§4.2)

BINARY_Q = "Does this {modality} show {finding}?"
SINGLE_Q = "Which finding is in this {modality}?"
MULTI_Q = "Which findings are in this {modality}?"
TEMPORAL_Q = ("You are given two images: one reference image and one new image. "
              "Please identify the progression of {finding}.")
MODALITY_WORDS = {"cxr": "chest X-ray", "ct": "chest CT"}
LETTERS = "ABCDEFGH"


def format_options(options: list[str]) -> str:
    """Options appended to a question: `` Options:\\nA) x\\nB) y`` (§2.3)."""
    return " Options:\n" + "\n".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(options))


def user_text(question: str) -> str:
    """The text part of the user turn: question, newline, think/answer instruction (§4.2)."""
    return f"{question}\n{THINK_SUFFIX}"


def target_text(chain: str | None, answer: str) -> str:
    """The assistant target ``<think> chain </think><answer> X </answer>`` (§4.2).

    A None/empty chain gives an answer-only target (non-reasoning samples).
    """
    answer = strip_answer_tags(answer)
    if not chain:
        return f"<answer> {answer} </answer>"
    return f"<think> {chain} </think><answer> {answer} </answer>"


def strip_answer_tags(answer: str) -> str:
    """``"<answer> B </answer>"`` -> ``"B"``; other text is stripped and returned as is."""
    m = re.search(r"<answer>(.*?)</answer>", answer, re.S)
    return (m.group(1) if m else answer).strip()


def chain_text(reason_steps) -> str:
    """Serialise a mined chain (string, list of steps, or {"reason_steps": ...}) as one paragraph."""
    return " ".join(chain_steps(reason_steps))


def chain_steps(reason_steps) -> list[str]:
    """A mined chain as a list of non-empty steps, whatever its released shape (§2.6)."""
    if reason_steps is None:
        return []
    if isinstance(reason_steps, dict):
        inner = reason_steps.get("reason_steps", reason_steps.get("reason_step"))
        if inner is None:  # {finding: step} map (multi-task evidence)
            inner = [v for v in reason_steps.values() if isinstance(v, (str, list))]
        return chain_steps(inner)
    if isinstance(reason_steps, str):
        return [reason_steps.strip()] if reason_steps.strip() else []
    out: list[str] = []
    for s in reason_steps:
        out.extend(chain_steps(s))
    return out
