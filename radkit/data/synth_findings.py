"""Cohort planning for the synthesiser: patients, studies, findings placement.

A plan is pure data (no pixels): which patient each study belongs to, its split,
date, prior study, and the findings to draw with their anatomy, severity, side and
a placement seed. Prior/current pairs share placement seeds so a nodule stays in
place and only its size changes. Hard negatives are derived from an earlier case
by mirroring one finding to the other side or swapping the finding in the same
anatomy, so near-duplicates that differ in one clinically relevant fact exist.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace

import numpy as np

from radkit.reports.anatomy import FINDINGS

# relative prevalence of each finding among abnormal studies
_WEIGHTS = {"nodule": 1.2, "consolidation": 1.2, "effusion": 1.3, "pneumothorax": 0.8, "atelectasis": 1.0,
            "cardiomegaly": 1.0, "edema": 0.9, "emphysema": 0.7, "fracture": 0.6, "lymphadenopathy": 0.7,
            "support device": 0.8}
# CT pleural findings are planned in "pleura" plus a side (the ground truth records "right/left pleura")
_CT_SIDED = ("effusion", "pneumothorax")
_MIRROR = {"right": "left", "left": "right"}


@dataclass
class FindingSpec:
    """One finding to draw in a study.

    Attributes:
        finding: canonical finding name (`FINDINGS`).
        anatomy: canonical anatomy of the study's modality.
        severity: severity word of the finding ("" when it has none).
        side: "left"/"right"/None; for CT pleural findings the anatomy has no side.
        place_seed: seed of the placement (location, shape); shared by prior and current.
        status: "present" or "uncertain" (drawn faintly, hedged in the report).
        change: "", "new", "stable", "worse" or "better" (current study of a pair).
    """

    finding: str
    anatomy: str
    severity: str
    side: str | None
    place_seed: int
    status: str = "present"
    change: str = ""

    @property
    def level(self) -> float:
        """Severity as a number in (0, 1]: index+1 over the number of severities."""
        sev = FINDINGS[self.finding].severities
        return (sev.index(self.severity) + 1) / len(sev) if self.severity in sev else 1.0


@dataclass
class StudyPlan:
    """Everything needed to render one study and write its report."""

    study_id: str
    patient_id: str
    modality: str
    split: str
    study_date: str
    view: str | None
    patient_seed: int
    acq_seed: int
    report_seed: int
    findings: list[FindingSpec] = field(default_factory=list)
    resolved: list[FindingSpec] = field(default_factory=list)  # in the prior, gone now
    prior_study_id: str | None = None


def side_of(anatomy: str) -> str | None:
    """'left'/'right' when the anatomy name carries a side, else None."""
    for s in ("right", "left"):
        if anatomy.startswith(s + " ") or f" {s} " in f" {anatomy} ":
            return s
    return None


def mirror_anatomy(anatomy: str, modality: str) -> str:
    """The same anatomy on the other side (right middle lobe maps to the lingula's lobe)."""
    s = side_of(anatomy)
    if s is None:
        return anatomy
    out = anatomy.replace(s, _MIRROR[s], 1)
    if "middle lobe" in out:  # no left middle lobe: the lingula belongs to the left upper lobe
        out = out.replace("middle", "upper")
    return out


def random_finding(rng: np.random.Generator, modality: str, name: str | None = None,
                   anatomy: str | None = None) -> FindingSpec:
    """Draw a finding (or the named one) with a random allowed anatomy, severity and side."""
    if name is None:
        names = list(_WEIGHTS)
        p = np.array([_WEIGHTS[k] for k in names])
        name = names[rng.choice(len(names), p=p / p.sum())]
    f = FINDINGS[name]
    anatomy = anatomy or f.anatomies[modality][rng.integers(len(f.anatomies[modality]))]
    side = side_of(anatomy)
    if side is None and modality == "ct" and name in _CT_SIDED:
        side = ("right", "left")[rng.integers(2)]
    if side is None and name in ("lymphadenopathy", "support device", "fracture") and rng.random() < 0.5:
        side = ("right", "left")[rng.integers(2)]  # which hilum / which jugular vein / clavicle
    sev = f.severities[rng.integers(len(f.severities))]
    return FindingSpec(name, anatomy, sev, side, int(rng.integers(2**31)))


def _key(f: FindingSpec) -> tuple:
    return (f.finding, f.anatomy)


def random_findings(rng: np.random.Generator, modality: str, k: int) -> list[FindingSpec]:
    """``k`` findings with distinct (finding, anatomy) keys; at most one support device per anatomy."""
    out: list[FindingSpec] = []
    for _ in range(k * 6):
        if len(out) == k:
            break
        f = random_finding(rng, modality)
        if _key(f) not in {_key(g) for g in out} and not (f.finding in ("cardiomegaly", "edema", "emphysema")
                                                          and f.finding in {g.finding for g in out}):
            out.append(f)
    hedgeable = [i for i, f in enumerate(out) if f.finding != "support device"]
    if hedgeable and rng.random() < 0.2:  # one hedged finding, drawn at its mildest
        i = hedgeable[int(rng.integers(len(hedgeable)))]
        out[i] = replace(out[i], status="uncertain", severity=FINDINGS[out[i].finding].severities[0])
    return out


def hard_negative(rng: np.random.Generator, modality: str, src: list[FindingSpec]) -> list[FindingSpec]:
    """A variant of ``src`` differing in one fact: other side, or other finding in the same anatomy."""
    out = [replace(f, place_seed=int(rng.integers(2**31))) for f in src]
    i = int(rng.integers(len(out)))
    f = out[i]
    if f.side is not None and rng.random() < 0.6:
        new = replace(f, anatomy=mirror_anatomy(f.anatomy, modality), side=_MIRROR[f.side])
    else:
        alts = [n for n, d in FINDINGS.items() if n != f.finding and f.anatomy in d.anatomies[modality]]
        if not alts:
            new = replace(f, anatomy=mirror_anatomy(f.anatomy, modality),
                          side=_MIRROR[f.side] if f.side else None)
        else:
            new = random_finding(rng, modality, alts[rng.integers(len(alts))], f.anatomy)
            new = replace(new, side=f.side if new.side is None else new.side)
    if _key(new) in {_key(g) for j, g in enumerate(out) if j != i}:
        return out
    out[i] = new
    return out


def _prior_of(rng: np.random.Generator, current: list[FindingSpec]) -> tuple[list, list]:
    """Assign a change to each current finding and derive the prior's findings."""
    cur, prior = [], []
    for f in current:
        sev = FINDINGS[f.finding].severities
        i = sev.index(f.severity)
        opts = ["new", "stable"] + (["worse"] if i > 0 else []) + (["better"] if i < len(sev) - 1 else [])
        ch = opts[rng.integers(len(opts))]
        f = replace(f, change=ch, status="present")
        cur.append(f)
        if ch == "stable":
            prior.append(replace(f, change=""))
        elif ch == "worse":
            prior.append(replace(f, change="", severity=sev[rng.integers(i)]))
        elif ch == "better":
            prior.append(replace(f, change="", severity=sev[rng.integers(i + 1, len(sev))]))
    return cur, prior


def _splits(rng: np.random.Generator, n_patients: int) -> list[str]:
    """Patient-level split labels: ~70/15/15, val and test non-empty when there are 3+ patients."""
    n_val = n_test = max(1, round(0.15 * n_patients)) if n_patients >= 3 else 0
    labels = ["val"] * n_val + ["test"] * n_test + ["train"] * (n_patients - n_val - n_test)
    return [labels[i] for i in rng.permutation(n_patients)]


def plan_cohort(modality: str, n: int, seed: int, prior_fraction: float = 0.3,
                normal_fraction: float = 0.2) -> list[StudyPlan]:
    """Plan ``n`` studies: singles (normal or abnormal, some hard negatives) and prior/current pairs.

    Args:
        modality: "cxr" or "ct".
        n: number of studies.
        seed: cohort seed; the plan is a pure function of the arguments.
        prior_fraction: fraction of studies that belong to a prior/current pair.
        normal_fraction: fraction of single studies drawn without any finding.

    Returns:
        Study plans ordered by patient (a prior before its current study).
    """
    rng = np.random.default_rng([seed, 7919])
    n_pairs = min(int(round(n * prior_fraction / 2)), n // 2)
    n_single = n - 2 * n_pairs
    n_normal = int(round(n_single * normal_fraction))
    kinds = ["normal"] * n_normal + ["abnormal"] * (n_single - n_normal) + ["pair"] * n_pairs
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    splits = _splits(rng, len(kinds))
    base = _dt.date(2018, 1, 1)
    plans: list[StudyPlan] = []
    abnormal_pool: list[list[FindingSpec]] = []
    for p, (kind, split) in enumerate(zip(kinds, splits)):
        pid = f"synth-{modality}-s{seed}-p{p:05d}"
        pseed = int(rng.integers(2**31))
        day = base + _dt.timedelta(days=int(rng.integers(0, 1500)))
        view = None if modality == "ct" else ("PA" if rng.random() < 0.7 else "AP")

        def new_plan(findings, date, prior=None, resolved=()):
            sid = f"synth-{modality}-s{seed}-{len(plans):05d}"
            v = view if prior is None or modality == "ct" else ("PA" if rng.random() < 0.7 else "AP")
            plans.append(StudyPlan(sid, pid, modality, split, date.isoformat(), v, pseed,
                                   int(rng.integers(2**31)), int(rng.integers(2**31)), list(findings),
                                   list(resolved), prior))
            return sid

        if kind == "normal":
            new_plan([], day)
            continue
        k = 1 + int(rng.binomial(3, 0.35))
        if kind == "abnormal" and abnormal_pool and rng.random() < 0.3:
            fs = hard_negative(rng, modality, abnormal_pool[rng.integers(len(abnormal_pool))])
        else:
            fs = random_findings(rng, modality, k if kind == "abnormal" else min(k, 3))
        if kind == "abnormal":
            abnormal_pool.append(fs)
            new_plan(fs, day)
            continue
        cur, prior = _prior_of(rng, fs)
        resolved = []
        if rng.random() < 0.2:  # a finding seen on the prior that has resolved since
            extra = random_findings(rng, modality, 1)
            extra = [f for f in extra if _key(f) not in {_key(g) for g in cur}]
            resolved = [replace(f, status="present") for f in extra]
        sid_prior = new_plan(prior + resolved, day)
        new_plan(cur, day + _dt.timedelta(days=int(rng.integers(20, 400))), sid_prior, resolved)
    return plans
