"""One self-contained HTML page: CSS inline, plots as base64 PNG, no script, no external
resource, so that it opens anywhere, offline, and can be mailed as one file."""

import base64
import re
from html import escape

from .doc import Empty, Figure, Para, Table, duplicates_note, fmt

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d2330; background: #f6f7f9; margin: 0; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: #fff;
       box-shadow: 0 0 12px rgba(0,0,0,.06); }
h1 { font-size: 1.7em; margin: .2em 0 .1em; }
h2 { font-size: 1.3em; margin-top: 2.2em; padding-bottom: .25em; border-bottom: 2px solid #e3e6ec; }
.meta { color: #5b6475; font-size: .92em; }
.intro { color: #3b4354; max-width: 62em; }
.empty { color: #7a8294; font-style: italic; }
.problems { background: #fff4f2; border-left: 4px solid #d0442e; padding: .6em 1em; margin: 1em 0; }
.problems li { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .85em; }
nav ol { columns: 2; padding-left: 1.4em; }
nav li { margin: .15em 0; }
nav .sum { color: #5b6475; font-size: .88em; }
table { border-collapse: collapse; margin: .8em 0 1.2em; font-size: .86em; }
caption { caption-side: top; text-align: left; color: #3b4354; padding: .3em 0; font-weight: 600; }
th, td { padding: .3em .7em; border-bottom: 1px solid #e6e8ee; text-align: left; vertical-align: top; }
th { background: #eef1f6; font-weight: 600; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
details { margin: .6em 0 1em; }
summary { cursor: pointer; color: #2a5db0; font-weight: 600; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e6e8ee; border-radius: 4px; }
figcaption { color: #5b6475; font-size: .88em; margin-top: .3em; }
"""


def render(report):
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(report.title)}</title><style>{CSS}</style></head><body><main>",
           f"<h1>{escape(report.title)}</h1>",
           f'<p class="meta">Generated {escape(report.generated)}'
           + (f" from {_inputs(report.inputs, report.duplicates)}" if report.inputs is not None else "") + ".</p>"]
    if report.errors:
        out.append('<div class="problems"><strong>Inputs that could not be read '
                   f'({len(report.errors)}); the report covers the others:</strong><ul>')
        out += [f"<li>{escape(e)}</li>" for e in report.errors]
        out.append("</ul></div>")
    out.append("<nav><h2>Contents</h2><ol>")
    for sec in report.sections:
        note = "no data" if sec.empty else (sec.summary or "")
        out.append(f'<li><a href="#{sec.anchor}">{escape(sec.title)}</a>'
                   + (f' <span class="sum">— {escape(note)}</span>' if note else "") + "</li>")
    out.append("</ol></nav>")
    for sec in report.sections:
        out.append(f'<section id="{sec.anchor}"><h2>{escape(sec.title)}</h2>')
        if sec.intro and not sec.empty:
            out.append(f'<p class="intro">{escape(sec.intro)}</p>')
        out += [_block(b) for b in sec.blocks]
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _inputs(inputs, duplicates):
    kinds = {"bench": "micro-benchmark file", "train": "training-run file", "sweep": "sweep file"}
    counts = {}
    for _, kind, n in inputs:
        files, items = counts.get(kind, (0, 0))
        counts[kind] = (files + 1, items + n)
    parts = [f"{files} {kinds[k]}{'s' if files != 1 else ''}"
             + (f" ({items} records)" if k == "sweep" else f" ({items} results)" if k == "bench" else "")
             for k, (files, items) in counts.items()]
    parts.append(duplicates_note(duplicates))
    return escape(", ".join(part for part in parts if part) or "no valid input")


def _block(b):
    if isinstance(b, Empty):
        return f'<p class="empty">{escape(b.text)}</p>'
    if isinstance(b, Para):
        return f"<p>{escape(b.text)}</p>"
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(b.alt or b.caption)}">'
                f"<figcaption>{escape(b.caption)}</figcaption></figure>")
    if isinstance(b, Table):
        return _table(b)
    raise TypeError(f"unknown block {type(b).__name__}")


NUMERIC = re.compile(r"^[-+]?[\d .,]*\d(e[-+]?\d+)?( ?(%|×|s|k|M|G|T))?$")


def _cell(v, tag="td"):
    num = (isinstance(v, (int, float)) and not isinstance(v, bool)) or bool(NUMERIC.match(str(v)))
    return f'<{tag}{" class=num" if num else ""}>{escape(fmt(v))}</{tag}>'


def _table(t):
    head = ("<thead><tr>" + "".join(f"<th>{escape(c)}</th>" for c in t.columns) + "</tr></thead>") if t.header else ""
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in t.rows)
    if t.long:
        return (f"<details><summary>{escape(t.caption or 'Table')} ({len(t.rows)} rows)</summary>"
                f'<div class="scroll"><table>{head}<tbody>{body}</tbody></table></div></details>')
    cap = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f'<div class="scroll"><table>{cap}{head}<tbody>{body}</tbody></table></div>'
