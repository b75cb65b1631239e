"""Attio's emulated task API: POST /v2/tasks (seed 004, Attio's own OpenAPI 3.1), GET
/v2/tasks ("List tasks") and PATCH /v2/tasks/{task_id} ("Update a task").

The create's request schema is the seed's own (``schemas/attio_create.json``, derived from
it), checked as JSON Schema 2020-12 (all six ``data`` fields required, ``content`` at most
2,000 characters, uuids checked). The update's (``schemas/attio_update.json``) is written from
Attio's public "Update a task" page, which is not a seed: ``deadline_at``, ``is_completed``,
``linked_records`` and ``assignees`` in the create's shapes, none required, and nothing else
(``content`` is refused). An update of a task id the sandbox never made is 404 ``not_found``.

One deliberate reading: the seed names a matching-attribute link's key
``'[slug_or_id_of_matching_attribute]'`` and requires it; that is a placeholder for the
attribute's slug (``email_addresses``, ``domains``), so here it means "one more key, of that
shape".

Bearer auth; 25 requests per sliding second per key, refused with Attio's JSON 429 and a
``Retry-After`` that is an HTTP date; every answer carries a ``Date`` header (uvicorn's).
What matches nothing gets the seed's 404 ``not_found``: email addresses and domains under
the reserved ``.invalid`` top-level domain (``ghost@nobody.invalid``, ``nobody.invalid``),
the nil uuid ``00000000-0000-0000-0000-000000000000`` as a record or actor id, and objects
other than people, companies, deals, users and workspaces.
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from jsonschema.exceptions import best_match
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .app import App, Change, CutShort, Emulated, RateState, request_validator, writes

OBJECTS = frozenset({"people", "companies", "deals", "users", "workspaces"})
NIL = "00000000-0000-0000-0000-000000000000"
WORKSPACE = "14beef7a-99f7-4534-a87e-70b564330a4c"  # the seed's example workspace id
TOKEN_ACTOR = "7f1e3b2a-5c4d-4e6f-8a9b-0c1d2e3f4a5b"


def _error(status: int, kind: str, code: str, message: str) -> JSONResponse:
    body = {"status_code": status, "type": kind, "code": code, "message": message}
    return JSONResponse(body, status)


def _problem(body: Any, schema: str) -> str | None:
    """Why ``body`` does not fit the request schema ``schema``, as Attio says it; None: it fits."""
    if not isinstance(body, dict):
        return "Body must be a JSON object."
    error = best_match(request_validator(schema).iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "body"
    if error.validator == "maxLength":
        detail = f"is {len(error.instance)} characters, over the maximum of {error.validator_value}"
    else:
        detail = str(error.message)
        detail = f"{detail[:200]}…" if len(detail) > 200 else detail
    return f"Body payload validation error at {where}: {detail}"


def _unmatched(data: dict[str, Any]) -> str | None:
    """The seed's 404 message for the first linked record or assignee that matches nothing
    (an update may give neither)."""
    for link in data.get("linked_records", []):
        if isinstance(link, str):
            if link.endswith(".invalid"):
                return f'No person or company matches "{link}".'
            continue
        if link["target_object"] not in OBJECTS:
            return f'Object with slug/ID "{link["target_object"]}" not found.'
        if link.get("target_record_id") == NIL:
            return f'Record with ID "{NIL}" not found.'
        for values in link.values():
            for value in values if isinstance(values, list) else []:
                matched = value.get("email_address") or value.get("domain") or ""
                if matched.endswith(".invalid"):
                    return f'No record matches "{matched}".'
    for assignee in data.get("assignees", []):
        who = assignee.get("workspace_member_email_address") or assignee["referenced_actor_id"]
        if who.endswith(".invalid") or who == NIL:
            return f'Workspace member "{who}" not found.'
    return None


def _record_id(value: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, value.lower()))


def _resolved(link: Any) -> dict[str, str]:
    if isinstance(link, str):
        target = "people" if "@" in link else "companies"
        return {"target_object_id": target, "target_record_id": _record_id(link)}
    record = link.get("target_record_id") or _record_id(repr(sorted(link.items())))
    return {"target_object_id": link["target_object"], "target_record_id": record}


def _assigned(assignee: dict[str, str]) -> dict[str, str]:
    actor = assignee.get("referenced_actor_id") or _record_id(
        assignee["workspace_member_email_address"]
    )
    return {"referenced_actor_type": "workspace-member", "referenced_actor_id": actor}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _refusal(body: Any, schema: str) -> Response | None:
    """The 400 or 404 Attio answers to ``body`` (checked against ``schema``); None: none."""
    problem = _problem(body, schema)
    if problem is not None:
        return _error(400, "invalid_request_error", "validation_type", problem)
    unmatched = _unmatched(body["data"])
    if unmatched is not None:
        return _error(404, "invalid_request_error", "not_found", unmatched)
    return None


class _Tasks:
    """Attio's tasks: what POST, GET and PATCH /v2/tasks read and change (no HTTP here)."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}

    def apply(self, method: str, body: Any) -> tuple[Response, list[Change]]:
        refusal = _refusal(body, "attio_create")
        if refusal is not None:
            return refusal, []
        data = body["data"]
        task_id = str(uuid.uuid4())
        now = _now_iso()
        task = {
            "id": {"workspace_id": WORKSPACE, "task_id": task_id},
            "content_plaintext": data["content"],
            "deadline_at": data["deadline_at"],
            "is_completed": data["is_completed"],
            "completed_at": now if data["is_completed"] else None,
            "linked_records": [_resolved(link) for link in data["linked_records"]],
            "assignees": [_assigned(assignee) for assignee in data["assignees"]],
            "created_by_actor": {"type": "api-token", "id": TOKEN_ACTOR},
            "created_at": now,
        }
        self.tasks[task_id] = task
        return JSONResponse({"data": task}), [Change(task_id)]

    def update(self, task_id: str, method: str, body: Any) -> tuple[Response, list[Change]]:
        """PATCH /v2/tasks/{task_id}: the fields ``body`` gives, and no other, change."""
        refusal = _refusal(body, "attio_update")
        if refusal is not None:
            return refusal, []
        task = self.tasks.get(task_id)
        if task is None:
            message = f'Task with ID "{task_id}" not found.'
            return _error(404, "invalid_request_error", "not_found", message), []
        data = body["data"]
        if "deadline_at" in data:
            task["deadline_at"] = data["deadline_at"]
        if "is_completed" in data:
            task["is_completed"] = data["is_completed"]
            task["completed_at"] = _now_iso() if data["is_completed"] else None
        if "linked_records" in data:
            task["linked_records"] = [_resolved(link) for link in data["linked_records"]]
        if "assignees" in data:
            task["assignees"] = [_assigned(assignee) for assignee in data["assignees"]]
        return JSONResponse({"data": task}), [Change(task_id)]


