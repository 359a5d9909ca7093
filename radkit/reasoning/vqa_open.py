"""Open anomaly detection over a restricted label space (a benchmark variant of the ``anomaly`` task).

The release's open task lists every positive label of a study with 2-5 findings. On radkit's tiny
synthetic images only a few findings are visible at all (pleural effusion and edema: a 28x28-pixel
probe separates them at 0.85 / 0.82, the others at 0.43-0.61), so the full open task sits at chance.
`open_items` asks instead "which of THESE findings are present?" over a given label space: the gold
answer is the present subset (possibly empty, answered "none"), scored by set-F1 like the release's
open task (`radkit.reasoning.outcome.outcome_score`, task ``anomaly``).

Positives (studies with at least one label of the space present) are all kept and matched by an equal
number of negatives drawn by ``seed``, so answering "none" everywhere scores about 0.5, not the
prevalence of normal studies. Studies with an uncertain label of the space are skipped (no clean gold set).
"""

from __future__ import annotations

import random
from typing import Callable, Iterable

from radkit.data.study import Study
from radkit.reasoning.labels import LABELS, Observation, label_values, observations_from_study

NONE_ANSWER = "none"
OPEN_Q = "Which of these findings are in this {modality}: {labels}? Answer with the findings present, or none."


def open_items(studies: list[Study], seed: int, label_space: Iterable[str],
               observe: Callable[[Study], list[Observation]] = observations_from_study,
               dataset: str = "radkit") -> list[dict]:
    """Open anomaly items (task "anomaly", variant "no_option") over ``label_space``.

    Returns:
        Records as `radkit.reasoning.vqa._record` writes them, with ``candidates`` = the label
        space (so the mined chain reasons about each), ``positives`` = the present subset in
        label-space order and ``answer`` = those labels joined by ", " or "none".

    Raises:
        ValueError: an empty label space or a label outside `LABELS`.
    """
    from radkit.reasoning import prompts
    from radkit.reasoning.vqa import _record

    space = list(dict.fromkeys(label_space))
    bad = [lab for lab in space if lab not in LABELS]
    if not space or bad:
        raise ValueError(f"label space {space!r}: needs 1+ labels of {', '.join(LABELS)}; unknown {bad}")
    pos_studies, neg_studies = [], []
    for s in sorted(studies, key=lambda s: s.study_id):  # input order must not change the sample
        vals = label_values(observe(s))
        if any(vals.get(lab) == -1 for lab in space):
            continue
        present = [lab for lab in space if vals.get(lab) == 1]
        (pos_studies if present else neg_studies).append((s, present))
    rng = random.Random(f"{seed}:open:{','.join(space)}")
    chosen = pos_studies + rng.sample(neg_studies, min(len(pos_studies), len(neg_studies)))
    out = []
    for s, present in sorted(chosen, key=lambda t: t[0].study_id):
        question = OPEN_Q.format(modality=prompts.MODALITY_WORDS[s.modality], labels=", ".join(space))
        rec = _record(s, "anomaly", "no_option", question, [], None, ", ".join(present) or NONE_ANSWER, None,
                      present, list(s.image_paths), dataset)
        rec["candidates"] = list(space)
        out.append(rec)
    return out
