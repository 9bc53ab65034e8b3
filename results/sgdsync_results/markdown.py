"""The Markdown summary: the same sections as the HTML report, tables only, for terminals and
pull requests. Long tables are cut; figures are in the HTML report."""

from .doc import Empty, Figure, Para, Table, duplicates_note, fmt

MAX_ROWS = 15


def render(report, html_name=None):
    where = f" (plots and full tables: {html_name})" if html_name else ""
    out = [f"# {report.title}", "", f"Generated {report.generated}{where}.", ""]
    if report.inputs is not None:
        notes = [f"{len(report.inputs)} valid file(s)", duplicates_note(report.duplicates),
                 f"{len(report.errors)} problem(s)" if report.errors else ""]
        out += ["Inputs: " + ", ".join(n for n in notes if n) + ".", ""]
    if report.errors:
        out += ["## Inputs that could not be read", ""] + [f"- `{e}`" for e in report.errors] + [""]
    for sec in report.sections:
        out += [f"## {sec.title}", ""]
        if sec.summary and not sec.empty:
            out += [f"**{sec.summary}**", ""]
        for b in sec.blocks:
            out += _block(b)
    return "\n".join(out).rstrip() + "\n"


def _block(b):
    if isinstance(b, (Empty, Para)):
        return [b.text, ""]
    if isinstance(b, Figure):
        return []
    if isinstance(b, Table):
        return _table(b) if b.summary else []
    raise TypeError(f"unknown block {type(b).__name__}")


def _esc(v):
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def _table(t):
    out = [f"*{t.caption}*", ""] if t.caption else []
    cols = t.columns if t.header else [" "] * len(t.columns)
    out.append("| " + " | ".join(_esc(c) for c in cols) + " |")
    out.append("|" + "|".join("---" for _ in cols) + "|")
    rows = t.rows[:MAX_ROWS] if t.long else t.rows
    out += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    if len(rows) < len(t.rows):
        out.append(f"\n… {len(t.rows) - len(rows)} more rows in the HTML report.")
    return out + [""]
