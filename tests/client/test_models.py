"""The client's models: documents to submit, and records read leniently."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from client import BatchResult, Document, Job


def test_document_from_path_reads_the_text_and_names_it_after_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\nÜber alles.\n", encoding="utf-8")
    document = Document.from_path(path)
    assert document.body() == {"custom_id": "guide.md", "text": "# Guide\n\nÜber alles.\n"}
    assert Document.from_path(path, custom_id="docs/guide.md").custom_id == "docs/guide.md"


@pytest.mark.parametrize(
    "fields", [{}, {"text": "# a", "url": "https://example.com/a.md"}], ids=["none", "both"]
)
def test_document_needs_exactly_one_of_text_or_url(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="exactly one of text or url"):
        Document(**fields)


def test_records_keep_fields_the_client_does_not_know() -> None:
    job = Job.model_validate({"id": "job_1", "type": "completion", "status": "queued", "x": 1})
    assert job.model_extra == {"x": 1}


def test_batch_result_is_good_only_when_succeeded_and_validated() -> None:
    def line(status: str, passed: bool | None) -> BatchResult:
        result = None
        if status == "succeeded":
            validation = None if passed is None else {"passed": passed, "checks": []}
            result = {"document": "# a", "validation": validation}
        return BatchResult.model_validate({"custom_id": "a", "status": status, "result": result})

    assert line("succeeded", True).succeeded_and_valid
    assert line("succeeded", None).succeeded_and_valid
    assert not line("succeeded", False).succeeded_and_valid
    assert not line("failed", None).succeeded_and_valid
