"""Command line: a thin layer over perfmodel.api."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from perfmodel import api
from perfmodel.config import DEFAULT_PROFILE, DEFAULT_SCENARIO, bundled_dir, load_profile
from perfmodel.errors import PerfmodelError

EXIT_BAD_INPUT = 2


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"perfmodel: error: {msg}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """A discrete-event performance model of Linux zswap on NUMA hardware."""


@cli.command()
@click.argument("scenario", required=False)
@click.option("--hardware", "-H", "hardware", metavar="PROFILE",
              help=f"Hardware profile: a path or a bundled name (default {DEFAULT_PROFILE}).")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a scenario key, e.g. --set zswap.max_pool_percent=10.")
@click.option("--seed", type=int, help="Random seed (default: workload.seed).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, writable=True),
              help="Write the full result as JSON to this file ('-' for stdout).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the tables.")
def run(scenario: str | None, hardware: str | None, overrides: tuple[str, ...],
        seed: int | None, json_out: str | None, quiet: bool) -> None:
    """Simulate SCENARIO (default: the bundled usemem) on a hardware profile."""
    from perfmodel.report import print_result

    result = api.run(scenario or DEFAULT_SCENARIO, hardware, list(overrides), seed)
    if json_out == "-":
        click.echo(result.to_json())
        return
    if json_out:
        try:
            Path(json_out).write_text(result.to_json() + "\n")
        except OSError as e:
            raise PerfmodelError(f"{json_out}: cannot write: {e.strerror}") from None
    if not quiet:
        print_result(result)


@cli.command("show-profile")
@click.argument("profile", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the derived figures as JSON.")
def show_profile(profile: str | None, as_json: bool) -> None:
    """Print a hardware profile with its derived figures."""
    from perfmodel.report import print_profile

    hw = load_profile(profile or DEFAULT_PROFILE)
    d = api.describe_profile(hw)
    if as_json:
        click.echo(json.dumps(d, indent=2))
    else:
        print_profile(d)


@cli.command("list")
def list_bundled() -> None:
    """List the bundled hardware profiles and scenarios."""
    for kind in ("hardware", "scenarios"):
        names = sorted(p.stem for p in bundled_dir(kind).glob("*.yaml"))
        click.echo(f"{kind}: {', '.join(names)}")
    click.echo(f"defaults: scenario {DEFAULT_SCENARIO}, hardware {DEFAULT_PROFILE}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail("interrupted", 130)
    except click.ClickException as e:
        _fail(e.format_message(), e.exit_code)
    except PerfmodelError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as e:  # noqa: BLE001 - the user gets one line, developers a traceback
        if os.environ.get("PERFMODEL_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (set PERFMODEL_DEBUG=1 for a traceback)", 70)


if __name__ == "__main__":
    main()
