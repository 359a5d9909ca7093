"""Retrieval test fixtures."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _faiss_single_thread():
    # OpenMP threads spin-wait; on the shared 2-core machine that turns a 4 s IVF-PQ
    # training into a minute. One thread is faster here and the results are identical.
    import faiss

    n = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(n)


@pytest.fixture
def tiny_model():
    from tests.retrieval.tiny_model import TinyModel

    return TinyModel()


@pytest.fixture
def studies(tmp_path):
    from tests.retrieval.tiny_model import make_studies

    return make_studies(tmp_path / "data")
