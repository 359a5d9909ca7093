"""Anatomy taxonomies (CXR and CT) and the finding ontology shared by the
synthesiser (`radkit.data.synth`) and the report structurer (`radkit.reports`).

The anatomy names follow the RadIR vocabularies (SPEC_RADIR.md §1.4) so tables
written by radkit use the same file names as the upstream MIMIC-IR / CTRATE-IR
release. Each anatomy has one parent (``None`` for roots), so ancestors form a
chain: ``right lower lobe -> right lung -> lungs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODALITIES = ("cxr", "ct")


@dataclass(frozen=True)
class Anatomy:
    """One node of a taxonomy.

    Attributes:
        name: canonical lower-case name (also the RadIR table file stem).
        parent: canonical name of the parent, or None for a root.
        synonyms: lower-case surface forms that mean this anatomy in reports.
        side: "left", "right" or None.
    """

    name: str
    parent: str | None = None
    synonyms: tuple[str, ...] = ()
    side: str | None = None


def _a(name, parent=None, syn=(), side=None):
    return Anatomy(name, parent, tuple(syn), side)


_CXR = [
    _a("lungs", None, ["lung", "lung fields", "pulmonary", "lung parenchyma", "lungs"]),
    _a("right lung", "lungs", ["right lung", "right hemithorax"], "right"),
    _a("left lung", "lungs", ["left lung", "left hemithorax"], "left"),
    _a("right upper lobe", "right lung", ["right upper lobe", "rul", "right apex", "right apical"], "right"),
    _a("right middle lobe", "right lung", ["right middle lobe", "rml"], "right"),
    _a("right lower lobe", "right lung", ["right lower lobe", "rll", "right lung base", "right base", "right basilar"], "right"),
    _a("left upper lobe", "left lung", ["left upper lobe", "lul", "left apex", "left apical", "lingula"], "left"),
    _a("left lower lobe", "left lung", ["left lower lobe", "lll", "left lung base", "left base", "left basilar", "retrocardiac"], "left"),
    _a("lung base", "lungs", ["lung bases", "bibasilar", "bases", "basilar"]),
    _a("pleura", None, ["pleura", "pleural", "pleural space"]),
    _a("right pleura", "pleura", ["right pleura", "right pleural"], "right"),
    _a("left pleura", "pleura", ["left pleura", "left pleural"], "left"),
    _a("costophrenic angle", "pleura", ["costophrenic angle", "costophrenic angles", "costophrenic sulcus"]),
    _a("heart", None, ["heart", "cardiac", "cardiac silhouette", "heart size"]),
    _a("pericardium", "heart", ["pericardium", "pericardial"]),
    _a("mediastinum", None, ["mediastinum", "mediastinal", "superior mediastinum"]),
    _a("hilum", "mediastinum", ["hilum", "hila", "hilar"]),
    _a("aorta", "mediastinum", ["aorta", "aortic", "aortic knob", "aortic arch"]),
    _a("trachea", "airway structures", ["trachea", "tracheal"]),
    _a("airway structures", None, ["airway", "airways"]),
    _a("carina", "airway structures", ["carina"]),
    _a("bronchi", "airway structures", ["bronchi", "bronchial"]),
    _a("diaphragm", None, ["diaphragm", "hemidiaphragm", "hemidiaphragms"]),
    _a("right hemidiaphragm", "diaphragm", ["right hemidiaphragm"], "right"),
    _a("left hemidiaphragm", "diaphragm", ["left hemidiaphragm"], "left"),
    _a("bones", None, ["bones", "osseous", "osseous structures", "skeletal"]),
    _a("ribs", "bones", ["rib", "ribs"]),
    _a("right ribs", "ribs", ["right rib", "right ribs"], "right"),
    _a("left ribs", "ribs", ["left rib", "left ribs"], "left"),
    _a("spine", "bones", ["spine", "thoracic spine", "vertebra", "vertebrae", "vertebral"]),
    _a("clavicle", "bones", ["clavicle", "clavicles"]),
    _a("pulmonary vasculature", "lungs", ["pulmonary vasculature", "vascular", "pulmonary vascular", "vasculature"]),
    _a("abdomen", None, ["abdomen", "upper abdomen", "subdiaphragmatic"]),
]

_CT = [
    _a("lung", None, ["lung", "lungs", "pulmonary", "lung parenchyma", "lung fields"]),
    _a("right lung", "lung", ["right lung", "right hemithorax"], "right"),
    _a("left lung", "lung", ["left lung", "left hemithorax"], "left"),
    _a("right lung upper lobe", "right lung", ["right upper lobe", "rul", "right lung upper lobe", "right apex"], "right"),
    _a("right lung middle lobe", "right lung", ["right middle lobe", "rml", "right lung middle lobe"], "right"),
    _a("right lung lower lobe", "right lung", ["right lower lobe", "rll", "right lung lower lobe", "right base"], "right"),
    _a("left lung upper lobe", "left lung", ["left upper lobe", "lul", "left lung upper lobe", "lingula", "left apex"], "left"),
    _a("left lung lower lobe", "left lung", ["left lower lobe", "lll", "left lung lower lobe", "left base"], "left"),
    _a("pleura", None, ["pleura", "pleural", "pleural space"]),
    # radkit addition to the CT-RATE vocabulary: effusion/pneumothorax ground truth keeps its side
    _a("right pleura", "pleura", ["right pleura", "right pleural"], "right"),
    _a("left pleura", "pleura", ["left pleura", "left pleural"], "left"),
    _a("heart", None, ["heart", "cardiac", "heart size", "cardiac silhouette"]),
    _a("pericardium", "heart", ["pericardium", "pericardial"]),
    _a("mediastinum", None, ["mediastinum", "mediastinal", "hilar", "hilum", "hila"]),
    _a("aorta", "mediastinum", ["aorta", "aortic", "thoracic aorta", "aortic arch"]),
    _a("pulmonary artery", "mediastinum", ["pulmonary artery", "pulmonary arteries", "pulmonary trunk"]),
    _a("esophagus", "mediastinum", ["esophagus", "esophageal", "oesophagus"]),
    _a("trachea", None, ["trachea", "tracheal"]),
    _a("bronchie", None, ["bronchi", "bronchial", "bronchus", "bronchie", "airways"]),
    _a("bone", None, ["bone", "bones", "osseous", "osseous structures", "skeletal"]),
    _a("vertebrae", "bone", ["vertebrae", "vertebra", "vertebral", "spine", "thoracic spine", "thoracic vertebrae"]),
    _a("rib", "bone", ["rib", "ribs"]),
    _a("right rib", "rib", ["right rib", "right ribs"], "right"),
    _a("left rib", "rib", ["left rib", "left ribs"], "left"),
    _a("sternum", "bone", ["sternum", "sternal"]),
    _a("clavicle", "bone", ["clavicle", "clavicles"]),
    _a("liver", None, ["liver", "hepatic"]),
    _a("thyroid", None, ["thyroid", "thyroid gland"]),
    _a("adrenal gland", None, ["adrenal", "adrenal gland", "adrenal glands"]),
]

TAXONOMIES: dict[str, dict[str, Anatomy]] = {
    "cxr": {a.name: a for a in _CXR},
    "ct": {a.name: a for a in _CT},
}


@dataclass(frozen=True)
class Finding:
    """A finding type of the shared ontology.

    Attributes:
        name: canonical name.
        synonyms: lower-case surface forms (plural forms included).
        anatomies: where the synthesiser may place it, per modality.
        severities: severity/size words that apply to it, mildest first.
    """

    name: str
    synonyms: tuple[str, ...]
    anatomies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    severities: tuple[str, ...] = ("small", "moderate", "large")


_LOBES_CXR = ("right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "left lower lobe")
_LOBES_CT = ("right lung upper lobe", "right lung middle lobe", "right lung lower lobe",
             "left lung upper lobe", "left lung lower lobe")

FINDINGS: dict[str, Finding] = {f.name: f for f in [
    Finding("nodule", ("nodule", "nodules", "nodular opacity", "mass", "masses", "lesion"),
            {"cxr": _LOBES_CXR, "ct": _LOBES_CT}, ("small", "medium", "large")),
    Finding("consolidation", ("consolidation", "consolidations", "airspace opacity", "airspace disease",
                              "pneumonia", "infiltrate"),
            {"cxr": _LOBES_CXR, "ct": _LOBES_CT}, ("mild", "moderate", "extensive")),
    Finding("effusion", ("effusion", "effusions", "pleural effusion", "pleural effusions", "pleural fluid"),
            {"cxr": ("right pleura", "left pleura"), "ct": ("pleura",)}, ("small", "moderate", "large")),
    Finding("pneumothorax", ("pneumothorax", "pneumothoraces", "ptx"),
            {"cxr": ("right pleura", "left pleura"), "ct": ("pleura",)}, ("small", "moderate", "large")),
    Finding("atelectasis", ("atelectasis", "atelectatic", "collapse", "volume loss"),
            {"cxr": _LOBES_CXR, "ct": _LOBES_CT}, ("mild", "moderate", "severe")),
    Finding("cardiomegaly", ("cardiomegaly", "enlarged heart", "enlarged cardiac silhouette", "cardiac enlargement"),
            {"cxr": ("heart",), "ct": ("heart",)}, ("mild", "moderate", "severe")),
    Finding("edema", ("edema", "pulmonary edema", "vascular congestion", "interstitial edema"),
            {"cxr": ("pulmonary vasculature",), "ct": ("lung",)}, ("mild", "moderate", "severe")),
    Finding("emphysema", ("emphysema", "emphysematous", "hyperinflation"),
            {"cxr": ("lungs",), "ct": ("lung", "right lung", "left lung")}, ("mild", "moderate", "severe")),
    Finding("fracture", ("fracture", "fractures", "fractured"),
            {"cxr": ("right ribs", "left ribs", "clavicle", "spine"), "ct": ("right rib", "left rib", "vertebrae")},
            ("nondisplaced", "mildly displaced", "displaced")),
    Finding("lymphadenopathy", ("lymphadenopathy", "enlarged lymph nodes", "enlarged lymph node", "adenopathy"),
            {"cxr": ("hilum", "mediastinum"), "ct": ("mediastinum",)}, ("mild", "moderate", "bulky")),
    Finding("support device", ("support device", "support devices", "endotracheal tube", "et tube",
                               "central venous catheter", "pacemaker", "nasogastric tube", "catheter", "tube"),
            {"cxr": ("trachea", "mediastinum"), "ct": ("trachea", "mediastinum")}, ("",)),
]}


def taxonomy(modality: str) -> dict[str, Anatomy]:
    """Return the anatomy taxonomy of ``modality`` ("cxr" or "ct") keyed by name."""
    try:
        return TAXONOMIES[modality]
    except KeyError:
        raise ValueError(f"unknown modality {modality!r}; valid: {', '.join(MODALITIES)}") from None


def list_anatomies(modality: str) -> list[str]:
    """Canonical anatomy names of ``modality`` in taxonomy order."""
    return list(taxonomy(modality))


def ancestors(name: str, modality: str) -> list[str]:
    """Ancestors of ``name``, nearest first (``name`` itself excluded).

    Raises:
        KeyError: ``name`` is not in the taxonomy; the message lists close names.
    """
    tax = taxonomy(modality)
    if name not in tax:
        close = [n for n in tax if name.split()[-1] in n][:5]
        raise KeyError(f"unknown {modality} anatomy {name!r}; similar: {close or 'none'}; "
                       f"see `radkit data anatomies --modality {modality}`")
    out, cur = [], tax[name].parent
    while cur is not None:
        out.append(cur)
        cur = tax[cur].parent
    return out


def finding(name: str) -> Finding:
    """Look up a finding of the ontology by canonical name."""
    try:
        return FINDINGS[name]
    except KeyError:
        raise KeyError(f"unknown finding {name!r}; valid: {', '.join(FINDINGS)}") from None
