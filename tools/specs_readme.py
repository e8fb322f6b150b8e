"""Regenerate specs/README.md: keys, axes, kinds and the verdict table.

    python3 tools/specs_readme.py            # rewrite specs/README.md
    python3 tools/specs_readme.py --check    # exit 1 if it is out of date

The axis, bound and kind tables come from qmpmodel.qemu.design; the verdict table
from running every spec with the explicit engine (the same verdicts `qmpmodel
check specs/` prints).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from qmpmodel.check import check_spec
from qmpmodel.qemu.bounds import BOUND_DOCS, BOUNDS
from qmpmodel.qemu.design import AXES
from qmpmodel.qemu.kinds import KINDS
from qmpmodel.specs import expand_paths, load_spec, toml_value

ROOT = Path(__file__).resolve().parents[1]
HEAD = """# Specs

A spec is a TOML file: a point on the model's design axes, bounds that make the
state space finite, and pinned expectations. `qmpmodel check PATH...` checks
every pinned expectation and exits 0 only if all are met. This page is generated
by `python3 tools/specs_readme.py` (a test fails when it is out of date).

```toml
title = "One line"                 # optional; default: the file name
description = \"\"\"What and why.\"\"\"  # optional
reference = "§7 P"                 # optional: sections of ../shared/qemu-dispatch-semantics.md
[design]                           # axes; an axis not named takes current QEMU's value
closed_resume = false
[bounds]
monitors = 1
clients = 2
requests = 1
mix = ["quick"]
[commands]                         # optional: take the mix from a QAPI schema (qmpmodel/schema/qapi.py)
qapi = "../../shared/qemu-qapi/qapi/qapi-schema.json"   # relative to the spec file
select = ["block_resize", "query-status", "migrate-pause"]
[expect]                           # invariant = "holds" | "violated" | "skip"
suspend-balance = "violated"       # an invariant not named is expected to hold
[check]
max_states = 2000000               # budget: beyond it verdicts are "unknown"
```

Every key is validated: an unknown table, axis, bound, kind or invariant name, or
a value of the wrong type, is reported as one line naming the file and key, with
a close match written in TOML (`true`, `"drop"`); every mistake of every spec is
reported at once, and `qmpmodel check` exits 2 without checking anything. Under a
directory, `qmpmodel check` reads only the `*.toml` files that have a `[design]`,
`[bounds]`, `[expect]` or `[commands]` table (not `pyproject.toml`); a file named on
the command line without one is bad input. `qmpmodel invariants` lists the
invariants. Directories: `designs/` (historical and proposed dispatchers),
`bugs/` (one spec per catalogued bug of §7, with a `-fixed-` variant where the
reference names the fix), `mutants/` (deliberately broken designs for
properties no catalogued bug breaks: they show that no invariant is vacuous).
"""


def table(rows: list[list[str]], head: list[str]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def render() -> str:
    parts = [HEAD]
    parts.append("## Design axes\n\n" + table(
        [[f"`{a.name}`", " / ".join(f"`{toml_value(v)}`" for v in a.values), a.doc] for a in AXES],
        ["axis", "values (first: current QEMU)", "meaning"]))
    parts.append("## Bounds\n\n" + table([[f"`{b}`", BOUND_DOCS[b]] for b in BOUNDS], ["bound", "meaning"]))
    parts.append("## Request kinds (`mix`, `hmp_mix`)\n\n" + table(
        [[f"`{k.name}`", k.form, k.command, k.doc] for k in KINDS.values()], ["kind", "wire form", "command", "what"]))
    rows = []
    for p in expand_paths([str(ROOT / "specs")]):
        spec = load_spec(p)
        data = tomllib.loads(p.read_text())
        pinned = {n for n, v in data.get("expect", {}).items() if v == "violated"}
        r = check_spec(spec)
        broken = [f"{i.name} ({i.depth})" for i in r.invariants if i.verdict == "violated" and i.name in pinned]
        rel = p.relative_to(ROOT / "specs").as_posix()
        rows.append([spec.title.replace("|", "/"), f"[`{rel}`]({rel})", ", ".join(broken) or "none",
                     f"{r.states:,}"])
    parts.append("## Verdicts\n\nInvariants each spec pins as violated, with the depth of the shortest "
                 "counterexample in parentheses; every other invariant holds (or is skipped) within the "
                 "spec's bounds.\n\n" + table(rows, ["design or bug", "spec", "invariants broken (depth)", "states"]))
    return "\n\n".join(parts) + "\n"


def main() -> int:
    text = render()
    target = ROOT / "specs" / "README.md"
    if "--check" in sys.argv:
        return 0 if target.exists() and target.read_text() == text else 1
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
