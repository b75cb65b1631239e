"""Which column feeds which field: header matching, ``--map`` files and ``--set`` constants.

A header matches a field when both are equal ignoring case, spaces, underscores and hyphens
(``Due Date``, ``due_date`` and ``dueDate`` all feed ``dueDate``). Columns that match no
field are carried into the results file untouched.

One column is no field of any vendor: ``apiKeyEnv`` names, per row, the environment variable
that holds the row's API key (a blank cell: the vendor's own variable).

:func:`columns_for` lists the columns an action reads, with how to write each (``bulk-tasks
fields``): what the specs say, so that the list cannot drift from the checks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ColumnError, OptionError
from ..results.messages import listed
from ..vendors.base import Spec
from .cells import Form, form_of
from .inputs import Cell, Row

_IGNORED = re.compile(r"[\s_\-]+")
#: the column naming each row's key variable, matched like every header
KEY_ENV = "apiKeyEnv"


def normalise(name: str) -> str:
    return _IGNORED.sub("", name).lower()


@dataclass(frozen=True)
class ColumnMap:
    """Where each field's value comes from: a column position, or a ``--set`` constant."""

    columns: Mapping[str, int]
    constants: Mapping[str, str]
    headers: tuple[str, ...]
    #: where each row's key variable is named: a column position, a --set value, or nowhere
    key_source: int | str | None = None

    def values(self, row: Row) -> dict[str, Cell]:
        """The row's non-blank values by field (a blank cell is no value at all)."""
        found: dict[str, Cell] = {}
        for field, position in self.columns.items():
            cell = row.cells[position]
            if cell != "":
                found[field] = cell
        found.update(self.constants)
        return found

    def key_env(self, row: Row) -> str:
        """The variable the row names for its key, as written ("": the vendor's own)."""
        if isinstance(self.key_source, int):
            return str(row.cells[self.key_source]).strip()
        return self.key_source or ""

    @property
    def names_keys(self) -> bool:
        """Whether rows may name their own key variable (a column or a --set for it)."""
        return self.key_source is not None

    def source(self, field: str) -> str:
        """Where a field's value came from, in the words a user would look for."""
        if field == KEY_ENV and isinstance(self.key_source, int):
            return f'column "{self.headers[self.key_source]}"'
        if field in self.constants or field == KEY_ENV:
            return f"--set {field}"
        if field in self.columns:
            return f'column "{self.headers[self.columns[field]]}"'
        return f'field "{field}"'


@dataclass(frozen=True)
class Column:
    """A column an action reads, as ``bulk-tasks fields`` lists it."""

    #: the field's name, the vendor API's own: the header to use
    field: str
    #: other headers that feed the field
    other_names: tuple[str, ...]
    #: whether the file must have the column (or a --set for it)
    required: bool
    form: Form


def columns_for(spec: type[Spec], *, key_env: str) -> list[Column]:
    """The columns ``spec``'s action reads, in the spec's order, then the one naming each
    row's key variable (``key_env``: the vendor's own, for a blank cell)."""
    columns = [
        Column(field, tuple(spec.aliases.get(field, ())), field in spec.required, form_of(info))
        for field, info in spec.model_fields.items()
    ]
    key_form = Form(
        says="the name of the environment variable that holds the row's API key (letters, "
        "digits and _), never the key itself",
        example=f"TEAM_B_{key_env}",
        blank=f"the vendor's own variable, {key_env}",
    )
    return [*columns, Column(KEY_ENV, (), False, key_form)]


def fields_of(spec: type[Spec]) -> dict[str, str]:
    """normalised name -> field, for the fields and their aliases."""
    names = {normalise(field): field for field in spec.model_fields}
    for field, aliases in spec.aliases.items():
        names.update({normalise(alias): field for alias in aliases})
    return names


def map_columns(
    headers: Sequence[str],
    spec: type[Spec],
    *,
    mapping: Mapping[str, str] | None = None,
    constants: Mapping[str, str] | None = None,
) -> ColumnMap:
    """Match headers to the spec's fields, apply ``--map`` and ``--set``, check requirements."""
    names = fields_of(spec) | {normalise(KEY_ENV): KEY_ENV}
    explicit = {_field(names, field, "--map"): header for field, header in (mapping or {}).items()}
    fixed = {_field(names, field, "--set"): value for field, value in (constants or {}).items()}
    columns = _matched(headers, names, explicit)
    for field, header in explicit.items():
        columns[field] = _position(headers, header, field)
    missing = [f for f in spec.required if f not in columns and f not in fixed]
    if missing:
        raise ColumnError(_missing_message(missing, headers, spec))
    key_column, key_constant = columns.pop(KEY_ENV, None), fixed.pop(KEY_ENV, None)
    return ColumnMap(
        columns=columns,
        constants=fixed,
        headers=tuple(headers),
        key_source=key_constant if key_constant is not None else key_column,
    )


