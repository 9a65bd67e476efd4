"""The ``tako-gha`` command line (docs/cli.md).

Each verb lives in its own module under ``surfaces/commands/`` (``lint``,
``discover``, ``graph``, ``plan``, ``schema``, ``fan_out``, ``status``, ``wait``,
``cancel``, ``emulator``, ``demo``, ``hook``); this module only assembles them. What
several verbs share is in ``commands/common.py``, ``commands/sources.py`` and
``commands/cascade_common.py``; a fan-out's run is ``surfaces/cascade_run.py``.

Exit codes: 0 success, 1 a node failed or lint found errors, 2 usage or
configuration error, 3 timed out, 4 still running (``status``). Known errors print
``error: …`` and a hint, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import NoReturn

import click

from tako_gha import __version__
from tako_gha.surfaces.commands import (
    cancel,
    cascade_common,
    demo,
    discover,
    emulator,
    fan_out,
    graph,
    hook,
    lint,
    plan,
    rerun,
    schema,
    status,
    wait,
)
from tako_gha.surfaces.errors import UserError, report_error

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMED_OUT = 0, 1, 2, 3
EXIT_RUNNING = cascade_common.EXIT_RUNNING  # 4: status of a tree that has not finished
DEBUG_VAR = "TAKO_DEBUG"  # "1": let an unexpected exception show its traceback


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             invoke_without_command=True)
@click.version_option(__version__, prog_name="tako-gha")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Fan an event out to every repository that subscribes to it, and wait on the
    whole tree of workflow runs it starts.

    \b
    Offline (a local workspace DIR/<owner>/<repo>/tako.yml):
      tako-gha lint .                       # check tako.yml files
      tako-gha plan --workspace W --source acme/core-lib --event library_built
    Against GitHub (token from GITHUB_TOKEN or GH_TOKEN, --api-url for GHES):
      tako-gha fan-out --event library_built --payload '{"version": "2.0.0"}'
      tako-gha status ROOT --org acme --wait
    Try it all offline, on the bundled GitHub emulator:
      tako-gha demo

    \b
    Exit codes: 0 success, 1 a node failed or lint found errors,
    2 usage or configuration error, 3 timed out, 4 still running (status).
    `tako-gha COMMAND --help` explains a command; the rest is in
    https://github.com/acme/tako-gha/blob/main/docs/cli.md
    """
    if ctx.invoked_subcommand is None:
        # Bare `tako-gha`: someone finding out what it does, not a usage error.
        click.echo(ctx.get_help())
        ctx.exit(0)


COMMANDS: list[click.Command] = [
    lint.lint_command, discover.discover_command, graph.graph_command, plan.plan_command,
    schema.schema_command, fan_out.fan_out_cmd, status.status_cmd, wait.wait_cmd,
    rerun.rerun_cmd,
    cancel.cancel_cmd, emulator.emulator_group, demo.demo, hook.hook,
]
for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry: run the CLI, turning known errors into exit code 2."""
    try:
        # Without standalone mode click *returns* the code of ctx.exit(code).
        code = cli.main(args=argv, prog_name="tako-gha", standalone_mode=False)
        sys.stdout.flush()  # a full disk behind stdout is said here, not lost at exit
    except OSError as exc:
        if exc.filename is not None or exc.errno not in STREAM_ERRNOS:
            _internal_error(exc)
        _output_failed(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except UserError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one clear line, the traceback only when asked
        _internal_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


# A write to standard output or error that failed: the device is full or gone.
STREAM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EPIPE}


def _output_failed(exc: OSError) -> NoReturn:
    """Exit 2 saying the output was not written (``tako-gha plan > /dev/full``)."""
    with contextlib.suppress(OSError):
        # What is still buffered would fail again at exit: let it go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    with contextlib.suppress(OSError):
        report_error(UserError(f"cannot write the output (standard output): "
                               f"{exc.strerror or exc}"))
    sys.exit(EXIT_USAGE)


def _internal_error(exc: BaseException) -> NoReturn:
    if os.environ.get(DEBUG_VAR) == "1":
        raise exc
    report_error(UserError(f"internal error: {type(exc).__name__}: {exc}",
                           hint=f"this is a bug in tako-gha {__version__}; run again with "
                                f"{DEBUG_VAR}=1 for the traceback and report it"))
    sys.exit(EXIT_USAGE)
