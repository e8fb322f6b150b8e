"""The expression layer: sorts, folding, and agreement of to_python with evaluate."""

import random

import pytest

from qmpmodel.core.expr import (
    FALSE,
    TRUE,
    StateLayout,
    all_of,
    any_of,
    evaluate,
    ite,
    lit,
    select,
    to_python,
)
from qmpmodel.errors import ModelDefinitionError


def layout():
    lay = StateLayout()
    return lay, lay.int("x", -1, 8), lay.int("y", 0, 8), lay.bool("b")


def test_python_truth_value_is_refused():
    _, x, _, _ = layout()
    with pytest.raises(ModelDefinitionError, match=r"use & \| ~"):
        bool(x == 1)


def test_sorts_are_checked():
    _, x, _, b = layout()
    with pytest.raises(ModelDefinitionError):
        _ = x + b
    with pytest.raises(ModelDefinitionError):
        _ = ~x
    with pytest.raises(ModelDefinitionError):
        ite(b, x, b)


def test_constant_folding():
    _, x, _, b = layout()
    assert all_of([TRUE, b]) is b
    assert all_of([FALSE, b]) is FALSE
    assert any_of([TRUE, b]) is TRUE
    assert ite(TRUE, x, lit(3)) is x
    assert (lit(2) + 3).args == (5,)


def test_duplicate_variable_is_an_error():
    lay = StateLayout()
    lay.int("x", 0, 1)
    with pytest.raises(ModelDefinitionError, match="declared twice"):
        lay.bool("x")


def test_compiled_form_agrees_with_evaluate_on_random_states():
    _, x, y, b = layout()
    exprs = [
        (x + 1 < y) & ~b,
        ite(b | (x == y), x - y, y + 2) <= 3,
        select([x, y, lit(7)], y) == 7,
        any_of([x >= 2, y != 0]) & all_of([b, x < 5]),
    ]
    rng = random.Random(0)
    for _ in range(500):
        s = (rng.randint(-1, 8), rng.randint(0, 8), rng.randint(0, 1))
        for e in exprs:
            compiled = eval(to_python(e), {"s": s})
            assert bool(compiled) == bool(evaluate(e, s)), to_python(e)
