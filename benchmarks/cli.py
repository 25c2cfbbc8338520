"""The `clickfit` command line (entry point `benchmarks.cli:main`).

Each command lives in its own module, listed in COMMANDS with a one-line help, which exposes
`add_parser(subparsers) -> None`: it adds the parser of that command name and sets `func`, a
callable taking the parsed arguments and returning an exit status. Adding a command = writing
such a module and listing it here.

Only the module of the command being run is imported (the others get a placeholder parser
that carries their help line), so that `clickfit data stats` does not wait for JAX and Numba.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from clicklog.io_report import FormatError
from clicklog.model_file import clickfit_version

COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("benchmarks.data_commands", "inspect and convert click logs"),
    "fit": ("benchmarks.fit_command", "fit one model; write relevance labels and parameters"),
    "compare": ("benchmarks.compare_command", "which model fits a log best: fit all, write a "
                "report with figures"),
    "predict": ("benchmarks.predict_command", "score a log with a saved model"),
    "bench": ("benchmarks.runner", "compare EM and gradient descent; write results/"),
    "paper": ("benchmarks.paper_clax", "rebuild published tables in their layout"),
    "scale": ("benchmarks.scale", "fit time and memory against log size; write results/scale/"),
    "throughput": ("benchmarks.throughput", "E-step speed against memory floor and HEAD"),
    "accelerators": ("benchmarks.accelerators", "plain EM, SQUAREM and Anderson: E-steps and "
                     "distance to the optimum"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command `argv` names gets its full sub-parser (and module)."""
    parser = argparse.ArgumentParser(
        prog="clickfit",
        description="Fit web-search click models by EM and by gradient descent, and compare.",
    )
    parser.add_argument("--version", action="version",
                        version=f"clickfit {clickfit_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, (module, help_line) in COMMANDS.items():
        if chosen == name:
            importlib.import_module(module).add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=help_line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input files and missing paths end with a one-line error, status 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return status
    except (FormatError, ValueError) as err:
        print(f"clickfit: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of stdout left (`clickfit data stats ... | head`): end quietly, and keep
        # Python from complaining once more when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        # A missing input, a read-only or full disk: the path and the reason, no errno.
        where = f"{err.filename}: " if err.filename is not None else ""
        print(f"clickfit: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        # 128 + SIGINT, the shell's status for a run stopped by Ctrl-C.
        print(f"clickfit: interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
