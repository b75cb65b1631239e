"""lemlist's emulated task API: POST, PATCH and GET /api/tasks (seeds 000, 001, 003).

Bodies are checked against the request schemas derived from the seeds (``schemas/``; never
against the client's specs, so that a misreading of the docs is caught rather than shared).
Basic auth with an empty user; 429 with ``Retry-After`` in seconds and ``X-RateLimit-*``
headers; plain-text errors like the real ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from jsonschema.exceptions import best_match
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .app import App, Change, Emulated, RateState, request_validator, writes


def _demo_task(number: int, kind: str, title: str) -> dict[str, Any]:
    return {
        "_id": f"opp_DemoTask{number:09d}",  # "opp_" + 17 characters, as real task ids
        "type": kind,
        "title": title,
        "priority": 1,
        "leadId": f"lea_DemoLead{number:09d}",
        "dueDate": "2030-01-15T09:00:00.000Z",
        "userId": "usr_7YzNqVRMCfdeHEzMn",
        "content": f"Demo task {number}",
        "status": "pending",
        "createdAt": "2025-01-02T09:00:00.000Z",
    }


# Tasks every fresh sandbox has, so that a demo update file works without creating first.
DEMO_TASKS: tuple[dict[str, Any], ...] = (
    _demo_task(1, "phone", "Call about the renewal"),
    _demo_task(2, "manual", "Check the signed contract"),
    _demo_task(3, "email", "Send the case study"),
    _demo_task(4, "phone", "Book the onboarding call"),
    _demo_task(5, "linkedin", "Congratulate on the new role"),
    _demo_task(6, "linkedin", "Share the product video"),
)


def _lemlist_key(headers: Headers) -> str | None:
    """The key from ``Authorization: Basic base64(":" + key)``; None unless exactly that."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, key = decoded.partition(":")
    return key if scheme.lower() == "basic" and colon and not user and key else None


def _lemlist_rate_headers(rate: RateState) -> dict[str, str]:
    # A date as JavaScript's Date.toString() prints it (in UTC), not epoch seconds: lemlist's.
    reset = datetime.now(UTC) + timedelta(seconds=max(rate.wait, 0.0))
    return {
        "X-RateLimit-Limit": str(rate.limit),
        "X-RateLimit-Remaining": str(rate.remaining),
        "X-RateLimit-Reset": reset.strftime(
            "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)"
        ),
    }


def _lemlist_too_many(rate: RateState) -> Response:
    retry_after = max(1, math.ceil(rate.wait))
    return PlainTextResponse("Too many requests", 429, headers={"Retry-After": str(retry_after)})


_SCHEMAS = {"POST": "lemlist_create", "PATCH": "lemlist_update"}


