"""``qmpmodel new-proposal`` and ``qmpmodel steps``: writing a design outside the package."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from qmpmodel.errors import InputError

__all__ = ["new_proposal", "steps_cmd"]

_STARTER_PY = '''"""Proposal: {title}.

Describe the patch: which QEMU function changes, and why. Override the steps
it changes (``qmpmodel steps`` lists them with the QEMU function each models;
docs/proposals.md is the tutorial). Only qmpmodel.api may be imported.
"""

from qmpmodel.api import Monitor, QemuCurrent, Update


class {cls}(QemuCurrent):
    """{title}."""

    title = "{title}"

    def early_resume(self, m: Monitor, u: Update) -> None:
        # monitor_qmp_dispatcher_co, early resume (§3.4 step 2): what current QEMU does
        super().early_resume(m, u)
'''

_STARTER_TOML = '''title = "Proposal: {title}"
description = "What the patch changes, in one paragraph."

[design]
proposal = "{py}"

# The bounds and expectations of specs/qemu-current.toml: one monitor, two
# successive sessions, two requests each. Compare with current QEMU without
# copying anything: qmpmodel diff qemu-current {toml}
[bounds]
monitors = 1
clients = 2
requests = 2
mix = ["quick", "coroutine", "oob"]

[expect]
no-cross-session-reply = "violated"  # bug P, as in current QEMU
reply-order-all = "violated"         # exec-oob replies overtake in-band ones (bug U)
'''


@click.command("new-proposal")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where to write NAME.py and NAME.toml.")
def new_proposal(name: str, directory: str) -> None:
    """Write a starter proposal NAME.py (a design class) and its spec NAME.toml.

    Then edit NAME.py and run: qmpmodel check NAME.toml. Exit status 2 when a
    file exists already (nothing is overwritten) or NAME is not a plain name.
    """
    try:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
            raise InputError("<command line>", "NAME", "a plain name (letters, digits, - and _)", repr(name))
        stem = name.replace("-", "_")
        out = Path(directory)
        py, toml = out / f"{stem}.py", out / f"{name}.toml"
        for f in (py, toml):
            if f.exists():
                raise InputError(str(f), None, "a file that does not exist yet (new-proposal never overwrites)",
                                 "an existing file")
    except InputError as e:
        click.echo(f"qmpmodel: {e}", err=True)
        sys.exit(2)
    title = name.replace("-", " ").replace("_", " ")
    cls = "".join(w.capitalize() for w in re.split(r"[-_]", name))
    out.mkdir(parents=True, exist_ok=True)
    py.write_text(_STARTER_PY.format(title=title, cls=cls), encoding="utf-8")
    toml.write_text(_STARTER_TOML.format(title=title, py=py.name, toml=toml.name), encoding="utf-8")
    click.echo(f"wrote {py} and {toml}; check it with: qmpmodel check {toml}")


@click.command("steps")
@click.argument("spec_path", metavar="[SPEC]", required=False)
def steps_cmd(spec_path: str | None) -> None:
    """List the model's steps: method, QEMU function (branch), reference, commit.

    With SPEC, mark the steps its design changes relative to current QEMU.
    """
    from qmpmodel.qemu.designs.current import QemuCurrent
    from qmpmodel.qemu.steps import overridden_steps, steps_of

    changed: dict[str, str] = {}
    if spec_path is not None:
        from qmpmodel.specs import load_spec

        try:
            spec = load_spec(spec_path)
            cls, _extra = spec.design.resolve(spec.path)
        except InputError as e:
            click.echo(f"qmpmodel: {e}", err=True)
            sys.exit(2)
        changed = {n: owner for n, _i, owner in overridden_steps(cls, QemuCurrent)}
    for name, info in steps_of(QemuCurrent).items():
        mark = f"  [changed by {changed[name]}]" if name in changed else ""
        extra = ", ".join(x for x in (info.ref, info.commit) if x)
        click.echo(f"{name:<36} {info.title}" + (f"  ({extra})" if extra else "") + mark)
