"""The model interface every engine consumes.

A :class:`Model` is data: a :class:`~qmpmodel.core.expr.StateLayout`, an initial
state, and a deterministic tuple of :class:`Action` instances whose guards and
updates are :class:`~qmpmodel.core.expr.Expr` trees. Engines never see Python code
of the semantics; they see these trees (the explicit engine compiles them with
:func:`compile_successors`, the z3 engine translates them).

The shape follows stateright's ``Model`` trait: ``init_states``, ``actions``,
``next_state``, ``properties``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from qmpmodel.core.expr import (
    FALSE,
    TRUE,
    Expr,
    StateLayout,
    Var,
    evaluate,
    interval,
    ite,
    lit,
    to_python,
)
from qmpmodel.errors import ModelDefinitionError

__all__ = ["Action", "Emit", "GuardTree", "Model", "RangeError", "State", "WaitEdge", "compile_predicate", "compile_successors",
           "guard_tree", "is_stuck", "unchecked_updates"]

#: A concrete state: one small integer per state variable, in layout order.
State = tuple[int, ...]


@dataclass(frozen=True)
class Emit:
    """An observable output of an action: a message written to a monitor's connection.

    ``what`` is ``"reply"``, ``"event"``, ``"greeting"`` or ``"eof"`` (the
    server closing the connection) on the wire, or an observation a
    client cannot see but a property needs: ``"silent"`` for a request that will
    never be answered (by design, or lost: exactly-once), ``"dequeue"`` when the
    dispatcher takes a request of ``monitor`` and ``"dropped"`` when a monitor's
    queue is emptied (bounded bypass). The message goes to the session
    ``conn`` evaluates to (on the state *before* the step: the receiving
    client's index + 1, 0 when nobody is connected and the bytes are lost),
    provided ``gate`` holds (events reach only sessions in command mode; a
    design may discard stale replies). ``ref`` is the request a reply
    answers (for an event: the request whose handler raised it, or 0).

    The remaining fields describe the message for observers of the history
    (reply order, exactly-once, id echo, event order, negotiation), which are
    derived from emits, never written by a design:

    ``cls``        ``"return"``, ``"CommandNotFound"``, ``"GenericError"`` ...;
    ``may_fail``   a handler ran: besides ``cls`` the reply may be an error from
                   argument checking or the handler itself;
    ``has_id``     the reply carries an id;
    ``inband``     a reply to an in-band request (ordered with the others);
    ``negotiated`` a successful qmp_capabilities reply: the session enters command mode;
    ``id_ref``     the request whose id the reply carries (default: ``ref``);
    ``after_event`` the command raised an event that must precede this reply;
    ``lost``       (``silent``) the request should have been answered.
    """

    what: str
    conn: Expr
    ref: int = 0
    cls: str = "return"
    has_id: bool = True
    monitor: int = 0
    may_fail: bool = False
    gate: Expr = TRUE
    inband: Expr = TRUE
    negotiated: Expr = FALSE
    id_ref: Expr | None = None
    after_event: bool = False
    lost: Expr = FALSE

    @property
    def to(self) -> Expr:
        """The receiving session (client index + 1), 0 when the message reaches nobody."""
        return ite(self.gate, self.conn, lit(0))


@dataclass(frozen=True)
class Action:
    """One action instance: a guarded, simultaneous assignment.

    ``family`` groups instances of one rule (``"read"``), ``params`` are the
    concrete parameters that make this instance (``{"mon": 0}``), ``actor`` is
    the QEMU thread or environment party that takes the step. ``fair`` names
    the weak-fairness group the action belongs to (``"dispatcher"``,
    ``"main"``, ``"iothread"``, ...) or is empty for environment steps that
    may never happen (a client that never sends, an I/O that never completes
    unless the spec says it does).
    """

    family: str
    actor: str
    params: tuple[tuple[str, int], ...]
    guard: Expr
    updates: tuple[tuple[Var, Expr], ...]
    fair: str = ""
    doc: str = ""
    emits: tuple[Emit, ...] = ()
    #: Updates written outside the package (a proposal's): (variable index, ``file:line``).
    origins: tuple[tuple[int, str], ...] = ()
    #: What the action models, for people (the QEMU function and branch of its step).
    step: str = ""

    def origin_of(self, var: Var) -> str:
        """``file:line`` where this action's update of ``var`` was written, if outside the package."""
        return next((w for k, w in self.origins if k == var.index), "")

    @property
    def label(self) -> str:
        if not self.params:
            return self.family
        return f"{self.family}(" + ", ".join(f"{k}={v}" for k, v in self.params) + ")"

    @property
    def messages(self) -> tuple[Emit, ...]:
        """The QMP messages a client can observe on the wire: replies and events."""
        return tuple(e for e in self.emits if e.what in ("reply", "event"))

    @property
    def wire(self) -> tuple[Emit, ...]:
        """Everything a client observes: replies, events, greetings and the server's close (eof)."""
        return tuple(e for e in self.emits if e.what in ("reply", "event", "greeting", "eof"))

    def enabled(self, s: State) -> bool:
        return bool(evaluate(self.guard, s))

    def apply(self, s: State) -> State:
        out = list(s)
        for var, e in self.updates:
            out[var.index] = int(evaluate(e, s))
        return tuple(out)


@dataclass(frozen=True)
class WaitEdge:
    """A potential wait-for edge: ``waiter`` waits for ``holder`` when ``when`` holds."""

    waiter: str
    holder: str
    reason: str
    when: Expr


@dataclass(frozen=True)
class Model:
    """A finished model: layout, initial state, actions and helper predicates."""

    layout: StateLayout
    init: State
    actions: tuple[Action, ...]
    #: Work is pending (a request awaits its reply, a thread waits): used by
    #: ``no-deadlock`` (terminal states) and ``progress``.
    pending: Expr
    wait_edges: tuple[WaitEdge, ...] = ()
    #: Free-form description of the configuration, for reports.
    summary: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.init) != len(self.layout.vars):
            raise ModelDefinitionError("initial state does not match the layout")
        labels = [a.label for a in self.actions]
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise ModelDefinitionError(f"duplicate action instances: {dup[:5]}")

    @property
    def var_names(self) -> tuple[str, ...]:
        return self.layout.names

    def legend(self) -> dict[str, Mapping[int, str]]:
        """Value labels of the variables that have them (for renderings)."""
        return {v.name: v.labels for v in self.layout.vars if v.labels}

    def decode(self, s: State) -> dict[str, int | bool]:
        """A readable view of ``s``: booleans as bool, integers as int."""
        return {
            v.name: (bool(x) if v.sort == "bool" else int(x))
            for v, x in zip(self.layout.vars, s, strict=True)
        }

    def encode(self, view: Mapping[str, int | bool]) -> State:
        return tuple(int(view[v.name]) for v in self.layout.vars)

    def enabled(self, s: State) -> Iterator[int]:
        for i, a in enumerate(self.actions):
            if a.enabled(s):
                yield i


