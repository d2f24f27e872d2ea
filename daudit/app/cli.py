"""Command-line entry point: parse, dispatch, turn `DauditError` into one line and exit 2.

Each sub-command lives in its own module exposing ``configure_parser(parser)`` and
``main(args) -> int``; no numerical work happens here. Whatever happens, the user sees one line:
a refused input or a file-system error exits 2, Ctrl-C 130, SIGTERM 143 and SIGHUP 129 (after the
run's cleanup), and an error daudit did not foresee exits 1 with its one-line cause (``--debug``
shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path

from daudit._version import __version__
from daudit.core.errors import EXIT_BAD_INPUT, DauditError, os_error_parts
from daudit.core.signals import Interrupted, exit_code, handle_termination

__all__ = ["main", "COMMANDS", "EXIT_INTERNAL"]

EXIT_INTERNAL = 1  # an error daudit did not foresee (a bug): one line, the traceback with --debug

# name -> (module, one-line help)
COMMANDS = {
    "init": ("daudit.app.commands.init", "write a spec to edit (the user's LOGG-ERR-BASE-01 block) into this folder"),
    "simulate": ("daudit.app.commands.simulate", "write the built-in PFS-like demo dataset"),
    "inspect": ("daudit.app.commands.inspect", "print the layout of pfsspec HDF5 files"),
    "run": ("daudit.app.commands.run", "run a leakage audit (the spec in this folder, --config SPEC or --demo)"),
    "check": ("daudit.app.commands.check", "check a spec and its data files, print the plan and the estimate; "
              "run nothing"),
    "status": ("daudit.app.commands.status", "say whether a run is running (stage, progress), finished, failed or killed"),
    "deleak": ("daudit.app.commands.deleak", "compare de-leaked error representations (MVP-0.2)"),
    "publish": ("daudit.app.commands.publish", "copy a finished run into a knowledge-center repository"),
    "list": ("daudit.app.commands.history", "list past runs under a results directory"),
    "show": ("daudit.app.commands.show", "print the summary of one run"),
    "compare": ("daudit.app.commands.compare", "two finished runs side by side: metrics, gate, checks"),
    "cache": ("daudit.app.commands.cache", "list daudit's cache folder (sizes) or clear its entries"),
}


def prog_name(argv0: str | None = None) -> str:
    """``daudit`` when run as the console script (argv[0] ``.../bin/daudit``), else ``python -m
    daudit`` (argv[0] is the path of ``__main__.py`` then)."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name.lower()
    return "daudit" if name in ("daudit", "daudit.exe", "daudit-script.py") else "python -m daudit"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or prog_name(),
        description="daudit: does the per-pixel error vector carry the label?",
    )
    parser.add_argument("--version", action="version", version=f"daudit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue  # a command not built into this version
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
        module.configure_parser(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    from daudit.engine.memory import tune_allocator  # lazy: the engine package is not needed to parse

    tune_allocator()
    handle_termination()  # SIGTERM unwinds like Ctrl-C: staging folder and lock are removed
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for run --detach
    try:
        return int(args._module.main(args) or 0)
    except DauditError as err:
        if args.debug:
            raise
        print(f"daudit: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # e.g. `python -m daudit show RUN | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0
    except OSError as err:  # the file system or the machine, not a bug: one line naming the file and the cause
        if args.debug:
            raise
        where, cause, fix = os_error_parts(err)
        print(f"daudit: error: file system error{where}: {cause} ({fix})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("daudit: interrupted (SIGINT); unfinished results were removed", file=sys.stderr)
        return exit_code(signal.SIGINT)
    except Interrupted as err:
        print(f"daudit: {err}; unfinished results were removed", file=sys.stderr)
        return exit_code(err.signum)
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if args.debug:
            raise
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        print(f"daudit: error: unexpected {type(err).__name__}{': ' + first if first else ''} (a daudit bug; "
              "rerun with --debug for the traceback and report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