def _lemlist_problem(method: str, body: Any) -> str | None:
    """Why ``body`` is not a valid request, in a few words; None when it is."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    error = best_match(request_validator(_SCHEMAS[method]).iter_errors(body))
    if error is None:
        return None
    if error.validator == "anyOf":
        return "recordId or leadId is required"
    where = ".".join(str(part) for part in error.absolute_path)
    return (f"{where}: {error.message}" if where else str(error.message))[:200]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _priority(value: str) -> int | str:
    return int(value) if value else ""  # lemlist answers with a number, or "" for none


class _LemlistTasks:
    """lemlist's tasks: what POST/PATCH/GET /api/tasks read and change (no HTTP here)."""

    def __init__(self, *, demo: bool) -> None:
        self.tasks = {task["_id"]: dict(task) for task in DEMO_TASKS} if demo else {}

    def pending(self) -> list[dict[str, Any]]:
        return [task for task in self.tasks.values() if task["status"] == "pending"]

    def apply(self, method: str, body: Any) -> tuple[Response, list[Change]]:
        problem = _lemlist_problem(method, body)
        if problem is not None:
            return PlainTextResponse(f"Bad params: {problem}", 400), []
        task = self._create(body) if method == "POST" else self.tasks.get(body["id"])
        if task is None:
            return PlainTextResponse("Task not found", 404), []
        if method == "PATCH":
            if ("images" in body or "videos" in body) and task["type"] != "linkedin":
                return JSONResponse({"error": "LINKEDIN_MEDIA_INVALID_TYPE"}, 400), []
            self._update(task, body)
        return JSONResponse(task), [Change(task["_id"])]

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        task: dict[str, Any] = {"_id": self._new_id(), "type": body["type"]}
        task["title"] = body.get("title", "")
        if "priority" in body:
            task["priority"] = _priority(body["priority"])
        task["leadId"] = body.get("recordId", body.get("leadId"))
        task |= {"dueDate": body["dueDate"], "userId": body["assignedTo"]}
        task |= {"content": body.get("message", ""), "status": "pending", "createdAt": _now_iso()}
        if body["type"] == "linkedin":  # lemlist ignores media on the other types
            task |= {name: body[name] for name in ("images", "videos") if name in body}
        self.tasks[task["_id"]] = task
        return task

    def _update(self, task: dict[str, Any], body: dict[str, Any]) -> None:
        renamed = {"assignedTo": "userId", "message": "content"}
        for name in ("assignedTo", "dueDate", "title", "message", "images", "videos"):
            if name in body:
                task[renamed.get(name, name)] = body[name]
        if "priority" in body:
            task["priority"] = _priority(body["priority"])
        if body.get("done") is True:
            task |= {"status": "completed", "completedAt": _now_iso()}
        elif body.get("done") is False:
            task["status"] = "pending"
            task.pop("completedAt", None)

    def _new_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while (
            task_id := "opp_" + "".join(secrets.choice(alphabet) for _ in range(17))
        ) in self.tasks:
            pass
        return task_id


#: tasks per page of GET /api/tasks (lemlist does not document its page size)
PAGE_SIZE = 100
_FILTERS = frozenset({"assignedTo", "type", "dueDate"})


def _listed(query: Any, pending: list[dict[str, Any]]) -> Response:
    """A page of pending tasks, as "Get Many Tasks" describes it: ``page`` from 0, and a
    JSON ``filters`` array (assignedTo and type with ``in``; dueDate with from/to dates)."""
    try:
        page = int(query.get("page", "0"))
        filters = json.loads(query.get("filters", "[]"))
    except ValueError:
        return PlainTextResponse("Bad params: page must be a number, filters a JSON array", 400)
    if page < 0 or not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        return PlainTextResponse("Bad params: page must be >= 0, filters a JSON array", 400)
    unknown = [f.get("filterId") for f in filters if f.get("filterId") not in _FILTERS]
    if unknown:
        return PlainTextResponse(
            f"Bad params: the sandbox does not emulate filter {unknown[0]}", 400
        )
    kept = [task for task in pending if all(_passes(task, f) for f in filters)]
    start = page * PAGE_SIZE
    return JSONResponse({"results": kept[start : start + PAGE_SIZE], "page": str(page)})


def _passes(task: dict[str, Any], rule: dict[str, Any]) -> bool:
    name = rule["filterId"]
    if name in ("assignedTo", "type"):
        value = task["userId"] if name == "assignedTo" else task["type"]
        return value in rule.get("in", [value]) and value not in rule.get("out", [])
    day = str(task["dueDate"])[:10]  # the UTC date of the due moment
    return str(rule.get("from", day)) <= day <= str(rule.get("to", day))


def _lemlist_routes(app: App) -> list[Route]:
    store = _LemlistTasks(demo=app.demo_tasks)

    async def list_pending(request: Request) -> Response:
        with app.lock:
            pending = store.pending()
        return _listed(request.query_params, pending)

    return [
        writes(app, "/api/tasks", store.apply, methods=("POST", "PATCH")),
        Route("/api/tasks", list_pending, methods=["GET"]),
    ]


EMULATED = Emulated(
    name="lemlist",
    prefix="/api",
    limit=20,
    period=2.0,
    key_of=_lemlist_key,
    unauthorized=lambda: PlainTextResponse("The authentication you supplied is incorrect", 401),
    too_many=_lemlist_too_many,
    rate_headers=_lemlist_rate_headers,
    routes=_lemlist_routes,
)
