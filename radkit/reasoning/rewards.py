"""GRPO rewards (SPEC_REASONER §4.5, our reconstruction): format, outcome, process.

Each reward is a callable with TRL's reward-function signature
``f(prompts, completions, **columns) -> list[float]`` where ``columns`` are the
dataset's columns repeated per completion. All rewards are in [0, 1]; TRL sums them
with ``reward_weights`` (default 1, 1, 1).

- `FormatReward`: 1 if the whole output is one ``<think>...</think><answer>...</answer>``.
- `OutcomeReward`: exact letter (option), yes/no or text (no-option), set-F1 (anomaly).
- `ProcessReward`: factuality R_f of the ``<think>`` text against the study's reference
  (ground-truth observations when the record has them, else the report text), closed
  world; optionally averaged with completeness R_c against the mined chain. Samples
  without a chain score 0. Uses the offline judge unless another judge is given.
"""

from __future__ import annotations

import json
from typing import Any

from radkit.reasoning.outcome import FORMAT_RE, outcome_score, parse_output
from radkit.reasoning.radrscore import Judge, OfflineJudge, reference_of


def completion_text(c: Any) -> str:
    """Text of a TRL completion: a string, or conversational ``[{"role", "content"}]``."""
    if isinstance(c, str):
        return c
    parts = []
    for m in c:
        content = m.get("content", "")
        if isinstance(content, list):
            content = "".join(x.get("text", "") for x in content if isinstance(x, dict))
        parts.append(str(content))
    return "".join(parts)


def _col(kwargs: dict, key: str, i: int, default=None):
    vals = kwargs.get(key)
    return default if vals is None else vals[i]


def _json(v, default):
    if v is None or v == "":
        return default
    return json.loads(v) if isinstance(v, str) else v


class FormatReward:
    """1.0 when the output matches ``^\\s*<think>.+?</think>\\s*<answer>.+?</answer>\\s*$`` with one pair."""

    __name__ = "format"

    def __call__(self, prompts=None, completions=(), **kwargs) -> list[float]:
        out = []
        for c in completions:
            t = completion_text(c)
            ok = FORMAT_RE.match(t) and t.count("<answer>") == 1 and t.count("<think>") == 1
            # A whitespace-only think or answer matches the regex but is not the format.
            out.append(1.0 if ok and parse_output(t).problem == "" else 0.0)
        return out


class OutcomeReward:
    """Answer correctness in [0, 1] against the dataset columns ``answer``, ``task``, ``variant``, ``positives``."""

    __name__ = "outcome"

    def __call__(self, prompts=None, completions=(), **kwargs) -> list[float]:
        out = []
        for i, c in enumerate(completions):
            item = {"answer": _col(kwargs, "answer", i, ""), "task": _col(kwargs, "task", i, ""),
                    "variant": _col(kwargs, "variant", i, "option"),
                    "positives": _json(_col(kwargs, "positives", i), [])}
            out.append(outcome_score(parse_output(completion_text(c)).usable_answer, item))
        return out


class ProcessReward:
    """Factuality of the reasoning (``<think>``) against the report, optionally with completeness.

    Args:
        judge: RadRScore judge (offline by default; an `LLMJudge` for a served model).
        completeness_weight: weight of R_c (vs. the mined chain) in ``(1 - w) * R_f + w * R_c``.
    """

    __name__ = "process"

    def __init__(self, judge: Judge | None = None, completeness_weight: float = 0.0):
        if not 0.0 <= completeness_weight <= 1.0:
            raise ValueError(f"completeness_weight={completeness_weight} must be in [0, 1]")
        self.judge = judge or OfflineJudge()
        self.w = completeness_weight
        self.failures = 0  # judge errors (timeouts, invalid JSON): reward 0 for that completion, counted
        self.errors: list[str] = []

    def __call__(self, prompts=None, completions=(), **kwargs) -> list[float]:
        out = []
        for i, c in enumerate(completions):
            chain = _col(kwargs, "process", i)
            think = parse_output(completion_text(c)).think
            if not chain or not think:
                out.append(0.0)
                continue
            ref = reference_of({"gt_findings": _json(_col(kwargs, "gt_findings", i), [])})
            try:
                res = self.judge.judge(think, chain, _col(kwargs, "original_report", i, "") or "", ref,
                                       {"modality": _col(kwargs, "modality", i, "cxr")})
            except Exception as e:  # a judge bug or timeout must not stop a GRPO run
                res = None
                if len(self.errors) < 10:
                    self.errors.append(f"{type(e).__name__}: {e}")
            if res is None:  # judge failure: no signal rather than a wrong one
                self.failures += 1
                out.append(0.0)
                continue
            rc, rf, _ = res.components()
            out.append((1 - self.w) * rf + self.w * rc)
        return out


def make_rewards(names: list[str], judge: Judge | None = None, completeness_weight: float = 0.0) -> list:
    """Reward callables by name ("format", "outcome", "process").

    Raises:
        ValueError: unknown name.
    """
    table = {"format": FormatReward, "outcome": OutcomeReward,
             "process": lambda: ProcessReward(judge, completeness_weight)}
    bad = [n for n in names if n not in table]
    if bad:
        raise ValueError(f"unknown reward(s) {bad}; valid: {', '.join(table)}")
    return [table[n]() for n in names]
