"""`ledger simulator`: placeholder until the simulator lands (issue 3)."""

import click


@click.command("simulator")
def simulator_command() -> None:
    """Run a local Magic Hour simulator."""
    raise click.ClickException("the simulator is not built yet")
