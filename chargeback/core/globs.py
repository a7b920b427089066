"""Shell globs over namespace names (``[[tenancy.namespaces]] pattern``), as anchored regular expressions that
DuckDB (RE2), Spark (Java) and Python read alike.

``*`` is any run of characters, ``?`` one character, ``[abc]`` / ``[a-z]`` one of a class and ``[!abc]`` one
not in it; a ``]`` right after ``[`` or ``[!`` is a member (``[]a]``). Everything else is literal. A class
that is never closed, or a range that runs backwards (``[z-a]``), is an error (``GlobError``), raised when
the configuration is loaded rather than by the build that would read it.
"""

from __future__ import annotations

import string


class GlobError(ValueError):
    """The pattern is not a glob; the message says where and how to write it."""


def _literal(char: str) -> str:
    """``char`` matched literally, inside a class or outside: ASCII punctuation escaped, which all three regex
    dialects read as the character itself (and which keeps Java's ``&&`` and RE2's ``[:alpha:]`` out)."""
    return "\\" + char if char in string.punctuation else char


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """The class opening at ``pattern[start] == '['``: its regex, and the index just past its ``]``."""
    i = start + 1
    negated = pattern.startswith("!", i)
    i += negated
    first = i
    if pattern.startswith("]", i):  # a leading ] is a member, as in fnmatch
        i += 1
    end = pattern.find("]", i)
    if end == -1:
        raise GlobError(f"the [ at position {start + 1} opens a class that is never closed; write [[] for a literal [")
    body, members, k = pattern[first:end], [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low > high:
                raise GlobError(f"the range {low}-{high} in [{body}] runs backwards; write {high}-{low}")
            members.append(f"{_literal(low)}-{_literal(high)}")
            k += 3
        else:
            members.append(_literal(body[k]))
            k += 1
    return "[" + ("^" if negated else "") + "".join(members) + "]", end + 1


def glob_to_regex(pattern: str) -> str:
    """Translate a shell glob to an anchored regular expression; raises ``GlobError`` for one that is not a
    glob."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "[":
            regex, i = _char_class(pattern, i)
            out.append(regex)
            continue
        out.append(".*" if char == "*" else "." if char == "?" else _literal(char))
        i += 1
    return "^" + "".join(out) + "$"
