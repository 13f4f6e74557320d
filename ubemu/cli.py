"""The ``ubemu`` command line (also ``python -m ubemu``).

Adding a command: write ``add_<name>(subparsers)`` that creates its parser and calls
``set_defaults(command="<name>")`` on it (``"topo show"`` for a nested one), write
``run_<name>(args) -> int``, and add both to :data:`PARSERS` and :data:`DISPATCH`.
Bad input raises :class:`ubemu.errors.UbemuError`; :func:`main` prints it as one line,
``ubemu: error: <message>``, and exits with status 2, as argparse does for usage errors.
"""

import argparse
import os
import sys

from . import __version__, cli_collective
from .errors import UbemuError


def add_topo(subparsers):
    """``ubemu topo show|list``."""
    topo = subparsers.add_parser("topo", help="show or list topologies",
                                 description="Show a topology's figures or list the presets.")
    sub = topo.add_subparsers(dest="topo_command", metavar="{show,list}", required=True)
    show = sub.add_parser("show", help="report one topology",
                          description="Report a topology: levels, links, bandwidths, diameter.")
    show.add_argument("topology", help="a preset name, a TOML file, or a string form such as "
                                       "full_mesh:8,full_mesh:8,switch:16@224GBps/1us")
    show.add_argument("--json", action="store_true", help="print the report as JSON")
    show.set_defaults(command="topo show")
    lst = sub.add_parser("list", help="list the presets and the string form",
                         description="List the shipped presets and the string-form syntax.")
    lst.set_defaults(command="topo list")


def run_topo_show(args):
    from .topo_report import show_json, show_text
    from .topospec import load_topology

    topo = load_topology(args.topology)
    print(show_json(topo) if args.json else show_text(topo))
    return 0


def run_topo_list(args):
    from .topo_report import preset_list_text

    print(preset_list_text())
    return 0


#: Functions adding one top-level command's parser each.
PARSERS = [add_topo, cli_collective.add_parsers]
#: ``args.command`` -> function running it (returns the exit status).
DISPATCH = {"topo show": run_topo_show, "topo list": run_topo_list, **cli_collective.DISPATCH}


def build_parser():
    """The argparse parser of every command in :data:`PARSERS`."""
    parser = argparse.ArgumentParser(
        prog="ubemu", description="Collective-communication emulator for UnifiedBus-style "
                                  "AI SuperClusters.")
    parser.add_argument("--version", action="version", version=f"ubemu {__version__}")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    for add in PARSERS:
        add(sub)
    return parser


def _abort_job_if_mpi(message, code):
    """In a multi-process MPI job print ``message`` once and abort the job (never returns)."""
    from .parallel.failstop import abort_if_mpi

    abort_if_mpi(message, code)


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad input or usage)."""
    args = build_parser().parse_args(argv)  # usage errors: argparse exits with status 2
    try:
        return DISPATCH[args.command](args) or 0
    except UbemuError as exc:
        message = " ".join(str(exc).split("\n"))
        _abort_job_if_mpi(f"ubemu: error: {message}", 2)
        print(f"ubemu: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ubemu topo list | head`: stop quietly, also at exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # in an MPI job: one traceback, then end every process (no hang)
        import traceback

        _abort_job_if_mpi(traceback.format_exc().rstrip(), 1)
        raise