def _eq_conjuncts(guard: Expr) -> dict[int, int]:
    """The ``var == const`` conjuncts of a guard, as ``{var index: constant}``."""
    parts = guard.args if guard.op == "and" else (guard,)
    out: dict[int, int] = {}
    for p in parts:
        assert isinstance(p, Expr)
        if p.op == "==":
            a, b = p.args
            assert isinstance(a, Expr) and isinstance(b, Expr)
            if a.op == "var" and b.op == "const" and int(a.args[0]) not in out:  # type: ignore[call-overload]
                out[int(a.args[0])] = int(b.args[0])  # type: ignore[call-overload]
    return out


def _first_eq(guard: Expr) -> tuple[int, int] | None:
    """The ``(var index, constant)`` of the guard's first ``var == const`` conjunct."""
    eqs = _eq_conjuncts(guard)
    return next(iter(eqs.items()), None)


@dataclass(frozen=True)
class GuardTree:
    """The model's actions arranged on their ``var == const`` guard conjuncts.

    ``direct`` are the actions whose guards are evaluated at this node; when
    ``var`` is set, each branch holds the actions whose guard requires
    ``var == value``. Both successor compilers (Python here, C in the native
    engine) walk the same tree.
    """

    direct: tuple[int, ...]
    var: int | None = None
    branches: tuple[tuple[int, GuardTree], ...] = ()


def guard_tree(model: Model) -> GuardTree:
    """At each level the variable most remaining actions test (a program counter, the dispatcher's
    current request, ...) selects the branch, so a state evaluates only the guards that can hold."""
    eqs = [_eq_conjuncts(a.guard) for a in model.actions]

    def build(idxs: list[int], used: frozenset[int], depth: int) -> GuardTree:
        counts: dict[int, int] = {}
        for i in idxs:
            for v in eqs[i]:
                if v not in used:
                    counts[v] = counts.get(v, 0) + 1
        best = max(counts, key=lambda v: (counts[v], -v), default=None)
        if best is None or depth >= 4 or len(idxs) < 4 or counts[best] < 3:
            return GuardTree(tuple(idxs))
        by_value: dict[int, list[int]] = {}
        for i in idxs:
            if best in eqs[i]:
                by_value.setdefault(eqs[i][best], []).append(i)
        return GuardTree(tuple(i for i in idxs if best not in eqs[i]), best,
                         tuple((v, build(g, used | {best}, depth + 1)) for v, g in sorted(by_value.items())))

    return build(list(range(len(model.actions))), frozenset(), 0)


