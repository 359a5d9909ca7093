"""Rule-based report structuring: text -> (anatomy, finding, status, attributes) items.

Pipeline per report: section-aware sentence split (INDICATION/HISTORY/COMPARISON/
TECHNIQUE sections are skipped) -> per sentence: phrase matching of anatomies
(taxonomy synonyms), findings (`FINDINGS` synonyms) and NegEx-style triggers
(`radkit.reports.lexicon`) -> clauses split at terminators ("but", "however", ";") ->
status of each finding from the nearest trigger in its clause (uncertain > absent >
present) -> anatomy from the finding's own list segment, bare anatomy segments next
to it, compatible anatomies of the clause, else the finding's default anatomy ->
laterality refinement ("right", "bilateral") -> severity, size and change attributes.
Each sentence is attached to its anatomies and all their ancestors (sub-reports).

Sentences it cannot parse (no letters, mostly non-ASCII text, > 600 characters, or an
internal error) give no items and a counted warning, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from radkit.reports.anatomy import FINDINGS, ancestors, taxonomy
from radkit.reports.matching import Mention, Sentence, match_sentence, split_sentences

STATUSES = ("present", "absent", "uncertain")


@dataclass(frozen=True)
class Item:
    """One structured finding.

    Attributes:
        anatomy: canonical anatomy name of the report's modality.
        finding: canonical finding name (`radkit.reports.anatomy.FINDINGS`).
        status: "present", "absent" or "uncertain".
        severity: word on the finding's severity scale, "" if none stated.
        change: "new", "stable", "worse", "better" or "".
        size_mm: stated size in millimetres, or None.
        sentence: index of the source sentence in `StructuredReport.sentences`.
        span: (start, end) character span of that sentence in the report text.
    """

    anatomy: str
    finding: str
    status: str
    severity: str = ""
    change: str = ""
    size_mm: float | None = None
    sentence: int = 0
    span: tuple[int, int] = (0, 0)

    def triple(self) -> tuple[str, str, str]:
        """(anatomy, finding, status)."""
        return (self.anatomy, self.finding, self.status)


@dataclass
class StructuredReport:
    """A report as sentences and items.

    Attributes:
        text: the input text.
        modality: "cxr" or "ct".
        sentences: parsed sentences; ``sentences[i].anatomies`` includes ancestors.
        items: structured findings, in text order, deduplicated.
        warnings: messages for sentences that could not be parsed.
    """

    text: str
    modality: str
    sentences: list[Sentence] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def anatomies(self) -> set[str]:
        """Anatomies the report talks about (ancestors included)."""
        return set().union(*(s.anatomies for s in self.sentences)) if self.sentences else set()

    def triples(self) -> set[tuple[str, str, str]]:
        """Set of (anatomy, finding, status) of all items."""
        return {it.triple() for it in self.items}

    def sub_report(self, anatomy: str) -> "StructuredReport":
        """The part of the report about ``anatomy``: its sentences and the items located in it
        or in one of its descendants. Raises KeyError for an anatomy outside the taxonomy."""
        ancestors(anatomy, self.modality)  # validates the name
        keep = [i for i, s in enumerate(self.sentences) if anatomy in s.anatomies]
        remap = {old: new for new, old in enumerate(keep)}
        items = [Item(it.anatomy, it.finding, it.status, it.severity, it.change, it.size_mm,
                      remap[it.sentence], it.span) for it in self.items
                 if it.sentence in remap and (it.anatomy == anatomy or anatomy in ancestors(it.anatomy, self.modality))]
        sents = [self.sentences[i] for i in keep]
        return StructuredReport(" ".join(s.text for s in sents), self.modality, sents, items, [])


def structure_report(text: str, modality: str) -> StructuredReport:
    """Structure one free-text report with the rule-based lexicon structurer.

    Args:
        text: report text (findings and/or impression; section headers allowed).
        modality: "cxr" or "ct".

    Returns:
        A `StructuredReport`; never raises on odd text (see its ``warnings``).
    """
    taxonomy(modality)  # validates modality
    rep = StructuredReport(text or "", modality)
    if not (text or "").strip():
        rep.warnings.append("empty report")
        return rep
    seen: dict[tuple, int] = {}
    for sent in split_sentences(text):
        idx = len(rep.sentences)
        problem = _unparseable(sent.text)
        if problem:
            rep.warnings.append(f"sentence {idx} skipped ({problem}): {sent.text[:60]!r}")
            rep.sentences.append(sent)
            continue
        try:
            items, anats = _structure_sentence(sent, modality)
        except Exception as e:  # a parser bug must not stop a 200k-report annotation run
            rep.warnings.append(f"sentence {idx} skipped (internal error {type(e).__name__}: {e})")
            rep.sentences.append(sent)
            continue
        for a in list(anats):
            anats.update(ancestors(a, modality))
        sent.anatomies = frozenset(anats)
        rep.sentences.append(sent)
        for it in _merge_statuses(items):
            key = it.triple()
            if key in seen:  # restated (e.g. in the impression): fill attributes left unstated
                k = seen[key]
                old = rep.items[k]
                rep.items[k] = Item(*key, old.severity or it.severity, old.change or it.change,
                                    old.size_mm if old.size_mm is not None else it.size_mm, old.sentence, old.span)
                continue
            seen[key] = len(rep.items)
            rep.items.append(Item(*it.triple(), it.severity, it.change, it.size_mm, idx, sent.span))
    return rep


_STATUS_RANK = {"present": 0, "uncertain": 1, "absent": 2}


def _merge_statuses(items: list[Item]) -> list[Item]:
    """One status per (anatomy, finding) within a sentence: "consolidation, concerning for
    pneumonia" states consolidation, so present > uncertain > absent."""
    best: dict[tuple[str, str], Item] = {}
    for it in items:
        key = (it.anatomy, it.finding)
        cur = best.get(key)
        if cur is None or _STATUS_RANK[it.status] < _STATUS_RANK[cur.status]:
            merged = it
            if cur is not None:  # keep attributes stated on the other mention
                merged = Item(it.anatomy, it.finding, it.status, it.severity or cur.severity,
                              it.change or cur.change, it.size_mm if it.size_mm is not None else cur.size_mm)
            best[key] = merged
    return list(best.values())


def _unparseable(s: str) -> str:
    letters = [c for c in s if c.isalpha()]
    if not letters:
        return "no letters"
    if sum(c.isascii() for c in letters) < 0.8 * len(letters):
        return "not English"
    if len(s) > 600:
        return "longer than 600 characters"
    return ""


def _structure_sentence(sent: Sentence, modality: str) -> tuple[list[Item], set[str]]:
    from radkit.reports.resolve import resolve_items

    parsed = match_sentence(sent.text, modality)
    items = resolve_items(parsed, modality)
    anats = {m.value for m in parsed.anatomies} | {it.anatomy for it in items}
    return items, anats


def items_f1(predicted: list[set], expected: list[set]) -> dict[str, float]:
    """Micro precision/recall/F1 of item sets (one set of hashable items per report)."""
    tp = sum(len(p & e) for p, e in zip(predicted, expected))
    npred = sum(len(p) for p in predicted)
    nexp = sum(len(e) for e in expected)
    prec = tp / npred if npred else 1.0
    rec = tp / nexp if nexp else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "tp": tp, "n_pred": npred, "n_expected": nexp}


__all__ = ["Item", "StructuredReport", "structure_report", "items_f1", "STATUSES", "Mention"]
