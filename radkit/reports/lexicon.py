"""Trigger lexicons of the rule-based report structurer (NegEx-style, data only).

Phrases are lower-case, hyphens already replaced by spaces (the structurer normalises
text the same way). Longer phrases win over shorter ones at the same position, so
"cannot be excluded" (uncertain) beats "excluded" and "no change" (pseudo) beats "no".
"""

from __future__ import annotations

import re

# Negation before the finding: "no effusion", "without pneumothorax".
PRE_NEG = (
    "no", "not", "without", "negative for", "no evidence of", "no evidence for", "no signs of", "no sign of",
    "no definite", "no definitive", "no convincing", "no focal", "free of", "clear of", "absence of", "absent",
    "no radiographic evidence of", "no ct evidence of", "there is no", "there are no", "no longer",
    "resolution of", "interval removal of", "removal of", "no suspicious", "no acute", "nor", "neither", "rather than", "no visible", "no obvious",
    "no significant", "no appreciable", "no large", "no new",
)
# Negation after the finding: "effusion is not seen".
POST_NEG = (
    "not seen", "is not seen", "are not seen", "not identified", "not present", "not appreciated",
    "not visualized", "not demonstrated", "not detected", "is absent", "are absent", "has resolved",
    "have resolved", "resolved", "no longer seen", "no longer visible", "no longer present", "is excluded", "has been removed", "have been removed",
    "was removed", "were removed", "removed",
    "are excluded", "not evident", "not noted", "not visible", "not clearly seen",
)
# Uncertainty before the finding: "possible pneumonia".
PRE_UNC = (
    "possible", "possibly", "probable", "probably", "likely", "may represent", "may reflect", "may be",
    "may indicate", "might represent", "could represent", "could reflect", "could be", "suggestive of",
    "suspicious for", "concerning for", "worrisome for", "questionable", "cannot exclude", "can not exclude",
    "cannot rule out", "can not rule out", "difficult to exclude", "not excluded", "suspected", "question of",
    "equivocal", "borderline", "versus", "vs", "differential diagnosis includes", "differential includes",
    "presumed", "presumably", "may have", "raises the possibility of", "possibility of", "suggests",
    "suggesting", "could indicate", "consider", "to exclude", "evaluate for", "rule out", "r/o",
    "cannot be entirely excluded", "may relate to", "may correspond to", "indeterminate",
)
# Uncertainty after the finding: "pneumonia cannot be excluded".
POST_UNC = (
    "cannot be excluded", "can not be excluded", "cannot be ruled out", "can not be ruled out",
    "is not excluded", "not excluded", "are not excluded", "is possible", "are possible", "is suspected",
    "are suspected", "is questioned", "not entirely excluded", "cannot be entirely excluded",
    "is not entirely excluded", "is not ruled out", "not ruled out", "is likely", "are likely",
    "is not completely excluded", "is a consideration", "versus", "vs", "could not be excluded",
    "difficult to exclude", "is difficult to exclude", "not entirely ruled out",
)
# Pseudo-triggers: look like a trigger but negate nothing.
PSEUDO = (
    "no change", "no significant change", "no interval change", "not only", "no increase", "no decrease",
    "not changed", "not significantly changed", "without change", "without interval change",
    "without significant change", "no definite change", "not necessarily", "gram negative",
    "no further", "no appreciable change", "not significantly", "no substantial change",
)
# Scope terminators: a trigger's scope stops here.
TERMINATORS = (
    "but", "however", "although", "though", "yet", "except", "aside from", "apart from", "which",
    "whereas", "while", "with the exception of", "otherwise", "there is", "there are", "in addition",
    "additionally", "also", "and there is", "and there are", "since", "secondary to", "due to",
    "and the", "there has been", "there may be",
    "in the setting of", "accounting for", "related to", "with new",
)

