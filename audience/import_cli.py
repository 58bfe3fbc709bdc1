"""`flask audience import PATH`: the whole import in the foreground, with a progress bar."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import phonenumbers
from flask import current_app

from audience import import_records
from audience.cli import group
from audience.columns import FIELDS
from audience.import_pipeline import run_import
from extensions import db

_STAGES = {"checking": "Checking and saving rows", "report": "Writing the report"}


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        name, separator, header = pair.partition("=")
        if not separator or name.strip() not in FIELDS:
            raise click.BadParameter(
                f"{pair!r}: use FIELD=HEADER, FIELD one of {', '.join(FIELDS)}.", param_hint="--map"
            )
        mapping[name.strip()] = header.strip()
    return mapping


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--default-region", help="Country of numbers written without a country code (default: DEFAULT_REGION).")
@click.option("--consent-source", default="", help="For a file without a consent column: how everyone in it opted in.")
@click.option(
    "--map", "pairs", multiple=True, metavar="FIELD=HEADER", help="Take FIELD from column HEADER (repeatable)."
)
@click.option("--sheet", help="The XLSX sheet to read (default: the first).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def import_command(path: Path, default_region: str | None, consent_source: str, pairs: tuple[str, ...],
                   sheet: str | None, as_json: bool) -> None:
    """Import contacts from a CSV or XLSX file; nothing is kept if the file as a whole is refused."""
    region = (default_region or current_app.config["DEFAULT_REGION"]).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise click.BadParameter(f"{default_region!r} is not a country code such as RU.", param_hint="--default-region")
    record = import_records.create_import(path.name, path.read_bytes(), actor=None)
    import_records.configure(record, mapping=_mapping(pairs), default_region=region, consent_source=consent_source,
                      sheet=sheet)
    import_records.mark_running(record, None)
    # On standard error, so that --json output stays one clean line on standard output.
    with click.progressbar(length=1, label="Reading", file=sys.stderr) as bar:
        def show(stage: str, done: int, total: int) -> None:
            bar.label, bar.length = _STAGES.get(stage, stage), max(total, 1)
            bar.update(done - bar.pos)

        summary = run_import(record, import_records.file_content(record), progress=show)
    import_records.mark_succeeded(record, summary, actor=None)
    db.session.commit()
    found = import_records.issues(record)
    rejections = [{"row": issue.row, "reason": import_records.reason_text(issue.reason), "code": issue.reason}
                  for issue in found if issue.kind.value == "rejected"]
    merged = import_records.merged_rows_json(record)
    if as_json:
        keys = ("read", "created", "updated", "unchanged", "duplicates", "rejected", "suppressed")
        data = {key: getattr(summary, key) for key in keys}
        click.echo(json.dumps(data | {"import_id": record.id, "rejections": rejections, "merged_rows": merged},
                              ensure_ascii=False))
        return
    click.echo(f"Import {record.id}: read {summary.read} rows; {summary.created} created, {summary.updated} updated, "
               f"{summary.unchanged} unchanged, {summary.duplicates} duplicates merged, {summary.rejected} rejected, "
               f"{summary.suppressed} on the suppression list (they stay suppressed).")
    for rejection in rejections[:50]:
        click.echo(f"  row {rejection['row']}: {rejection['reason']}")
    if len(rejections) > 50:
        click.echo(f"  … and {len(rejections) - 50} more; the full report: the import's page in the UI.")
    for merge in merged[:50]:
        click.echo(f"  row {merge['row']} merged into row {merge['into_row']} "
                   f"(the same number, …{merge['number_end']})")
    if len(merged) > 50:
        click.echo(f"  … and {len(merged) - 50} more merged rows; the full report: the import's page in the UI.")
