"""Optional LLM structurer against the fake OpenAI-compatible server."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from fake_llm import FakeLLMServer  # noqa: E402

from radkit.llm import LLMClient  # noqa: E402
from radkit.reports.llm_structure import structure_report_llm  # noqa: E402


def test_llm_structurer_validates_items():
    reply = {"items": [
        {"sentence": 0, "anatomy": "left pleura", "finding": "effusion", "status": "present", "severity": "small"},
        {"sentence": 1, "anatomy": "pleura", "finding": "pneumothorax", "status": "absent"},
        {"sentence": 1, "anatomy": "spleen", "finding": "pneumothorax", "status": "absent"},  # unknown anatomy
        {"sentence": 9, "anatomy": "heart", "finding": "cardiomegaly", "status": "present"},  # no such sentence
    ]}
    with FakeLLMServer(["not json at all", json.dumps(reply)]) as srv:
        client = LLMClient(srv.url, "m", backoff=0)
        rep = structure_report_llm("Small left pleural effusion. No pneumothorax.", "cxr", client)
        assert "Small left pleural effusion." in srv.requests[0]["messages"][1]["content"]
        assert len(srv.requests) == 2  # one retry after invalid JSON
    assert rep.triples() == {("left pleura", "effusion", "present"), ("pleura", "pneumothorax", "absent")}
    assert len(rep.warnings) == 2
    assert rep.sub_report("pleura").text == "Small left pleural effusion. No pneumothorax."
