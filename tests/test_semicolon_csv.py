"""A CSV file separated by semicolons, as Excel saves one where the decimal mark is a comma
(French, German, …): its results are separated the same way, so that such Excel opens them
as columns, and every command reads them back."""

from __future__ import annotations

import csv
from pathlib import Path

from helpers import bulk_tasks

from bulk_tasks.sandbox import SandboxServer

USER = "usr_7YzNqVRMCfdeHEzMn"


def french_export(path: Path) -> Path:
    """A lemlist create file as French Excel saves "CSV (séparateur: point-virgule)"."""
    rows = [
        "leadId;type;assignedTo;dueDate;title",
        f"lea_huG8GP38g4o5MNJAY;phone;{USER};2026-12-01 09:30;Appeler Hélène",
        f"lea_KJ1UXXFWXLCpaNfhs;email;{USER};2026-12-02;Relance; devis",  # an extra cell
        f"lea_SQqcMWiJXg0oPq8CR;manual;{USER};2026-12-03;Réunion à 14h",
    ]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    return path


def read_semicolons(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file, delimiter=";"))


def test_results_of_a_semicolon_file_are_separated_by_semicolons(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = french_export(tmp_path / "taches.csv")
    results = tmp_path / "taches.results.csv"
    ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url)
    assert ran.code == 1, ran.stderr
    raw = results.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfrow;status;remote_id;")  # UTF-8, as Excel reads it
    lines = {line["row"]: line for line in read_semicolons(results)}
    assert {row: line["status"] for row, line in lines.items()} == {
        "2": "created",
        "3": "invalid",
        "4": "created",
    }
    assert lines["2"]["title"] == "Appeler Hélène"
    again = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--resume")
    assert again.code == 1, again.stderr
    assert results.read_bytes().startswith(b"\xef\xbb\xbfrow;status;")
    statuses = sorted(line["status"] for line in read_semicolons(results))
    assert statuses == ["invalid", "skipped", "skipped"]
    assert len(server.sandbox.applied) == 2
    failed = tmp_path / "a-corriger.csv"
    settled = bulk_tasks("reconcile", results, "--failed-out", failed)
    assert settled.code == 1, settled.stderr
    assert "  skipped           2\n" in settled.stdout
    [row] = read_semicolons(failed)
    assert (row["leadId"], row["error_code"]) == ("lea_KJ1UXXFWXLCpaNfhs", "extra_cells")


def test_validation_of_a_semicolon_file_is_separated_by_semicolons(tmp_path: Path) -> None:
    data = french_export(tmp_path / "taches.csv")
    checked = bulk_tasks("validate", data, "-t", "lemlist")
    assert checked.code == 1
    lines = read_semicolons(tmp_path / "taches.validation.csv")
    assert [line["error_code"] for line in lines] == ["valid", "extra_cells", "valid"]


def test_results_of_a_comma_file_stay_separated_by_commas(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = tmp_path / "tasks.csv"
    data.write_text(
        f"leadId,type,assignedTo,dueDate,title\nlea_huG8GP38g4o5MNJAY,phone,{USER},2026-12-01,A\n",
        encoding="utf-8",
    )
    ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url)
    assert ran.code == 0, ran.stderr
    assert (tmp_path / "tasks.results.csv").read_bytes().startswith(b"\xef\xbb\xbfrow,status,")
