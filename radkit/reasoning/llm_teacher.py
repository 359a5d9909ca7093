"""LLM teacher for chain mining: plan -> evidence -> refine (SPEC_REASONER §2.4) as JSON calls.

Non-temporal items take three calls; temporal items take two (reasoning from the prior
and current reports, then refine). The report is shown as "Observed image features", never
called a report, so the chain reads as image observation. Replies are validated
(`radkit.llm.LLMClient.chat_json` retries invalid JSON); a failure raises and
`radkit.reasoning.mining.mine_items` counts it.
"""

from __future__ import annotations

import json
from typing import Any

from radkit.reasoning.labels import Observation

SYSTEM_PLAN = "You write diagnostic plans for chest X-ray questions. Reply with one JSON object only."
SYSTEM_EVIDENCE = "You write detailed image analysis from a plan and observed image features. Reply with JSON only."
SYSTEM_REFINE = "You refine reasoning steps for medical-logic consistency. Reply with JSON only."

PLAN = """Observed image features and information:
{report}
Question: {question}
Options: {options}
Answer: {answer}

For every finding named in the question or options, write a plan: how the finding appears on imaging and
which observations would confirm or exclude it ("support devices" means catheters, tubes and similar).
Use image observation only, no other tests or clinical history. Begin with an analysis of the problem in
the style "the problem requires analysis of X, I should examine Y".{multi_rule}
Return {{"plan": {{"<finding>": "<plan>"}}}}."""

EVIDENCE = """Plan: {plan}
Observed image features and information:
{report}

Following the plan, write the analysis one finding per step, each step shaped "from the images we observe X
-> diagnosis of this finding". If the observed features do not mention an item, treat it as normal.
Return {{"reason_steps": ["..."]}}."""

TEMPORAL = """Observed features of the reference image:
{prior}
Observed features of the new image:
{current}
Question: {question}
Answer: {answer}

Write the reasoning of a radiologist comparing the two images, without citing any report. Begin with
"the problem requires comparison of {finding}, I should check ...". The answer must be visible in the images.
Return {{"reason_steps": ["..."]}}."""

REFINE = """Question: {question}
Plan: {plan}
Options: {options}
Draft steps: {steps}
Answer: {answer}

Refine the steps: remove any mention of "the report" or "the plan"; add transitions so the steps read as one
observation-and-judgement process; open with problem analysis and planning and end at the given answer.
{task_rule}
Return {{"reason_steps": ["..."]}}."""

_RULES = {
    "binary": "Delete steps that do not affect the answer.",
    "single": "Delete steps that do not affect the answer.",
    "multi": 'Keep every per-finding analysis and end with "In conclusion, the final answer is ...".',
    "anomaly": 'Keep every per-finding analysis and end with "In conclusion, the final answer is ...".',
    "temporal": "Do not name the exact location at the start; localise only after observation.",
}


def _steps_ok(obj: dict) -> bool:
    s = obj.get("reason_steps")
    return isinstance(s, list) and bool(s) and all(isinstance(x, str) and x.strip() for x in s)


def _plan_ok(obj: dict) -> bool:
    return isinstance(obj.get("plan"), dict) and bool(obj["plan"])


class LLMTeacher:
    """Chain miner backed by an OpenAI-compatible chat server."""

    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def from_server(cls, base_url: str, model: str, cache_dir: str | None = None, max_retries: int = 3) -> "LLMTeacher":
        """Build with a `radkit.llm.LLMClient` (on-disk cache when ``cache_dir`` is set)."""
        from radkit.llm import LLMClient

        return cls(LLMClient(base_url, model, cache_dir=cache_dir, max_retries=max_retries))

    def _ask(self, system: str, prompt: str, check) -> dict:
        return self.client.chat_json([{"role": "system", "content": system}, {"role": "user", "content": prompt}], check)

    def mine(self, item: dict, observations: list[Observation], prior: list[Observation] | None = None,
             prior_report: str = "") -> dict:
        """Three calls (temporal: two); returns {"plan", "original_reason_steps", "reason_steps"}."""
        task = item["task"]
        question = item["question"]
        options = json.dumps(item.get("options") or item.get("candidates") or [])
        answer = item["answer_content"] if item.get("variant") != "option" else f"{item['answer']}) {item['answer_content']}"
        report = item.get("original_report", "")
        if task == "temporal":
            plan: dict = {}
            draft = self._ask(SYSTEM_EVIDENCE, TEMPORAL.format(prior=prior_report, current=report, question=question,
                                                               answer=answer, finding=item.get("label")),
                              _steps_ok)["reason_steps"]
        else:
            multi_rule = ("\nAn option is correct only if all of its findings hold." if task in ("multi", "anomaly")
                          else "")
            plan = self._ask(SYSTEM_PLAN, PLAN.format(report=report, question=question, options=options,
                                                      answer=answer, multi_rule=multi_rule), _plan_ok)["plan"]
            draft = self._ask(SYSTEM_EVIDENCE, EVIDENCE.format(plan=json.dumps(plan), report=report),
                              _steps_ok)["reason_steps"]
        refined = self._ask(SYSTEM_REFINE, REFINE.format(question=question, plan=json.dumps(plan), options=options,
                                                         steps=json.dumps(draft), answer=answer,
                                                         task_rule=_RULES[task]), _steps_ok)["reason_steps"]
        # Release shapes (§2.6): binary one paragraph, temporal wrapped in a dict.
        steps: Any = " ".join(refined) if task == "binary" else refined
        if task == "temporal":
            steps = {"reason_steps": refined}
        return {"plan": plan, "original_reason_steps": draft, "reason_steps": steps}
