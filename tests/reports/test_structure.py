"""Rule-based structurer: hand-written sentence set, constructs, sub-reports, bad input."""

from pathlib import Path

import pytest

from radkit.reports.structure import items_f1, structure_report

DATA = Path(__file__).parent / "data" / "sentences.psv"


def load_cases():
    cases = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        mod, sent, triples = (x.strip() for x in line.split("|"))
        exp = {tuple(t.strip().split("/")) for t in triples.split(";") if t.strip()}
        cases.append((mod, sent, exp))
    return cases


def test_sentence_set_f1():
    cases = load_cases()
    assert len(cases) >= 150
    pred = [structure_report(s, m).triples() for m, s, _ in cases]
    exp = [e for _, _, e in cases]
    for mod in ("cxr", "ct"):
        idx = [i for i, c in enumerate(cases) if c[0] == mod]
        score = items_f1([pred[i] for i in idx], [exp[i] for i in idx])
        assert score["f1"] >= 0.9, (mod, score)
    assert items_f1(pred, exp)["f1"] >= 0.9


def _one(text, mod="cxr"):
    return structure_report(text, mod).items


def test_attributes_severity_size_change():
    (it,) = _one("Moderate left pleural effusion has increased since the prior study.")
    assert (it.anatomy, it.severity, it.change) == ("left pleura", "moderate", "worse")
    (it,) = _one("There is a 1.5 cm nodule in the right upper lobe, new since the prior exam.")
    assert it.size_mm == pytest.approx(15.0) and it.change == "new" and it.anatomy == "right upper lobe"
    (it,) = _one("Small consolidation in the left lower lobe, unchanged.")
    assert it.severity == "mild" and it.change == "stable"  # "small" mapped onto consolidation's scale


def test_pseudo_negation_and_terminators():
    (it,) = _one("No change in the small right pneumothorax.")
    assert it.status == "present" and it.change == "stable"
    got = {i.triple() for i in _one("Mild pulmonary edema, but no pleural effusion.")}
    assert got == {("pulmonary vasculature", "edema", "present"), ("pleura", "effusion", "absent")}


def test_sections_and_sentence_spans():
    text = "INDICATION: Rule out pneumonia.\nFINDINGS: Small left effusion. IMPRESSION: No pneumothorax."
    rep = structure_report(text, "cxr")
    assert rep.triples() == {("left pleura", "effusion", "present"), ("pleura", "pneumothorax", "absent")}
    for it in rep.items:
        s, e = it.span
        assert text[s:e] == rep.sentences[it.sentence].text


def test_propagation_and_sub_report():
    rep = structure_report("Right lower lobe consolidation. The heart size is normal. No pneumothorax.", "cxr")
    assert {"right lower lobe", "right lung", "lungs", "heart", "pleura"} <= rep.anatomies()
    sub = rep.sub_report("lungs")
    assert sub.text == "Right lower lobe consolidation."
    assert sub.triples() == {("right lower lobe", "consolidation", "present")}
    assert structure_report("Right lower lobe consolidation.", "cxr").sub_report("heart").items == []
    with pytest.raises(KeyError, match="unknown cxr anatomy"):
        rep.sub_report("spleen")


def test_bad_input_gives_warnings_not_exceptions():
    assert structure_report("", "ct").warnings == ["empty report"]
    rep = structure_report("肺野清晰，未见胸腔积液。 No pneumothorax. ---- 12345 ----", "cxr")
    assert rep.triples() == {("pleura", "pneumothorax", "absent")}
    assert len(rep.warnings) == 2 and "not English" in rep.warnings[0]
    with pytest.raises(ValueError, match="unknown modality"):
        structure_report("No effusion.", "mri")
