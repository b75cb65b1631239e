"""Each vendor as pure functions: a spec becomes a request, an HTTP answer becomes a verdict.

Nothing here touches the network, so request shapes and answer readings are tested without
one. A vendor is one :class:`Vendor` value; adding one means adding its functions here, its
specs in :mod:`bulk_tasks.specs` and its routes in :mod:`bulk_tasks.sandbox`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from .specs import LemlistCreate, LemlistUpdate, Spec

Json = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """What to send, without the host or the key (both come from the run's settings)."""

    method: str
    path: str
    body: Json


class Verdict(StrEnum):
    DONE = "done"  # the vendor applied it
    FAILED = "failed"  # the vendor refused it, for a reason retrying will not change
    RETRY = "retry"  # the vendor did not apply it and may if asked again (429, 5xx)
    REJECTED_KEY = "rejected_key"  # 401/403: no row can succeed with this key


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An HTTP answer, read."""

    verdict: Verdict
    http_status: int
    remote_id: str = ""
    error_code: str = ""
    error_message: str = ""
    retry_after: float | None = None  # seconds, when the vendor said how long to wait


@dataclass(frozen=True, kw_only=True)
class Vendor:
    name: str
    base_url: str
    key_env: str
    host: str
    #: the documented rate limit: `limit` requests per `period` seconds per key
    limit: int
    period: float
    auth_headers: Callable[[str], dict[str, str]]
    build: Callable[[Spec], Request]
    read: Callable[[int, Mapping[str, str], bytes], Answer]


# --- shared readings -----------------------------------------------------------------------


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: lemlist sends a number, Attio an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def utc_iso(when: datetime) -> str:
    """2026-04-03T09:00:00.000Z: UTC with milliseconds, as the lemlist docs show."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _json_or_text(body: bytes) -> tuple[Json | None, str]:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return None, text
    return (data if isinstance(data, dict) else None), text


# --- lemlist ------------------------------------------------------------------------------

_LEMLIST_HINTS = {
    "LINKEDIN_MEDIA_INVALID_TYPE": "images and videos can only be set on a linkedin task",
}


def _lemlist_auth(key: str) -> dict[str, str]:
    token = base64.b64encode(f":{key}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _lemlist_build(spec: Spec) -> Request:
    if isinstance(spec, LemlistCreate):
        return Request("POST", "/api/tasks", _lemlist_create_body(spec))
    if isinstance(spec, LemlistUpdate):
        return Request("PATCH", "/api/tasks", _lemlist_update_body(spec))
    raise TypeError(f"not a lemlist spec: {type(spec).__name__}")


def _lemlist_create_body(spec: LemlistCreate) -> Json:
    body: Json = {"recordId": spec.recordId}
    if spec.recordId.startswith("lea_"):
        body["leadId"] = spec.recordId  # the seed's schema marks leadId required
    body |= {"type": spec.type, "assignedTo": spec.assignedTo, "dueDate": utc_iso(spec.dueDate)}
    optional = {"title": spec.title, "message": spec.message, "priority": spec.priority}
    body |= {name: value for name, value in optional.items() if value is not None}
    body |= {
        name: list(urls)
        for name, urls in (("images", spec.images), ("videos", spec.videos))
        if urls
    }
    return body


def _lemlist_update_body(spec: LemlistUpdate) -> Json:
    body: Json = {}
    for name in spec.model_fields_set:
        value = getattr(spec, name)
        if isinstance(value, datetime):
            value = utc_iso(value)
        elif isinstance(value, tuple):
            value = list(value)
        body[name] = value
    return {"id": spec.id} | {name: body[name] for name in sorted(body) if name != "id"}


def _lemlist_read(status: int, headers: Mapping[str, str], body: bytes) -> Answer:
    data, text = _json_or_text(body)
    if 200 <= status < 300:
        remote_id = str(data.get("_id", "")) if data else ""
        message = "" if remote_id else "lemlist answered success without a task id"
        return Answer(
            verdict=Verdict.DONE, http_status=status, remote_id=remote_id, error_message=message
        )
    if status in (401, 403):
        return Answer(
            verdict=Verdict.REJECTED_KEY,
            http_status=status,
            error_code="key_rejected",
            error_message=text or "key rejected",
        )
    if status == 429 or status >= 500:
        return Answer(
            verdict=Verdict.RETRY,
            http_status=status,
            error_code=f"http_{status}",
            error_message=text,
            retry_after=retry_after_seconds(headers.get("retry-after")),
        )
    code = str(data["error"]) if data and "error" in data else f"http_{status}"
    message = text or f"HTTP {status}"
    if code in _LEMLIST_HINTS:
        message = f"{message}: {_LEMLIST_HINTS[code]}"
    elif status == 404:
        message = f"{message}: lemlist has no task with this id; check the id column"
    return Answer(
        verdict=Verdict.FAILED,
        http_status=status,
        error_code=code,
        error_message=f"lemlist refused it: {message}; fix the row, then run again with "
        "--resume --retry-failed",
    )


LEMLIST = Vendor(
    name="lemlist",
    base_url="https://api.lemlist.com",
    host="api.lemlist.com",
    key_env="LEMLIST_API_KEY",
    limit=20,
    period=2.0,
    auth_headers=_lemlist_auth,
    build=_lemlist_build,
    read=_lemlist_read,
)

VENDORS: dict[str, Vendor] = {vendor.name: vendor for vendor in (LEMLIST,)}
