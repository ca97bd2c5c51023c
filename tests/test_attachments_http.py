"""Uploading and downloading files over HTTP, with the same token and jurisdiction as GraphQL."""

from __future__ import annotations

from tests.api import COUNTY_LEADER, SCHOOL_REGISTRAR, Api
from tests.domain.attachments.samples import PNG, xlsx_bytes


async def _upload(
    api: Api, token: str | None, purpose: str, name: str, data: bytes, kind: str
) -> tuple[int, dict]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await api.client.post(
        f"/attachments?purpose={purpose}", files={"file": (name, data, kind)}, headers=headers
    )
    return response.status_code, response.json()


async def test_upload_then_download_within_jurisdiction(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    status, body = await _upload(api, token, "PROOF", "户口簿.png", PNG, "image/png")

    assert status == 201
    assert body["size"] == len(PNG)
    own = await api.client.get(f"/attachments/{body['id']}", headers={"authorization": f"Bearer {token}"})
    assert own.status_code == 200
    assert own.content == PNG
    assert own.headers["cache-control"] == "private, no-store"
    county = await api.login(COUNTY_LEADER)  # the school lies in the county's subtree
    above = await api.client.get(f"/attachments/{body['id']}", headers={"authorization": f"Bearer {county}"})
    assert above.status_code == 200


async def test_other_schools_cannot_read_it(api: Api) -> None:  # RULES: ORG-3
    token = await api.login(SCHOOL_REGISTRAR)
    _, body = await _upload(api, token, "PROOF", "a.png", PNG, "image/png")
    other = await api.login("2134010402-reg")

    response = await api.client.get(
        f"/attachments/{body['id']}", headers={"authorization": f"Bearer {other}"}
    )

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"


async def test_uploads_are_refused_with_typed_errors(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    anonymous = await _upload(api, None, "PROOF", "a.png", PNG, "image/png")
    renamed = await _upload(api, token, "IMPORT", "名单.xlsx", b"name,gender\n", "application/vnd.ms-excel")
    no_purpose = await _upload(api, token, "OTHER", "a.png", PNG, "image/png")
    too_big = await _upload(api, token, "PHOTO", "big.png", PNG + b"\x00" * (3 * 1024 * 1024), "image/png")
    fine = await _upload(api, token, "IMPORT", "名单.xlsx", xlsx_bytes(), "application/octet-stream")

    assert anonymous[0] == 401
    assert (renamed[0], renamed[1]["errors"][0]["code"]) == (400, "ATTACHMENT_TYPE_NOT_ALLOWED")
    assert (no_purpose[0], no_purpose[1]["errors"][0]["field"]) == (400, "purpose")
    assert (too_big[0], too_big[1]["errors"][0]["code"]) == (413, "ATTACHMENT_TOO_LARGE")
    assert fine[0] == 201
