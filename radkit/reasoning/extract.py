"""Offline key-finding extraction from free text (the offline judge's `E`, SPEC_REASONER §3.1).

A lexicon-and-negation reader: each clause that *asserts* something about a finding
gives one `KeyFinding(key, status)`. Clauses that only announce what will be checked
("I should examine ...", "to assess ...", questions) assert nothing and are skipped,
so a plan is not mistaken for a positive finding.

Keys are radkit finding names plus three benchmark labels that have no radkit finding
("lung opacity", "enlarged cardiomediastinum", "pneumonia"); surface forms are the
ontology's synonyms plus the report structurer's `EXTRA_FINDINGS`. Besides the status, a
key finding carries its stated side and temporal progression (`radkit.reasoning.qualifiers`);
severity and the exact anatomy are ignored.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from radkit.reasoning.labels import CHANGE_MAP, LABEL_MAP, Observation, observations_from_items
from radkit.reports.anatomy import FINDINGS
from radkit.reports.lexicon import EXTRA_FINDINGS
from radkit.reasoning.qualifiers import change_near, merge_sides, side_fits, side_near, side_of_anatomy

# Extra surface forms; benchmark label names map to their radkit key.
_EXTRA = {
    "lung lesion": "nodule", "pleural effusion": "effusion", "support devices": "support device",
    "lung opacity": "lung opacity", "lung opacities": "lung opacity", "opacity": "lung opacity",
    "opacities": "lung opacity", "enlarged cardiomediastinum": "enlarged cardiomediastinum",
    "cardiomediastinal silhouette is enlarged": "enlarged cardiomediastinum",
    "widened mediastinum": "enlarged cardiomediastinum", "mediastinal widening": "enlarged cardiomediastinum",
    "pneumonia": "pneumonia", "pneumonias": "pneumonia",
}
# A label key is present when any radkit finding mapped to that label is: derived from
# LABEL_MAP so the judge and the VQA labels never disagree (CheXpert hierarchy).
IMPLIED_BY: dict[str, frozenset[str]] = {
    lab: frozenset({lab} | {f for f, labs in LABEL_MAP.items() if lab in labs})
    for lab in ("lung opacity", "enlarged cardiomediastinum", "pneumonia")
}


def _lexicon() -> list[tuple[str, str]]:
    lex: dict[str, str] = {}
    for f in FINDINGS.values():
        for syn in (f.name,) + tuple(f.synonyms):
            lex[syn] = f.name
    for name, syns in EXTRA_FINDINGS.items():  # the structurer's real-report surface forms
        for syn in syns:
            lex.setdefault(syn, name)
    lex.pop("pneumonia", None)  # its own benchmark label, not consolidation
    lex.update(_EXTRA)
    # Longest surface first so "pleural effusion" wins over "effusion".
    return sorted(lex.items(), key=lambda kv: -len(kv[0]))


_LEX = _lexicon()
_PATTERN = re.compile(r"\b(" + "|".join(re.escape(s) for s, _ in _LEX) + r")\b", re.I)
_SURF = dict(_LEX)
_NEG = re.compile(r"\b(no|not|without|absence of|absent|negative for|free of|unlikely|excluded|ruled out|"
                  r"resolved|clear of|rather than|nor|cannot confirm|normal)\b", re.I)
_NEG_AFTER = re.compile(r"^[^.;,]{0,25}\b(is|are|was|were|has|have)?\s*(not (seen|present|identified|visible)|"
                        r"absent|excluded|ruled out|resolved|unlikely)\b", re.I)
_UNC = re.compile(r"\b(possible|possibly|may|might|could|cannot be excluded|can't be excluded|suspected|"
                  r"questionable|equivocal|likely|suggest|suggests|suggestive of|concerning for|probable)\b", re.I)
_INTENT = re.compile(r"(\?|\b(should|assess|assessing|evaluate|evaluating|examine|examining|look for|looking for|"
                     r"check|checking|requires analysis|determine|whether|signs of|to confirm|to exclude|"
                     r"would (show|appear|suggest)|typically|usually|appears as|presents as)\b)", re.I)
_SCOPE = re.compile(r"\b(?:and|with|but|plus)\b", re.I)
_SPLIT = re.compile(r"(?<=[.;!?])\s+|\n+|\s+(?:but|however|while|whereas)\s+|(?<=:)\s+")


@dataclass(frozen=True)
class KeyFinding:
    """One extracted key finding: ``key`` (radkit finding or label key) and ``status``."""

    key: str
    status: str  # "present" | "absent" | "uncertain"
    change: str = ""  # "stable" | "worsening" | "improving" | "" (none stated)
    side: str = ""  # "left" | "right" | "bilateral" | "" (none stated)


def clauses(text: str) -> list[str]:
    """Split text into assertion-sized clauses (sentences, then contrastive conjunctions)."""
    text = re.sub(r"</?(think|answer)>", " ", text or "")
    return [c.strip() for c in _SPLIT.split(text) if c and c.strip()]


def extract(text: str, skip_intent: bool = True) -> list[KeyFinding]:
    """Key findings asserted in ``text``, one per key (the last assertion wins), in first-seen order.

    Args:
        text: free text (a report, a chain, or a model output with tags).
        skip_intent: skip clauses that announce a check rather than assert a finding.
    """
    found: dict[str, str] = {}
    for cl in clauses(text):
        if skip_intent and _INTENT.search(cl):
            continue
        mentions = list(_PATTERN.finditer(cl))
        for j, m in enumerate(mentions):
            key = _SURF[m.group(1).lower()]
            before = cl[max(0, m.start() - 60):m.start()]
            # Negation scope ends at a conjunction that starts a new positive phrase.
            before = _SCOPE.split(before)[-1]
            after = cl[m.end():]
            if _NEG.search(before) or _NEG_AFTER.search(after):
                status = "absent"
            elif _UNC.search(before) or _UNC.search(after[:40]):
                status = "uncertain"
            else:
                status = "present"
            change = change_near(cl, m.start(), m.end()) if status != "absent" else ""
            side = side_near(cl, m.start(), m.end(), mentions[j - 1].end() if j else 0,
                                mentions[j + 1].start() if j + 1 < len(mentions) else None) if status != "absent" else ""
            old = found.pop(key, ("", "", ""))
            same = old[0] == status
            found[key] = (status, change or (old[1] if same else ""),
                          merge_sides(old[2], side) if same else side)
    return [KeyFinding(k, s, c, d) for k, (s, c, d) in found.items()]


def reference_from_observations(observations: list[Observation]) -> dict[str, str]:
    """Reference map key -> status from ground-truth / structured observations (present wins)."""
    rank = {"present": 2, "uncertain": 1, "absent": 0}
    out: dict[str, str] = {}
    for o in observations:
        if o.finding in LABEL_MAP and rank.get(o.status, -1) > rank.get(out.get(o.finding, ""), -1):
            out[o.finding] = o.status
    return out


def reference_from_text(text: str) -> dict[str, str]:
    """Reference map key -> status read from text with the lexicon `extract` (no intent skipping)."""
    return {k.key: k.status for k in extract(text, skip_intent=False)}


@functools.lru_cache(maxsize=64)
def _read_report(text: str, modality: str) -> tuple[tuple[Observation, ...], tuple[KeyFinding, ...]]:
    """A report read by both readers: the structurer's observations and the lexicon's key findings
    (no intent skipping). Cached because the judge asks for the statuses, sides and progressions
    of one report (or its current part, the whole report when there is no prior)."""
    from radkit.reports.structure import structure_report

    return (tuple(observations_from_items(structure_report(text, modality).items)),
            tuple(extract(text, skip_intent=False)))


def reference_from_report(text: str, modality: str = "cxr") -> dict[str, str]:
    """Reference map key -> status of a free-text report, read with the report structurer.

    `radkit.reports.structure.structure_report` gives the radkit findings (section-aware,
    NegEx-style status). The three benchmark labels without a radkit finding ("lung
    opacity", "enlarged cardiomediastinum", "pneumonia") are added from the lexicon
    reader, since the structurer folds them into other findings (or ignores them).
    """
    observations, kfs = _read_report(text or "", modality)
    ref = reference_from_observations(observations)
    for k in kfs:
        if k.key in IMPLIED_BY and k.key not in ref:
            ref[k.key] = k.status
    return ref


def _present(ref: dict[str, str], key: str) -> str | None:
    """Status of ``key`` in the reference, following `IMPLIED_BY`; None when unmentioned."""
    keys = IMPLIED_BY.get(key, frozenset({key}))
    statuses = [ref[k] for k in keys if k in ref]
    for s in ("present", "uncertain", "absent"):
        if s in statuses:
            return s
    return None


def current_part(report: str) -> str:
    """The current study's text of a prior/current report pair ("Previous Report: ... Current Report: ...",
    the release's temporal records), else the whole report."""
    m = re.search(r"current report\s*:", report or "", re.I)
    return report[m.end():] if m else (report or "")


def changes_from_observations(observations: list[Observation]) -> dict[str, str]:
    """Map key -> temporal progression ("stable"/"worsening"/"improving") from observations' ``change``."""
    return {o.finding: CHANGE_MAP[o.change] for o in observations if o.change in CHANGE_MAP}


def changes_from_report(text: str, modality: str = "cxr") -> dict[str, str]:
    """Map key -> temporal progression stated in a report's current part (structurer + lexicon reader)."""
    observations, kfs = _read_report(current_part(text), modality)
    out = changes_from_observations(observations)
    for key, change in changes_from_findings(list(kfs)).items():
        out.setdefault(key, change)
    return out


def sides_from_observations(observations: list[Observation]) -> dict[str, str]:
    """Map key -> side ("left"/"right"/"bilateral") of the present/uncertain observations' anatomies."""
    out: dict[str, str] = {}
    for o in observations:
        side = side_of_anatomy(o.anatomy)
        if o.status != "absent" and side:
            out[o.finding] = merge_sides(out.get(o.finding, ""), side)
    return out


def sides_from_report(text: str, modality: str = "cxr") -> dict[str, str]:
    """Map key -> side of a report's positive findings: the structurer's anatomies, then the lexicon
    reader for keys the structurer leaves without a side (label keys, "bibasilar")."""
    observations, kfs = _read_report(text or "", modality)
    out = sides_from_observations(observations)
    for key, side in sides_from_findings(list(kfs)).items():
        out[key] = merge_sides(out.get(key, ""), side)
    return out


def sides_from_findings(kfs: list[KeyFinding]) -> dict[str, str]:
    """Map key -> side of extracted present/uncertain key findings that state one."""
    return {k.key: k.side for k in kfs if k.side and k.status != "absent"}


def changes_from_findings(kfs: list[KeyFinding]) -> dict[str, str]:
    """Map key -> temporal progression of extracted key findings that state one."""
    return {k.key: k.change for k in kfs if k.change}


def _change(changes: dict[str, str] | None, key: str) -> str:
    """Progression of ``key`` in ``changes`` following `IMPLIED_BY`; "" when none is stated."""
    for k in sorted(IMPLIED_BY.get(key, frozenset({key}))):
        if (changes or {}).get(k):
            return changes[k]
    return ""


def change_conflict(kf: KeyFinding, changes: dict[str, str] | None) -> bool:
    """Whether ``kf`` states a progression and the reference states a different one for its key."""
    ref = _change(changes, kf.key)
    return bool(kf.change and ref and kf.change != ref)


def side_conflict(kf: KeyFinding, sides: dict[str, str] | None) -> bool:
    """Whether ``kf`` (present or uncertain) names a side the reference does not (left vs right,
    bilateral vs one side); unknown sides never conflict."""
    if kf.status == "absent" or not kf.side or not sides:
        return False
    refs = [sides[k] for k in IMPLIED_BY.get(kf.key, frozenset({kf.key})) if sides.get(k)]
    return bool(refs) and not any(side_fits(kf.side, r) for r in refs)


def consistent(kf: KeyFinding, ref: dict[str, str], changes: dict[str, str] | None = None,
               sides: dict[str, str] | None = None) -> bool:
    """Closed-world factuality of one key finding against a reference (§3.1).

    Agrees with the reference -> True; unmentioned in the reference means normal, so an
    absent claim is True and a present/uncertain claim is False. A stated progression
    ("worsening") that differs from the reference's (``changes``, key -> progression) is False,
    and so is a side that differs from the reference's (``sides``, key -> side).
    """
    if change_conflict(kf, changes) or side_conflict(kf, sides):
        return False
    s = _present(ref, kf.key)
    if kf.status == "absent":
        return s in (None, "absent") or (s == "uncertain")
    if kf.status == "uncertain":
        return s in ("present", "uncertain")
    return s in ("present", "uncertain")


def support(kf: KeyFinding, chain_ref: dict[str, str], chain_changes: dict[str, str] | None = None,
            chain_sides: dict[str, str] | None = None) -> str:
    """Open-world support of one key finding by the mined chain: supported/contradicted/unsupported.

    A claim contradicts the chain when its polarity, stated progression or side differs."""
    s = _present(chain_ref, kf.key)
    if s is None:
        return "unsupported"
    pos_claim, pos_ref = kf.status != "absent", s != "absent"
    if pos_claim != pos_ref or change_conflict(kf, chain_changes) or side_conflict(kf, chain_sides):
        return "contradicted"
    return "supported"
