"""`radkit search`: query an index with an image or report text."""

from __future__ import annotations

import json as _json
from typing import Literal, Optional


def search(*, index: str, image: Optional[str] = None, text: Optional[str] = None, anatomy: Optional[str] = None,
           k: int = 10, target: Literal["image", "report"] = "image", where: Optional[str] = None,
           json: bool = False) -> int:
    """Find the most similar studies to an image (optionally for one anatomy) or to report text.

    Example: radkit search --index indexes/built/demo --image query.png --anatomy "right lower lobe" --k 5

    Args:
        index: index folder (`radkit index build`).
        image: query image (PNG/JPG, DICOM file or series folder, NIfTI).
        text: query report text (instead of --image).
        anatomy: condition an image query on this anatomy.
        k: number of results.
        target: match study images or their reports.
        where: filter, a pandas query on study_id, patient_id, split, view, study_date, e.g. "split == 'test'".
        json: print one JSON line per hit instead of a table.
    """
    from radkit.retrieval.api import Retriever

    if (image is None) == (text is None):
        raise ValueError("pass exactly one of --image PATH or --text \"...\"")
    r = Retriever.load(index)
    hits = r.search(image=image, text=text, anatomy=anatomy, k=k, where=where, target=target)
    if json:
        for h in hits:
            print(_json.dumps(h.to_dict()))
        return 0
    from rich.console import Console
    from rich.table import Table

    what = f"image {image}" if image else f"text {text!r}"
    t = Table(title=f"{len(hits)} hits for {what}" + (f" | anatomy: {anatomy}" if anatomy else ""))
    for col in ("rank", "score", "study", "report"):
        t.add_column(col)
    for h in hits:
        rep = " ".join(h.report.split())
        i = rep.upper().find("FINDINGS:")  # skip the examination/comparison header lines
        rep = rep[i:] if i > 0 else rep
        rep = rep if len(rep) <= 110 else rep[:107] + "..."
        t.add_row(str(h.rank), f"{h.score:.3f}", h.study_id, rep)
    Console(width=140).print(t)
    return 0


COMMAND = search
