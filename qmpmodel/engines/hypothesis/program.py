"""Programs: a trace as readable, replayable steps, and a step-by-step driver.

A counterexample is printed as one ``state.step("family", param=value)`` line
per step (Hypothesis' habit of printing a failure as a program you can paste);
:func:`parse_program` reads it back into action indices and :class:`Replay`
runs it on the model, every guard re-checked.
"""

from __future__ import annotations

import ast

from qmpmodel.core.expr import evaluate
from qmpmodel.core.model import Model, State
from qmpmodel.core.results import Trace
from qmpmodel.core.task import Property as TaskProperty
from qmpmodel.core.trace import trace_from_path

__all__ = ["Replay", "format_program", "parse_program"]


def format_program(trace: Trace, var: str = "state") -> str:
    """One line per step: ``state.step("dispatcher_pop", mon=0, thread=1)  # main``."""
    lines = []
    for st_ in trace.steps:
        args = [f'"{st_.action}"'] + [f"{k}={v}" for k, v in st_.params.items()]
        lines.append(f"{var}.step({', '.join(args)})  # {st_.actor}")
    return "\n".join(lines)


def parse_program(model: Model, text: str) -> list[int]:
    """The action indices of a program printed by :func:`format_program` (other lines are ignored)."""
    index = {(a.family, a.params): i for i, a in enumerate(model.actions)}
    out: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0].strip()
        if not code:
            continue
        try:
            node = ast.parse(code, mode="eval").body
        except SyntaxError as e:
            raise ValueError(f"line {n}: not a step: {line!r}") from e
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step"
                and len(node.args) == 1 and isinstance(node.args[0], ast.Constant)):
            continue
        fam = str(node.args[0].value)
        params = tuple((kw.arg, ast.literal_eval(kw.value)) for kw in node.keywords)
        key = (fam, params)
        if key not in index:
            raise ValueError(f"line {n}: no action {fam}({', '.join(f'{k}={v}' for k, v in params)}) in this model")
        out.append(index[key])
    return out


class Replay:
    """Drive the model step by step, as a printed program does: ``Replay(model).step("read", mon=0)``."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.state: State = model.init
        self.path: list[int] = []
        self._index = {(a.family, a.params): i for i, a in enumerate(model.actions)}

    def step(self, family: str, **params: int) -> Replay:
        key = (family, tuple(params.items()))
        i = self._index.get(key)
        if i is None:
            raise ValueError(f"no action {family}{params} in this model")
        a = self.model.actions[i]
        if not a.enabled(self.state):
            raise ValueError(f"{a.label} is not enabled after {len(self.path)} steps")
        self.state = a.apply(self.state)
        self.path.append(i)
        return self

    def holds(self, inv: TaskProperty) -> bool:
        """Whether ``inv`` holds on the current state (``no-deadlock``: also not stuck with pending work)."""
        if inv.kind == "liveness":
            raise ValueError(f"{inv.name} is a liveness property: it has no verdict on one state")
        if not evaluate(inv.expr, self.state):
            return False
        if inv.kind == "deadlock":
            stuck = not any(a.fair and a.enabled(self.state) for a in self.model.actions)
            return not (stuck and evaluate(self.model.pending, self.state))
        return True

    def trace(self) -> Trace:
        return trace_from_path(self.model, self.model.init, self.path)

