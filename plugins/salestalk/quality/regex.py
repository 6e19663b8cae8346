"""Translate a Python ``re`` pattern into an RE2 pattern (DuckDB) with the same ``re.search`` verdicts.

GX on pandas evaluates ``expect_column_values_to_match_regex`` as
``column.astype(str).str.contains(regex)``: an unanchored search with Python ``re`` semantics
(pandas only hands the pattern to pyarrow/RE2 when both engines agree). DuckDB's
``regexp_matches`` is an RE2 search, and the two dialects differ in ways that change verdicts:
Python's ``$`` also matches before a trailing newline, ``\\d``/``\\s``/``\\w`` are Unicode-aware,
``{,n}`` is a quantifier, ``\\Z`` means end of string. The pattern is therefore parsed with
Python's own parser and re-emitted in RE2 syntax (every literal as ``\\x{..}``) so both engines
decide every string the same way. Constructs RE2 cannot express with identical semantics
(lookarounds, backreferences, ``\\b``, inline flags, possessive/atomic groups, ``$`` followed
by more pattern) raise :class:`UnsupportedRegexError`.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre_c
import re._parser as sre_p
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

_MAX_CODEPOINT = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_RE2_MAX_REPEAT = 1000


class UnsupportedRegexError(ValueError):
    """The pattern uses a construct whose Python meaning RE2 cannot reproduce."""


def python_regex_to_re2(pattern: str) -> str:
    """RE2 pattern for ``regexp_matches`` that matches exactly the strings ``re.search(pattern)`` matches."""
    try:
        re.compile(pattern)
        parsed = sre_p.parse(pattern)
    except re.error as exc:
        raise UnsupportedRegexError(f"invalid regex {pattern!r}: {exc}") from exc
    if parsed.state.flags & ~sre_c.SRE_FLAG_UNICODE:
        raise UnsupportedRegexError(f"inline flags are not supported: {pattern!r}")
    return _Emitter(pattern).seq(list(parsed), tail=True)


class _Emitter:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def fail(self, what: str) -> UnsupportedRegexError:
        return UnsupportedRegexError(
            f"{what} cannot be evaluated identically in DuckDB/RE2: {self.pattern!r}"
        )

    def seq(self, items: list[tuple[Any, Any]], *, tail: bool) -> str:
        last = len(items) - 1
        return "".join(self.item(op, av, tail=tail and i == last) for i, (op, av) in enumerate(items))

    def group(self, items: Iterable[tuple[Any, Any]], *, tail: bool) -> str:
        return f"(?:{self.seq(list(items), tail=tail)})"

    def item(self, op: Any, av: Any, *, tail: bool) -> str:
        if op is sre_c.LITERAL:
            return _lit(av)
        if op is sre_c.NOT_LITERAL:
            return f"[^{_lit(av)}]"
        if op is sre_c.ANY:
            return "[^\\x{A}]"
        if op is sre_c.IN:
            return self.charset(av)
        if op is sre_c.CATEGORY:
            return self.charset([(op, av)])
        if op is sre_c.BRANCH:
            return "(?:" + "|".join(self.seq(list(alt), tail=tail) for alt in av[1]) + ")"
        if op is sre_c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise self.fail("inline flags")
            return self.group(sub, tail=tail)
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            lo, hi, sub = av
            if lo > _RE2_MAX_REPEAT or (hi is not sre_c.MAXREPEAT and hi > _RE2_MAX_REPEAT):
                raise self.fail(f"repetition count above {_RE2_MAX_REPEAT}")
            body = self.group(sub, tail=tail and hi == 1)
            upper = "" if hi is sre_c.MAXREPEAT else str(hi)
            quant = f"{{{lo}}}" if upper == str(lo) else f"{{{lo},{upper}}}"
            return body + quant + ("?" if op is sre_c.MIN_REPEAT else "")
        if op is sre_c.AT:
            return self.anchor(av, tail=tail)
        names = {
            sre_c.GROUPREF: "backreferences",
            sre_c.GROUPREF_EXISTS: "conditional groups",
            sre_c.ASSERT: "lookahead/lookbehind",
            sre_c.ASSERT_NOT: "negative lookahead/lookbehind",
        }
        for extra in ("ATOMIC_GROUP", "POSSESSIVE_REPEAT"):
            if hasattr(sre_c, extra):
                names[getattr(sre_c, extra)] = "atomic groups and possessive quantifiers"
        raise self.fail(names.get(op, f"regex construct {op}"))

    def anchor(self, at: Any, *, tail: bool) -> str:
        if at in (sre_c.AT_BEGINNING, sre_c.AT_BEGINNING_STRING):
            return "\\A"
        if at is sre_c.AT_END_STRING:
            return "\\z"
        if at is sre_c.AT_END:
            if not tail:
                raise self.fail("'$' followed by more pattern")
            return "(?:\\x{A}?\\z)"
        raise self.fail("word boundaries (\\b, \\B)")

    def charset(self, items: list[tuple[Any, Any]]) -> str:
        negate = False
        ranges: list[tuple[int, int]] = []
        for op, av in items:
            if op is sre_c.NEGATE:
                negate = True
            elif op is sre_c.LITERAL:
                ranges.append((av, av))
            elif op is sre_c.RANGE:
                ranges.append(av)
            elif op is sre_c.CATEGORY:
                ranges.extend(_category_ranges(av))
            else:
                raise self.fail(f"character-class item {op}")
        ranges = _normalise(ranges)
        if not ranges:
            return "[^\\x{0}-\\x{10FFFF}]" if not negate else "[\\x{0}-\\x{10FFFF}]"
        body = "".join(_lit(lo) if lo == hi else f"{_lit(lo)}-{_lit(hi)}" for lo, hi in ranges)
        return f"[{'^' if negate else ''}{body}]"


def _lit(codepoint: int) -> str:
    return f"\\x{{{codepoint:X}}}"


def _normalise(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort, merge and drop surrogates (UTF-8 text never contains them; RE2 rejects them)."""
    pieces: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if hi < _SURROGATES[0] or lo > _SURROGATES[1]:
            pieces.append((lo, hi))
            continue
        if lo < _SURROGATES[0]:
            pieces.append((lo, _SURROGATES[0] - 1))
        if hi > _SURROGATES[1]:
            pieces.append((_SURROGATES[1] + 1, hi))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(pieces):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


