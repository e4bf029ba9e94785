"""Small click helpers shared by the catdog commands."""

from __future__ import annotations

import shlex

import click


class RecordedCommand(click.Command):
    """A click command that remembers the exact arguments it was invoked with.

    Model cards and export records store the command that made an artifact; rebuilding it
    from parsed options would lose the user's spelling, and sys.argv is wrong under CliRunner.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["catdog.raw_args"] = list(args)
        return super().parse_args(ctx, args)


def invoked_command() -> str:
    """Return the running command line, e.g. `catdog-train --data photos`, shell-quoted."""
    ctx = click.get_current_context()
    return shlex.join([ctx.find_root().info_name or ctx.command_path, *ctx.meta.get("catdog.raw_args", [])])