Successors = Callable[[State], list[tuple[int, State]]]


class RangeError(ModelDefinitionError):
    """An action set a variable outside its declared range (the model, or a proposal, is wrong)."""

    def __init__(self, action: Action, var: Var, value: int) -> None:
        self.action, self.var, self.value = action, var, value
        self.origin = action.origin_of(var)
        where = f" (written at {self.origin})" if self.origin else ""
        super().__init__(f"action {action.label}{where} sets {var.name} to {value}, outside its declared "
                         f"range {var.lo}..{var.hi}")


def unchecked_updates(model: Model) -> list[tuple[int, Var]]:
    """(action index, variable) of every update that may leave the variable's range.

    An update whose value interval (:func:`~qmpmodel.core.expr.interval`) lies
    within the declared range needs no run-time check; the others do.
    """
    ranges = [(v.lo, v.hi) for v in model.layout.vars]
    out: list[tuple[int, Var]] = []
    for i, a in enumerate(model.actions):
        for var, e in a.updates:
            lo, hi = interval(e, ranges)
            if lo < var.lo or hi > var.hi:
                out.append((i, var))
    return out


def compile_successors(model: Model, check_ranges: bool = True) -> Successors:
    """Compile every action into one Python function ``succ(s) -> [(action index, s')]``.

    Actions are arranged in a decision tree on their ``var == const`` guard
    conjuncts (:func:`guard_tree`). The result is
    sorted into the model's action order: deterministic.
    """
    n = len(model.layout.vars)
    lines = ["def succ(s):", "    out = []", "    app = out.append"]
    risky: dict[int, list[Var]] = {}
    if check_ranges:
        for i, var in unchecked_updates(model):
            risky.setdefault(i, []).append(var)

    def emit(i: int, indent: str) -> None:
        a = model.actions[i]
        upd = {v.index: e for v, e in a.updates}
        if len(upd) != len(a.updates):
            raise ModelDefinitionError(f"{a.label}: a variable is assigned twice")
        cells = ", ".join(to_python(upd[k]) if k in upd else f"s[{k}]" for k in range(n))
        lines.append(f"{indent}if {to_python(a.guard)}:")
        if i not in risky:
            lines.append(f"{indent}    app(({i}, ({cells},)))")
            return
        lines.append(f"{indent}    t = ({cells},)")
        for v in risky[i]:
            lines.append(f"{indent}    if not {v.lo} <= t[{v.index}] <= {v.hi}: _bad({i}, {v.index}, t[{v.index}])")
        lines.append(f"{indent}    app(({i}, t))")

    def walk(node: GuardTree, indent: str, depth: int) -> None:
        for i in node.direct:
            emit(i, indent)
        for k, (value, sub) in enumerate(node.branches):
            if k == 0:
                lines.append(f"{indent}v{depth} = s[{node.var}]")
            lines.append(f"{indent}{'if' if k == 0 else 'elif'} v{depth} == {value}:")
            walk(sub, indent + "    ", depth + 1)

    walk(guard_tree(model), "    ", 0)
    lines.append("    out.sort(key=_first)")
    lines.append("    return out")
    src = "\n".join(lines)
    def bad(i: int, k: int, value: int) -> None:
        raise RangeError(model.actions[i], model.layout.vars[k], value)

    env: dict[str, object] = {"_first": lambda t: t[0], "_bad": bad}
    # the source is generated from the model's own expression trees, never from input
    exec(compile(src, "<qmpmodel successors>", "exec"), env)
    return env["succ"]  # type: ignore[return-value]


def is_stuck(model: Model, successors: Iterable[tuple[int, State]]) -> bool:
    """No weakly fair action among ``successors``: QEMU itself can do nothing.

    Only clients (and other unfair environment steps) could still act. With
    pending work this is the "stuck" half of ``no-deadlock``, the same in every
    engine.
    """
    return not any(model.actions[i].fair for i, _t in successors)


def compile_predicate(e: Expr) -> Callable[[State], bool]:
    """Compile a boolean expression into ``pred(s) -> bool``."""
    env: dict[str, object] = {}
    exec(compile(f"def pred(s):\n    return bool({to_python(e)})\n", "<qmpmodel predicate>", "exec"), env)
    return env["pred"]  # type: ignore[return-value]


def check_ranges(model: Model, s: Sequence[int]) -> list[str]:
    """Names of variables whose value left the declared range (a model bug)."""
    return [v.name for v, x in zip(model.layout.vars, s, strict=True) if not v.lo <= x <= v.hi]