# Severity words -> ordinal level 1..3, mapped onto each finding's own severity scale.
SEVERITY_LEVEL = {
    "small": 1, "tiny": 1, "trace": 1, "minimal": 1, "mild": 1, "mildly": 1, "slight": 1, "minor": 1,
    "subtle": 1, "nondisplaced": 1, "non displaced": 1, "little": 1, "smaller": 1, "subsegmental": 1,
    "moderate": 2, "moderately": 2, "medium": 2, "mildly displaced": 2, "minimally displaced": 2,
    "moderate sized": 2, "moderate size": 2, "medium sized": 2,
    "large": 3, "severe": 3, "severely": 3, "extensive": 3, "massive": 3, "marked": 3, "markedly": 3,
    "bulky": 3, "displaced": 3, "substantial": 3, "large sized": 3, "huge": 3, "diffuse": 3,
}
# Change words -> the `GroundTruthFinding.change` vocabulary.
CHANGE = {
    "new": "new", "newly": "new", "new since": "new", "interval development of": "new", "developing": "new",
    "unchanged": "stable", "stable": "stable", "persistent": "stable", "persists": "stable",
    "persisting": "stable", "again seen": "stable", "again noted": "stable", "redemonstrated": "stable",
    "re demonstrated": "stable", "similar": "stable", "no change": "stable", "no significant change": "stable",
    "no interval change": "stable", "not changed": "stable", "without change": "stable",
    "not significantly changed": "stable", "without interval change": "stable", "grossly unchanged": "stable",
    "without significant change": "stable", "no appreciable change": "stable", "remains": "stable",
    "no substantial change": "stable", "essentially unchanged": "stable", "again demonstrated": "stable",
    "increased": "worse", "increasing": "worse", "increase in": "worse", "worse": "worse", "worsened": "worse",
    "worsening": "worse", "progressed": "worse", "progression": "worse", "progressive": "worse",
    "enlarging": "worse", "larger": "worse", "more prominent": "worse", "interval increase": "worse",
    "decreased": "better", "decreasing": "better", "decrease in": "better", "improved": "better",
    "improving": "better", "improvement": "better", "smaller": "better", "resolving": "better",
    "less prominent": "better", "reduced": "better", "interval decrease": "better", "resolved": "better",
    "has resolved": "better", "have resolved": "better", "resolution of": "better", "regressed": "better",
    "regression": "better", "less conspicuous": "better", "more conspicuous": "worse", "worsen": "worse",
}
SIDES = {"right": ("right",), "left": ("left",), "right sided": ("right",), "left sided": ("left",),
         "bilateral": ("right", "left"), "bilaterally": ("right", "left"), "both": ("right", "left"),
         "on the right": ("right",), "on the left": ("left",)}
SIZE = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:x\s*\d+(?:\.\d+)?\s*)?(mm|cm|millimeters?|centimeters?)\b")
# Words that may sit in a segment that only lists anatomies ("the right and left lower lobes").
FILLER = {"the", "a", "an", "both", "of", "in", "at", "and", "or", "right", "left", "bilateral", "sided",
          "lobe", "lobes", "segment", "segments", "zone", "zones", "portion", "aspect", "region", "also",
          "on", "within", "involving", "base", "bases", "lung", "lungs", "upper", "lower", "middle"}


def phrase_regex(phrases) -> re.Pattern:
    """One regex matching any of ``phrases`` on word boundaries, longest first."""
    alts = sorted({p for p in phrases if p}, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in alts)
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")

