"""Differences between two revisions, as data for a template to show (auto-escaped there)."""
import difflib
from dataclasses import dataclass

CONTEXT_LINES = 3


@dataclass
class DiffLine:
    """One line of a unified diff: op is ' ', '-', '+' or '…' for skipped unchanged lines."""

    op: str
    old_no: int | None
    new_no: int | None
    text: str


@dataclass
class FieldChange:
    """A changed metadata field: title, kind, products, segments or tags."""

    name: str
    old: str
    new: str


def body_lines(old, new):
    """A unified diff of two texts with a few unchanged lines around each change."""
    a, b = old.splitlines(), new.splitlines()
    lines = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(CONTEXT_LINES):
        if lines or group[0][1] > 0:
            lines.append(DiffLine("…", None, None, ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine(" ", i1 + k + 1, j1 + k + 1, a[i1 + k]) for k in range(i2 - i1)]
                continue
            lines += [DiffLine("-", i1 + k + 1, None, a[i1 + k]) for k in range(i2 - i1)]
            lines += [DiffLine("+", None, j1 + k + 1, b[j1 + k]) for k in range(j2 - j1)]
    return lines


def field_changes(old, new, name_of=lambda field, value: value):
    """The metadata fields that differ between two revisions.

    `name_of(field, slug)` turns category slugs into display names.
    """
    changes = []
    for attribute, field in (("title", "title"), ("kind_slug", "kind"), ("products", "products"),
                             ("segments", "segments"), ("tags", "tags")):
        before, after = getattr(old, attribute), getattr(new, attribute)
        if before != after:
            changes.append(FieldChange(field, _shown(field, before, name_of), _shown(field, after, name_of)))
    return changes


def _shown(field, value, name_of):
    if isinstance(value, list):
        return "、".join(name_of(field, v) for v in value)
    return name_of(field, value)
