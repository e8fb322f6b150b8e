"""Symmetry of a model: a group of state permutations, and canonical states.

A group element ``g`` acts on a state by moving variable slots and renaming
values: ``(g·s)[i] = remap_i(s[src[i]])``, where ``remap_i`` is a permutation of
variable ``i``'s declared range (or the identity). Interchangeable monitors are
the example: ``g`` moves monitor 0's variables to monitor 1's slots and back,
and renames every value that names a monitor, a client or a request.

The canonical form of a state is the least of its images under the group, in
the lexicographic order of the value tuples (:meth:`SymmetryGroup.canonical`);
the native kernel computes the same function. Exploring canonical states gives
one state per orbit, which is exact for every property the group maps onto
itself when every action's image under the group is an action (guard and
update commute with ``g``); :mod:`qmpmodel.core.symcheck` proves that on the
model's expression trees before a group is used.

``params`` says how ``g`` renames action parameters (``{"mon": {0: 1, 1: 0}}``),
so the image of an action instance is found by its label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from qmpmodel.core.expr import TRUE, Expr
from qmpmodel.core.model import Action, Model, State
from qmpmodel.errors import ModelDefinitionError

__all__ = ["Perm", "Symmetry", "SymmetryGroup", "action_image", "no_symmetry"]


@dataclass(frozen=True)
class Perm:
    """One group element: ``(g·s)[i] = remap[i][s[src[i]] - lo[i]]`` (``remap[i] is None``: no renaming)."""

    src: tuple[int, ...]
    remap: tuple[tuple[int, ...] | None, ...]
    params: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    #: What the element does, for notes ("monitors 0<->1").
    name: str = ""

    def apply(self, s: Sequence[int], lo: Sequence[int]) -> State:
        out = []
        for i, j in enumerate(self.src):
            x = s[j]
            r = self.remap[i]
            out.append(x if r is None else r[x - lo[i]])
        return tuple(out)

    def compose(self, other: Perm, lo: Sequence[int]) -> Perm:
        """``self ∘ other`` on states: apply ``other`` first (parameter maps are not composed)."""
        src = tuple(other.src[j] for j in self.src)
        remap: list[tuple[int, ...] | None] = []
        for i, j in enumerate(self.src):
            a, b = other.remap[j], self.remap[i]
            if a is None and b is None:
                remap.append(None)
                continue
            n = len(a if a is not None else b)  # type: ignore[arg-type]
            first = a if a is not None else tuple(range(lo[j], lo[j] + n))
            remap.append(tuple(x if b is None else b[x - lo[i]] for x in first))
        return Perm(src, tuple(remap), {}, f"{self.name}∘{other.name}")


@dataclass(frozen=True)
class SymmetryGroup:
    """The elements of a finite group other than the identity, and generators of it."""

    lo: tuple[int, ...]
    hi: tuple[int, ...]
    elements: tuple[Perm, ...]
    generators: tuple[Perm, ...]
    #: What is permuted, for notes ("2 monitors, each with its clients").
    description: str = ""
    #: An invariant of the reachable states under which the group is an automorphism
    #: (proved inductive by :mod:`qmpmodel.core.symcheck`; ``TRUE``: every in-range state).
    domain: Expr = TRUE

    def __post_init__(self) -> None:
        n = len(self.lo)
        for g in self.elements:
            if len(g.src) != n or len(g.remap) != n or sorted(g.src) != list(range(n)):
                raise ModelDefinitionError(f"symmetry element {g.name}: not a permutation of {n} slots")
            for i, j in enumerate(g.src):
                if (self.lo[i], self.hi[i]) != (self.lo[j], self.hi[j]):
                    raise ModelDefinitionError(f"symmetry element {g.name}: moves variable {j} to {i} "
                                               "of another range")
                r = g.remap[i]
                if r is not None and sorted(r) != list(range(self.lo[i], self.hi[i] + 1)):
                    raise ModelDefinitionError(f"symmetry element {g.name}: remap of variable {i} "
                                               "is not a permutation of its range")

    @property
    def order(self) -> int:
        return len(self.elements) + 1

    def active(self) -> tuple[int, ...]:
        """Positions some element moves or renames (the others are equal in every image)."""
        return tuple(i for i in range(len(self.lo))
                     if any(g.src[i] != i or g.remap[i] is not None for g in self.elements))

    def images(self, s: Sequence[int]) -> list[State]:
        return [tuple(s), *(g.apply(s, self.lo) for g in self.elements)]

    def canonical(self, s: Sequence[int]) -> State:
        """The least image of ``s`` (tuple order): one representative per orbit."""
        return min(self.images(s))

    def closed(self) -> bool:
        """Every product of two elements is an element or the identity (a group, not just a set)."""
        ident = tuple(range(len(self.lo)))
        keys = {(g.src, g.remap) for g in self.elements}
        for a in self.elements:
            for b in self.elements:
                c = a.compose(b, self.lo)
                if c.src == ident and all(r is None or r == tuple(range(lo, lo + len(r)))
                                          for r, lo in zip(c.remap, self.lo, strict=True)):
                    continue
                norm = tuple(None if r is not None and r == tuple(range(lo, lo + len(r))) else r
                             for r, lo in zip(c.remap, self.lo, strict=True))
                if (c.src, norm) not in keys:
                    return False
        return True


@dataclass(frozen=True)
class Symmetry:
    """A sound group for a task, or ``None`` with the reason it is off."""

    group: SymmetryGroup | None
    note: str


def no_symmetry() -> Symmetry:
    return Symmetry(None, "no symmetry group is known for this model")


#: How a task offers its group: computed on demand (the soundness proof costs seconds).
SymmetrySource = Callable[[], Symmetry]


def action_image(model: Model, g: Perm, index: dict[str, int] | None = None) -> list[int] | str:
    """For each action, the index of its image under ``g`` (by label), or why there is none."""
    labels = index if index is not None else {a.label: i for i, a in enumerate(model.actions)}
    out: list[int] = []
    for a in model.actions:
        image = Action(a.family, a.actor, tuple((k, g.params.get(k, {}).get(v, v)) for k, v in a.params),
                       a.guard, a.updates, a.fair)
        j = labels.get(image.label)
        if j is None:
            return f"{a.label} has no image under {g.name} (no action {image.label})"
        if model.actions[j].fair != a.fair:
            return f"{a.label} and its image {image.label} differ in fairness"
        out.append(j)
    if len(set(out)) != len(out):
        return f"{g.name} maps two actions to one"
    return out
