"""Print the table of docs/reproduce.md ("Every bug spec on QEMU 7.2.22") from reports/reproductions.json.

Usage: python3 tools/reproduce_table.py [reports/reproductions.json]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qmpmodel.conformance.repro_steps import JUDGEABLE


def _row(e: dict) -> str:  # type: ignore[type-arg]
    spec = e["spec"].replace("specs/bugs/", "").replace(".toml", "")
    visible = "yes" if e["invariant"] in JUDGEABLE else "no"
    steps = [b for b in e["blockers"] if "not visible on the wire" not in b]
    if steps:
        m = re.match(r"(step \d+ \([^:]+: [a-z_]+)", steps[0])
        drive = "no: " + (m.group(1) + ")" if m else steps[0].split(",")[0])
    else:
        drive = "yes"
    design = "; ".join(x.split(" (")[0] for x in e["design_mismatch"]) or "yes"
    if e["verdict"] == "reproduced":
        how = "the trace itself" if e["plan"]["literal"] else "a substitution"
        lt = e.get("literal_tries")
        if lt:
            how += f"; the trace itself {lt[1]}/{lt[0]}"
        res = f"**reproduced** ({how})"
    else:
        res = f"not reproduced (exit {e['exit']})"
    tries = f"{e['hits']}/{e['tries']}" if e["tries"] else "0"
    sec = f"{e['seconds_per_try']:.2f}" if e["seconds_per_try"] else "-"
    return f"| `{spec}` | `{e['invariant']}` | {visible} | {drive} | {design} | {res} | {tries} | {sec} |"


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "reports/reproductions.json"
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    print("| spec | counterexample of | visible on the wire | drivable from outside | QEMU 7.2.22's design "
          "| result | hits/tries | s per try |")
    print("|---|---|---|---|---|---|---|---|")
    for e in doc["entries"]:
        if e["spec"].startswith("specs/bugs/") or e["spec"] == "specs/qemu-current.toml":
            print(_row(e))


if __name__ == "__main__":
    main()