_CATEGORIES: dict[Any, tuple[str, bool]] = {
    sre_c.CATEGORY_DIGIT: ("digit", False),
    sre_c.CATEGORY_NOT_DIGIT: ("digit", True),
    sre_c.CATEGORY_SPACE: ("space", False),
    sre_c.CATEGORY_NOT_SPACE: ("space", True),
    sre_c.CATEGORY_WORD: ("word", False),
    sre_c.CATEGORY_NOT_WORD: ("word", True),
}
_PREDICATES: dict[str, Callable[[str], bool]] = {
    "digit": str.isdecimal,
    "space": str.isspace,
    "word": lambda ch: ch.isalnum() or ch == "_",
}


def _category_ranges(category: Any) -> list[tuple[int, int]]:
    name, negated = _CATEGORIES[category]
    ranges = _unicode_class(name)
    return _complement(ranges) if negated else list(ranges)


@functools.cache
def _unicode_class(name: str) -> tuple[tuple[int, int], ...]:
    """Code-point ranges of Python's Unicode ``\\d``/``\\s``/``\\w`` (as ``re`` defines them for str)."""
    pred = _PREDICATES[name]
    ranges: list[tuple[int, int]] = []
    start = None
    for cp in range(_MAX_CODEPOINT + 2):
        inside = cp <= _MAX_CODEPOINT and pred(chr(cp))
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append((start, cp - 1))
            start = None
    return tuple(ranges)


