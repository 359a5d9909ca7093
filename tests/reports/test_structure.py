"""Rule-based structurer: hand-written sentence set, constructs, sub-reports, bad input."""

from pathlib import Path

import pytest

from radkit.reports.structure import items_f1, structure_report

DATA = Path(__file__).parent / "data" / "sentences.psv"
HELDOUT = Path(__file__).parent / "data" / "heldout.psv"


def load_cases(path=DATA):
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
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


def test_heldout_sentence_f1():
    # 55 sentences written and committed before the first run, never tuned on. Observed on the
    # first (and only) run: all F1 0.914 (P 0.930, R 0.898, 49/55 sentences exact); cxr 0.896
    # (30 sentences), ct 0.939 (25). Misses: "no evidence of pneumothorax or large pleural
    # effusion" (severity word breaks the negation list), "pneumonia cannot be completely
    # excluded" (adverb inside the trigger), "enlarged ... lymph nodes" / "lymph nodes are not
    # enlarged" (split phrase), "left-sided ... no residual pneumothorax" (side in another
    # segment), "liver ... ; no suspicious lesion" (organ in the previous clause).
    cases = load_cases(HELDOUT)
    assert len(cases) >= 40
    pred = [structure_report(s, m).triples() for m, s, _ in cases]
    exp = [e for _, _, e in cases]
    floors = {"cxr": 0.87, "ct": 0.91}
    for mod, floor in floors.items():
        idx = [i for i, c in enumerate(cases) if c[0] == mod]
        assert items_f1([pred[i] for i in idx], [exp[i] for i in idx])["f1"] >= floor, mod
    assert items_f1(pred, exp)["f1"] >= 0.89


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


@pytest.mark.parametrize("mod, text, expected", [
    # CXR: "bilateral" on a lung-level finding is the lungs as a whole (was: right lung + left lung)
    ("cxr", "Worsening bilateral airspace opacities consistent with multifocal pneumonia.",
     {("lungs", "consolidation", "present")}),
    ("cxr", "Bilateral patchy atelectasis.", {("lungs", "atelectasis", "present")}),
    ("cxr", "Opacities in both lungs may represent pneumonia.", {("lungs", "consolidation", "uncertain")}),
    # ... but lobes and pleura keep their sides, and CT keeps one item per lung
    ("cxr", "Bilateral lower lobe atelectasis.", {("right lower lobe", "atelectasis", "present"),
                                                  ("left lower lobe", "atelectasis", "present")}),
    ("cxr", "Small bilateral effusions.", {("right pleura", "effusion", "present"),
                                           ("left pleura", "effusion", "present")}),
    ("ct", "Bilateral lung nodules.", {("right lung", "nodule", "present"), ("left lung", "nodule", "present")}),
    # CT: a bare "lobe" in a sentence about the thyroid (or liver) stays in that organ (was: right lung)
    ("ct", "Thyroid gland is enlarged with a nodule in the right lobe.", {("thyroid", "nodule", "present")}),
    ("ct", "A 9 mm hypodense nodule is seen in the left lobe of the thyroid.", {("thyroid", "nodule", "present")}),
    ("ct", "Hypodense lesion in the right lobe of the liver.", {("liver", "nodule", "present")}),
    # control: a lung lobe named in the finding's own segment still wins
    ("ct", "The thyroid is normal; a nodule is seen in the right lower lobe.",
     {("right lung lower lobe", "nodule", "present")}),
])
def test_fixed_misses_bilateral_lungs_and_thyroid_lobe(mod, text, expected):
    assert structure_report(text, mod).triples() == expected
