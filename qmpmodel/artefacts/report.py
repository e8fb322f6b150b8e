"""Counterexample artefacts and the HTML + Markdown report.

* :func:`write_artefacts` (``qmpmodel check --out DIR``): per counterexample a
  strict ITF trace (``*.itf.json``), a Markdown story (``*.md``: sequence
  diagram, per-step diffs) and, for a deadlock, the wait-for graph at the
  deadlocked state (``*.waitfor.dot``, ``.svg``, ``.mmd``) with the cycle
  highlighted.
* :func:`write_report` (``qmpmodel report``): ``index.md`` / ``index.html``
  with the verdict table (spec by invariant) and run statistics, and a page per
  counterexample (sequence diagram, step table, deadlock SVG). The HTML works
  offline: inline SVG and CSS, no scripts, no web fonts.

Output is deterministic (no clock, no timings, sorted), so ``reports/`` in the
repository can be compared with a fresh run. Page content is built once as a
list of blocks (heading, paragraph, table, image, diagram) and rendered to
both formats (:mod:`qmpmodel.artefacts.pages`).
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from qmpmodel.artefacts.files import write_atomic
from qmpmodel.artefacts.itf import replay_command, write_itf
from qmpmodel.artefacts.pages import Block, render_html, render_md
from qmpmodel.artefacts.render import (
    dot_to_svg,
    graphviz_version,
    sequence_mermaid,
    sequence_svg,
    step_diffs,
    waitfor_dot,
    waitfor_mermaid,
)
from qmpmodel.artefacts.reproductions import (
    load_results,
    reproduce_command,
    reproduced_label,
    reproduction_blocks,
)
from qmpmodel.core.results import CheckResult, InvariantResult
from qmpmodel.errors import InputError
from qmpmodel.invariants import Invariant, invariant
from qmpmodel.qemu.catalogue import Bug, bugs_cited
from qmpmodel.qemu.waitfor import find_deadlock_cycle, normalize_cycle, wait_for_graph

__all__ = ["cex_name", "itf_path", "spec_slug", "write_artefacts", "write_report"]

def spec_slug(spec: str) -> str:
    """A file-name stem for a spec path: ``specs/bugs/C-drain.toml`` -> ``bugs-C-drain``."""
    parts = list(Path(spec).with_suffix("").parts)
    if len(parts) > 1 and parts[0] == "specs":
        parts = parts[1:]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in parts if p not in ("/", "..", ".")))


def cex_name(spec: str, inv: str) -> str:
    return f"{spec_slug(spec)}.{inv}"


def _cycle(prepared: Any, inv: InvariantResult) -> tuple[Any, list[tuple[str, str]] | None]:
    """The wait-for graph at the last state and the cycle to highlight (the engine's, if any)."""
    tr = inv.trace
    assert tr is not None
    g = wait_for_graph(prepared.model, prepared.probes, tr.states()[-1])
    # the same edges as the engine's cycle, chosen and rotated deterministically (independent of
    # networkx' traversal order, which depends on string hashing)
    cyc = find_deadlock_cycle(g)
    if cyc is None and tr.cycle:
        cyc = normalize_cycle([(a, b) for a, b, _r in tr.cycle])
    return g, cyc


def _cycle_text(cyc: Sequence[tuple[str, str]]) -> str:
    return " → ".join([cyc[0][0], *(b for _a, b in cyc)])


def _final_note(inv: InvariantResult, cyc: Sequence[tuple[str, str]] | None) -> str:
    if inv.name == "no-deadlock":
        return f"deadlock: {_cycle_text(cyc)}" if cyc else "deadlock: pending work, no enabled action"
    if inv.trace is not None and inv.trace.loop is not None:
        return f"{inv.name} violated: the run may loop forever from state {inv.trace.loop}"
    return f"{inv.name} violated"


def write_artefacts(results: Sequence[CheckResult], prepared_by_spec: Mapping[str, Any],
                    out_dir: str | Path, echo: Callable[[str], None] | None = click.echo) -> list[Path]:
    """Write every counterexample's ITF trace, Markdown story and (deadlock) wait-for graph.

    For a counterexample a client can drive and see on QEMU 7.2.22, ``echo``
    prints the ``qmpmodel reproduce`` command line (also written in its story).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for r in results:
        p = prepared_by_spec[r.spec]
        for inv in r.invariants:
            if inv.trace is None:
                continue
            base = out / cex_name(r.spec, inv.name)
            itf = itf_path(out_dir, r.spec, inv.name)
            written.append(write_itf(itf, inv.trace, r.spec, inv.name,
                                     f"{r.title}: {inv.name} {inv.verdict} (expected {inv.expected})"))
            svg_name = None
            if inv.name == "no-deadlock":
                g, cyc = _cycle(p, inv)
                dot = waitfor_dot(g, cyc, f"{r.spec}: wait-for graph at step {inv.trace.depth}")
                written.append(_write(f"{base}.waitfor.dot", dot))
                written.append(_write(f"{base}.waitfor.mmd", waitfor_mermaid(g, cyc)))
                svg = dot_to_svg(dot)
                if svg is not None:
                    svg_name = f"{base.name}.waitfor.svg"
                    written.append(_write(out / svg_name, svg))
            cmd = reproduce_command(p, r.spec, inv, str(itf))
            if cmd is not None and echo is not None:
                echo(f"  {r.spec}: {inv.name}: {cmd}")
            md = render_md(_cex_blocks(r, inv, p, svg_name, None, itf=itf.name, replay=replay_command(itf, r.spec),
                                        repro=reproduction_blocks(None, cmd), page_dir=out))
            written.append(_write(f"{base}.md", md))
            written.append(_write(f"{base}.sequence.mmd", sequence_mermaid(inv.trace, p.qemu)))
    return written


def itf_path(out_dir: str | Path, spec: str, inv: str) -> Path:
    """Where :func:`write_artefacts` writes the ITF trace of ``inv`` on ``spec``: under ``out_dir`` as given."""
    return Path(out_dir) / f"{cex_name(spec, inv)}.itf.json"


def _write(path: str | Path, text: str) -> Path:
    return write_atomic(path, text)


# -- page content -------------------------------------------------------------------------


def _fmt(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _cex_blocks(r: CheckResult, inv: InvariantResult, prepared: Any, svg_name: str | None,
                svg_inline: str | None, itf: str | None = None, index: str | None = None,
                replay: str | None = None, repro: Sequence[Block] = (), page_dir: Path | None = None) -> list[Block]:
    tr = inv.trace
    assert tr is not None
    info = invariant(inv.name, extra=prepared.spec.properties)
    spec = f"[`{r.spec}`]({_rel(r.spec, page_dir)})" if page_dir is not None else f"`{r.spec}`"
    definition = _definition(info, page_dir)
    met = "expectation met" if inv.met else "**expectation NOT met**"
    blocks: list[Block] = [("h", 1, f"{r.title or r.spec}: {inv.name} {inv.verdict}")]
    if index:
        blocks.append(("p", f"[← all verdicts]({index})"))
    loop = f"; lasso: the loop starts at state {tr.loop}" if tr.loop is not None else ""
    blocks += [
        ("p", f"Spec {spec}, expected **{inv.expected}**, found **{inv.verdict}** at depth {inv.depth} "
              f"({met}){loop}."),
        ("p", f"*{inv.name}*: {info.statement} (source: {info.source}"
              + (f"; [definition]({definition})" if definition else "") + ")"),
    ]
    bugs = bugs_cited(prepared.spec.reference)
    if bugs:
        blocks.append(("p", "Upstream: " + "; ".join(f"bug {b.letter}, {b.title}: {_bug_links(b) or 'no reference'}"
                                                    for b in bugs) + "."))
    if inv.note:
        blocks.append(("p", f"Note: {inv.note}."))
    if inv.clause:
        blocks.append(("p", f"Why it fails in the last state: {inv.clause}."))
    if itf:
        # the link is relative to this page; the command to the directory `qmpmodel check` ran in
        blocks.append(("p", f"Trace: [`{itf}`]({itf}) (ITF); replay it, from the directory where "
                            f"`qmpmodel check` ran, with `{replay}`."))
    blocks.extend(repro)
    cyc = None
    if inv.name == "no-deadlock":
        g, cyc = _cycle(prepared, inv)
        blocks.append(("h", 2, "Wait-for graph at the deadlocked state"))
        if cyc:
            reasons = {(u, v): g.edges[u, v]["label"] for u, v in g.edges}
            blocks.append(("p", f"Cycle: **{_cycle_text(cyc)}**"))
            blocks.append(("table", ["waiter", "waits for", "reason"],
                           [[f"`{u}`", f"`{v}`", reasons.get((u, v), "")] for u, v in cyc]))
        else:
            blocks.append(("p", "No wait-for cycle: the last state has pending work and no enabled action."))
        if svg_name is not None or svg_inline is not None:
            blocks.append(("image", svg_name, svg_inline, "wait-for graph, cycle in red"))
        else:
            blocks.append(("p", "Graphviz (`dot`) is not installed: only the `.waitfor.dot` file was written."))
            blocks.append(("mermaid", waitfor_mermaid(g, cyc), None))
    note = _final_note(inv, cyc)
    involved = [n for c in (cyc or ()) for n in c]
    blocks.append(("h", 2, "Sequence diagram"))
    blocks.append(("mermaid", sequence_mermaid(tr, prepared.qemu, note, involved),
                   sequence_svg(tr, prepared.qemu, note, involved)))
    blocks.append(("h", 2, "Steps (only the variables that changed)"))
    rows = []
    for k, (st, diff) in enumerate(zip(tr.steps, step_diffs(tr), strict=True), start=1):
        mark = " ↺" if tr.loop is not None and k == tr.loop + 1 else ""
        ch = "<br>".join(f"`{n}`: {tr.show(n, a)} → {tr.show(n, b)}" for n, a, b in diff) or "(stutter)"
        rows.append([f"{k}{mark}", st.actor, f"`{st.label}`", st.qemu, ch])
    blocks.append(("table", ["#", "actor", "action", "QEMU function", "changed"], rows))
    nonzero = ", ".join(f"`{n}` = {tr.show(n, v)}" for n, v in tr.initial.items() if v) or "every variable 0/false"
    blocks.append(("p", f"Initial state (non-zero variables): {nonzero}."))
    return blocks


def _rel(target: str | Path, page_dir: Path) -> str:
    """A link from a page in ``page_dir`` to ``target`` (a path relative to the working directory)."""
    return Path(os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))).as_posix()


def _definition(info: Invariant, page_dir: Path | None) -> str | None:
    """A link to the line that defines the property (the library's or a proposal's), ``None`` if unknown."""
    if page_dir is None:
        return None
    try:
        path = inspect.getsourcefile(info.predicate)
        _lines, first = inspect.getsourcelines(info.predicate)
    except (OSError, TypeError):
        return None
    if path is None:
        return None
    text = Path(path).read_text(encoding="utf-8").splitlines()
    line = next((k for k, t in enumerate(text, start=1) if f'"{info.name}"' in t), first)
    return f"{_rel(path, page_dir)}#L{line}"


def _bug_links(bug: Bug) -> str:
    """The commits, threads and reports of a catalogued bug as Markdown links."""
    return ", ".join(f"[{link.text}]({link.url})" for link in bug.links())


# -- the report -------------------------------------------------------------------------


def _cell(r: CheckResult, inv: InvariantResult, link: str | None) -> tuple[str, str]:
    if inv.expected == "skip":
        return "-", "skip v"
    if inv.verdict == "violated":
        text = f"[✗ {inv.depth}]({link})" if link else f"✗ {inv.depth}"
        return (text if inv.met else f"‼ {text}"), ("exp v" if inv.met else "bad v")
    if inv.verdict == "holds":
        return ("✓" if inv.met else "‼ ✓"), ("ok v" if inv.met else "bad v")
    return "?", "unk v" if inv.met else "bad v"


def _index_blocks(results: Sequence[CheckResult], links: Mapping[tuple[str, str], str], gv: str | None,
                  command: str, repro: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
                  prepared_by_spec: Mapping[str, Any] | None = None, page_dir: Path | None = None) -> list[Block]:
    repro = repro or {}
    prepared_by_spec = prepared_by_spec or {}
    names = list(dict.fromkeys(i.name for r in results for i in r.invariants))
    bad = sum(1 for r in results for i in r.invariants if not i.met)
    cex = sum(1 for r in results for i in r.invariants if i.trace is not None)
    blocks: list[Block] = [
        ("h", 1, "qmpmodel report"),
        ("p", f"{len(results)} specs, {len(names)} invariants: "
              + ("**every pinned expectation is met**" if bad == 0 else f"**{bad} expectations not met**")
              + f"; {cex} counterexamples."),
        ("p", "Cells: ✓ holds; ✗ N violated at depth N (links to the counterexample); ? unknown (budget "
              "exhausted); - skipped by the spec; ‼ the spec's pinned expectation is not met."),
        ("h", 2, "Verdicts (spec \u00d7 invariant)"),
    ]
    extra = [i for p in prepared_by_spec.values() for i in p.spec.properties]
    legend = ", ".join(f"{k} {_named(n, extra, page_dir)}" for k, n in enumerate(names, start=1))
    blocks.append(("p", f"Invariants: {legend}."))
    rows = []
    for r in results:
        by = {i.name: i for i in r.invariants}
        row: list[Any] = [_spec_cell(r.spec, page_dir)]
        for n in names:
            i = by.get(n)
            row.append(("", "skip v") if i is None else _cell(r, i, links.get((r.spec, n))))
        rows.append(row)
    blocks.append(("table", ["spec", *(str(k) for k in range(1, len(names) + 1))], rows,
                   [f"{k} {n}" for k, n in enumerate(names, start=1)]))
    blocks.append(("h", 2, "Specs"))
    blocks.append(("table", ["spec", "title", "counterexamples", "upstream"],
                   [[_spec_cell(r.spec, page_dir), r.title,
                     ", ".join(f"[{i.name}]({links[(r.spec, i.name)]})" + _repro_tag(repro.get((r.spec, i.name)))
                               for i in r.invariants if (r.spec, i.name) in links) or "-",
                     _upstream(prepared_by_spec.get(r.spec))] for r in results]))
    blocks.append(("h", 2, "Run statistics (explicit engine)"))
    stats = [[f"`{r.spec}`", f"{r.states:,}", f"{r.transitions:,}", str(r.depth),
              "yes" if r.complete else "no (budget)", ("yes", "ok") if r.met else ("NO", "bad")]
             for r in results]
    stats.append(["**total**", f"{sum(r.states for r in results):,}",
                  f"{sum(r.transitions for r in results):,}", str(max((r.depth for r in results), default=0)),
                  "yes" if all(r.complete for r in results) else "no", "yes" if bad == 0 else "NO"])
    blocks.append(("table", ["spec", "states", "transitions", "depth", "complete", "met"], stats))
    blocks.append(("p", f"Regenerate with `{command}`. Diagrams drawn with Graphviz {gv or '(not installed)'}."))
    return blocks


def _spec_cell(spec: str, page_dir: Path | None) -> str:
    return f"[`{spec}`]({_rel(spec, page_dir)})" if page_dir is not None else f"`{spec}`"


def _named(name: str, extra: Sequence[Invariant], page_dir: Path | None) -> str:
    """A property's name, linked to its definition when the page has a place."""
    try:
        link = _definition(invariant(name, extra=extra), page_dir)
    except InputError:
        link = None
    return f"[`{name}`]({link})" if link else f"`{name}`"


def _upstream(prepared: Any) -> str:
    bugs = bugs_cited(prepared.spec.reference) if prepared is not None else ()
    return "; ".join(f"{b.letter}: {_bug_links(b)}" if b.links() else b.letter for b in bugs) or "-"


def _repro_tag(entry: Mapping[str, Any] | None) -> str:
    label = reproduced_label(entry)
    return f" ({label})" if label else ""


def write_report(results: Sequence[CheckResult], prepared_by_spec: Mapping[str, Any], out_dir: str | Path,
                 fmt: Sequence[str] = ("md", "html"),
                 command: str = "qmpmodel report specs/ --out reports/",
                 site: str | Path | None = None) -> list[Path]:
    """Write ``index.md``/``index.html`` and one page per counterexample under ``cex/``.

    Specs and property definitions are linked relative to ``site``, the directory
    the report is read from (default ``out_dir``).
    """
    out = Path(out_dir)
    home = Path(site) if site is not None else out
    written: list[Path] = []
    links: dict[tuple[str, str], str] = {}
    gv = graphviz_version()
    # reproductions on a real QEMU are committed next to the report (reports/reproductions.json)
    repro = load_results(out / "reproductions.json")
    for r in results:
        p = prepared_by_spec[r.spec]
        for inv in r.invariants:
            if inv.trace is None:
                continue
            name = cex_name(r.spec, inv.name)
            links[(r.spec, inv.name)] = f"cex/{name}.md"
            svg = svg_name = None
            if inv.name == "no-deadlock":
                g, cyc = _cycle(p, inv)
                dot = waitfor_dot(g, cyc, f"{r.spec}: wait-for graph at step {inv.trace.depth}")
                svg = dot_to_svg(dot)
                if svg is None:
                    written.append(_write(out / "cex" / f"{name}.waitfor.dot", dot))
                else:
                    svg_name = f"{name}.waitfor.svg"
                    written.append(_write(out / "cex" / svg_name, svg))
            entry = repro.get((r.spec, inv.name))
            blocks = _cex_blocks(r, inv, p, svg_name, svg, index="../index.md",
                                 repro=reproduction_blocks(entry, None), page_dir=home / "cex")
            if "md" in fmt:
                written.append(_write(out / "cex" / f"{name}.md", render_md(blocks)))
            if "html" in fmt:
                written.append(_write(out / "cex" / f"{name}.html",
                                      render_html(blocks, f"{r.spec}: {inv.name}")))
    blocks = _index_blocks(results, links, gv, command, repro, prepared_by_spec, home)
    if "md" in fmt:
        written.append(_write(out / "index.md", render_md(blocks)))
    if "html" in fmt:
        written.append(_write(out / "index.html", render_html(blocks, "qmpmodel report")))
    return written

