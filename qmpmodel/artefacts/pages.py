"""Report pages as blocks, rendered to Markdown and to offline HTML.

A page is a list of blocks: ``("h", level, text)``, ``("p", text)``,
``("table", header, rows[, rotated header])`` (a cell is text or ``(text, css
class)``), ``("image", file, inline svg, alt)`` and ``("mermaid", source, inline
svg)``. Text is a small Markdown subset: code, bold, emphasis, links, ``<br>``.
The HTML has inline CSS and SVG, no scripts and no web fonts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Block", "render_html", "render_md"]

Block = tuple[Any, ...]


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_md(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append("#" * b[1] + " " + b[2])
        elif kind == "p":
            out.append(b[1])
        elif kind == "table":
            hdr, rows = b[1], b[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in hdr) + " |", "|" + "---|" * len(hdr)]
            lines += ["| " + " | ".join(_md_cell(c[0] if isinstance(c, tuple) else c) for c in row) + " |"
                      for row in rows]
            out.append("\n".join(lines))
        elif kind == "image":
            out.append(f"![{b[3]}]({b[1]})" if b[1] else "")
        elif kind == "mermaid":
            out.append("```mermaid\n" + b[1].rstrip("\n") + "\n```")
    return "\n\n".join(x for x in out if x) + "\n"


_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\(([^)]+)\)|(<br>)")


def _inline_html(s: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(s):
        out.append(html.escape(s[pos:m.start()]))
        code, bold, em, text, url, br = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{_inline_html(bold)}</strong>")
        elif em is not None:
            out.append(f"<em>{_inline_html(em)}</em>")
        elif br is not None:
            out.append("<br>")
        else:
            href = re.sub(r"\.md$", ".html", url)
            out.append(f'<a href="{html.escape(href)}">{_inline_html(text)}</a>')
        pos = m.end()
    out.append(html.escape(s[pos:]))
    return "".join(out)


_CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;
vertical-align:top}th{background:#f3f3f3}code{background:#f5f5f5;padding:0 3px;font-size:12px}
td.ok{background:#e3f4e1}td.exp{background:#fff0c8}td.bad{background:#f9d2cd;font-weight:bold}
td.unk{background:#e8e8e8}td.skip{color:#999}th.rot{height:165px;white-space:nowrap;vertical-align:bottom;
padding:2px}th.rot>div{transform:rotate(-60deg);width:18px;transform-origin:left bottom;margin-left:12px}
td.v{text-align:center;padding:2px 3px;white-space:nowrap;font-size:12px}a{color:#1a56a8}
.fig{overflow-x:auto;border:1px solid #eee;padding:6px}.fig svg{max-width:100%;height:auto}
.fig>table{margin-right:110px}.fig>table td:first-child{white-space:nowrap}"""


def _strip_svg(svg: str) -> str:
    return re.sub(r"<\?xml[^>]*>\s*|<!DOCTYPE[^>]*>\s*", "", svg)


def render_html(blocks: Sequence[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{_inline_html(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline_html(b[1])}</p>")
        elif kind == "table":
            hdr, rows = b[1], b[2]
            rot = len(b) > 3 and b[3]
            if rot:
                hdr = [hdr[0], *b[3]]
            cells = "".join(f'<th class="rot"><div>{_inline_html(h)}</div></th>' if rot and k else
                            f"<th>{_inline_html(h)}</th>" for k, h in enumerate(hdr))
            out.append(f'{"<div class=fig>" if rot else ""}<table><tr>{cells}</tr>')
            for row in rows:
                tds = "".join(f'<td class="{c[1]}">{_inline_html(c[0])}</td>' if isinstance(c, tuple)
                              else f"<td>{_inline_html(c)}</td>" for c in row)
                out.append(f"<tr>{tds}</tr>")
            out.append("</table></div>" if rot else "</table>")
        elif kind in ("image", "mermaid"):
            svg = b[2]
            if svg:
                out.append(f'<div class="fig">{_strip_svg(svg)}</div>')
            elif kind == "mermaid":
                out.append(f"<pre>{html.escape(b[1])}</pre>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
