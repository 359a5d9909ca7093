"""Qualifiers of a key finding read around its mention: temporal progression and laterality.

The offline judge (`radkit.reasoning.extract`) attaches them to key findings because the
recorded GPT-4o judgments weigh them: "stable" vs "worsening" decides the temporal task,
and "bilateral effusions" is judged wrong against a report of a left effusion.
Vocabulary comes from the report structurer's lexicon (`radkit.reports.lexicon`).
"""

from __future__ import annotations

import re

from radkit.reasoning.labels import CHANGE_MAP
from radkit.reports.lexicon import CHANGE, SIDES, phrase_regex

# Change words of the report structurer plus the temporal task's answer words, read as the
# temporal progression (`CHANGE_MAP`: "new" is a worsening).
_CHANGE = {**{w: CHANGE_MAP[c] for w, c in CHANGE.items()}, "worsening": "worsening", "worsened": "worsening",
           "deterioration": "worsening", "deteriorated": "worsening", "improving": "improving",
           "improved": "improving", "stable": "stable", "no progression": "stable",
           "no significant progression": "stable", "remain unchanged": "stable", "remains unchanged": "stable",
           "consistent with the previous": "stable"}
_CHANGE_RE = phrase_regex(_CHANGE)
# Side words; bare "both" is left out ("both images" is common in comparison text).
_SIDE = {w: ("bilateral" if len(s) == 2 else s[0]) for w, s in SIDES.items() if w != "both"}
_SIDE.update({"bibasilar": "bilateral", "bibasal": "bilateral", "both lungs": "bilateral",
              "both sides": "bilateral", "both bases": "bilateral", "both lung bases": "bilateral"})
_SIDE_RE = phrase_regex(_SIDE)
SIDE_WINDOW = 40  # characters around a mention in which a side word qualifies it


def _nearest(regex, table: dict[str, str], clause: str, start: int, end: int, window: int | None) -> str:
    best, dist = "", 10 ** 9
    for m in regex.finditer(clause.lower()):
        if m.start() < end and m.end() > start:  # inside the finding's own words
            continue
        d = start - m.end() if m.end() <= start else m.start() - end
        if d < dist and (window is None or d <= window):
            best, dist = table[" ".join(m.group(0).split())], d
    return best


def change_near(clause: str, start: int, end: int) -> str:
    """The progression ("stable"/"worsening"/"improving") in ``clause`` nearest the mention [start, end), or ""."""
    return _nearest(_CHANGE_RE, _CHANGE, clause, start, end, None)


_BREAK = re.compile(r"\b(?:and|with|but|plus|while|whereas)\b|[,;:]")


def side_near(clause: str, start: int, end: int, lo: int = 0, hi: int | None = None) -> str:
    """The side ("left"/"right"/"bilateral") qualifying the mention [start, end) of ``clause``, or "".

    Looked for within `SIDE_WINDOW` characters, not past the neighbouring mentions (``lo``: end
    of the previous one, ``hi``: start of the next) nor past a conjunction or comma, so in
    "left effusion and right atelectasis" each finding keeps its own side. Before the
    mention wins ("right pleural effusion"), then after it ("effusion on the right").
    """
    hi = len(clause) if hi is None else hi
    lo = max(lo, start - SIDE_WINDOW)
    before = _BREAK.split(clause[lo:start].lower())[-1]
    after = _BREAK.split(clause[end:min(hi, end + SIDE_WINDOW)].lower())[0]
    found = list(_SIDE_RE.finditer(before))
    if found:
        return _SIDE[" ".join(found[-1].group(0).split())]
    m = _SIDE_RE.search(after)
    return _SIDE[" ".join(m.group(0).split())] if m else ""


def merge_sides(a: str, b: str) -> str:
    """Union of two sides: "left" + "right" -> "bilateral"; "" is unknown."""
    if not a or a == b:
        return b or a
    if not b:
        return a
    return "bilateral"


def side_of_anatomy(anatomy: str) -> str:
    """Side of a structurer anatomy name ("left lower lobe" -> "left"), "" when it has none."""
    first = anatomy.split(" ", 1)[0]
    return first if first in ("left", "right") else ""


def side_fits(claim: str, ref: str) -> bool:
    """Whether a claimed side is compatible with the reference's (unknown on either side fits)."""
    return not claim or not ref or claim == ref or ref == "bilateral"
