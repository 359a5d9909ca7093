"""From matched mentions to items: NegEx scope, anatomy assignment, attributes."""

from __future__ import annotations

import re
from functools import lru_cache

from radkit.reports import lexicon as lx
from radkit.reports.anatomy import FINDINGS, ancestors, taxonomy
from radkit.reports.matching import Mention, Parsed

_PRE = {"pre_neg", "pre_unc", "pseudo"}
_POST = {"post_neg", "post_unc"}


@lru_cache(maxsize=4)
def _roots(modality: str) -> dict[str, str]:
    return {a: ([a] + ancestors(a, modality))[-1] for a in taxonomy(modality)}


@lru_cache(maxsize=64)
def default_anatomy(finding: str, modality: str) -> str:
    """Lowest common ancestor of the finding's allowed anatomies (first allowed if none)."""
    allowed = FINDINGS[finding].anatomies.get(modality, ())
    if not allowed:
        return next(iter(taxonomy(modality)))
    chains = [[a] + ancestors(a, modality) for a in allowed]
    for cand in chains[0]:
        if all(cand in c for c in chains[1:]):
            return cand
    return allowed[0]


def compatible(anatomy: str, finding: str, modality: str) -> bool:
    """True when ``anatomy`` lies in the same taxonomy tree as one of the finding's allowed anatomies."""
    roots = _roots(modality)
    return any(roots[anatomy] == roots[a] for a in FINDINGS[finding].anatomies.get(modality, ()))


def _within(m: Mention, span: tuple[int, int]) -> bool:
    return span[0] <= m.start < span[1]


def _overlaps(a: Mention, b: Mention) -> bool:
    return a.start < b.end and b.start < a.end


def _finding_mentions(p: Parsed) -> list[tuple[Mention, str]]:
    """Explicit finding mentions, plus cardiomegaly stated through heart size."""
    found = [(m, "present") for m in p.of("finding")]
    hearts = [m for m in p.of("anatomy") if m.value == ("heart",)]
    for clause in p.clauses:
        if not any(_within(h, clause) for h in hearts):
            continue
        if any(_within(m, clause) and m.value == "cardiomegaly" for m, _ in found):
            continue
        explicit = [m for m, _ in found if _within(m, clause)]
        enl = [m for m in p.of("heart_enlarged") if _within(m, clause) and not any(_overlaps(m, e) for e in explicit)]
        norm = [m for m in p.of("heart_normal") if _within(m, clause)]
        if enl:
            found.append((Mention(enl[0].start, enl[0].end, "finding", "cardiomegaly", enl[0].surface), "present"))
        elif norm:
            found.append((Mention(norm[0].start, norm[0].end, "finding", "cardiomegaly", norm[0].surface), "absent"))
    return sorted(found, key=lambda x: x[0].start)


def _status(p: Parsed, clause, seg, fm: Mention, base: str) -> str:
    trig = [t for t in p.of("trigger") if _within(t, clause) and not _overlaps(t, fm)]
    kinds: set[str] = set()
    pre = [t for t in trig if t.end <= fm.start and t.value & _PRE]
    if pre:
        t = pre[-1]
        # "no effusion, small pneumothorax": a new list item with its own severity leaves the scope
        broken = not _within(t, seg) and any(_within(s, seg) for s in p.of("severity"))
        if not broken and "pseudo" not in t.value:
            kinds |= t.value
    post = [t for t in trig if t.start >= fm.end and t.value & _POST]
    if post:
        kinds |= post[0].value
    if kinds & {"pre_unc", "post_unc"}:
        return "uncertain"
    if kinds & {"pre_neg", "post_neg"}:
        return "absent"
    return base


def _lobes(p: Parsed, seg, modality: str) -> list[Mention]:
    out = []
    sides = [s.value for s in _free_sides(p, seg)]
    for m in p.of("lobe"):
        if not _within(m, seg):
            continue
        side_set = sides[-1] if sides else (("right", "left") if m.surface.endswith("lobes") else ())
        if m.value == "middle":
            side_set = ("right",)
        for side in side_set:
            name = f"{side} {m.value} lobe" if modality == "cxr" else f"{side} lung {m.value} lobe"
            if name in taxonomy(modality):
                out.append(Mention(m.start, m.end, "anatomy", name, m.surface))
    return out


def _free_sides(p: Parsed, seg) -> list[Mention]:
    anat = p.of("anatomy")
    return [s for s in p.of("side") if _within(s, seg) and not any(_overlaps(s, a) for a in anat)]


def _refine_side(anatomy: str, sides: tuple[str, ...], modality: str) -> list[str]:
    tax = taxonomy(modality)
    if modality == "cxr" and anatomy == "lungs" and set(sides) == {"right", "left"}:
        # CXR: "bilateral airspace opacities" is the lungs as a whole (MIMIC-style labels); CT
        # labels (CT-RATE style) keep one item per lung, and paired pleura stay per side
        return [anatomy]
    kids = [c for c in tax.values() if c.parent == anatomy and c.side in sides]
    return [c.name for c in kids] or [anatomy]


def _more_specific(mentioned: str, default: str, modality: str) -> str:
    return default if mentioned in ancestors(default, modality) else mentioned


