"""The storage API over HTTP against real local stores (moto's S3, Azurite, the GCS
emulator): round trips, streaming, presigned URLs fetched with a plain client, tenant
isolation and every refusal of part 1's bad-input list (tests/support/stores.py)."""

from __future__ import annotations

import calendar
import http.client
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.stores import (
    BUCKET,
    MISSING_BUCKET,
    NOT_ALLOWED_BUCKET,
    STORAGE_KEY_A,
    STORAGE_KEY_B,
    StorageApi,
    StoreServer,
    s3_client,
)

BACKENDS = ["s3", "azure", "gcs"]


@pytest.fixture
def api_a(storage_api: StorageApi) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {STORAGE_KEY_A}"}
    with httpx.Client(base_url=storage_api.url, headers=headers, timeout=120) as client:
        yield client


@pytest.fixture
def api_b(storage_api: StorageApi) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=storage_api.url, headers={"X-API-Key": STORAGE_KEY_B}, timeout=120
    ) as client:
        yield client


def _error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == error_type, error
    return error


def _unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


@pytest.mark.parametrize("route", BACKENDS)
def test_put_get_list_delete_round_trip_keeps_content_type(route: str, api_a: httpx.Client) -> None:
    key = f"{_unique('docs')}/quantum computing.md"
    body = b"# Quantum Computing Overview\n\nQubits are...\n" * 40
    put = api_a.put(
        f"/-s3/{route}/put/{BUCKET}/{key}", content=body, headers={"content-type": "text/markdown"}
    )
    assert put.status_code == 200, put.text
    reply = put.json()
    assert reply["status"] == "success"
    assert (reply["bucket"], reply["key"], reply["size"]) == (BUCKET, key, len(body))
    assert reply["etag"]

    got = api_a.get(f"/-s3/{route}/get/{BUCKET}/{key}")
    assert got.status_code == 200, got.text
    assert got.content == body
    assert got.headers["content-type"] == "text/markdown"
    assert got.headers["content-length"] == str(len(body))

    listed = api_a.get(f"/-s3/{route}/list/{BUCKET}", params={"prefix": key.split("/")[0] + "/"})
    assert listed.status_code == 200, listed.text
    assert [(o["key"], o["size"]) for o in listed.json()["objects"]] == [(key, len(body))]

    deleted = api_a.delete(f"/-s3/{route}/delete/{BUCKET}/{key}")
    assert deleted.json() == {"status": "success", "bucket": BUCKET, "key": key}
    _error(api_a.get(f"/-s3/{route}/get/{BUCKET}/{key}"), 404, "object_not_found")
    _error(api_a.delete(f"/-s3/{route}/delete/{BUCKET}/{key}"), 404, "object_not_found")


@pytest.mark.parametrize("route", BACKENDS)
def test_list_pages_with_a_cursor(route: str, api_a: httpx.Client) -> None:
    folder = _unique("paged")
    for i in range(5):
        api_a.put(f"/-s3/{route}/put/{BUCKET}/{folder}/{i}.txt", content=b"x" * (i + 1))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"prefix": f"{folder}/", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api_a.get(f"/-s3/{route}/list/{BUCKET}", params=params).json()
        pages += 1
        seen += [o["key"] for o in page["objects"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"{folder}/{i}.txt" for i in range(5)]
    # The GCS emulator answers every listing in one page (it ignores maxResults).
    assert pages >= (1 if route == "gcs" else 3)


@pytest.mark.parametrize("route", BACKENDS)
def test_another_tenant_cannot_see_read_delete_or_presign_an_object(
    route: str, api_a: httpx.Client, api_b: httpx.Client
) -> None:
    key = f"{_unique('mine')}.md"
    assert api_a.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=b"tenant a only").is_success
    _error(api_b.get(f"/-s3/{route}/get/{BUCKET}/{key}"), 404, "object_not_found")
    _error(api_b.get(f"/-s3/{route}/presign/{BUCKET}/{key}"), 404, "object_not_found")
    _error(api_b.delete(f"/-s3/{route}/delete/{BUCKET}/{key}"), 404, "object_not_found")
    listed = api_b.get(f"/-s3/{route}/list/{BUCKET}").json()["objects"]
    assert key not in [o["key"] for o in listed]
    # Tenant B's own object by the same name is another object.
    assert api_b.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=b"tenant b's").is_success
    assert api_a.get(f"/-s3/{route}/get/{BUCKET}/{key}").content == b"tenant a only"
    assert api_b.get(f"/-s3/{route}/get/{BUCKET}/{key}").content == b"tenant b's"


