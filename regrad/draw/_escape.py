"""One escaping function per output syntax; every writer of that syntax calls it.

Labels are the user's strings, and any character may come: each syntax is
broken by its own. Control characters (an ANSI colour code, a form feed) are
not allowed in XML at all, not even as character references, so every syntax
shows them as their Unicode control pictures (ESC as U+241B), and what UTF-8
or XML cannot carry (an unpaired surrogate, U+FFFE) as U+FFFD.
"""
import re
from html import escape

__all__ = ["xml_text", "dot_string", "mermaid_label", "markdown_cell"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _picture(m):
    c = ord(m.group())
    return chr(0x2400 + c) if c < 0x20 else "\u2421" if c == 0x7F else "\ufffd"


def printable(s):
    """``str(s)`` with control characters as their pictures."""
    return _UNSAFE.sub(_picture, str(s))


def xml_text(s):
    """For SVG and HTML: text and attribute values (quotes escaped)."""
    return escape(printable(s), quote=True)


def dot_string(s):
    """For a Graphviz double-quoted string: backslashes (``\\l``, ``\\N`` are
    Graphviz's escapes), quotes, and ``&`` (Graphviz reads HTML entities)."""
    return printable(s).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def mermaid_label(s):
    """For a quoted Mermaid label: Mermaid's entity codes (``#lt;``, ``#35;``)
    for what could close the quotes or make a tag, ``#`` first so that a
    label's own ``#lt;`` stays text."""
    return (printable(s).replace("#", "#35;").replace("&", "#amp;").replace("<", "#lt;")
            .replace(">", "#gt;").replace('"', "#quot;"))


_MARKDOWN = re.compile(r"([\\`*_\[\]|])")


def markdown_cell(s):
    """For a cell of a Markdown table: HTML's characters as entities, and the
    table's and Markdown's punctuation (``|``, ``*``, ``[`` ...) backslashed."""
    return _MARKDOWN.sub(r"\\\1", escape(printable(s), quote=False))
