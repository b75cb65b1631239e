"""Derive the sandbox's request schemas from the vendors' documentation pages.

    python tools/derive_schemas.py [SEEDS] [--check]

SEEDS is the folder of the vendors' pages (``tests/seeds`` by default, a copy of the
pages the product was built from). The schemas are written to
``bulk_tasks/sandbox/schemas/`` as JSON Schema, one file per request the sandbox checks;
each file's ``$comment`` names its page and every place where the schema departs from it.
With ``--check``, nothing is written: the exit code is 1 when a file differs from what the
pages give (the tests run this check).

The sandbox reads only these files: the pages are not shipped, and nothing parses them at
run time. The client's own specs are never consulted, so a misreading of the docs by the
client is caught by the sandbox rather than shared.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "tests" / "seeds"
SCHEMAS = ROOT / "bulk_tasks" / "sandbox" / "schemas"

LEMLIST_CREATE = "000_f2ddb60476e7259c.txt"
LEMLIST_UPDATE = "001_6318b73674d7bc90.txt"
SALESHANDY_CREATE = "002_c8cea53b39d3097d.txt"
ATTIO_CREATE = "004_fe36680fd2308aa3.txt"
#: not a seed: Attio's public page for PATCH /v2/tasks/{task_id}; its schema is written from
#: what the page says (the fields an update takes), in the shapes the create's seed gives them
ATTIO_UPDATE_PAGE = "https://docs.attio.com/rest-api/endpoint-reference/tasks/update-a-task"
#: the fields of ``data`` that "Update a task" says can be updated, in its order
ATTIO_UPDATABLE = ("deadline_at", "is_completed", "linked_records", "assignees")

#: Saleshandy's documentation gives no maximum of prospects per request; its other bulk
#: endpoints take at most 100
MOST_PROSPECTS = 100
_YAML_BLOCK = re.compile(r"^````yaml[^\n]*\n(.*?)^````", re.DOTALL | re.MULTILINE)
_PROPERTY = re.compile(r"([a-z][A-Za-z]*?)(array<string>|string)$", re.MULTILINE)
_ENUM = re.compile(r"Value in: ((?:\"[^\"]*\"(?: \| )?)+)")
_REQUIRED = re.compile(r"(\w+) \(required\)")
_PLACEHOLDER = re.compile(r"\[.+\]")


def _openapi(seeds: Path, name: str) -> Any:
    """The OpenAPI document in a page's ````yaml block."""
    block = _YAML_BLOCK.search((seeds / name).read_text(encoding="utf-8"))
    if block is None:
        raise ValueError(f"{name} has no ````yaml block")
    return yaml.safe_load(block.group(1))


def _request_schema(document: Any, path: str, method: str) -> dict[str, Any]:
    operation = document["paths"][path][method]
    return dict(operation["requestBody"]["content"]["application/json"]["schema"])


def lemlist_create(seeds: Path) -> dict[str, Any]:
    schema = _request_schema(_openapi(seeds, LEMLIST_CREATE), "/tasks", "post")
    schema["required"] = [name for name in schema["required"] if name != "leadId"]
    schema["properties"] = dict(schema["properties"]) | {"leadId": {"type": "string"}}
    schema["anyOf"] = [{"required": ["recordId"]}, {"required": ["leadId"]}]
    return _described(
        schema,
        "http://json-schema.org/draft-04/schema#",
        LEMLIST_CREATE,
        "POST /api/tasks",
        "the page lists property recordId but requires leadId, and its example sends "
        "leadId: either is accepted, and one of them is required",
    )


def lemlist_update(seeds: Path) -> dict[str, Any]:
    schema = _request_schema(_openapi(seeds, LEMLIST_UPDATE), "/tasks", "patch")
    return _described(
        schema, "http://json-schema.org/draft-04/schema#", LEMLIST_UPDATE, "PATCH /api/tasks"
    )


