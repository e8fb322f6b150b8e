"""specs/README.md is generated from the code and the verdicts; it must be current."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_specs_readme_is_up_to_date():
    # this checkout's package, not whichever one is installed
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "tools/specs_readme.py", "--check"], cwd=ROOT, env=env)
    assert r.returncode == 0, "run: python3 tools/specs_readme.py"


def test_specs_readme_documents_every_axis_and_kind():
    from qmpmodel.qemu.bounds import BOUNDS
    from qmpmodel.qemu.design import AXES
    from qmpmodel.qemu.kinds import KINDS

    text = (ROOT / "specs" / "README.md").read_text()
    for name in [a.name for a in AXES] + list(BOUNDS) + list(KINDS):
        assert f"`{name}`" in text
