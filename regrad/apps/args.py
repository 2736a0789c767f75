"""Argument types shared by the ``python -m regrad`` commands: each turns one
option's text into a value or raises ``argparse.ArgumentTypeError``, which
argparse reports as a one-line error with exit status 2."""
import argparse
import math
import os
import re
import tempfile


def whole_number(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text):
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text, low, inclusive):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < low or (value == low and not inclusive):
        bound = ">=" if inclusive else ">"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound} {low:g}, got {text}")
    return value


def nonnegative(text):
    return _number(text, 0.0, inclusive=True)


def positive(text):
    return _number(text, 0.0, inclusive=False)


def layer_sizes(text):
    """Hidden layer sizes such as ``16,16`` (or ``16 16``); an empty size
    (``16,,16``) is an error, not skipped."""
    if not text.strip(" ,"):
        raise argparse.ArgumentTypeError("expected layer sizes such as 16,16")
    parts = re.split(r"\s*,\s*|\s+", text.strip())
    if "" in parts:
        raise argparse.ArgumentTypeError(f"a layer size is missing in {text!r}: "
                                         "expected comma-separated sizes such as 16,16")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 16,16, got {text!r}") from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"every layer needs at least 1 neuron, got {text!r}")
    return sizes


def check_writable(path, what):
    """ValueError (a message for the user) unless ``what`` can be written at
    ``path``: checked before the work, by making a file beside it (permission
    bits do not stop root; a read-only file system stops everyone)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"cannot write {what} to {path!r}: no directory {parent}")
    if os.path.isdir(path):
        raise ValueError(f"cannot write {what} to {path!r}: it is a directory")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"cannot write {what} to {path!r}: permission denied")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".regrad-")
    except OSError as exc:
        raise ValueError(f"cannot write {what} to {path!r}: {exc.strerror or exc}") from None
    os.close(fd)
    os.remove(probe)


def names_from(choices, what):
    """An argument type for comma-separated names, each one of ``choices``."""
    def parse(text):
        names = [k.strip().lower() for k in text.split(",") if k.strip()]
        if not names:
            raise argparse.ArgumentTypeError(
                f"expected {what} names, comma-separated, from {', '.join(choices)}")
        bad = [k for k in names if k not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {bad[0]!r}: choose from {', '.join(choices)}")
        return names
    return parse
