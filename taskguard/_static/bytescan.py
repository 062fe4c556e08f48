"""Searches of a file's raw bytes that the prefilter's screen and its thorough tests share.

Whole words and identifiers (``_WORD``, the ASCII identifier bytes), keywords, relative
imports, the import region (the lines that can hold part of an import statement), and the
words that make the expression pass necessary (:func:`expressions_matter`). Everything here
is a plain loop over ``in`` and ``find`` (C searches) or a precompiled regular expression:
every file the prefilter rules out goes through some of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Byte values, as indexing ``bytes`` gives them.
_SPACE = ord(" ")
_DOT = ord(".")
_BACKSLASH = ord("\\")
_BLANKS = (_SPACE, ord("\t"), ord("\f"))  # what the tokenizer skips between tokens
_NEWLINES = (ord("\n"), ord("\r"))
# 1 for the bytes of an ASCII identifier (letters, digits, "_"), indexed by byte value.
_WORD = bytes(1 if (chr(i).isalnum() or chr(i) == "_") and i < 128 else 0 for i in range(256))


def _has_word(data: bytes, word: bytes) -> bool:
    """Whether ``word`` occurs as a whole identifier that is not an attribute (``x.word``).

    ``re . compile`` (spaces around the dot) counts as an occurrence: a superset is sound.
    """
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        before = data[i - 1] if i else _SPACE
        after = data[i + size] if i + size < n else _SPACE
        if not _WORD[before] and before != _DOT and not _WORD[after]:
            return True
        i = data.find(word, i + 1)
    return False


def has_relative_import(data: bytes) -> bool:
    """Whether ``from`` is ever followed (across blanks and line continuations) by a dot."""
    n = len(data)
    i = data.find(b"from")
    while i != -1:
        j = i + len(b"from")
        while j < n:
            c = data[j]
            if c in _BLANKS:
                j += 1
            elif c == _BACKSLASH and j + 1 < n and data[j + 1] in _NEWLINES:
                j += 3 if data[j + 1 : j + 3] == b"\r\n" else 2
            else:
                break
        if j < n and data[j] == _DOT:
            return True
        i = data.find(b"from", i + len(b"from"))
    return False


def has_identifier(data: bytes, word: bytes) -> bool:
    """Whether ``word`` occurs in ``data`` as a whole identifier (``x.word`` included)."""
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        if (not i or not _WORD[data[i - 1]]) and (i + size >= n or not _WORD[data[i + size]]):
            return True
        i = data.find(word, i + 1)
    return False


def _comment_free(line: bytes) -> bytes:
    # Only used on the part of a line from an ``import`` keyword on, where no string literal
    # can occur inside the statement: a '#' there starts a comment.
    return line.partition(b"#")[0]


def _find_keyword(data: bytes, word: bytes, start: int) -> int:
    """The next occurrence of ``word`` as a whole word (a keyword never touches a name)."""
    size = len(word)
    at = data.find(word, start)
    while at != -1 and (
        (at and _WORD[data[at - 1]]) or (at + size < len(data) and _WORD[data[at + size]])
    ):
        at = data.find(word, at + 1)
    return at


def _parens_left_open(data: bytes, at: int, end: int) -> int:
    """How many parentheses an import statement whose line runs from ``at`` (its first
    ``import``) to ``end`` may leave open.

    The first "import" on the line may sit in a string ("import #", "import )") before the
    real keyword. After the real one only names, commas, parentheses and a comment can
    follow, so the deepest count over every occurrence is safe.
    """
    depth = 0
    if b"(" in data[at:end]:
        occurrence = at
        while occurrence != -1:
            tail = _comment_free(data[occurrence:end])
            depth = max(depth, tail.count(b"(") - tail.count(b")"))
            occurrence = data.find(b"import", occurrence + len(b"import"), end)
    return depth


def import_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Byte spans of every physical line that can hold part of an import statement.

    A superset: an import statement has the ``import`` keyword on one of its lines; it
    extends backwards over lines that a backslash continues (``from a.b \\`` / ``import c``)
    and forwards over backslash continuations and, after ``import (``, until the parenthesis
    closes. Each span ends at its last newline (or the end of the data). Lines are split on
    ``\\n`` only, so a file that also ends lines with a lone ``\\r`` gives None ("all of it").
    """
    if b"\r" in data and b"\r" in data.replace(b"\r\n", b""):
        return None
    size = len(data)
    spans: list[tuple[int, int]] = []
    covered = 0
    continued = b"\\\n" in data or b"\\\r\n" in data
    at = _find_keyword(data, b"import", 0)
    while at != -1:
        start = data.rfind(b"\n", 0, at) + 1
        # Earlier lines of the same statement end with a backslash.
        while continued and start > covered and start >= 2:
            previous = data.rfind(b"\n", 0, start - 1) + 1
            if not data[previous : start - 1].rstrip().endswith(b"\\"):
                break
            start = previous
        start = max(start, covered)
        end = data.find(b"\n", at)
        end = size if end == -1 else end
        depth = _parens_left_open(data, at, end)
        more = continued and data[start:end].rstrip().endswith(b"\\")
        while (depth > 0 or more) and end < size:
            following = data.find(b"\n", end + 1)
            following = size if following == -1 else following
            body = data[end + 1 : following]
            code = _comment_free(body)
            depth += code.count(b"(") - code.count(b")")
            # A backslash ending a comment continues nothing, and a parenthesised import may
            # close on this line: it may hold another statement, whose import's "(" follows
            # a "#" or a ")" in a string ('S = ")"; from a import (').
            keyword = _find_keyword(data, b"import", end + 1)
            if keyword != -1 and keyword < following:
                depth = max(depth, _parens_left_open(data, keyword, following))
            more = body.rstrip().endswith(b"\\")
            end = following
        spans.append((start, end))
        covered = end
        at = _find_keyword(data, b"import", end)
    return spans


