"""The demo's RAG row, the storage seed's three steps through the gateway: upload a
document to the storage route ``local``, presign it, and ask a model about it with the
presigned URL as a ``document`` part (the worker fetches and reads it)."""

from __future__ import annotations

from typing import Any

import httpx

ROUTE = "local"
BUCKET = "rag-docs"
KEY = "demo/retry-guide.md"
CODE_WORD = "BLUE-HERON"
DOCUMENT = (
    "# Retry guide\n\n"
    "A provider's 429 is retried after its retry-after header, with jittered backoff.\n"
    f"The code word of this guide is {CODE_WORD}.\n"
)
QUESTION = "What is the code word of the guide?"
LABEL = "rag: upload → presign → ask"
PROVIDER = "openai"


class RagStepFailed(RuntimeError):
    """One of the steps before the model call failed; the message says which."""


def prepare_rag_job(client: httpx.Client, timeout: float) -> dict[str, Any]:
    """Upload and presign the guide; the completion job that asks about it."""
    uploaded = client.put(
        f"/-s3/{ROUTE}/put/{BUCKET}/{KEY}",
        content=DOCUMENT.encode(),
        headers={"Content-Type": "text/markdown"},
        timeout=timeout,
    )
    if uploaded.status_code != 200:
        raise RagStepFailed(f"upload: {uploaded.status_code} {_message(uploaded)}")
    presigned = client.get(
        f"/-s3/{ROUTE}/presign/{BUCKET}/{KEY}", params={"ttl": 600}, timeout=timeout
    )
    if presigned.status_code != 200:
        raise RagStepFailed(f"presign: {presigned.status_code} {_message(presigned)}")
    document = {"type": "document", "source": {"type": "url", "url": presigned.json()["url"]}}
    content = [document, {"type": "text", "text": QUESTION}]
    return {
        "type": "completion",
        "request": {
            "model": "gpt-4o-mini",
            "provider": PROVIDER,
            "messages": [{"role": "user", "content": content}],
        },
    }


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def judged(done: dict[str, Any]) -> dict[str, Any]:
    """The job as the demo's row shows it: an answer without the code word did not read
    the document (a real model answers with it; the emulator echoes the prompt, which
    holds the document only if the worker fetched it), so the row fails."""
    if done.get("status") != "succeeded":
        return done
    content = str(((done.get("result") or {}).get("message") or {}).get("content") or "")
    if CODE_WORD not in content:
        return {**done, "status": "failed", "error": {"message": "the answer lacks the document"}}
    return {**done, "display": f"answer names {CODE_WORD} (read from the document)"}