def _key(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def retry_at(wait: float, *, now: float | None = None) -> str:
    """The HTTP date, to the second, at which the window has room again."""
    moment = datetime.fromtimestamp(math.ceil((now or time.time()) + max(wait, 0.0)), UTC)
    return format_datetime(moment, usegmt=True)


def _too_many(rate: RateState) -> Response:
    response = _error(
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit exceeded, please try again later",
    )
    response.headers["Retry-After"] = retry_at(rate.wait)
    return response


#: the most tasks one page of GET /v2/tasks holds ("List tasks": limit up to 500)
MOST_PER_PAGE = 500


def _listed(query: Any, tasks: list[dict[str, Any]]) -> Response:
    """A page of tasks, oldest first, as "List tasks" describes it: ``limit``, ``offset``,
    ``linked_object`` with ``linked_record_id``, ``assignee`` (id or email address),
    ``is_completed``."""
    try:
        limit = int(query.get("limit", str(MOST_PER_PAGE)))
        offset = int(query.get("offset", "0"))
    except ValueError:
        limit = offset = -1
    if not 1 <= limit <= MOST_PER_PAGE or offset < 0:
        return _error(
            400, "invalid_request_error", "validation_type", "limit or offset is out of range."
        )
    obj, record = query.get("linked_object"), query.get("linked_record_id")
    if (obj is None) != (record is None):
        message = "linked_object and linked_record_id must be given together."
        return _error(400, "invalid_request_error", "validation_type", message)
    assignee = query.get("assignee")
    completed = query.get("is_completed")
    kept = [
        task
        for task in tasks
        if (
            record is None
            or any(link["target_record_id"] == record for link in task["linked_records"])
        )
        and (
            assignee is None
            or any(
                actor["referenced_actor_id"] in (assignee, _record_id(assignee))
                for actor in task["assignees"]
            )
        )
        and (completed is None or task["is_completed"] == (completed == "true"))
    ]
    return JSONResponse({"data": kept[offset : offset + limit]})


def _routes(app: App) -> list[Route]:
    store = _Tasks()

    async def list_tasks(request: Request) -> Response:
        with app.lock:
            tasks = list(store.tasks.values())
        return _listed(request.query_params, tasks)

    async def update_task(request: Request) -> Response | CutShort:
        task_id = request.path_params["task_id"]
        return await app.write(request, functools.partial(store.update, task_id))

    return [
        writes(app, "/v2/tasks", store.apply),
        Route("/v2/tasks", list_tasks, methods=["GET"]),
        Route("/v2/tasks/{task_id}", update_task, methods=["PATCH"]),
    ]


EMULATED = Emulated(
    name="attio",
    prefix="/v2",
    limit=25,
    period=1.0,
    key_of=_key,
    unauthorized=lambda: _error(
        401, "auth_error", "unauthorized", "Authentication failed: check your access token."
    ),
    too_many=_too_many,
    rate_headers=lambda rate: {},
    routes=_routes,
    read_limit=(100, 1.0),
)
