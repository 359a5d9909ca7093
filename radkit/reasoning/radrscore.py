"""RadRScore (SPEC_REASONER §3.1): completeness R_c, factuality R_f, effectiveness R_e.

Per sample, with ``y`` the model output, ``C`` the mined chain and ``T`` the report:

- ``R_c = |{o in E(C) recalled by E(y)}| / |E(C)|``
- ``R_f = |{o in E(y) consistent with T}| / |E(y)|`` (closed world: unmentioned means normal)
- ``R_e = n_supported / (n_supported + n_other)`` over the steps of ``y`` judged against ``C``

A component whose denominator is 0 contributes 0 and the sample still counts; a
sample whose judge output cannot be parsed is dropped from all components (counted in
``dropped``). Task scores are means over judged samples; RadRScore is the mean of the
three components (our reconstruction; the release never combines them).

Judges: `OfflineJudge` (lexicon extractor + closed-world rules, default, no network),
`RecordedJudge` (reads the release's recorded GPT-4o outputs), and
`radkit.reasoning.llm_judge.LLMJudge` (the five calls through an OpenAI-compatible server).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from radkit.reasoning.extract import (
    KeyFinding, change_conflict, changes_from_findings, changes_from_observations, changes_from_report, consistent,
    current_part, extract, reference_from_observations, reference_from_report, sides_from_findings,
    sides_from_observations, sides_from_report, support,
)
from radkit.reasoning.labels import Observation
from radkit.reasoning.outcome import assistant_turn
from radkit.reasoning.prompts import chain_steps, chain_text

_STOP = frozenset("the a an of and or to in on is are was were be this that with for from as by it its at "
                  "there which these those i we should will can into than then so".split())


@dataclass(frozen=True)
class JudgeResult:
    """Counts behind the three components of one sample."""

    gt_findings: int
    recalled: int
    pred_findings: int
    correct: int
    effective: int
    ineffective: int

    def components(self) -> tuple[float, float, float]:
        """(R_c, R_f, R_e), each 0.0 when its denominator is 0 (§3.1)."""
        rc = self.recalled / self.gt_findings if self.gt_findings else 0.0
        rf = self.correct / self.pred_findings if self.pred_findings else 0.0
        steps = self.effective + self.ineffective
        re_ = self.effective / steps if steps else 0.0
        return rc, rf, re_


class Judge(Protocol):
    """Anything that turns (output, chain, report) into a `JudgeResult`, or None when it fails."""

    def judge(self, pred: str, chain: Any, report: str, reference: list[Observation] | None = None,
              record: dict | None = None) -> JudgeResult | None: ...


def _words(s: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", s.lower()) if len(w) > 2 and w not in _STOP}


def split_steps(text: str) -> list[str]:
    """Reasoning steps of a model output: the sentences of its text, tags removed."""
    text = re.sub(r"</?(think|answer)>", " ", text or "")
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(_words(s)) > 0]


def recalled(gt: list[KeyFinding], pred: list[KeyFinding]) -> int:
    """GT findings also stated by the prediction with the same polarity (uncertain counts as positive)
    and no conflicting progression ("worsening" vs "stable")."""
    pol = {k.key: k.status != "absent" for k in pred}
    pch = changes_from_findings(pred)
    return sum(1 for k in gt if k.key in pol and pol[k.key] == (k.status != "absent")
               and not change_conflict(KeyFinding(k.key, k.status, pch.get(k.key, "")), {k.key: k.change}))


def is_temporal(record: dict | None) -> bool:
    """Whether a record asks for a progression (radkit ``task == "temporal"``, or the release's question
    "identify the progression of X")."""
    r = record or {}
    return r.get("task") == "temporal" or "progression of" in str(r.get("question") or "").lower()


def _read(text: str, temporal: bool) -> list[KeyFinding]:
    """Key findings of ``text``; progressions only on temporal records, where the model compares two
    images. On one image "increased opacity" describes density, not a change."""
    kfs = extract(text)
    return kfs if temporal else [KeyFinding(k.key, k.status, "", k.side) for k in kfs]


class OfflineJudge:
    """Deterministic judge: lexicon extraction, closed-world factuality, support by the chain's findings.

    Args:
        overlap: a step that names no finding is "supported" when this fraction of its
            content words occurs in one chain step (planning and conclusion sentences).
            0.45 was picked on the even records of the released ChestX-Reasoner MIMIC-binary
            judge outputs (R_e Pearson with GPT-4o 0.28 at 0.6 -> 0.42) and held on the odd
            ones (0.32 -> 0.41); benchmarks/RESULTS.md "reason score on the release".
    """

    def __init__(self, overlap: float = 0.45):
        self.overlap = overlap

    def judge(self, pred: str, chain: Any, report: str, reference: list[Observation] | None = None,
              record: dict | None = None) -> JudgeResult:
        """Judge one sample.

        The closed-world reference is ``reference`` (ground-truth observations) when given,
        else ``report`` read by the report structurer (`reference_from_report`; modality
        from ``record["modality"]``, default "cxr"). Key findings of the chain and the
        prediction are read with the lexicon `extract`, which skips planning clauses
        ("I should look for X"): the structurer reads those as positive findings. A release
        ``pred`` holding the whole chat transcript is cut to the assistant turn. A stated side
        that the report (chain) does not state makes a finding incorrect (contradicted); on
        temporal records a differing progression ("stable" vs "worsening") does too, and
        also makes a chain finding unrecalled.
        """
        pred = assistant_turn(pred)  # the release's pred holds the whole chat transcript
        steps_c = chain_steps(chain)
        temporal = is_temporal(record)
        gt = _read(" ".join(steps_c), temporal)
        pm = _read(pred, temporal)
        if reference:
            ref, changes = reference_from_observations(reference), changes_from_observations(reference)
            sides = sides_from_observations(reference)
        else:
            modality = str((record or {}).get("modality") or "cxr")
            ref = reference_from_report(report, modality)
            changes = changes_from_report(report, modality) if temporal else {}
            sides = sides_from_report(current_part(report), modality)
        chain_ref, chain_changes = {k.key: k.status for k in gt}, changes_from_findings(gt)
        chain_sides = sides_from_findings(gt)
        correct = sum(consistent(k, ref, changes, sides) for k in pm)
        eff = ineff = 0
        c_words = [_words(s) for s in steps_c]
        for step in split_steps(pred):
            kfs = _read(step, temporal)
            if kfs:
                labels = [support(k, chain_ref, chain_changes, chain_sides) for k in kfs]
                ok = all(lab == "supported" for lab in labels)
            else:
                w = _words(step)
                ok = bool(w) and any(len(w & cw) / len(w) >= self.overlap for cw in c_words)
            eff += ok
            ineff += not ok
        return JudgeResult(len(gt), recalled(gt, pm), len(pm), correct, eff, ineff)


class RecordedJudge:
    """Reads the judge outputs recorded in a released ``*_evaluation_res.json`` record (§3.1 fields).

    Returns None (sample dropped from all components, SPEC §3.1) when a field is missing or
    malformed, e.g. the release's ``"efficiency": {"reason_steps": "Error", ...}`` stubs.
    """

    FIELDS = ("gt_key_finding", "pred_key_finding", "recall_res", "precision_res", "efficiency")

    @classmethod
    def has_outputs(cls, record: dict) -> bool:
        """Whether ``record`` carries any recorded judge field (``accuracy_res`` files carry none)."""
        return any(f in record for f in cls.FIELDS)

    def judge(self, pred: str, chain: Any, report: str, reference: list[Observation] | None = None,
              record: dict | None = None) -> JudgeResult | None:
        """Counts from ``record``'s gt_key_finding / pred_key_finding / recall_res / precision_res / efficiency."""
        r = record or {}
        try:
            gt = r["gt_key_finding"]["key_conclusion"]
            pk = r["pred_key_finding"]["key_conclusion"]
            return JudgeResult(len(gt), int(r["recall_res"]["recalled_count"]), len(pk),
                               int(r["precision_res"]["correct_count"]), int(r["efficiency"]["effective_count"]),
                               int(r["efficiency"]["ineffective_count"]))
        except (KeyError, TypeError, ValueError):
            return None


