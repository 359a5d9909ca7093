"""LLM judge for RadRScore: the five JSON calls of SPEC_REASONER §3.1 through `radkit.llm.LLMClient`.

Calls per sample: extract key findings of the mined chain, extract key findings of the
model output, recall (GT findings recalled), precision (model findings consistent with
the report, closed world) and effectiveness (model steps supported by the chain).
Prompts are radkit's own wording of the released protocol. Any call that still fails
after the client's retries makes the sample unjudged (``None``), which the scorer
counts as dropped.
"""

from __future__ import annotations

import json
from typing import Any

from radkit.reasoning.labels import Observation
from radkit.reasoning.prompts import chain_steps
from radkit.reasoning.radrscore import JudgeResult

SYSTEM = {"role": "system", "content": "You are a medical AI assistant. Reply with one JSON object only."}

EXTRACT = """Reasoning text:
{text}

List every key medical observation in the text (for example the size of the cardiac silhouette or a
pleural effusion) with its status as the text states it (for example "present", "not present",
"unlikely", "enlarged"). Stay faithful to the text; do not infer beyond it.
Return {{"key_conclusion": [{{"observation": "...", "status": "..."}}]}}."""

RECALL = """Ground-truth observations: {gt}
Model observations: {pred}

Count the ground-truth observations whose meaning is present among the model observations
(semantic equivalence, not exact wording).
Return {{"recalled_findings": [{{"observation": "...", "status": "..."}}], "recalled_count": <int>}}."""

PRECISION = """Chest X-ray report: {report}
Model observations: {pred}

Judge each model observation against the report.
Correct: it agrees with the report or does not contradict it; or the report does not mention it and
the observation calls it normal (an unmentioned finding means normal); general statements are correct
unless they misstate the report.
Incorrect: it contradicts the report; or the report does not mention it and the observation calls it
abnormal.
Return {{"correct_steps": ["..."], "correct_count": <int>}}."""

EFFECTIVENESS = """Ground-truth reasoning steps: {chain}
Model prediction: {pred}

Split the model prediction into its distinct reasoning steps. Label each step supported,
contradicted or unsupported by the ground-truth steps.
Return {{"effective_steps": ["..."], "effective_count": <int>, "ineffective_count": <int>}}."""


def _int_keys(*keys: str):
    def check(obj: dict) -> bool:
        return all(isinstance(obj.get(k), int) and obj[k] >= 0 for k in keys)
    return check


def _list_key(obj: dict) -> bool:
    return isinstance(obj.get("key_conclusion"), list)


class LLMJudge:
    """RadRScore judge backed by an OpenAI-compatible chat server (e.g. a local vLLM)."""

    def __init__(self, client: Any):
        self.client = client
        self.failures = 0

    @classmethod
    def from_server(cls, base_url: str, model: str, cache_dir: str | None = None, max_retries: int = 1) -> "LLMJudge":
        """Build with a `radkit.llm.LLMClient` (``max_retries=1``: each call tried twice, as the release)."""
        from radkit.llm import LLMClient

        return cls(LLMClient(base_url, model, cache_dir=cache_dir, max_retries=max_retries))

    def _ask(self, prompt: str, check) -> dict:
        return self.client.chat_json([SYSTEM, {"role": "user", "content": prompt}], check)

    def judge(self, pred: str, chain: Any, report: str, reference: list[Observation] | None = None,
              record: dict | None = None) -> JudgeResult | None:
        """Five calls for one sample; None when any call fails (the sample is dropped)."""
        steps = chain_steps(chain)
        try:
            gt = self._ask(EXTRACT.format(text=json.dumps(steps)), _list_key)["key_conclusion"]
            pm = self._ask(EXTRACT.format(text=pred), _list_key)["key_conclusion"]
            rec = self._ask(RECALL.format(gt=json.dumps(gt), pred=json.dumps(pm)), _int_keys("recalled_count"))
            prec = self._ask(PRECISION.format(report=report, pred=json.dumps(pm)), _int_keys("correct_count"))
            eff = self._ask(EFFECTIVENESS.format(chain=json.dumps(steps), pred=pred),
                            _int_keys("effective_count", "ineffective_count"))
        except Exception:  # LLMError / network: an unjudged sample, counted by the caller
            self.failures += 1
            return None
        # Counts above their denominators would push a component over 1: clamp.
        return JudgeResult(len(gt), min(rec["recalled_count"], len(gt)), len(pm),
                           min(prec["correct_count"], len(pm)), eff["effective_count"], eff["ineffective_count"])