# Extra surface forms beyond `FINDINGS` synonyms, seen in real reports.
EXTRA_FINDINGS = {
    "consolidation": ("airspace consolidation", "air space disease", "air space opacity", "air space opacities",
                      "airspace opacities", "airspace opacification", "infiltrates", "pneumonias", "pneumonic"),
    "atelectasis": ("atelectatic changes", "collapsed", "subsegmental atelectasis", "plate like atelectasis"),
    "edema": ("pulmonary vascular congestion", "congestion", "interstitial pulmonary edema", "edematous"),
    "emphysema": ("hyperexpanded", "hyperexpansion", "hyperinflated", "emphysematous changes"),
    "lymphadenopathy": ("lymph node enlargement", "enlarged nodes", "lymphadenopathies", "pathologically enlarged lymph nodes",
                        "enlarged mediastinal lymph nodes", "enlarged hilar lymph nodes"),
    "nodule": ("pulmonary nodule", "pulmonary nodules", "micronodule", "micronodules", "lesions", "nodular opacities",
               "nodular densities", "nodular density"),
    "support device": ("picc", "picc line", "ng tube", "og tube", "feeding tube", "chest tube", "tracheostomy tube",
                       "ett", "pacer", "dobhoff", "swan ganz catheter", "ij line", "central line",
                       "pacemaker leads", "enteric tube", "tubes", "catheters", "lines and tubes", "tubes and lines", "orogastric tube", "dual lead pacemaker", "aicd"),
    "fracture": ("fx",),
}
# Support devices located in the airway; every other device defaults to the mediastinum.
AIRWAY_DEVICES = ("endotracheal", "et tube", "ett", "tracheostomy")
# Heart-size phrases (near a heart mention) that state cardiomegaly without naming it.
HEART_ENLARGED = ("enlarged", "enlargement", "increased in size", "is large", "are large", "prominent", "increased")
HEART_NORMAL = ("normal", "within normal limits", "unremarkable", "top normal", "upper limits of normal",
                "top of normal", "upper normal", "normal in size", "not enlarged", "stable in size")
# Extra anatomy surface forms: phrase -> {modality: anatomies}; a phrase may name several.
EXTRA_ANATOMY = {
    "lingular": {"cxr": ("left upper lobe",), "ct": ("left lung upper lobe",)},
    "cardiomediastinal": {"cxr": ("heart", "mediastinum"), "ct": ("heart", "mediastinum")},
    "cardiomediastinal silhouette": {"cxr": ("heart", "mediastinum"), "ct": ("heart", "mediastinum")},
    "cardiomediastinal contours": {"cxr": ("heart", "mediastinum"), "ct": ("heart", "mediastinum")},
    "mediastinal and hilar contours": {"cxr": ("mediastinum", "hilum"), "ct": ("mediastinum",)},
    "bibasilar": {"ct": ("right lung lower lobe", "left lung lower lobe")},
    "bibasal": {"cxr": ("lung base",), "ct": ("right lung lower lobe", "left lung lower lobe")},
    "lung bases": {"ct": ("right lung lower lobe", "left lung lower lobe")},
    "both bases": {"cxr": ("lung base",), "ct": ("right lung lower lobe", "left lung lower lobe")},
    "right infrahilar": {"cxr": ("right lower lobe",), "ct": ("right lung lower lobe",)},
    "left infrahilar": {"cxr": ("left lower lobe",), "ct": ("left lung lower lobe",)},
    "right perihilar": {"cxr": ("right lung",), "ct": ("right lung",)},
    "left perihilar": {"cxr": ("left lung",), "ct": ("left lung",)},
    "right apical": {"ct": ("right lung upper lobe",)},
    "left apical": {"ct": ("left lung upper lobe",)},
    "superior segment of the right lower lobe": {"cxr": ("right lower lobe",), "ct": ("right lung lower lobe",)},
    "right costophrenic angle": {"cxr": ("right pleura",), "ct": ("pleura",)},
    "left costophrenic angle": {"cxr": ("left pleura",), "ct": ("pleura",)},
    "right chest": {"cxr": ("right lung",), "ct": ("right lung",)},
    "left chest": {"cxr": ("left lung",), "ct": ("left lung",)},
    "ribs": {"ct": ("rib",)},
    "thoracic vertebral": {"ct": ("vertebrae",), "cxr": ("spine",)},
    "vertebral body": {"ct": ("vertebrae",), "cxr": ("spine",)},
    "vertebral bodies": {"ct": ("vertebrae",), "cxr": ("spine",)},
}
# Organs other than the lungs that have lobes: "a nodule in the right lobe" of a sentence about
# one of them is in that organ, not in a lung.
LOBED_ORGANS = ("thyroid", "liver")
BARE_LOBE = re.compile(r"(?<![a-z])lobes?(?![a-z])")
# Side-less lobe phrases; the side comes from the segment ("bilateral lower lobe atelectasis").
LOBE = re.compile(r"(?<![a-z])(upper|middle|lower) lobes?(?![a-z])")
