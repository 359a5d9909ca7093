"""Outcome metrics (SPEC_REASONER §3.3): answer extraction, letter accuracy, set-F1 for the open task.

Model outputs are parsed strictly: the answer is the content of exactly one
``<answer>...</answer>``; a missing or repeated tag makes the output malformed, and a
malformed output is wrong (never silently dropped, so averages are not skewed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from radkit.reasoning.extract import extract
from radkit.reasoning.labels import LABEL_MAP, LABELS

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
FORMAT_RE = re.compile(r"^\s*<think>.+?</think>\s*<answer>.+?</answer>\s*$", re.S)


# Problems that leave no single usable answer: such an output scores 0 (it is wrong, never skipped).
ANSWER_PROBLEMS = frozenset({"no answer tag", "multiple answers", "empty answer"})


@dataclass(frozen=True)
class Parsed:
    """A parsed model output: ``answer``/``think`` (None when absent) and ``problem`` ("" when well formed)."""

    answer: str | None
    think: str | None
    problem: str

    @property
    def usable_answer(self) -> str | None:
        """The answer when there is exactly one non-empty ``<answer>``, else None (scored as wrong)."""
        return None if self.problem in ANSWER_PROBLEMS else self.answer


def assistant_turn(text: str) -> str:
    """The model's own output ``y`` (SPEC §3.1): text after the last "assistant" chat marker
    when the release saved the whole transcript (system + user prompt + reply), else ``text``."""
    text = text or ""
    tail = text.split("assistant")[-1]
    return tail if ("<answer>" in tail or "<think>" in tail) else text


def parse_output(text: str) -> Parsed:
    """Split an output into think and answer; ``problem`` names what is malformed.

    Problems: "no answer tag", "multiple answers", "no think tag", "empty think", "empty answer".
    Text before an "assistant" chat marker is dropped, as in the release.
    """
    text = assistant_turn(text)
    answers = _ANSWER.findall(text)
    thinks = _THINK.findall(text)
    think = thinks[0].strip() if thinks else None
    if not answers:
        return Parsed(None, think, "no answer tag")
    answer = " ".join(answers[0].split())
    if len(answers) > 1:
        return Parsed(answer, think, "multiple answers")
    if not answer:
        return Parsed(answer, think, "empty answer")
    if think is None:
        return Parsed(answer, None, "no think tag")
    if not think:
        return Parsed(answer, think, "empty think")
    return Parsed(answer, think, "")


def normalise_letter(s: str) -> str:
    """Answer normalisation of §4.5: strip, drop ")" and ".", upper-case."""
    return s.strip().replace(")", "").replace(".", "").strip().upper()


def _norm_text(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", s.lower()).split())


def answer_labels(text: str) -> set[str]:
    """Benchmark labels named (as present) in a free-text answer, e.g. "effusion, cardiomegaly"."""
    out = set()
    for kf in extract(text.replace(",", ".").replace(" and ", ". "), skip_intent=False):
        if kf.status == "absent":
            continue
        # A finding counts as its primary label (LABEL_MAP's first), a label key as itself.
        label = kf.key if kf.key in LABELS else (LABEL_MAP.get(kf.key) or ("",))[0]
        if label:
            out.add(label)
    return out


def set_f1(pred: set[str], gold: set[str]) -> float:
    """F1 between two label sets; 1.0 when both are empty, 0.0 when exactly one is."""
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    if tp == 0:
        return 0.0
    p, r = tp / len(pred), tp / len(gold)
    return 2 * p * r / (p + r)


def outcome_score(answer: str | None, item: dict) -> float:
    """Score in [0, 1] of an extracted answer against a VQA item's gold answer.

    Option items: exact letter. No-option binary: yes/no. Anomaly (open) items: set-F1 of
    labels. Other no-option items: normalised text equality. A None answer scores 0.
    """
    if answer is None:
        return 0.0
    gold = _gold(item)
    task = item.get("task", "")
    if task == "anomaly":
        return set_f1(answer_labels(answer), set(answer_labels(gold)) | set(item.get("positives") or []))
    if item.get("variant", "option") == "option" and len(gold) == 1 and gold.isalpha():
        return float(normalise_letter(answer) == gold.upper())
    a, g = _norm_text(answer), _norm_text(gold)
    if g in ("yes", "no"):
        return float(a.split(" ")[:1] == [g])
    return float(a == g)


def _gold(item: dict) -> str:
    ans = str(item.get("answer", ""))
    m = _ANSWER.search(ans)
    return (m.group(1) if m else ans).strip()