def reference_of(record: dict) -> list[Observation] | None:
    """Ground-truth observations stored on a radkit VQA record (``gt_findings``), else None."""
    rows = record.get("gt_findings")
    if not rows:
        return None
    return [Observation(r["finding"], r.get("status", "present"), r.get("anatomy", "")) for r in rows]


def make_judge(name: str, base_url: str | None = None, model: str | None = None,
               cache_dir: str | None = None) -> Judge:
    """``"offline"``, ``"recorded"`` or ``"llm"`` (needs ``base_url`` and ``model``).

    Raises:
        ValueError: unknown name, or "llm" without a server.
    """
    if name == "offline":
        return OfflineJudge()
    if name == "recorded":
        return RecordedJudge()
    if name == "llm":
        if not base_url or not model:
            raise ValueError("judge 'llm' needs --base-url URL and --model NAME of an OpenAI-compatible server "
                             "(e.g. a local vLLM); or use --judge offline")
        from radkit.reasoning.llm_judge import LLMJudge

        return LLMJudge.from_server(base_url, model, cache_dir=cache_dir)
    raise ValueError(f"unknown judge {name!r}; valid: offline, recorded, llm")


def judge_record(judge: Judge, record: dict) -> JudgeResult | None:
    """Run ``judge`` on one record (fields ``pred``, ``reason_steps``, ``original_report``)."""
    return judge.judge(str(record.get("pred", "")), record.get("reason_steps"), str(record.get("original_report") or ""),
                       reference_of(record), record)


def has_chain(record: dict) -> bool:
    """Whether a record can be RadRScored (it carries a mined chain)."""
    return bool(chain_text(record.get("reason_steps")))
