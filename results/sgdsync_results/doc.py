"""The report as data: sections of paragraphs, tables and figures, rendered by html.py and
markdown.py alike so that both always say the same thing."""

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Para:
    text: str


@dataclass
class Empty:
    """A section or part without data: one line saying so."""
    text: str


@dataclass
class Table:
    columns: list
    rows: list              # lists of cells (str, int, float or None)
    caption: str = ""
    long: bool = False      # HTML folds it; Markdown keeps only the first rows
    summary: bool = True    # shown in the Markdown summary
    header: bool = True     # False for key-value tables


@dataclass
class Figure:
    png: bytes
    caption: str
    alt: str = ""


@dataclass
class Section:
    anchor: str
    title: str
    intro: str = ""
    blocks: list = field(default_factory=list)
    summary: Optional[str] = None  # one line for the Markdown summary, if any

    def add(self, block):
        self.blocks.append(block)
        return block

    @property
    def empty(self):
        return all(isinstance(b, Empty) for b in self.blocks)


@dataclass
class Report:
    title: str
    generated: str
    inputs: Optional[list]  # (path, kind, items); None when the page is not about inputs
    errors: list            # "FILE: message"
    duplicates: int = 0     # inputs skipped because another input has the same content
    sections: list = field(default_factory=list)


def duplicates_note(n):
    return f"{n} duplicate file(s) skipped (same content as another input)" if n else ""


def fmt(value, digits=3):
    """A cell as text: numbers to `digits` significant digits, None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ") if abs(value) >= 100000 else str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value == 0:
            return "0"
        if abs(value) >= 1e6 or abs(value) < 1e-3:
            return f"{value:.{digits - 1}e}"
        text = f"{value:.{digits}g}"
        return f"{value:.0f}" if "e" in text else text  # 1000.0 as "1000", not "1e+03"
    return str(value)


def si(value, digits=3):
    """Large numbers with an SI prefix: 39 500 000 -> "39.5 M"."""
    if value is None or not isinstance(value, (int, float)) or value != value:
        return fmt(value)
    for div, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.{digits}g} {prefix}"
    return fmt(float(value), digits)
