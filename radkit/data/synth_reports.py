"""Report templates for synthetic studies, with the ground truth each sentence asserts.

A report has FINDINGS and IMPRESSION sections. Present findings are described with
severity, laterality and location in one of several phrasings; hedged findings use
uncertainty language; absent findings are negated alone or in lists ("no pleural
effusion or pneumothorax"); current studies of a pair use comparison language.
Every statement that asserts a finding's status is also returned as a
`GroundTruthFinding`, so report structuring can be scored against it.
"""

from __future__ import annotations

import numpy as np

from radkit.data.study import GroundTruthFinding
from radkit.data.synth_findings import FindingSpec, StudyPlan

# negatable findings: (noun used in negations, anatomy of the negation per modality)
NEGATIONS = {
    "effusion": ("pleural effusion", {"cxr": "pleura", "ct": "pleura"}),
    "pneumothorax": ("pneumothorax", {"cxr": "pleura", "ct": "pleura"}),
    "consolidation": ("focal consolidation", {"cxr": "lungs", "ct": "lung"}),
    "nodule": ("suspicious pulmonary nodule", {"cxr": "lungs", "ct": "lung"}),
    "atelectasis": ("atelectasis", {"cxr": "lungs", "ct": "lung"}),
    "cardiomegaly": ("cardiomegaly", {"cxr": "heart", "ct": "heart"}),
    "edema": ("pulmonary edema", {"cxr": "pulmonary vasculature", "ct": "lung"}),
    "emphysema": ("emphysema", {"cxr": "lungs", "ct": "lung"}),
    "fracture": ("acute fracture", {"cxr": "bones", "ct": "bone"}),
    "lymphadenopathy": ("lymphadenopathy", {"cxr": "mediastinum", "ct": "mediastinum"}),
}
_ADVERB = {"mild": "mildly", "moderate": "moderately", "severe": "severely"}


