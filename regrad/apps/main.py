"""``python -m regrad COMMAND ...``: the command line of the applications.

Each command lives in its own module of this package, which provides
``add_parser(subparsers)``: it registers the command's parser on the argparse
``subparsers`` and sets ``run=<function(args) -> exit status>`` as a default.
Adding a command means adding its module's name to ``COMMANDS``.
"""
import argparse
import importlib
import sys

#: modules of this package that each provide one command, in --help order
COMMANDS = ("moons", "bench")


def build_parser():
    from regrad import __version__
    parser = argparse.ArgumentParser(
        prog="python -m regrad",
        description="regrad: reverse-mode automatic differentiation on scalars.")
    parser.add_argument("--version", action="version", version=f"regrad {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name}").add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:          # no command: say what there is
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