def _field(names: Mapping[str, str], given: str, option: str) -> str:
    field = names.get(normalise(given))
    if field is None:
        known = ", ".join(sorted(set(names.values())))
        raise OptionError(f'{option} names "{given}", which is not a field here; fields: {known}')
    return field


def _matched(
    headers: Sequence[str], names: Mapping[str, str], explicit: Mapping[str, str]
) -> dict[str, int]:
    columns: dict[str, int] = {}
    for position, header in enumerate(headers):
        field = names.get(normalise(header))
        if field is None or field in explicit:
            continue
        if field in columns:
            first = headers[columns[field]]
            raise ColumnError(
                f'columns "{first}" and "{header}" both give {field}; rename one, '
                f'or choose with --map (a TOML file with the line {field} = "{header}")'
            )
        columns[field] = position
    return columns


def _position(headers: Sequence[str], header: str, field: str) -> int:
    for wanted in (header.strip(), normalise(header)):
        for position, name in enumerate(headers):
            if wanted in (name, normalise(name)):
                return position
    raise ColumnError(
        f'--map says {field} comes from column "{header}", but the file has no such column; '
        f"its columns are: {', '.join(headers)}"
    )


def _missing_message(missing: Sequence[str], headers: Sequence[str], spec: type[Spec]) -> str:
    """lemlist create needs columns for recordId (or leadId) and type, and the file has
    neither (its columns: ...); ..."""
    wanted = [_also_named(field, spec.aliases.get(field, ())) for field in missing]
    if len(missing) == 1:
        needs, has = f"a column for {wanted[0]}", "none"
        fix = "rename a column, map one with --map"
    else:
        needs, has = f"columns for {listed(wanted)}", "neither" if len(missing) == 2 else "none"
        fix = "rename columns, map them with --map"
    message = (
        f"{spec.target} {spec.action} needs {needs}, and the file has {has} (its columns: "
        f"{', '.join(headers)}); {fix}, or give one value for every row with "
        f"--set {missing[0]}=VALUE"
    )
    fits = _fitting_target(headers, spec)
    return (
        f"{message}. These columns fit {fits}: did you mean --target {fits}?" if fits else message
    )


def _fitting_target(headers: Sequence[str], spec: type[Spec]) -> str | None:
    """Another vendor whose same action the headers give every required field of."""
    from ..vendors import VENDORS  # the registry imports every vendor: only for this message

    for name, vendor in VENDORS.items():
        other = vendor.spec(spec.action)
        if name == spec.target or other is None:
            continue
        names = fields_of(other)
        given = {names.get(normalise(header)) for header in headers}
        if all(field in given for field in other.required):
            return name
    return None


def _also_named(field: str, aliases: Sequence[str]) -> str:
    return f"{field} (or {' or '.join(aliases)})" if aliases else field


def read_map_file(path: Path) -> dict[str, str]:
    """``--map FILE``: a TOML file of ``field = "Column header"`` lines."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OptionError(f"--map {path}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise OptionError(
            f'--map {path}: not a TOML file of field = "Column header" lines ({error})'
        ) from None
    bad = [key for key, value in data.items() if not isinstance(value, str)]
    if bad:
        raise OptionError(
            f'--map {path}: {bad[0]} must be a column header in quotes, e.g. {bad[0]} = "Owner"'
        )
    return {key: str(value) for key, value in data.items()}


def read_set_options(options: Sequence[str]) -> dict[str, str]:
    """``--set field=value``, repeatable: one constant value for every row."""
    constants: dict[str, str] = {}
    for option in options:
        field, equals, value = option.partition("=")
        if not equals or not field.strip():
            raise OptionError(f'--set "{option}": write it as field=value, e.g. --set type=phone')
        if not value.strip():
            raise OptionError(f'--set "{option}" has no value: write one after the =')
        constants[field.strip()] = value.strip()
    return constants
