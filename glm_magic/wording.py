"""Plain-text helpers any module may use: a number with its noun, rows as aligned columns.

They live apart from :mod:`glm_magic.render` (the notebook rendering of a
result) so that data modules such as :mod:`glm_magic.catalogue` and
:mod:`glm_magic.ledger` can print a table without depending on presentation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def count(n: int, noun: str) -> str:
    """``1 turn``, ``3 turns``: a number with its noun, plural unless it is one."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def text_table(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """Rows of text as aligned columns, for the ``%glm`` commands that print tables.

    The first row is the header, underlined with dashes; the columns whose
    positions are in ``right`` (numbers) are aligned right, the others left.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
