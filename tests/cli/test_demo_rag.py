"""The demo's RAG row fails unless the answer shows the document was read."""

from __future__ import annotations

from cli.demo_rag import CODE_WORD, judged


def _done(content: str) -> dict[str, object]:
    return {"status": "succeeded", "result": {"message": {"content": content}}}


def test_an_answer_naming_the_code_word_passes_and_says_so() -> None:
    row = judged(_done(f"The code word is {CODE_WORD}."))
    assert row["status"] == "succeeded" and CODE_WORD in str(row["display"])


def test_an_answer_without_the_document_fails_the_row() -> None:
    row = judged(_done("I cannot see any document."))
    assert row["status"] == "failed"
    assert row["error"] == {"message": "the answer lacks the document"}


def test_a_failed_job_stays_as_it_was() -> None:
    failed = {"status": "failed", "error": {"message": "document_unavailable"}}
    assert judged(failed) == failed
