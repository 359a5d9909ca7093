import pytest

from radkit.reports.anatomy import FINDINGS, MODALITIES, ancestors, list_anatomies, taxonomy


@pytest.mark.parametrize("modality", MODALITIES)
def test_taxonomy_is_a_forest(modality):
    tax = taxonomy(modality)
    for a in tax.values():
        assert a.parent is None or a.parent in tax, a
        chain = ancestors(a.name, modality)
        assert len(chain) == len(set(chain)) < 6  # no cycles


def test_hierarchy_examples():
    assert ancestors("right lower lobe", "cxr") == ["right lung", "lungs"]
    assert ancestors("left lung lower lobe", "ct") == ["left lung", "lung"]
    assert taxonomy("cxr")["right lower lobe"].side == "right"
    assert "rll" in taxonomy("cxr")["right lower lobe"].synonyms


@pytest.mark.parametrize("modality", MODALITIES)
def test_every_finding_places_into_known_anatomies(modality):
    names = set(list_anatomies(modality))
    for f in FINDINGS.values():
        assert f.anatomies[modality] and set(f.anatomies[modality]) <= names, f.name


def test_errors_are_helpful():
    with pytest.raises(ValueError, match="valid: cxr, ct"):
        taxonomy("mri")
    with pytest.raises(KeyError, match="right lung"):
        ancestors("right lung lobe", "cxr")
