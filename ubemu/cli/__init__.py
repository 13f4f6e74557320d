"""The ``ubemu`` command line (also ``python -m ubemu``).

One module per command or concern:

- :mod:`.sweep`: the collective commands (``ubemu all_reduce ...``; nccl-tests' flags in
  :mod:`.ncclflags`, ``--csv`` in :mod:`.csvout`);
- :mod:`.hccl`: ``hccl``, hccl_test's command lines (``ubemu hccl all_reduce_test ...``);
- :mod:`.request`: the checked :class:`~.request.SweepPlan` of a collective command line;
- :mod:`.names`: the one parser of comma lists of names (``--algo``, ``-d``, ``-o``,
  ``--per-level``);
- :mod:`.table`: nccl-tests tables and rounded figures for humans;
- :mod:`.results`: the ``-J`` documents (written row by row, atomically) and reading them;
- :mod:`.progress`: progress with ETA on stderr;
- :mod:`.topo`: ``topo show`` / ``topo list``;
- :mod:`.algorithms`: ``algorithms``, the registry listing;
- :mod:`.plot`: ``plot``, the command and the drawing; :mod:`.drawing` what figures share;
- :mod:`.workload`: ``workload``, several operations at once; :mod:`.trace` its timeline;
- :mod:`.plan`: ``plan``, a training step from a model and a parallel plan;
- :mod:`.faults`: ``--faults``/``--routing`` and ``faults``, time against failures;
- :mod:`.validate`: ``validate``, ubemu against published measurements (``docs/data/``);
- :mod:`.calibrate`: ``calibrate``, a topology fitted to the user's own logs.

Adding a command: in its module write ``add_parsers(subparsers)``, which creates the parser
and calls ``set_defaults(command="<name>")`` on it (``"topo show"`` for a nested one), and a
``DISPATCH`` dict from that name to ``run(args) -> exit status``; list the module in
:data:`COMMAND_MODULES`. Bad input raises :class:`ubemu.errors.UbemuError`; :func:`main`
prints it as one line, ``ubemu: error: <message>``, and returns 2, for argparse's own usage
errors too.
"""

import argparse
import os
import sys

from .. import __version__
from ..errors import UbemuError, did_you_mean
from ..pages import keep_freed_memory
from ..parallel.failstop import abort_if_mpi
from . import algorithms, calibrate, faults, hccl, plan, plot, sweep, topo, validate, workload

#: Modules adding commands, in the order ``ubemu --help`` lists them.
COMMAND_MODULES = (topo, sweep, hccl, workload, plan, faults, algorithms, plot, validate,
                   calibrate)
#: ``args.command`` -> function running it (returns the exit status).
DISPATCH = {name: run for module in COMMAND_MODULES for name, run in module.DISPATCH.items()}


class UsageError(UbemuError):
    """A command line that argparse cannot parse (unknown flag, missing argument, ...)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with one-line usage errors, raised instead of printed.

    argparse prints the usage and the error on several lines and exits; here the error
    becomes a :class:`UsageError` naming the problem and the command's ``--help``, which
    :func:`main` prints like any other bad input. Sub-parsers are of this class too.
    """

    def error(self, message):
        text = " ".join(str(message).split())
        raise UsageError(f"{text} (see '{self.prog} --help')")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and getattr(namespace, "_usage_parser", None) is None:
            namespace._usage_parser = self  # the innermost (sub-)command the extras follow
        return namespace, extras

    def parse_args(self, args=None, namespace=None):
        """Parse like argparse; unknown arguments name the (sub-)command's ``--help`` and,
        for a misspelt flag, the closest ones."""
        namespace, extras = self.parse_known_args(args, namespace)
        owner = vars(namespace).pop("_usage_parser", None) or self
        if extras:
            flags = [s for a in owner._actions for s in a.option_strings]
            first = extras[0].split("=")[0]
            hint = did_you_mean(first, flags, cutoff=0.75) if first[:1] == "-" else ""
            owner.error(f"unrecognized arguments: {' '.join(extras)}"
                        + (f"; {hint.strip()}" if hint else ""))
        return namespace


def build_parser():
    """The argparse parser of every command of :data:`COMMAND_MODULES`."""
    parser = ArgumentParser(
        prog="ubemu", description="Collective-communication emulator for UnifiedBus-style "
                                  "AI SuperClusters.")
    parser.add_argument("--version", action="version", version=f"ubemu {__version__}")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def _error(message, code):
    """Print ``ubemu: error: <message>`` once for the job (MPI: then end it); returns code."""
    line = f"ubemu: error: {' '.join(str(message).split())}"
    abort_if_mpi(line, code)
    print(line, file=sys.stderr, flush=True)
    return code


def main(argv=None):
    """Run the command line.

    Returns
    -------
    int
        0 ok (also ``--help``, ``--version``), 2 bad input or usage, 130 interrupted,
        143 ended by SIGTERM.
    """
    keep_freed_memory()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version: argparse printed them
            return exc.code if isinstance(exc.code, int) else 0
        return DISPATCH[args.command](args) or 0
    except UbemuError as exc:
        return _error(exc, 2)
    except sweep.Terminated as exc:
        print("ubemu: terminated by SIGTERM", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        print("ubemu: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:  # `ubemu topo list | head`: stop quietly, also at exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # in an MPI job: one traceback, then end every process (no hang)
        import traceback

        abort_if_mpi(traceback.format_exc().rstrip(), 1)
        raise