def _complement(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CODEPOINT:
        out.append((nxt, _MAX_CODEPOINT))
    return out


# Snowflake's REGEXP_LIKE is a POSIX ERE full match (fakesnow's, RE2). Only a subset whose meaning is the
# same in Python re, POSIX ERE and RE2 is accepted: literals, classes of literals and ranges, greedy
# repeats, alternation, groups, and ^/$ at the ends only; anything else raises naming the pattern.
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9 _@%+\-.,:;/#=!'\"<>&~`]")
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


def snowflake_search_pattern(pattern: str) -> str:
    """A full-match pattern for ``REGEXP_LIKE(..., 's')`` equal to Python's ``re.search(pattern)``.

    Unanchored ends get ``.*`` (the ``s`` flag lets it cross newlines); a trailing ``$`` becomes
    ``\\n?`` because Python's ``$`` also matches before a final newline.
    """
    try:
        parsed = sre_p.parse(pattern)
    except re.error as exc:
        raise UnsupportedRegexError(f"invalid regex {pattern!r}: {exc}") from exc
    if parsed.state.flags & ~sre_c.SRE_FLAG_UNICODE:
        raise UnsupportedRegexError(f"inline flags are not supported: {pattern!r}")
    items = list(parsed)
    starts = bool(items) and items[0] == (sre_c.AT, sre_c.AT_BEGINNING)
    ends = bool(items) and items[-1] == (sre_c.AT, sre_c.AT_END)
    body = items[1 if starts else 0 : len(items) - 1 if ends else len(items)]
    emitted = _seq(body, pattern)
    return f"{'' if starts else '.*'}({emitted}){chr(92) + 'n?' if ends else '.*'}"


def _unsupported(what: str, pattern: str) -> UnsupportedRegexError:
    return UnsupportedRegexError(
        f"{what} is not evaluated identically by Python re, RE2 and Snowflake: {pattern!r}"
    )


def _literal(code: int, pattern: str, in_class: bool = False) -> str:
    char = chr(code)
    if in_class:
        if char in "]\\^[":
            raise _unsupported(f"{char!r} inside a character class", pattern)
        return char
    if char in _ERE_SPECIAL:
        return "\\" + char
    if not _SAFE_LITERAL.fullmatch(char):
        raise _unsupported(f"the character {char!r}", pattern)
    return char


def _seq(items: list[tuple[Any, Any]], pattern: str) -> str:
    return "".join(_item(op, av, pattern) for op, av in items)


def _item(op: Any, av: Any, pattern: str) -> str:
    if op is sre_c.LITERAL:
        return _literal(av, pattern)
    if op is sre_c.IN:
        members = list(av)
        negate = members and members[0][0] is sre_c.NEGATE
        out = []
        for kind, value in members[1 if negate else 0 :]:
            if kind is sre_c.LITERAL:
                char = _literal(value, pattern, in_class=True)
                out.append("\\-" if char == "-" else char)
            elif kind is sre_c.RANGE:
                low, high = value
                if not (
                    chr(low).isascii() and chr(low).isalnum() and chr(high).isascii() and chr(high).isalnum()
                ):
                    raise _unsupported("a non-alphanumeric range", pattern)
                out.append(f"{chr(low)}-{chr(high)}")
            else:
                raise _unsupported(f"{kind} inside a character class", pattern)
        # POSIX brackets have no escapes: a literal '-' must come last.
        dash = "\\-" in out
        out = [o for o in out if o != "\\-"] + (["-"] if dash else [])
        return f"[{'^' if negate else ''}{''.join(out)}]"
    if op is sre_c.MAX_REPEAT:
        low, high, sub = av
        inner = _seq(list(sub), pattern)
        if len(list(sub)) != 1 or list(sub)[0][0] is sre_c.SUBPATTERN:
            inner = inner if inner.startswith("(") and inner.endswith(")") else f"({inner})"
        if high is sre_c.MAXREPEAT:
            suffix = "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
        elif low == 0 and high == 1:
            suffix = "?"
        else:
            suffix = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
        return inner + suffix
    if op is sre_c.SUBPATTERN:
        group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise _unsupported("a scoped flag", pattern)
        return f"({_seq(list(sub), pattern)})"
    if op is sre_c.BRANCH:
        _, branches = av
        return "(" + "|".join(_seq(list(b), pattern) for b in branches) + ")"
    raise _unsupported(str(op), pattern)
