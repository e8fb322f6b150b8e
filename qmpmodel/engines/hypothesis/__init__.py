"""Hypothesis stateful engine: random, steered, shrinking exploration of the one model.

The exhaustive engine stops at small bounds; this one runs long random
interleavings and shrinks what it finds to a short story. Nothing of the
dispatcher is re-implemented here. Modules: :mod:`.machine` (the generated
``RuleBasedStateMachine``), :mod:`.properties` (checks, replay, distance to a
violation), :mod:`.search` (one search: generate, target, shrink, verify),
:mod:`.shrink` (deterministic minimisation of a concrete path),
:mod:`.program` (printed programs and replay) and :mod:`.run` (the entry point).
"""

from qmpmodel.engines.hypothesis.machine import PropertyViolation, SearchStats, build_machine
from qmpmodel.engines.hypothesis.program import Replay, format_program, parse_program
from qmpmodel.engines.hypothesis.properties import (
    Property,
    compile_distance,
    compile_properties,
    confirm_with_explicit,
    replay_violation,
)
from qmpmodel.engines.hypothesis.run import run
from qmpmodel.engines.hypothesis.search import SearchOutcome, engine_settings, search
from qmpmodel.engines.hypothesis.shrink import families, minimise_path

__all__ = [
    "Property",
    "PropertyViolation",
    "Replay",
    "SearchOutcome",
    "SearchStats",
    "build_machine",
    "compile_distance",
    "compile_properties",
    "confirm_with_explicit",
    "engine_settings",
    "families",
    "format_program",
    "minimise_path",
    "parse_program",
    "replay_violation",
    "run",
    "search",
]
