"""Optional LLM report structurer (off by default) through `radkit.llm.LLMClient`.

The model receives the numbered sentences, the allowed anatomy/finding names and
returns JSON ``{"items": [{"sentence": i, "anatomy", "finding", "status", "severity",
"change"}]}``. Items naming an unknown anatomy, finding, status or sentence are dropped
with a counted warning, so the output has the same vocabulary as the rule-based one.
"""

from __future__ import annotations

import json

from radkit.llm import LLMClient
from radkit.reports.anatomy import FINDINGS, ancestors, list_anatomies, taxonomy
from radkit.reports.matching import split_sentences
from radkit.reports.structure import STATUSES, Item, StructuredReport

_CHANGES = ("", "new", "stable", "worse", "better")


def _prompt(sentences: list[str], modality: str) -> list[dict]:
    numbered = "\n".join(f"{i}: {s}" for i, s in enumerate(sentences))
    return [
        {"role": "system", "content": "You structure radiology reports. Answer with JSON only."},
        {"role": "user", "content": (
            f"Modality: {modality}. Allowed anatomies: {json.dumps(list_anatomies(modality))}. "
            f"Allowed findings: {json.dumps(list(FINDINGS))}. Status: present, absent or uncertain. "
            f"Change: one of {json.dumps(list(_CHANGES))}.\n"
            'Return {"items": [{"sentence": <index>, "anatomy": ..., "finding": ..., "status": ..., '
            '"severity": "", "change": ""}]} for every finding stated (including negated ones).\n'
            f"Sentences:\n{numbered}")},
    ]


def structure_report_llm(text: str, modality: str, client: LLMClient) -> StructuredReport:
    """Structure ``text`` with an LLM; same output type and vocabulary as `structure_report`.

    Raises:
        radkit.llm.LLMError: the server gave no valid JSON after its retries.
    """
    tax = taxonomy(modality)
    rep = StructuredReport(text or "", modality, split_sentences(text or ""))
    if not rep.sentences:
        rep.warnings.append("empty report")
        return rep

    def valid(obj: dict) -> bool:
        return isinstance(obj.get("items"), list)

    reply = client.chat_json(_prompt([s.text for s in rep.sentences], modality), schema_keys=valid)
    anats: dict[int, set] = {}
    for raw in reply["items"]:
        try:
            idx = int(raw["sentence"])
            anat, find, status = str(raw["anatomy"]), str(raw["finding"]), str(raw["status"])
            ok = 0 <= idx < len(rep.sentences) and anat in tax and find in FINDINGS and status in STATUSES
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            rep.warnings.append(f"LLM item dropped (unknown sentence/anatomy/finding/status): {raw!r}"[:200])
            continue
        change = str(raw.get("change") or "")
        rep.items.append(Item(anat, find, status, str(raw.get("severity") or ""),
                              change if change in _CHANGES else "", None, idx, rep.sentences[idx].span))
        anats.setdefault(idx, set()).update([anat, *ancestors(anat, modality)])
    for i, s in enumerate(rep.sentences):
        s.anatomies = frozenset(anats.get(i, ()))
    return rep
