"""A source file's text as its language reads it: the encoding its magic comment declares
(Python's PEP 263, Ruby's magic comment), else UTF-8 (Java's, since JDK 18).

Tree-sitter parses bytes and the extraction decodes them as UTF-8, so a Latin-1 file's
'Café' became 'Caf\\ufffd' in a docstring or an identifier without a word. Now a declared
encoding is decoded and the file re-encoded as UTF-8, and bytes that are not valid in the
file's encoding make the file unreadable (counted and named, as CPython and javac refuse it).
"""

from __future__ import annotations

import codecs
import re

# PEP 263: a comment on line 1, or on line 2 after a comment or blank line 1.
_PYTHON = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
# Ruby: a comment on line 1, or on line 2 after a shebang; `# encoding: x`, `-*- coding: x -*-`.
_RUBY = re.compile(rb"^[ \t]*#.*?coding[:=][ \t]*([-\w.]+)", re.IGNORECASE)
# Ruby's names for "the bytes as they are": text only where they are valid UTF-8.
_RAW = frozenset({"binary", "ascii-8bit"})
_LINE_END = re.compile(rb"\r\n|\r|\n")  # as both languages end lines


def declared(data: bytes, lang: str) -> str | None:
    """The encoding a file's magic comment names, lower case; None where it names none."""
    if lang == "java":
        return None
    first, second = [*_LINE_END.split(data[:1024], maxsplit=2), b""][:2]
    if lang == "python":
        lines = [first] + ([second] if not first.strip() or first.lstrip().startswith(b"#") else [])
        pattern = _PYTHON
    else:
        lines = [first] + ([second] if first.startswith(b"#!") else [])
        pattern = _RUBY
    for line in lines:
        if m := pattern.match(line):
            return m.group(1).decode("ascii").lower()
    return None


def utf8(data: bytes, lang: str) -> bytes:
    """``data`` as UTF-8, decoded from the file's declared encoding; a ``ValueError`` (one line,
    with the line of the first bad byte) where its bytes are not valid in that encoding."""
    name = declared(data, lang) or "utf-8"
    name = "utf-8" if name in _RAW else name
    try:
        codec = codecs.lookup(name).name
        text = data.decode(codec)  # for UTF-8 itself, only the check
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"not valid {name}: byte 0x{data[e.start]:02x} on line {line}") from None
    except (LookupError, UnicodeError):  # unknown, or not a text encoding (base64, undefined)
        raise ValueError(f"declares the encoding {name!r}, not a known text encoding") from None
    return data if codec == "utf-8" else text.encode("utf-8")