def _lobed_organ(p: Parsed, seg) -> str | None:
    """A non-lung organ with lobes named in the sentence when the finding's segment says a bare
    "lobe" (no upper/middle/lower, no lung): "thyroid ... nodule in the right lobe" -> thyroid."""
    text = p.text[seg[0]:seg[1]].lower()
    if not lx.BARE_LOBE.search(text) or any(_within(m, seg) for m in p.of("lobe")):
        return None
    if any(_within(a, seg) and ("lung" in a.value or "lobe" in a.value) for a in p.anatomies):
        return None
    organs = [a.value for a in p.anatomies if a.value in lx.LOBED_ORGANS]
    return organs[0] if organs else None


def _assign(p: Parsed, clause, seg, fm: Mention, finding: str, modality: str) -> list[str]:
    if finding == "support device":
        airway = any(d in fm.surface for d in lx.AIRWAY_DEVICES)
        return ["trachea" if airway else "mediastinum"]
    organ = _lobed_organ(p, seg)
    if organ is not None:
        return [organ]
    default = default_anatomy(finding, modality)
    segs = [s for s in p.segments if s[0] >= clause[0] and s[1] <= clause[1]]
    anat = p.anatomies
    in_seg = [a for a in anat + _lobes(p, seg, modality) if _within(a, seg)]
    own = [a for a in in_seg if compatible(a.value, finding, modality) or _overlaps(a, fm)
           or 0 <= fm.start - a.end <= 1]
    # bare anatomy list items next to the finding's segment: "left lower lobe and lingular consolidation"
    i = segs.index(seg) if seg in segs else -1
    for step in (-1, 1):
        j = i + step
        while i >= 0 and 0 <= j < len(segs) and _is_bare(p, segs[j]):
            own += [a for a in anat + _lobes(p, segs[j], modality)
                    if _within(a, segs[j]) and compatible(a.value, finding, modality)]
            j += step
    # a region named next to the finding but outside its usual places ("lesion in the liver")
    own = own or in_seg
    if not own and i >= 0:
        # list continuation: "left basilar opacity may reflect atelectasis or pneumonia"
        for j in sorted(range(len(segs)), key=lambda j: (abs(j - i), j > i)):
            near = [a for a in anat + _lobes(p, segs[j], modality)
                    if _within(a, segs[j]) and compatible(a.value, finding, modality)]
            if near:
                own = near
                break
    names = [_more_specific(a.value, default, modality) for a in own] or [default]
    sides = _free_sides(p, seg)
    out: list[str] = []
    for n in names:
        refined = _refine_side(n, sides[-1].value, modality) if sides and taxonomy(modality)[n].side is None else [n]
        out += [r for r in refined if r not in out]
    return out


def _is_bare(p: Parsed, seg) -> bool:
    """A segment made only of anatomy names and filler words (no finding, no trigger)."""
    if any(_within(m, seg) for m in p.mentions if m.kind == "finding"):
        return False
    text = list(p.text[seg[0]:seg[1]])
    for m in p.mentions:
        if m.kind in ("anatomy", "lobe", "side", "trigger") and _within(m, seg):
            text[m.start - seg[0]:m.end - seg[0]] = " " * (m.end - m.start)
    words = re.sub(r"[^a-z ]", " ", "".join(text)).split()
    has_anatomy = any(m.kind in ("anatomy", "lobe") and _within(m, seg) for m in p.mentions)
    return has_anatomy and all(w in lx.FILLER for w in words) and len(words) < 5


def _nearest(cands: list[Mention], fm: Mention) -> Mention | None:
    if not cands:
        return None
    before = [c for c in cands if c.end <= fm.start]
    return before[-1] if before else min(cands, key=lambda c: abs(c.start - fm.end))


def resolve_items(p: Parsed, modality: str) -> list:
    """Items of one matched sentence (see `radkit.reports.structure`)."""
    from radkit.reports.structure import Item

    found = _finding_mentions(p)
    finding_segs = [g for g in p.segments if any(_within(m, g) for m, _ in found)]
    items = []
    for fm, base in found:
        clause = next((c for c in p.clauses if _within(fm, c)), (0, len(p.text)))
        seg = next((s for s in p.segments if _within(fm, s)), clause)
        finding = fm.value
        status = _status(p, clause, seg, fm, base)
        sev = _nearest([s for s in p.of("severity") if _within(s, seg) and not _overlaps(s, fm)], fm)
        if sev is None:  # "interval increase in pneumothorax, now large": a finding-free segment of the clause
            sev = _nearest([s for s in p.of("severity") if _within(s, clause)
                            and not any(_within(s, g) for g in finding_segs)], fm)
        scale = FINDINGS[finding].severities
        severity = scale[sev.value - 1] if sev is not None and len(scale) >= 3 else ""
        size = _nearest([s for s in p.of("size") if _within(s, seg)], fm)
        ch = [c for c in p.of("change") if not _overlaps(c, fm)]
        change = _nearest([c for c in ch if _within(c, seg)], fm) or _nearest([c for c in ch if _within(c, clause)], fm)
        for anatomy in _assign(p, clause, seg, fm, finding, modality):
            items.append(Item(anatomy, finding, status, severity, change.value if change else "",
                              size.value if size else None))
    return items
