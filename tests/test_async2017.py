"""The 2017 async-commands design (F6, docs/fidelity-ii.md 1f), against hand-known answers.

protocol-2017 writes a deferred return when it completes, so a client that
negotiated ``async`` can see replies out of issue order; a client without the
capability is answered at once. orderly-2019 keeps in-band replies in issue
order. Both drop the returns of a closed session.
"""

from __future__ import annotations

import pytest

from qmpmodel.check import prepare
from qmpmodel.core.results import Expected
from qmpmodel.core.task import Property
from qmpmodel.engines.explicit import check_explicit
from qmpmodel.errors import InputError
from qmpmodel.qemu.bounds import Bounds
from qmpmodel.qemu.design import Design
from qmpmodel.qemu.designs.async2017 import AsyncReturnsProtocol2017
from qmpmodel.qemu.properties import INVARIANTS
from qmpmodel.specs import parse_spec
from qmpmodel.statemachine import build

BOUNDS = Bounds(monitors=1, clients=1, requests=2, mix=("async-2017", "quick"))
NAMES = ("reply-order", "exactly-once-reply", "no-cross-session-reply", "inband-mutual-exclusion", "progress")


def verdicts(design: Design | type, bounds: Bounds = BOUNDS) -> dict[str, str]:
    qm = build(design, bounds)
    props: list[tuple[Property, Expected]] = [(inv.on(qm.design), "holds") for inv in INVARIANTS if inv.name in NAMES]
    r = check_explicit(qm.model, props)
    assert r.complete
    return {i.name: i.verdict for i in r.invariants}


def test_protocol_returns_overtake_later_replies() -> None:
    v = verdicts(Design({"async_commands": "protocol-2017"}))
    assert v["reply-order"] == "violated"
    assert v["exactly-once-reply"] == "holds" and v["progress"] == "holds"
    assert v["inband-mutual-exclusion"] == "violated"  # the async command runs on while others run


def test_a_client_without_async_is_answered_in_order() -> None:
    class RefusesAsync(AsyncReturnsProtocol2017):
        def client_accepts_async(self) -> bool:
            return False

    v = verdicts(RefusesAsync)
    assert v["reply-order"] == "holds" and v["inband-mutual-exclusion"] == "holds"


def test_orderly_returns_keep_issue_order() -> None:
    v = verdicts(Design({"async_commands": "orderly-2019"}))
    assert v["reply-order"] == "holds" and v["exactly-once-reply"] == "holds" and v["progress"] == "holds"
    assert v["inband-mutual-exclusion"] == "violated"


@pytest.mark.parametrize("value", ["protocol-2017", "orderly-2019"])
def test_closed_sessions_returns_are_dropped(value: str) -> None:
    two = Bounds(monitors=1, clients=2, requests=1, mix=("async-2017", "quick"))
    assert verdicts(Design({"async_commands": value}), two)["no-cross-session-reply"] == "holds"


def test_async_kinds_need_the_design() -> None:
    data = {"bounds": {"mix": ["async-2017"]}}
    spec = parse_spec(data, "s.toml")
    with pytest.raises(InputError) as e:
        prepare(spec)
    assert "bounds.mix" in str(e.value) and "async_commands" in str(e.value)
