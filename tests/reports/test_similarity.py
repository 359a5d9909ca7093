"""Report similarity backends: range, symmetry, identity, known pairs, blocks, per anatomy."""

import numpy as np
import pytest

from radkit.reports.similarity import report_similarity, similarity_matrix, structure_all

REPORTS = [
    "Small left pleural effusion. Heart size is normal.",
    "Small left pleural effusion. Heart size is normal.",
    "Moderate left pleural effusion. The heart size is normal.",
    "No pleural effusion. Heart size is normal.",
    "Right lower lobe pneumonia. No effusion.",
    "Right lung consolidation. No effusion.",
    "Possible small left pleural effusion. Heart size normal.",
    "Mild cardiomegaly.",
    "",
]


def _check_matrix(s):
    assert s.dtype == np.float32 and s.shape == (len(REPORTS),) * 2
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_array_equal(s, s.T)
    np.testing.assert_array_equal(np.diag(s), 1.0)


def test_lexicon_known_pairs():
    s = similarity_matrix(REPORTS, "cxr")
    _check_matrix(s)
    assert s[0, 1] == 1.0
    # severity differs < status uncertain < status contradicts (present vs absent, strongest)
    assert s[0, 2] > s[0, 6] > s[0, 3]
    # ancestor anatomy gets partial credit: right lower lobe vs right lung consolidation
    assert s[4, 5] > s[4, 3] and s[4, 5] < 1.0
    # cardiomegaly present vs stated absent: nothing in common
    assert s[0, 7] == 0.0


def test_lexicon_blocks_and_structured_input_match():
    reps = structure_all(REPORTS, "cxr")
    full = similarity_matrix(reps, "cxr")
    out = np.zeros((len(REPORTS),) * 2, dtype=np.float32)
    similarity_matrix(REPORTS, "cxr", out=out, block=2)
    np.testing.assert_array_equal(full, out)


def test_per_anatomy():
    assert report_similarity(REPORTS[0], REPORTS[3], "cxr", anatomy="heart") == 1.0
    assert report_similarity(REPORTS[0], REPORTS[3], "cxr", anatomy="pleura") < 0.2
    with pytest.raises(KeyError):
        report_similarity(REPORTS[0], REPORTS[3], "cxr", anatomy="kidney")


def test_unknown_backend_and_missing_ratescore():
    with pytest.raises(ValueError, match="valid: lexicon"):
        similarity_matrix(REPORTS, "cxr", backend="bleu")
    try:
        import ratescore  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install ratescore"):
            similarity_matrix(REPORTS[:2], "cxr", backend="ratescore")


def test_embedding_backend_offline():
    s = similarity_matrix(REPORTS, "cxr", backend="embedding")
    _check_matrix(s)
    assert s[0, 2] > s[0, 3]  # severity change closer than a negated finding
    assert s[4, 5] > s[4, 0]


def test_lexicon_closed_world():
    # a finding not mentioned is normal: stated negations match silence
    normal = ["No pleural effusion. No pneumothorax.", "Heart size is normal. No consolidation.", "Lungs are clear."]
    s = similarity_matrix(normal, "cxr")
    np.testing.assert_array_equal(s, 1.0)
    nodule = "Small right upper lobe nodule."
    # the same positive finding with different lists of negations: identical
    assert report_similarity(nodule, nodule + " No pleural effusion. No pneumothorax.", "cxr") == 1.0
    # present vs explicitly absent is a stronger disagreement than present vs unmentioned
    both = "Small right upper lobe nodule. Left pleural effusion."
    silent = report_similarity(both, nodule, "cxr")
    negated = report_similarity(both, nodule + " No left pleural effusion.", "cxr")
    assert 0.0 < negated < silent < 1.0