def _c(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _loc(f: FindingSpec) -> str:
    """Anatomy words for a finding: 'right upper lobe', 'right' (pleura), ''."""
    anat = f.anatomy.replace("lung ", "") if f.anatomy.startswith(("right lung ", "left lung ")) else f.anatomy
    return anat


def noun_phrase(f: FindingSpec, rng: np.random.Generator, with_severity: bool = True) -> str:
    """A noun phrase describing the finding, e.g. 'small right pleural effusion'."""
    sev = (f.severity + " ") if with_severity and f.severity else ""
    side = f.side or ""
    loc = _loc(f)
    n = f.finding
    if n == "nodule":
        noun = "mass" if f.severity == "large" and rng.random() < 0.5 else "nodule"
        return _c(rng, [f"{sev}{loc} {noun}", f"{sev}{noun} in the {loc}"])
    if n == "consolidation":
        return _c(rng, [f"{sev}{loc} consolidation", f"{sev}consolidation in the {loc}",
                        f"{sev}airspace opacity in the {loc}"])
    if n == "atelectasis":
        return _c(rng, [f"{sev}{loc} atelectasis", f"{sev}atelectasis of the {loc}"])
    if n in ("effusion", "pneumothorax"):
        noun = "pleural effusion" if n == "effusion" else "pneumothorax"
        return _c(rng, [f"{sev}{side} {noun}", f"{sev}{side}-sided {noun}"])
    if n == "cardiomegaly":
        adv = (_ADVERB.get(f.severity, "") + " ") if with_severity and f.severity else ""
        return _c(rng, [f"{sev}cardiomegaly", f"{adv}enlarged cardiac silhouette"])
    if n == "edema":
        return _c(rng, [f"{sev}pulmonary edema", f"{sev}interstitial pulmonary edema"])
    if n == "emphysema":
        where = f" of the {loc}" if loc in ("right lung", "left lung") else ""
        return f"{sev}emphysema{where}"
    if n == "fracture":
        where = {"right ribs": "right rib", "left ribs": "left rib", "right rib": "right rib", "left rib": "left rib",
                 "clavicle": f"{side} clavicle".strip(), "spine": "thoracic vertebral body",
                 "vertebrae": "thoracic vertebral body"}.get(f.anatomy, f.anatomy)
        return _c(rng, [f"{sev}{where} fracture", f"{sev}fracture of the {where}"])
    if n == "lymphadenopathy":
        where = "hilar" if f.anatomy == "hilum" else "mediastinal"
        if side and f.anatomy == "hilum":
            where = f"{side} hilar"
        return _c(rng, [f"{sev}{where} lymphadenopathy", f"{sev}{where} adenopathy"])
    if n == "support device":
        if f.anatomy == "trachea":
            return _c(rng, ["endotracheal tube in the trachea", "endotracheal tube with tip in the trachea"])
        return f"{side + ' ' if side else ''}internal jugular central venous catheter in the mediastinum"
    return f"{sev}{n} in the {loc}"


def present_sentence(f: FindingSpec, rng: np.random.Generator) -> str:
    """A sentence asserting a present finding (with comparison language when it has a change)."""
    np_ = noun_phrase(f, rng)
    if f.change == "new":
        return _c(rng, [f"New {np_}.", f"Interval development of {np_}.", f"{_cap(np_)}, new since the prior study."])
    if f.change == "stable":
        return _c(rng, [f"Unchanged {np_}.", f"Stable {np_}.", f"{_cap(np_)}, unchanged compared with the prior."])
    if f.change in ("worse", "better"):
        base = noun_phrase(f, rng, with_severity=False)
        more, verb = ("increased", "Worsening") if f.change == "worse" else ("decreased", "Improving")
        sev = f", now {f.severity}" if f.severity else ""
        return _c(rng, [f"Compared with the prior study, the {base} has {more}{sev}.",
                        f"Interval {'increase' if f.change == 'worse' else 'decrease'} in {base}{sev}.",
                        f"{verb} {np_}."])
    if f.finding == "cardiomegaly" and f.severity in _ADVERB and rng.random() < 0.4:
        return f"The heart is {_ADVERB[f.severity]} enlarged, consistent with cardiomegaly."
    if f.finding == "support device":
        return _cap(np_) + "."
    return _c(rng, [f"There is {np_}.", f"{_cap(np_)}.", f"{_cap(np_)} is present.", f"Findings of {np_}."])


def uncertain_sentence(f: FindingSpec, rng: np.random.Generator) -> str:
    """A hedged sentence about a faint finding."""
    np_ = noun_phrase(f, rng, with_severity=False)
    return _c(rng, [f"Possible {np_}.", f"{_cap(np_)} cannot be excluded.", f"Questionable {np_}.",
                    f"Subtle opacity may represent {np_}."])


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " or ".join(items)
    return ", ".join(items[:-1]) + ", or " + items[-1]


def negation_sentences(nouns: list[str], rng: np.random.Generator) -> list[str]:
    """Negate ``nouns`` as lists of up to 3 ("No pleural effusion or pneumothorax.")."""
    out = []
    i = 0
    while i < len(nouns):
        k = int(rng.integers(1, 4))
        chunk = nouns[i:i + k]
        i += k
        lst = _join(chunk)
        out.append(_c(rng, [f"No {lst}.", f"There is no {lst}.", f"No evidence of {lst}."]))
    return out


def gt_anatomy(f: FindingSpec, modality: str) -> str:
    """Ground-truth anatomy of a drawn finding: CT pleural findings are planned in "pleura" with a
    side (keeps the cohort plan unchanged) and recorded in the sided child ("right pleura")."""
    if modality == "ct" and f.anatomy == "pleura" and f.side:
        return f"{f.side} pleura"
    return f.anatomy


def write_report(plan: StudyPlan, prior_date: str | None = None) -> tuple[str, list[GroundTruthFinding]]:
    """Report text and its ground truth for a planned study.

    Returns:
        (report, findings): findings lists each present/uncertain finding and each
        explicitly negated one (status "absent", general anatomy of the negation).
    """
    rng = np.random.default_rng([plan.report_seed, 5])
    mod = plan.modality
    gt: list[GroundTruthFinding] = []
    lines = []
    for f in plan.findings:
        if f.status == "uncertain":
            lines.append(uncertain_sentence(f, rng))
        else:
            lines.append(present_sentence(f, rng))
        gt.append(GroundTruthFinding(f.finding, gt_anatomy(f, mod), f.status, f.severity, f.change))
    for f in plan.resolved:
        base = noun_phrase(f, rng, with_severity=False)
        if f.finding == "support device":
            lines.append(f"The previously seen {base.split(' in the ')[0]} has been removed.")
        else:
            lines.append(_c(rng, [f"The previously seen {base} has resolved.", f"Interval resolution of the {base}."]))
        gt.append(GroundTruthFinding(f.finding, gt_anatomy(f, mod), "absent", "", "better"))
    lines = [lines[i] for i in rng.permutation(len(lines))]
    mentioned = {f.finding for f in plan.findings} | {f.finding for f in plan.resolved}
    candidates = [k for k in NEGATIONS if k not in mentioned]
    neg = [candidates[i] for i in rng.permutation(len(candidates))[: int(rng.integers(1, 5))]]
    if "effusion" in neg and "pneumothorax" in candidates and "pneumothorax" not in neg and rng.random() < 0.5:
        neg.append("pneumothorax")  # the classic "no effusion or pneumothorax" list
    lines += negation_sentences([NEGATIONS[k][0] for k in neg], rng)
    gt += [GroundTruthFinding(k, NEGATIONS[k][1][mod], "absent") for k in neg]
    if "nodule" not in mentioned and "consolidation" not in mentioned and rng.random() < 0.3 and mod == "cxr":
        lines.append("The lungs are otherwise clear." if plan.findings else "The lungs are clear.")
    if not any(f.finding in ("lymphadenopathy", "cardiomegaly") for f in plan.findings) and rng.random() < 0.5:
        lines.append(_c(rng, ["The mediastinal contours are within normal limits.", "Normal mediastinal contours."]))
    exam = ("Chest radiograph, " + (plan.view or "PA") + " view." if mod == "cxr"
            else "CT of the chest without intravenous contrast.")
    comparison = f"Prior study from {prior_date}." if prior_date else _c(rng, ["None.", "No prior studies available."])
    present = [f for f in plan.findings if f.status == "present"]
    if present:
        word = {"new": "new ", "stable": "stable ", "worse": "worsening ", "better": "improving "}
        imp = [_cap(word.get(f.change, "") + noun_phrase(f, rng)) + "." for f in present[:3]]
    elif plan.findings:
        imp = [uncertain_sentence(plan.findings[0], rng)]
    else:
        imp = [_c(rng, ["No acute cardiopulmonary process.", "Normal study.", "No acute abnormality."])]
    return (f"EXAMINATION: {exam}\nCOMPARISON: {comparison}\nFINDINGS: {' '.join(lines)}\n"
            f"IMPRESSION: {' '.join(imp)}"), gt
