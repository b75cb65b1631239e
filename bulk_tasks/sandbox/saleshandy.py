"""Saleshandy's emulated task API: POST /v1/tasks/create (seed 002).

The request schema is derived from the seed's own text (its property lines, its
"(required)" words, its "Value in:" enums and its YYYY-MM-DD format: ``schemas/``), never
from the client's specs. Deliberate additions where the docs are silent: 1 to 100
prospect ids per request (100 is Saleshandy's other bulk endpoints' cap), none empty and
none twice (so that a client which packs one prospect twice into a request is caught).

Per prospect, as the seed's example answers: ids starting with ``INVALID`` get no task
(``taskId: null, success: false``, no reason); ids starting with ``OMIT`` get a task that
the answer leaves out (to exercise "sent, but absent from the results"); any other id gets
a task. The docs name no status code for success: this emulator answers 201, so that a
client which expects 200 fails here rather than in production.
"""

from __future__ import annotations

import secrets
import string
from datetime import date
from typing import Any

from jsonschema.exceptions import best_match
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .app import App, Change, Emulated, RateState, request_validator, writes

MOST_PROSPECTS = 100


def _problem(body: Any) -> str | None:
    """Why ``body`` is not a valid create request, in a sentence; None when it is."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    error = best_match(request_validator("saleshandy_create").iter_errors(body))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path)
        if error.validator in ("minItems", "maxItems", "uniqueItems"):  # not the whole array
            what = {"minItems": "is empty", "uniqueItems": "holds an id twice"}
            count = f"has {len(error.instance)} ids; at most {MOST_PROSPECTS} are allowed"
            return f"{where}: {what.get(str(error.validator), count)}"
        return (f"{where}: {error.message}" if where else str(error.message))[:300]
    if "dueDate" in body:
        try:
            date.fromisoformat(body["dueDate"])
        except ValueError:
            return f"dueDate: {body['dueDate']!r} is not a real date (YYYY-MM-DD)"
    return None


class _Tasks:
    """Saleshandy's tasks: what POST /v1/tasks/create reads and changes (no HTTP here)."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}

    def apply(self, method: str, body: Any) -> tuple[Response, list[Change]]:
        problem = _problem(body)
        if problem is not None:
            return JSONResponse({"message": problem, "error": "Bad Request"}, 400), []
        results, changes = [], []
        task = {name: value for name, value in body.items() if name != "prospectIds"}
        for prospect in body["prospectIds"]:
            if prospect.startswith("INVALID"):
                results.append({"prospectId": prospect, "taskId": None, "success": False})
                continue
            task_id = self._new_id()
            self.tasks[task_id] = {"prospectId": prospect, **task}
            changes.append(Change(task_id, prospect))
            if not prospect.startswith("OMIT"):
                results.append({"prospectId": prospect, "taskId": task_id, "success": True})
        answer = {"message": "Task created successfully", "payload": {"results": results}}
        return JSONResponse(answer, 201), changes

    def _new_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while (task_id := "".join(secrets.choice(alphabet) for _ in range(10))) in self.tasks:
            pass
        return task_id


def _key(headers: Headers) -> str | None:
    return headers.get("x-api-key", "").strip() or None


def _too_many(rate: RateState) -> Response:
    retry_after = max(1, -int(-rate.wait // 1))  # whole seconds, rounded up
    return JSONResponse(
        {"message": "Too many requests, please try again later", "error": "Too Many Requests"},
        429,
        headers={"Retry-After": str(retry_after)},
    )


def _routes(app: App) -> list[Route]:
    return [writes(app, "/v1/tasks/create", _Tasks().apply)]


EMULATED = Emulated(
    name="saleshandy",
    prefix="/v1",
    limit=20,  # Saleshandy documents no limit: the mission's 20 per 2 s
    period=2.0,
    key_of=_key,
    unauthorized=lambda: JSONResponse(
        {"message": "Invalid or missing API key", "error": "Unauthorized"}, 401
    ),
    too_many=_too_many,
    rate_headers=lambda rate: {},
    routes=_routes,
)