def saleshandy_create(seeds: Path) -> dict[str, Any]:
    """From the page's prose: its property lines, "(required)" words, "Value in:" enums and
    YYYY-MM-DD format."""
    text = (seeds / SALESHANDY_CREATE).read_text(encoding="utf-8")
    section = text[text.index("Request Body") : text.index("Request Body Examples")]
    found = list(_PROPERTY.finditer(section))
    properties: dict[str, Any] = {}
    for index, match in enumerate(found):
        name, kind = match.groups()
        end = found[index + 1].start() if index + 1 < len(found) else len(section)
        described = section[match.end() : end]
        if kind == "array<string>":
            item = {"type": "string", "minLength": 1}
            schema: dict[str, Any] = {"type": "array", "items": item}
            schema |= {"minItems": 1, "maxItems": MOST_PROSPECTS, "uniqueItems": True}
        else:
            schema = {"type": "string"}
            enum = _ENUM.search(described)
            if enum:
                schema["enum"] = re.findall(r'"([^"]*)"', enum.group(1))
            if "YYYY-MM-DD" in described:
                schema["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
        properties[name] = schema
    return _described(
        {
            "type": "object",
            "properties": properties,
            "required": sorted(set(_REQUIRED.findall(section))),
            "additionalProperties": False,
        },
        "https://json-schema.org/draft/2020-12/schema",
        SALESHANDY_CREATE,
        "POST /v1/tasks/create",
        f"the page gives no limit of prospect ids: 1 to {MOST_PROSPECTS} are accepted (the "
        "cap of Saleshandy's other bulk endpoints), none empty and none twice",
    )


def attio_create(seeds: Path) -> dict[str, Any]:
    schema = _request_schema(_openapi(seeds, ATTIO_CREATE), "/v2/tasks", "post")
    return _described(
        _placeholders_read(schema),
        "https://json-schema.org/draft/2020-12/schema",
        ATTIO_CREATE,
        "POST /v2/tasks",
        "the page names a matching attribute's key '[slug_or_id_of_matching_attribute]' "
        "and requires it: a placeholder for the attribute's slug (email_addresses, "
        "domains), read as one more key of that shape",
    )


def attio_update(seeds: Path) -> dict[str, Any]:
    create = attio_create(seeds)["properties"]["data"]["properties"]
    data = {
        "type": "object",
        "properties": {name: create[name] for name in ATTIO_UPDATABLE},
        "additionalProperties": False,
    }
    return _described(
        {"type": "object", "properties": {"data": data}, "required": ["data"]},
        "https://json-schema.org/draft/2020-12/schema",
        f'Attio\'s "Update a task" page ({ATTIO_UPDATE_PAGE}; not a seed: its fields take the '
        f"shapes {ATTIO_CREATE} gives them)",
        "PATCH /v2/tasks/{task_id}",
        "the page says only " + ", ".join(ATTIO_UPDATABLE) + " can be updated, not what "
        "becomes of another field: any other field of data, content included, is refused",
    )


def _placeholders_read(schema: Any) -> Any:
    """The schema with ``'[slug_or_id_of_matching_attribute]'`` as any other key."""
    if isinstance(schema, list):
        return [_placeholders_read(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {name: _placeholders_read(value) for name, value in schema.items()}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name in [name for name in properties if _PLACEHOLDER.fullmatch(name)]:
            schema["additionalProperties"] = properties.pop(name)
            schema["required"] = [field for field in schema.get("required", []) if field != name]
            schema["minProperties"] = len(schema["required"]) + 1
    return schema


def _described(
    schema: dict[str, Any], dialect: str, page: str, request: str, *deviations: str
) -> dict[str, Any]:
    said = f"{request}, derived from {page} by tools/derive_schemas.py; do not edit."
    if deviations:
        said += " Departs from the page where " + "; where ".join(deviations) + "."
    return {"$schema": dialect, "$comment": said, **copy.deepcopy(schema)}


SCHEMA_FILES = {
    "lemlist_create.json": lemlist_create,
    "lemlist_update.json": lemlist_update,
    "saleshandy_create.json": saleshandy_create,
    "attio_create.json": attio_create,
    "attio_update.json": attio_update,
}


def derived(seeds: Path) -> dict[str, str]:
    """Each schema file's text, as the pages in ``seeds`` give it."""
    return {
        name: json.dumps(derive(seeds), indent=2, ensure_ascii=False) + "\n"
        for name, derive in SCHEMA_FILES.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="?", type=Path, default=SEEDS)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    options = parser.parse_args()
    stale = []
    for name, text in derived(options.seeds).items():
        path = SCHEMAS / name
        if options.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    for name in stale:
        print(f"{SCHEMAS / name} differs from what {options.seeds} gives", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