def import_line(data: bytes, at: int) -> bool:
    """Whether the line around ``at`` holds the word ``import``."""
    line = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at)
    end = len(data) if end == -1 else end
    found = data.find(b"import", line, end)
    while found != -1:
        after = found + len(b"import")
        if (found == 0 or not _WORD[data[found - 1]]) and (
            after >= len(data) or not _WORD[data[after]]
        ):
            return True
        found = data.find(b"import", after, end)
    return False


def identifier_on_import_line(data: bytes, word: bytes) -> bool:
    """Whether ``word`` is an identifier on a line that holds the word ``import``."""
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        if (
            (not i or not _WORD[data[i - 1]])
            and (i + size >= n or not _WORD[data[i + size]])
            and import_line(data, i)
        ):
            return True
        i = data.find(word, i + 1)
    return False


# What makes the expression pass necessary, because an expression (not only an import
# statement) holding it can import or run code. In every module (a constant dynamic import of
# a dispatch library is TG001 anywhere): the name of a function that imports by name, ending
# as a word (``import_modules`` is another name). One search: it finds the "_" in each name,
# then what surrounds it, several times faster than looking for each name in turn ...
CALL_NAMES = (
    b"__import__",
    b"import_module",
    b"resolve_name",
    b"run_module",
    b"find_spec",
    b"get_loader",
    b"find_loader",
)
_CALL_PATTERN = (
    b"_(?:"
    + b"|".join(
        rb"_import__"
        if name == b"__import__"
        else b"(?<=" + name.partition(b"_")[0] + b"_)" + name.partition(b"_")[2] + rb"\b"
        for name in CALL_NAMES
    )
    + b")"
)
# ... and the namespaces through which a lookup with a computed constant key reaches such a
# function (``getattr(importlib, "import_" "module")``, ``globals()["__imp" "ort__"]``): the
# key's text may be split or escaped, the namespace's name may not (``builtins`` also covers
# ``__builtins__`` and ``f_builtins``) ...
NAMESPACE_WORDS = (b"builtins", b"importlib", b"pkgutil", b"pydoc", b"runpy")
# ``help`` is no namespace, but it is as plain a name: ``help("google.cloud.tasks_v2")``
# imports what it documents.
NAMESPACE_NAMES = (b"globals", b"locals", b"vars", b"help")
# ... and in protected modules: zipimport, a loader's methods that run a module
# (``spec.loader.exec_module(m)``), the builtins that run code and ``imp`` (its loaders by
# path) used as bare names, and ``types``, a common word, which only counts in import
# statements (nothing else can bind the module to a name, short of a dynamic import, which
# the words above catch).
PROTECTED_WORDS = (b"zipimport", b"load_module", b"exec_module")
PROTECTED_NAMES = (b"exec", b"eval", b"compile", b"imp")
IMPORTED_WORDS = (b"types",)
# Compiled with the module: only runs that read files import it.
_CALLS = re.compile(_CALL_PATTERN)


def expressions_matter(
    data: bytes, protected: bool, spans: Callable[[bytes], list[tuple[int, int]] | None]
) -> bool:
    """Whether some expression in the file could be a dynamic import or run code.

    Non-ASCII text can spell any identifier (NFKC), so it always counts. ``spans`` gives the
    byte spans of the file's import statements (:func:`import_spans`).

    Every file the prefilter rules out goes through all of these searches, so they are
    plain loops over ``in`` and ``find`` (C searches), without generator expressions.
    """
    if not data.isascii() or _CALLS.search(data) is not None:
        return True
    for word in NAMESPACE_WORDS:
        if word in data:
            return True
    for word in NAMESPACE_NAMES:
        if _has_word(data, word):
            return True
    if not protected:
        return False
    for word in PROTECTED_WORDS:
        if word in data:
            return True
    for word in PROTECTED_NAMES:
        if _has_word(data, word):
            return True
    return imported_words_matter(data, spans)


def imported_words_matter(
    data: bytes, spans: Callable[[bytes], list[tuple[int, int]] | None]
) -> bool:
    """Whether a word of IMPORTED_WORDS is an identifier in an import statement."""
    # Cutting out the import statements costs more than every search above: only when the
    # word is an identifier somewhere at all (the spans are a part of the file).
    imported = [word for word in IMPORTED_WORDS if has_identifier(data, word)]
    if not imported:
        return False
    found = spans(data)
    region = data if found is None else b"\n".join(data[start:end] for start, end in found)
    return any(has_identifier(region, word) for word in imported)
