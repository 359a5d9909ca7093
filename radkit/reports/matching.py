"""Sentence splitting and phrase matching for the rule-based structurer.

Text is normalised with same-length substitutions (lower case, hyphens -> spaces),
so every match offset is also an offset in the original sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from radkit.reports import lexicon as lx
from radkit.reports.anatomy import FINDINGS, taxonomy

# Sections whose sentences are not findings about the image (reason for exam etc.).
_SKIP_SECTIONS = {"indication", "history", "clinical history", "comparison", "technique", "examination", "exam",
                  "reason for exam", "clinical information", "procedure", "notification", "recommendation",
                  "recommendations", "protocol", "contrast", "dose", "clinical indication", "wet read"}
_KEEP_SECTIONS = {"findings", "impression", "conclusion", "opinion", "result", "results", "report", "summary"}
_HEADER = re.compile(r"(?:^|(?<=\n)|(?<=\.\s)|(?<=\.))\s*([A-Za-z][A-Za-z /]{2,30}):")
_SENT_END = re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])\s*|\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)]\s))")
_ABBREV = re.compile(r"(?:\b(?:dr|vs|e\.g|i\.e|approx|mr|mrs|no|fig|st)\.)$", re.I)
_SEGMENT = re.compile(r",|(?<![a-z])(?:and|or|with|without|nor|plus|as well as)(?![a-z])")
_CLAUSE = re.compile(r";|:|\.(?=\s)")


@dataclass
class Sentence:
    """One sentence of a report.

    Attributes:
        text: sentence text as in the report.
        span: (start, end) character offsets in the report.
        anatomies: anatomies it talks about, ancestors included (filled by the structurer).
    """

    text: str
    span: tuple[int, int]
    anatomies: frozenset = field(default_factory=frozenset)


@dataclass(frozen=True)
class Mention:
    """A matched phrase: kind in {anatomy, lobe, finding, trigger, severity, change, side, size,
    heart_enlarged, heart_normal}; ``value`` is the canonical meaning (tuple for anatomy/trigger/side)."""

    start: int
    end: int
    kind: str
    value: object
    surface: str = ""


@dataclass
class Parsed:
    """All mentions of one sentence plus its clause and list-segment boundaries."""

    text: str
    mentions: list[Mention]
    clauses: list[tuple[int, int]]
    segments: list[tuple[int, int]]

    def of(self, kind: str) -> list[Mention]:
        """Mentions of one kind, in text order."""
        return [m for m in self.mentions if m.kind == kind]

    @property
    def anatomies(self) -> list[Mention]:
        """Anatomy mentions (one Mention per named anatomy)."""
        return [Mention(m.start, m.end, "anatomy", a, m.surface) for m in self.of("anatomy") for a in m.value]


def split_sentences(text: str) -> list[Sentence]:
    """Split a report into sentences with spans, skipping non-finding sections (indication...)."""
    out: list[Sentence] = []
    # section boundaries: (offset, keep?)
    marks = [(0, True)]
    for m in _HEADER.finditer(text):
        name = m.group(1).strip().lower()
        if name in _SKIP_SECTIONS or name in _KEEP_SECTIONS:
            marks.append((m.start(1), name not in _SKIP_SECTIONS))
            marks.append((m.end(), name not in _SKIP_SECTIONS))
    marks.append((len(text), True))
    for (start, keep), (end, _) in zip(marks, marks[1:]):
        if not keep:
            continue
        chunk = text[start:end]
        pos = 0
        pieces = []
        for m in _SENT_END.finditer(chunk):
            if _ABBREV.search(chunk[pos:m.start()]):
                continue
            pieces.append((pos, m.start()))
            pos = m.end()
        pieces.append((pos, len(chunk)))
        for a, b in pieces:
            raw = chunk[a:b]
            stripped = raw.strip()
            if not stripped or re.fullmatch(r"[A-Za-z /]{2,30}:", stripped):
                continue
            off = start + a + (len(raw) - len(raw.lstrip()))
            out.append(Sentence(stripped, (off, off + len(stripped))))
    return out


def normalise(s: str) -> str:
    """Lower-case, hyphens/underscores to spaces; same length as ``s``."""
    return s.lower().replace("-", " ").replace("_", " ")


@lru_cache(maxsize=4)
def _tables(modality: str):
    anat: dict[str, set] = {}
    for a in taxonomy(modality).values():
        for syn in (a.name, *a.synonyms):
            anat.setdefault(normalise(syn), set()).add(a.name)
    for phrase, per_mod in lx.EXTRA_ANATOMY.items():
        if modality in per_mod:
            anat[normalise(phrase)] = set(per_mod[modality])
    find: dict[str, str] = {}
    for f in FINDINGS.values():
        for syn in (f.name, *f.synonyms, *lx.EXTRA_FINDINGS.get(f.name, ())):
            find[normalise(syn)] = f.name
    trig: dict[str, set] = {}
    for kind, phrases in (("pre_neg", lx.PRE_NEG), ("post_neg", lx.POST_NEG), ("pre_unc", lx.PRE_UNC),
                          ("post_unc", lx.POST_UNC), ("pseudo", lx.PSEUDO), ("term", lx.TERMINATORS)):
        for p in phrases:
            trig.setdefault(p, set()).add(kind)
    return {
        "anatomy": (lx.phrase_regex(anat), {k: tuple(sorted(v)) for k, v in anat.items()}),
        "finding": (lx.phrase_regex(find), find),
        "trigger": (lx.phrase_regex(trig), {k: frozenset(v) for k, v in trig.items()}),
        "severity": (lx.phrase_regex(lx.SEVERITY_LEVEL), lx.SEVERITY_LEVEL),
        "change": (lx.phrase_regex(lx.CHANGE), lx.CHANGE),
        "side": (lx.phrase_regex(lx.SIDES), lx.SIDES),
        "heart_enlarged": (lx.phrase_regex(lx.HEART_ENLARGED), {p: True for p in lx.HEART_ENLARGED}),
        "heart_normal": (lx.phrase_regex(lx.HEART_NORMAL), {p: True for p in lx.HEART_NORMAL}),
    }


def _key(surface: str) -> str:
    return re.sub(r"\s+", " ", surface)


def match_sentence(sentence: str, modality: str) -> Parsed:
    """Find every anatomy, finding, trigger, severity, change, side and size phrase in ``sentence``."""
    text = normalise(sentence)
    mentions: list[Mention] = []
    for kind, (rx, table) in _tables(modality).items():
        for m in rx.finditer(text):
            mentions.append(Mention(m.start(), m.end(), kind, table[_key(m.group())], m.group()))
    covered = [(m.start, m.end) for m in mentions if m.kind == "anatomy"]
    for m in lx.LOBE.finditer(text):
        if not any(s <= m.start() < e for s, e in covered):
            mentions.append(Mention(m.start(), m.end(), "lobe", m.group(1), m.group()))
    for m in lx.SIZE.finditer(text):
        value = float(m.group(1)) * (10.0 if m.group(2).startswith("c") else 1.0)
        mentions.append(Mention(m.start(), m.end(), "size", value, m.group()))
    mentions.sort(key=lambda m: (m.start, -m.end))
    clause_cuts = [(m.start(), m.end()) for m in _CLAUSE.finditer(text)]
    clause_cuts += [(m.start, m.end) for m in mentions if m.kind == "trigger" and "term" in m.value]
    return Parsed(text, mentions, _spans(len(text), clause_cuts),
                  _spans(len(text), [(m.start(), m.end()) for m in _SEGMENT.finditer(text)] + clause_cuts))


def _spans(n: int, cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for s, e in sorted(cuts):
        if s > pos:
            out.append((pos, s))
        pos = max(pos, e)
    if pos < n:
        out.append((pos, n))
    return out
