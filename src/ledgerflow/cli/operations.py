"""Commands for whoever runs ledgerflow for a team (issue #24): `config show`.

Like `ledgerflow.cli.accountability`, it hangs on the app of `ledgerflow.cli.main` and imports what it needs
when it runs.
"""

from __future__ import annotations

from ledgerflow.cli.main import _group as group
from ledgerflow.cli.main import app, emit, settings

config_app = group("The effective configuration.")
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show() -> None:
    """Every setting with its value and source (env, file, default), secrets masked; unknown LEDGERFLOW_* warned."""
    from ledgerflow.cli import render
    from ledgerflow.ops import config

    result = config.show()
    if settings.db:  # --db wins over every other source, for this command line
        result["settings"] = [{**row, "value": config.masked(row["key"], settings.db), "source": "--db"}
                              if row["key"] == "LEDGERFLOW_DB" else row for row in result["settings"]]
    for name in result["unknown"]:
        render.err.print(f"warning: {name} is not a ledgerflow setting (misspelt?); it is ignored",
                         highlight=False)
    rows = [{**row, "value": "-" if row["value"] is None else row["value"]} for row in result["settings"]]
    emit(result, None if settings.json else render.table("Configuration", ("key", "value", "source"), rows))