def test_objects_live_under_the_tenants_prefix_in_the_store(
    api_a: httpx.Client, moto_s3: StoreServer
) -> None:
    key = f"{_unique('where')}.txt"
    api_a.put(f"/-s3/s3/put/{BUCKET}/{key}", content=b"here")
    stored = s3_client(moto_s3.url).get_object(Bucket=BUCKET, Key=f"tenants/tenant_a/{key}")
    assert stored["Body"].read() == b"here"


@pytest.mark.parametrize("route", BACKENDS)
def test_presigned_get_and_put_urls_work_with_a_plain_client(
    route: str, api_a: httpx.Client
) -> None:
    key = f"{_unique('shared')}.md"
    api_a.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=b"for the model to read")
    signed = api_a.get(f"/-s3/{route}/presign/{BUCKET}/{key}", params={"ttl": 120})
    assert signed.status_code == 200, signed.text
    reply = signed.json()
    assert (reply["operation"], reply["bucket"], reply["key"]) == ("GetObject", BUCKET, key)
    assert reply["expires_in"] == 120
    assert reply["expires_at"].endswith("Z")
    fetched = httpx.get(reply["url"], timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == b"for the model to read"

    upload_key = f"{_unique('dropped')}.txt"
    signed_put = api_a.get(
        f"/-s3/{route}/presign/{BUCKET}/{upload_key}", params={"operation": "put", "ttl": 120}
    ).json()
    assert signed_put["operation"] == "PutObject"
    # Azure's Put Blob names the blob type; S3 and GCS need nothing but the URL.
    headers = {"x-ms-blob-type": "BlockBlob"} if route == "azure" else {}
    stored = httpx.put(signed_put["url"], content=b"uploaded by URL", headers=headers, timeout=30)
    assert stored.status_code in (200, 201), stored.text
    assert api_a.get(f"/-s3/{route}/get/{BUCKET}/{upload_key}").content == b"uploaded by URL"


def test_an_expired_presigned_url_is_refused_by_the_store(api_a: httpx.Client) -> None:
    # Azurite checks SAS expiry like Azure does; moto and the GCS emulator check neither
    # signatures nor expiry (the next test checks what those URLs sign instead).
    key = f"{_unique('brief')}.txt"
    api_a.put(f"/-s3/azure/put/{BUCKET}/{key}", content=b"soon gone")
    url = api_a.get(f"/-s3/azure/presign/{BUCKET}/{key}", params={"ttl": 1}).json()["url"]
    deadline = time.monotonic() + 30
    while httpx.get(url, timeout=10).status_code == 200:
        assert time.monotonic() < deadline, "the URL still works long after its TTL"
        time.sleep(0.5)
    assert httpx.get(url, timeout=10).status_code == 403


@pytest.mark.parametrize(
    ("route", "expires", "date"),
    [("s3", "X-Amz-Expires", "X-Amz-Date"), ("gcs", "X-Goog-Expires", "X-Goog-Date")],
)
def test_presigned_urls_sign_the_requested_lifetime(
    route: str, expires: str, date: str, api_a: httpx.Client
) -> None:
    key = f"{_unique('signed')}.txt"
    api_a.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=b"x")
    reply = api_a.get(f"/-s3/{route}/presign/{BUCKET}/{key}", params={"ttl": 7}).json()
    query = parse_qs(urlsplit(reply["url"]).query)
    assert query[expires] == ["7"]
    signed_at = calendar.timegm(time.strptime(query[date][0], "%Y%m%dT%H%M%SZ"))
    assert abs(signed_at - time.time()) < 120
    assert f"tenants/tenant_a/{key}" in urlsplit(reply["url"]).path


