"""Reasoning-chain mining: plan -> evidence -> refine (SPEC_REASONER §2.4) behind a pluggable teacher.

- `OfflineTeacher` (default): writes the chain deterministically from the study's
  observations, following the same three stages and the closed-world rule
  ("unmentioned means normal"). No network.
- `radkit.reasoning.llm_teacher.LLMTeacher`: the three (temporal: two) JSON calls to an
  OpenAI-compatible server.

`mine_items` fills ``plan``, ``original_reason_steps``, ``reason_steps`` and ``process``
on VQA records; a teacher failure leaves the item without a chain and is counted,
never raised mid-run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Protocol

from tqdm import tqdm

from radkit.reasoning.labels import CHANGE_MAP, LABEL_MAP, Observation, observations_from_study
from radkit.reasoning.prompts import chain_text

# label -> (what to look for, what a normal image shows). Written to avoid naming the
# finding in the normal description, so the normal sentence asserts nothing positive.
SIGNS: dict[str, tuple[str, str]] = {
    "atelectasis": ("volume loss with linear or wedge-shaped opacity", "lung volumes are preserved without linear bands"),
    "cardiomegaly": ("a cardiothoracic ratio above 0.5", "the cardiac silhouette is normal in size"),
    "consolidation": ("dense airspace opacity with air bronchograms", "the lungs are clear"),
    "edema": ("vascular redistribution, interstitial lines or perihilar haze", "the pulmonary vessels are normal in calibre"),
    "enlarged cardiomediastinum": ("widening of the cardiomediastinal contour", "the mediastinal contour is within normal limits"),
    "fracture": ("a cortical break in the ribs, clavicles or spine", "the visible bones are intact"),
    "lung lesion": ("a focal rounded nodule or mass", "no focal rounded density is seen"),
    "lung opacity": ("any region of increased lung density", "the lung fields are clear"),
    "pleural effusion": ("blunting of the costophrenic angle or a meniscus", "the costophrenic angles are sharp"),
    "support devices": ("lines, tubes, catheters or leads", "no lines or leads project over the chest"),
    "pneumonia": ("focal airspace opacity in a segmental or lobar pattern", "there is no focal airspace density"),
    "pneumothorax": ("a visceral pleural line with absent lung markings beyond it", "lung markings extend to the chest wall"),
    "no finding": ("any abnormality of lungs, pleura, heart, mediastinum or bones", "the study is otherwise unremarkable"),
}
_CHANGE_WORDS = {"stable": "is unchanged", "worse": "has increased", "new": "is newly seen", "better": "has decreased"}


class Teacher(Protocol):
    """Writes a chain for one VQA item: returns {"plan", "original_reason_steps", "reason_steps"}."""

    def mine(self, item: dict, observations: list[Observation], prior: list[Observation] | None = None,
             prior_report: str = "") -> dict: ...


def _evidence(label: str, observations: list[Observation]) -> str:
    """One 'we observe X -> diagnosis' step for ``label`` (closed world: unmentioned is normal)."""
    matches = [o for o in observations if label in LABEL_MAP.get(o.finding, ())]
    if label == "no finding":
        abnormal = [o for o in observations if o.status != "absent" and o.finding != "support device"]
        if abnormal:
            o = abnormal[0]
            return f"From the images we observe {_describe(o)}, so the study is not normal."
        return "From the images we observe no abnormality of the lungs, pleura, heart or bones, so there is no finding."
    present = [o for o in matches if o.status == "present"]
    uncertain = [o for o in matches if o.status == "uncertain"]
    if present:
        return f"From the images we observe {_describe(present[0])}, consistent with {label}."
    if uncertain:
        return f"From the images we observe a questionable {_describe(uncertain[0], bare=True)}, so {label} cannot be excluded."
    return f"From the images we observe that {SIGNS[label][1]}, so there is no evidence of {label}."


def _describe(o: Observation, bare: bool = False) -> str:
    words = [] if bare else ["a"]
    if o.severity and not bare:
        words.append(o.severity)
    words.append(o.finding)
    if o.anatomy:
        words.append(f"in the {o.anatomy}")
    return " ".join(words)


class OfflineTeacher:
    """Deterministic plan -> evidence -> refine from structured observations (no network)."""

    def mine(self, item: dict, observations: list[Observation], prior: list[Observation] | None = None,
             prior_report: str = "") -> dict:
        """Chain for ``item``: binary -> one paragraph, single/multi -> list, temporal -> {"reason_steps": list}."""
        task = item["task"]
        labels = list(item.get("candidates") or ([item["label"]] if item.get("label") else []))
        if not labels:
            raise ValueError(f"item {item.get('item_id')}: no candidate labels to reason about")
        # Stage 1, plan: what each finding looks like on imaging.
        plan = {lab: f"To assess {lab}, I should look for {SIGNS[lab][0]}." for lab in labels}
        answer = item["answer"] if item.get("variant") == "option" else item["answer_content"]
        if item.get("variant") == "option" and item.get("options"):
            answer = f"{item['answer']}) {item['answer_content']}"
        opening = (f"The problem requires {'comparison' if task == 'temporal' else 'analysis'} of "
                   f"{', '.join(labels)}, so I should examine {'; '.join(SIGNS[lab][0] for lab in labels)}.")
        # Stage 2, evidence: one finding per step.
        if task == "temporal":
            draft = [self._temporal_step(labels[0], observations)]
        else:
            draft = [_evidence(lab, observations) for lab in labels]
        # Stage 3, refine: open with the analysis, chain the steps, end at the given answer.
        refined = [opening] + [("Next, " + s[0].lower() + s[1:]) if i else s for i, s in enumerate(draft)]
        refined.append(f"In conclusion, the final answer is {answer}.")
        if task == "binary":
            steps: Any = " ".join(refined)
        elif task == "temporal":
            steps = {"reason_steps": refined}
        else:
            steps = refined
        return {"plan": plan, "original_reason_steps": draft, "reason_steps": steps}

    @staticmethod
    def _temporal_step(label: str, observations: list[Observation]) -> str:
        for o in observations:
            if label in LABEL_MAP.get(o.finding, ()) and o.change in CHANGE_MAP:
                loc = f" in the {o.anatomy}" if o.anatomy else ""
                return (f"Comparing the new image with the reference image, the {label}{loc} "
                        f"{_CHANGE_WORDS[o.change]}, indicating {CHANGE_MAP[o.change]} {label}.")
        return f"Comparing the new image with the reference image, the appearance of {label} is unchanged."


def make_teacher(name: str, base_url: str | None = None, model: str | None = None,
                 cache_dir: str | None = None) -> Teacher:
    """``"offline"`` (default) or ``"llm"`` (needs ``base_url`` and ``model``).

    Raises:
        ValueError: unknown name, or "llm" without a server.
    """
    if name == "offline":
        return OfflineTeacher()
    if name == "llm":
        if not base_url or not model:
            raise ValueError("teacher 'llm' needs base_url and model of an OpenAI-compatible server; "
                             "or use teacher 'offline'")
        from radkit.reasoning.llm_teacher import LLMTeacher

        return LLMTeacher.from_server(base_url, model, cache_dir=cache_dir)
    raise ValueError(f"unknown teacher {name!r}; valid: offline, llm")


def mine_items(items: list[dict], studies: dict, teacher: Teacher,
               observe: Callable = observations_from_study, workers: int = 1,
               progress: bool = False) -> tuple[list[dict], dict]:
    """Add chains to VQA records (new dicts; inputs untouched).

    Args:
        items: VQA records (`radkit.reasoning.vqa`).
        studies: study_id -> Study (for observations; prior studies for temporal items).
        teacher: `OfflineTeacher` or an LLM teacher.
        workers: thread-pool size (8-16 for a remote teacher, §2.4).

    Returns:
        (records, stats) with stats = {"mined": n, "failed": n, "errors": [first messages]}.
    """
    def one(item: dict) -> tuple[dict, str]:
        rec = dict(item)
        try:
            study = studies[item["study_id"]]
            prior = studies.get(item.get("prior_study_id") or "")
            res = teacher.mine(item, observe(study), observe(prior) if prior else None,
                               prior.report if prior else "")
            rec.update(plan=res["plan"], original_reason_steps=res["original_reason_steps"],
                       reason_steps=res["reason_steps"], process=chain_text(res["reason_steps"]) or None)
            return rec, ""
        except Exception as e:  # a teacher failure must not stop the run: count it, keep the item
            return rec, f"{item.get('item_id')}: {type(e).__name__}: {e}"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(tqdm(pool.map(one, items), total=len(items), desc="mine chains", disable=not progress))
    errors = [e for _, e in results if e]
    stats = {"mined": len(results) - len(errors), "failed": len(errors), "errors": errors[:10]}
    return [r for r, _ in results], stats
