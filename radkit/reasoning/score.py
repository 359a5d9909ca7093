"""Score prediction files: per-task outcome accuracy and RadRScore components (SPEC_REASONER §3, §5).

Reads radkit prediction JSONL (VQA records plus ``pred``) and the release's files
unchanged: ``accuracy_res/<model>/<task>.json`` (question/answer/pred) and
``reasoning_res/<model>/<task>_evaluation_res.json`` (adding the recorded judge outputs).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from tqdm import tqdm

from radkit.reasoning.outcome import outcome_score, parse_output
from radkit.reasoning.radrscore import Judge, RecordedJudge, has_chain, judge_record
from radkit.reasoning.vqa import TASKS, read_jsonl

COMPONENTS = ("R_c", "R_f", "R_e")


def task_of(record: dict, fallback: str) -> str:
    """Group name: ``task_variant`` for radkit records, else the file's task name."""
    if record.get("task") and record.get("variant"):
        return f"{record['task']}_{record['variant']}"
    return fallback


def _task_from_stem(stem: str) -> str:
    return stem.replace("_evaluation_res", "")


def _item_for_outcome(record: dict, group: str) -> dict:
    item = dict(record)
    if "task" not in item:  # release file: infer the task from its name
        item["task"] = "anomaly" if ("multi" in group and "no_option" in group) else group
        item["variant"] = "no_option" if "no_option" in group else "option"
    return item


def _pearson(a: list[float], b: list[float]) -> float:
    n = len(a)
    if n < 2:
        return float("nan")
    ma, mb = sum(a) / n, sum(b) / n
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return float("nan")
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(va * vb)


def score_records(records: list[dict], judge: Judge | None, group: str = "all",
                  compare_recorded: bool = False, progress: bool = False, per_item: bool = False) -> dict[str, dict]:
    """Per-group accuracy and mean RadRScore components.

    Args:
        records: predictions (``pred`` + the VQA fields; release records work unchanged).
        judge: RadRScore judge, or None for accuracy only.
        group: group name for records without ``task``/``variant`` (the release's file task).
        compare_recorded: also judge with `RecordedJudge` and report agreement per component.
        per_item: also keep each record's scores (paired tests between models): ``item_outcomes``
            (outcome per record) and ``item_components`` ((R_c, R_f, R_e), None where not judged),
            both in the group's input order.

    Returns:
        ``{group: {n, accuracy, malformed, problems, judged, dropped, judge_errors, R_c, R_f, R_e,
        RadRScore[, no_judgment][, unknown_task][, agreement]}}``. ``no_judgment``: records
        without recorded judge fields under `RecordedJudge` (not judged, not "dropped"). Every
        record counts in ``accuracy``: an output without exactly one non-empty ``<answer>``
        scores 0; ``problems`` counts each kind of malformed output. A judge that returns None or raises drops that sample
        from the components only (``dropped``; first messages in ``judge_errors``). Records
        whose ``task`` is not a radkit task keep their own group, flagged ``unknown_task``
        (excluded from `macro`).
    """

    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(task_of(r, group), []).append(r)
    out = {}
    for name, recs in groups.items():
        acc, malformed, comps, pairs, dropped, no_chain, no_judgment = [], 0, [], [], 0, 0, 0
        item_comps: list[tuple[float, float, float] | None] = []
        problems: dict[str, int] = {}
        errors: list[str] = []
        for r in tqdm(recs, desc=f"score {name}", disable=not progress):
            parsed = parse_output(str(r.get("pred") or ""))
            malformed += bool(parsed.problem)
            if parsed.problem:
                problems[parsed.problem] = problems.get(parsed.problem, 0) + 1
            acc.append(outcome_score(parsed.usable_answer, _item_for_outcome(r, name)))
            item_comps.append(None)
            if judge is None:
                continue
            if isinstance(judge, RecordedJudge):
                if not RecordedJudge.has_outputs(r):  # e.g. an accuracy_res file: nothing to read
                    no_judgment += 1
                    continue
            elif not has_chain(r):
                no_chain += 1
                continue
            try:
                res = judge_record(judge, r)
            except Exception as e:  # timeouts, invalid replies, judge bugs: count, keep scoring
                res = None
                if len(errors) < 5:
                    errors.append(f"{r.get('item_id', '?')}: {type(e).__name__}: {e}")
            if res is None:
                dropped += 1
                continue
            comps.append(res.components())
            item_comps[-1] = comps[-1]
            if compare_recorded:
                rec = RecordedJudge().judge("", None, "", record=r)
                if rec is not None:
                    pairs.append((res.components(), rec.components()))
        row: dict = {"n": len(recs), "accuracy": sum(acc) / len(acc) if acc else 0.0, "malformed": malformed,
                     "problems": problems}
        unknown = sum(1 for r in recs if r.get("task") and r["task"] not in TASKS)
        if unknown:
            row["unknown_task"] = unknown
        if judge is not None:
            row.update(judged=len(comps), dropped=dropped, no_chain=no_chain, judge_errors=errors)
            if no_judgment:
                row["no_judgment"] = no_judgment
            for i, c in enumerate(COMPONENTS):
                row[c] = sum(x[i] for x in comps) / len(comps) if comps else float("nan")
            row["RadRScore"] = sum(row[c] for c in COMPONENTS) / 3
        if per_item:
            row.update(item_outcomes=acc, item_components=item_comps)
        if pairs:
            row["agreement"] = {c: {"pearson": _pearson([p[0][i] for p in pairs], [p[1][i] for p in pairs]),
                                    "mean_diff": sum(p[0][i] - p[1][i] for p in pairs) / len(pairs),
                                    "n": len(pairs)} for i, c in enumerate(COMPONENTS)}
        out[name] = row
    return out


def macro(rows: dict[str, dict]) -> dict:
    """Macro-average over groups of accuracy and the components (NaN and unknown-task groups skipped)."""
    out: dict = {}
    known = [r for r in rows.values() if not r.get("unknown_task")]
    skipped = len(rows) - len(known)
    if skipped:
        out["skipped_groups"] = skipped
    for key in ("accuracy",) + COMPONENTS + ("RadRScore",):
        vals = [r[key] for r in known if key in r and not math.isnan(r[key])]
        if vals:
            out[key] = sum(vals) / len(vals)
    return out


def score_files(paths: list[str | os.PathLike], judge: Judge | None, compare_recorded: bool = False,
                progress: bool = True) -> dict:
    """Score prediction files; returns ``{"tasks": {group: row}, "macro": {...}}`` (see `score_records`).

    Raises:
        FileNotFoundError: a path does not exist.
    """
    tasks: dict[str, dict] = {}
    for p in paths:
        p = Path(p)
        rows = score_records(read_jsonl(p), judge, _task_from_stem(p.stem), compare_recorded, progress)
        for k, v in rows.items():
            tasks[k if k not in tasks else f"{p.stem}/{k}"] = v
    return {"tasks": tasks, "macro": macro(tasks)}