def _rss_bytes(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.mark.parametrize("route", ["s3", "azure", "gcs"])
def test_a_50_mb_upload_and_download_stream_with_flat_api_memory(
    route: str, api_a: httpx.Client, storage_api: StorageApi
) -> None:
    size = 50 * 1024 * 1024
    block = os.urandom(1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    key = f"{_unique('big')}.bin"
    # A warm-up of every code path measured (a multipart upload, a download), so the
    # measure is what one more upload costs, not the SDK's first imports.
    warm = f"/-s3/{route}/put/{BUCKET}/warm-{key}"
    api_a.put(warm, content=block * 9)
    api_a.get(warm.replace("/put/", "/get/", 1))
    # Peak RSS measured from here (writing 5 to clear_refs resets VmHWM).
    with open(f"/proc/{storage_api.pid}/clear_refs", "w") as refs:
        refs.write("5")
    before = _rss_bytes(storage_api.pid, "VmRSS")
    put = api_a.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=body())
    assert put.status_code == 200, put.text
    assert put.json()["size"] == size
    received = 0
    with api_a.stream("GET", f"/-s3/{route}/get/{BUCKET}/{key}") as got:
        assert got.headers["content-length"] == str(size)
        for chunk in got.iter_bytes():
            received += len(chunk)
    assert received == size
    grown = _rss_bytes(storage_api.pid, "VmHWM") - before
    # Holding the object would cost 50 MiB at least; streaming costs a part or two.
    print(f"{route}: API peak RSS grew {grown / 2**20:.1f} MiB for a 50 MiB object")
    assert grown < 40 * 1024 * 1024, f"API peak RSS grew {grown / 2**20:.1f} MiB"
    api_a.delete(f"/-s3/{route}/delete/{BUCKET}/{key}")


# --- Bad input: each a clear 4xx in the error shape, and nothing written ------------------


def test_an_unknown_route_is_404(api_a: httpx.Client) -> None:
    error = _error(api_a.get(f"/-s3/nowhere/get/{BUCKET}/a.txt"), 404, "storage_route_not_found")
    assert "nowhere" in error["message"] and error["param"] == "route"
    _error(
        api_a.put(f"/-s3/nowhere/put/{BUCKET}/a.txt", content=b"x"), 404, "storage_route_not_found"
    )


def test_a_missing_api_key_is_401(storage_api: StorageApi) -> None:
    response = httpx.get(f"{storage_api.url}/-s3/s3/list/{BUCKET}")
    _error(response, 401, "authentication_error")


@pytest.mark.parametrize("route", BACKENDS)
def test_an_empty_body_is_refused_and_nothing_is_written(route: str, api_a: httpx.Client) -> None:
    key = f"{_unique('empty')}.txt"
    error = _error(
        api_a.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=b""), 400, "invalid_request_error"
    )
    assert error["param"] == "body"
    _error(api_a.get(f"/-s3/{route}/get/{BUCKET}/{key}"), 404, "object_not_found")


def test_a_declared_oversized_body_is_413_before_anything_is_read(
    storage_api: StorageApi,
) -> None:
    connection = http.client.HTTPConnection(*urlsplit(storage_api.url).netloc.split(":"))
    connection.putrequest("PUT", f"/-s3/s3/put/{BUCKET}/huge.bin")
    connection.putheader("Authorization", f"Bearer {STORAGE_KEY_A}")
    connection.putheader("Content-Length", str(10 * 1024**3))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert b"payload_too_large" in response.read()
    connection.close()


@pytest.fixture(scope="module")
def small_limit_api(storage_api: StorageApi) -> Iterator[str]:
    """A second API on the same stores whose uploads stop at 10 MiB: more than one
    multipart part, so a refused upload has parts to abort."""
    url = storage_api.stack.start_extra_api(
        "storage-api-small", {"LLM_GATEWAY_STORAGE_MAX_OBJECT_BYTES": str(10 * 1024 * 1024)}
    )
    yield url
    storage_api.stack.stop_process("storage-api-small")


@pytest.mark.parametrize("route", BACKENDS)
def test_a_streamed_body_over_the_limit_is_413_and_nothing_is_written(
    route: str, small_limit_api: str, moto_s3: StoreServer
) -> None:
    key = f"{_unique('overflow')}.bin"

    def body() -> Iterator[bytes]:  # no Content-Length: chunked
        for _ in range(12):
            yield b"\0" * (1024 * 1024)

    headers = {"Authorization": f"Bearer {STORAGE_KEY_A}"}
    with httpx.Client(base_url=small_limit_api, headers=headers, timeout=120) as client:
        response = client.put(f"/-s3/{route}/put/{BUCKET}/{key}", content=body())
        _error(response, 413, "payload_too_large")
        _error(client.get(f"/-s3/{route}/get/{BUCKET}/{key}"), 404, "object_not_found")
    if route == "s3":
        uploads = s3_client(moto_s3.url).list_multipart_uploads(Bucket=BUCKET)
        assert not [u for u in uploads.get("Uploads", []) if key in u["Key"]]


@pytest.mark.parametrize("route", BACKENDS)
def test_a_bucket_outside_the_allowed_list_is_403_for_every_operation(
    route: str, api_a: httpx.Client
) -> None:
    base = f"/-s3/{route}"
    b = NOT_ALLOWED_BUCKET
    for response in (
        api_a.put(f"{base}/put/{b}/a.txt", content=b"x"),
        api_a.get(f"{base}/get/{b}/a.txt"),
        api_a.get(f"{base}/list/{b}"),
        api_a.delete(f"{base}/delete/{b}/a.txt"),
        api_a.get(f"{base}/presign/{b}/a.txt"),
        api_a.get(f"{base}/presign/{b}/a.txt", params={"operation": "put"}),
    ):
        assert _error(response, 403, "access_denied")["param"] == "bucket"


