"""Small click helpers shared by the catdog commands."""

from __future__ import annotations

import shlex
import sys

import click


class OneLineCommand(click.Command):
    """A click command whose usage errors are one line, e.g.

        Error: Missing option '--data'. (see catdog-train --help)

    with exit code 2, instead of click's usage block, hint and error over four lines: a
    script or a user sees the problem and the fix on the line they read first. Everything
    else behaves as click's standalone mode does.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else (prog_name or self.name)
            click.echo(f"Error: {error.format_message()} (see {command} --help)", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class RecordedCommand(OneLineCommand):
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
