"""Spec loading: the QAPI-schema command mix and the validation of every key."""

from pathlib import Path

import pytest

from qmpmodel.errors import InputError
from qmpmodel.specs import load_spec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "qemu-qapi"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/qemu-qapi not present")


@needs_shared
def test_mix_from_qemu_schema_maps_flags_to_kinds(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'[bounds]\nrequests = 1\n[commands]\nqapi = "{SHARED / "qapi" / "qapi-schema.json"}"\n'
        'select = ["block_resize", "query-status", "migrate-pause"]\n')
    s = load_spec(spec)
    # §6.2: block_resize is coroutine, migrate-pause allows OOB, query-status neither
    assert s.bounds.mix == ("coroutine", "quick", "oob")


@needs_shared
def test_qga_noreply_and_unknown_command(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(f'[commands]\nqapi = "{SHARED / "qga" / "qapi-schema.json"}"\nselect = ["guest-shutdown"]\n')
    # QGA's guest-shutdown has success-response: false
    assert load_spec(spec).bounds.mix == ("noreply",)
    spec.write_text(f'[commands]\nqapi = "{SHARED / "qga" / "qapi-schema.json"}"\nselect = ["guest-shutdwn"]\n')
    with pytest.raises(InputError, match="did you mean 'guest-shutdown'"):
        load_spec(spec)


def test_design_value_of_the_wrong_type(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[design]\nclosed_resume = "no"\n')
    # values are spelt as TOML spells them, so a hint can be pasted back (issue 17)
    with pytest.raises(InputError, match=r"design.closed_resume: expected one of true, false"):
        load_spec(spec)
    spec.write_text('[design]\nhop_all = "true"\n')
    with pytest.raises(InputError, match=r"did you mean true \(a boolean: no quotes\)\?"):
        load_spec(spec)


def test_check_table_is_validated(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("[bounds]\nrequests = 1\n[check]\nmax_state = 10\n")
    with pytest.raises(InputError, match="did you mean 'max_states'"):
        load_spec(spec)
    spec.write_text("[bounds]\nrequests = 1\n[check]\nmax_states = -1\n")
    with pytest.raises(InputError, match="a positive integer"):
        load_spec(spec)


def test_bad_toml_names_the_line(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("title = 'x'\n[bounds\n")
    with pytest.raises(InputError, match="line 2"):
        load_spec(spec)