# Spellings of a key under the denied prefix "secret/", as sent on the wire. Each is
# refused: 403 when it names the denied prefix, 400 when it is not a plain key.
DENIED_SPELLINGS = [
    ("secret/plans.md", 403),
    ("SECRET/plans.md", 403),
    ("Secret/plans.md", 403),
    ("%EF%BD%93ecret/plans.md", 403),  # a full-width "s"
    ("secret%2Fplans.md", 403),  # an encoded slash, decoded by the server
    ("public/%2E%2E/secret/plans.md", 400),
    ("public/../secret/plans.md", 400),
    ("./secret/plans.md", 400),
    ("/secret/plans.md", 400),
    ("public//secret/plans.md", 400),
    ("public%5C..%5Csecret/plans.md", 400),  # backslashes
    ("secret%252Fplans.md", 400),  # double-encoded: "%2F" reaches the key
    ("public/%EF%BC%8E%EF%BC%8E/secret/plans.md", 400),  # full-width dots
    ("secret%00/plans.md", 400),
]


def _raw(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """A request whose path goes on the wire as written (httpx would resolve '..')."""
    host, port = urlsplit(url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Authorization": f"Bearer {STORAGE_KEY_A}"}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    out = (response.status, response.read())
    connection.close()
    return out


@pytest.mark.parametrize(("spelling", "status"), DENIED_SPELLINGS)
def test_denied_prefix_spellings_are_refused_for_every_operation(
    spelling: str, status: int, storage_api: StorageApi, moto_s3: StoreServer
) -> None:
    expected = b"access_denied" if status == 403 else b"invalid_object_key"
    for method, operation, body in (
        ("PUT", "put", b"classified"),
        ("GET", "get", None),
        ("DELETE", "delete", None),
        ("GET", "presign", None),
    ):
        got, text = _raw(storage_api.url, method, f"/-s3/s3/{operation}/{BUCKET}/{spelling}", body)
        assert (got, expected in text) == (status, True), (operation, text)
    stored = s3_client(moto_s3.url).list_objects_v2(Bucket=BUCKET, Prefix="tenants/")
    assert not [o["Key"] for o in stored.get("Contents", []) if "plans.md" in o["Key"]]


def test_a_list_prefix_under_a_denied_prefix_is_403_and_listings_hide_denied_keys(
    api_a: httpx.Client,
) -> None:
    _error(api_a.get(f"/-s3/s3/list/{BUCKET}", params={"prefix": "Secret/"}), 403, "access_denied")
    error = _error(
        api_a.get(f"/-s3/s3/list/{BUCKET}", params={"prefix": "a/../secret/"}),
        400,
        "invalid_object_key",
    )
    assert error["param"] == "prefix"


@pytest.mark.parametrize(
    ("params", "bound"),
    [
        ({"ttl": "0"}, "min_ttl of 1"),
        ({"ttl": "3601"}, "max_ttl of 3600"),
        ({"ttl": "-5"}, "min_ttl"),
    ],
)
def test_a_ttl_outside_the_routes_bounds_is_400_naming_the_bound(
    params: dict[str, str], bound: str, api_a: httpx.Client
) -> None:
    key = f"{_unique('ttl')}.txt"
    api_a.put(f"/-s3/s3/put/{BUCKET}/{key}", content=b"x")
    error = _error(
        api_a.get(f"/-s3/s3/presign/{BUCKET}/{key}", params=params), 400, "invalid_request_error"
    )
    assert bound in error["message"] and error["param"] == "ttl"


def test_an_unknown_presign_operation_is_400(api_a: httpx.Client) -> None:
    error = _error(
        api_a.get(f"/-s3/s3/presign/{BUCKET}/a.txt", params={"operation": "delete"}),
        400,
        "invalid_request_error",
    )
    assert error["param"] == "operation"


def test_presigning_a_missing_object_for_reading_is_404(api_a: httpx.Client) -> None:
    _error(api_a.get(f"/-s3/s3/presign/{BUCKET}/{_unique('nothing')}"), 404, "object_not_found")


def test_a_route_without_credentials_is_503_naming_where_it_looked(api_a: httpx.Client) -> None:
    error = _error(api_a.get(f"/-s3/nocreds/list/{BUCKET}"), 503, "storage_unavailable")
    assert "TEST_UNSET_KEY_ID" in error["message"] and "'nocreds'" in error["message"]


def test_a_store_that_cannot_be_reached_is_503(api_a: httpx.Client) -> None:
    response = api_a.put(f"/-s3/down/put/{BUCKET}/a.txt", content=b"x")
    error = _error(response, 503, "storage_unavailable")
    assert "'down'" in error["message"]
    assert "testing-secret" not in response.text


@pytest.mark.parametrize("route", BACKENDS)
def test_an_allowed_bucket_the_store_lacks_is_502(route: str, api_a: httpx.Client) -> None:
    response = api_a.put(f"/-s3/{route}/put/{MISSING_BUCKET}/a.txt", content=b"x")
    _error(response, 502, "storage_error")
