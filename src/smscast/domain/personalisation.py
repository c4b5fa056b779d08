"""``[~label]`` personalisation of campaign bodies (API §4.1, §4.9).

A placeholder is ``[~`` + a label name + ``]``. The label name is every character between ``[~`` and the
next ``]``, verbatim (case and spaces kept, no trimming); it may not be empty nor contain ``[`` or ``]``.
So ``[~firstName]``, ``[~Favourite colour]`` and ``[~utm-source_2]`` are placeholders; ``[~]`` and text
with unbalanced brackets are literal text. Substitution is one pass: a value that itself contains
``[~x]`` is inserted as is, never expanded.

Each placeholder becomes the recipient's value for the label, else ``fallback[label]``, else ``""``. Within
each mapping the lookup is the exact name first, then a case-insensitive (``casefold``) match, because
labels are typed by hand in bodies and CSV headers (``[~FirstName]`` vs ``firstName``) and Routee users
expect them to line up; an exact match always wins, so distinct labels differing only in case still work.
A missing *or empty* value counts as no value, so CSV imports with blank cells fall back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = ["LABEL_PATTERN", "Template", "compile_template", "labels_in"]

#: A placeholder; group 1 is the label name.
LABEL_PATTERN: Final = re.compile(r"\[~([^\[\]]+?)\]")

_NO_VALUES: Final[Mapping[str, str]] = MappingProxyType({})


def labels_in(body: str) -> list[str]:
    """The distinct label names used in ``body``, in order of first appearance (exact names, case kept)."""
    return list(dict.fromkeys(LABEL_PATTERN.findall(body)))


def _casefold_lookup(label: str, mapping: Mapping[str, str]) -> str:
    """The first non-empty value whose key equals ``label`` ignoring case, or ``""``."""
    folded = label.casefold()
    for key, value in mapping.items():
        if value and key.casefold() == folded:
            return value
    return ""


def _resolve(label: str, values: Mapping[str, str], fallback: Mapping[str, str]) -> str:
    """Value after the exact lookup in ``values`` missed: case-insensitive value, then fallback, then ""."""
    # An empty exact fallback counts as missing too, so it falls through to the case-insensitive scan.
    return _casefold_lookup(label, values) or fallback.get(label) or _casefold_lookup(label, fallback)


@dataclass(frozen=True, slots=True)
class Template:
    """A body parsed once into literal text and placeholders, to render for many recipients cheaply.

    Build it with ``compile_template`` (or ``Template(body)``); it is immutable and thread-safe.
    """

    source: str
    # source split as literal, label, literal, ..., literal: len(_literals) == len(_labels) + 1.
    _literals: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _labels: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces = LABEL_PATTERN.split(self.source)
        object.__setattr__(self, "_literals", tuple(pieces[0::2]))
        object.__setattr__(self, "_labels", tuple(pieces[1::2]))

    @property
    def is_personalised(self) -> bool:
        """True when the body has at least one placeholder (else ``render`` always returns ``source``)."""
        return bool(self._labels)

    @property
    def labels(self) -> tuple[str, ...]:
        """The distinct label names, in order of first appearance (as ``labels_in(source)``)."""
        return tuple(dict.fromkeys(self._labels))

    def render(self, values: Mapping[str, str], fallback: Mapping[str, str] = _NO_VALUES) -> str:
        """The body for one recipient: each placeholder replaced by value → fallback → ``""``.

        See the module docstring for the lookup rules (exact, then case-insensitive; empty = missing).
        """
        labels = self._labels
        if not labels:
            return self.source
        literals = self._literals
        out = [literals[0]]
        append = out.append
        for i, label in enumerate(labels, 1):
            # The exact hit is the common case; only a miss pays for the case-insensitive scans.
            append(values.get(label) or _resolve(label, values, fallback))
            append(literals[i])
        return "".join(out)


def compile_template(body: str) -> Template:
    """Parse ``body`` once for repeated ``render`` calls."""
    return Template(body)
