"""C source for one model, generated from its expression trees (pure: text in, text out).

The generated part defines, for one :class:`~qmpmodel.core.model.Model` and
the properties of one task, what the fixed runtime (``kernel.c``) calls:

``qm_unpack`` / ``qm_pack``
    a state as ``int32_t s[QM_NV]`` (variable order) against its packed form,
    ``QM_NW`` 64-bit words; variable ``i`` is stored as ``s[i] - lo`` in
    ``(hi - lo).bit_length()`` bits, fields laid end to end (a field may
    straddle two words), so the state takes the fewest words its declared
    ranges allow (:func:`pack_layout`);
``qm_succ``
    every enabled action's successor, packed, in action order (a decision tree
    on the guards' ``var == const`` conjuncts, as
    :func:`~qmpmodel.core.model.compile_successors` builds it, then sorted).
    Every assigned value is checked against its variable's declared range
    (statically, by :func:`interval` over the declared ranges of what it reads,
    else at run time): a value outside it is a model error (the function
    returns -1 and names the action, variable and value), never wrapped into a
    neighbouring field;
``qm_prop`` / ``qm_all_props``
    the task's state predicates (``state`` properties and the wait-cycle half
    of ``deadlock``), one by index and their conjunction;
``qm_pending``, ``qm_goal``
    ``Model.pending`` and the liveness goals;
``qm_fair`` / ``qm_group``
    per action: weakly fair (the stuck test of :func:`~qmpmodel.core.model.is_stuck`)
    and its fairness group (``fair:actor``, the explicit engine's grouping).

Expressions are rendered over ``int32_t`` (every model value is a small
integer); booleans are 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qmpmodel.core.expr import Expr, interval
from qmpmodel.core.model import GuardTree, Model, guard_tree
from qmpmodel.errors import ModelDefinitionError

__all__ = ["Field", "PackLayout", "c_expr", "fair_groups", "generate", "pack_layout"]


@dataclass(frozen=True)
class Field:
    """Where variable ``index`` lives in the packed words."""

    index: int
    lo: int
    hi: int
    offset: int  # first bit, counted over the concatenated words
    width: int


@dataclass(frozen=True)
class PackLayout:
    fields: tuple[Field, ...]
    bits: int
    words: int

    @property
    def exact(self) -> bool:
        """The packed state fits one word with a spare bit: the visited set stores keys, not hashes."""
        return self.bits <= 63


def pack_layout(model: Model) -> PackLayout:
    """Fields in variable order, each ``(hi - lo).bit_length()`` bits wide (0 for a constant)."""
    out: list[Field] = []
    off = 0
    for v in model.layout.vars:
        w = (v.hi - v.lo).bit_length()
        out.append(Field(v.index, v.lo, v.hi, off, w))
        off += w
    return PackLayout(tuple(out), off, max(1, (off + 63) // 64))


def fair_groups(model: Model) -> list[str]:
    """Weak-fairness groups (``fair:actor``) in order of first appearance (the explicit engine's)."""
    seen: dict[str, None] = {}
    for a in model.actions:
        if a.fair:
            seen.setdefault(f"{a.fair}:{a.actor}", None)
    return list(seen)


_BIN = {"+": "+", "-": "-", "==": "==", "!=": "!=", "<": "<", "<=": "<="}


def c_expr(e: Expr) -> str:
    """C source for ``e`` over ``const int32_t *s``."""
    op = e.op
    if op == "var":
        return f"s[{e.args[0]}]"
    if op == "const":
        return str(int(e.args[0]))  # type: ignore[call-overload]
    a = e.args
    if op in _BIN:
        return f"({c_expr(a[0])} {_BIN[op]} {c_expr(a[1])})"  # type: ignore[arg-type]
    if op == "and":
        return "(" + " && ".join(c_expr(x) for x in a) + ")"  # type: ignore[arg-type]
    if op == "or":
        return "(" + " || ".join(c_expr(x) for x in a) + ")"  # type: ignore[arg-type]
    if op == "not":
        return f"(!{c_expr(a[0])})"  # type: ignore[arg-type]
    if op == "ite":
        return f"({c_expr(a[0])} ? {c_expr(a[1])} : {c_expr(a[2])})"  # type: ignore[arg-type]
    raise ModelDefinitionError(f"unknown expression operator {op!r}")


def _get(f: Field, src: str) -> str:
    """``s[i]`` from the packed words ``src``."""
    if f.width == 0:
        return str(f.lo)
    word, sh = divmod(f.offset, 64)
    mask = (1 << f.width) - 1
    if sh + f.width <= 64:
        raw = f"(({src}[{word}] >> {sh}) & {mask:#x}ULL)"
    else:
        low = 64 - sh
        raw = f"((({src}[{word}] >> {sh}) | ({src}[{word + 1}] << {low})) & {mask:#x}ULL)"
    return f"(int32_t){raw} + ({f.lo})"


def _set(f: Field, dst: str, val: str) -> list[str]:
    """Statements storing the value ``val`` (already range-checked) into field ``f`` of ``dst``."""
    if f.width == 0:
        return []
    word, sh = divmod(f.offset, 64)
    mask = (1 << f.width) - 1
    raw = f"((uint64_t)(uint32_t)({val} - ({f.lo})))"
    out = [f"{dst}[{word}] = ({dst}[{word}] & ~({mask << sh & (2**64 - 1):#x}ULL)) | ({raw} << {sh});"]
    if sh + f.width > 64:
        low = 64 - sh
        hi_mask = (1 << (f.width - low)) - 1
        out.append(f"{dst}[{word + 1}] = ({dst}[{word + 1}] & ~({hi_mask:#x}ULL)) | ({raw} >> {low});")
    return out


def _const_bits(f: Field, value: int) -> list[tuple[int, int, int]]:
    """``(word, mask, bits)`` storing the constant ``value`` into field ``f``."""
    if f.width == 0:
        return []
    raw = (value - f.lo) << f.offset
    mask = ((1 << f.width) - 1) << f.offset
    out = []
    for word in range(f.offset // 64, (f.offset + f.width - 1) // 64 + 1):
        m = (mask >> (64 * word)) & (2**64 - 1)
        out.append((word, m, (raw >> (64 * word)) & m))
    return out


def _succ(model: Model, lay: PackLayout) -> list[str]:
    """``qm_succ``: a decision tree over the guards, then the successors sorted by action."""
    lines = [
        "static int qm_succ(const int32_t *s, const uint64_t *w, uint64_t *out, uint16_t *acts, qm_err *err)",
        "{",
        "    int n = 0;",
        "    int32_t v;",
        "    uint64_t *o;",
        "#define QM_RANGE(a, x) do { err->action = (a); err->var = (x); err->value = v; return -1; } while (0)",
    ]

    ranges = [(v.lo, v.hi) for v in model.layout.vars]
    memo: dict[int, tuple[int, int]] = {}

    def emit(i: int, ind: str) -> None:
        a = model.actions[i]
        seen: set[int] = set()
        const_mask = [0] * lay.words
        const_bits = [0] * lay.words
        body: list[str] = []
        for var, e in a.updates:
            if var.index in seen:
                raise ModelDefinitionError(f"{a.label}: a variable is assigned twice")
            seen.add(var.index)
            f = lay.fields[var.index]
            lo, hi = interval(e, ranges, memo)
            if e.op == "const" and f.lo <= lo <= f.hi:
                # a constant in range: merged into one mask-and-or per word
                for word, mask, bits in _const_bits(f, lo):
                    const_mask[word] |= mask
                    const_bits[word] |= bits
                continue
            body.append(f"v = {c_expr(e)};")
            if not (f.lo <= lo and hi <= f.hi):
                # only a value the declared ranges do not already bound is checked
                body.append(f"if ((uint32_t)(v - ({f.lo})) > {f.hi - f.lo}u) QM_RANGE({i}, {var.index});")
            body.extend(_set(f, "o", "v"))
        lines.append(f"{ind}if ({c_expr(a.guard)}) {{")
        lines.append(f"{ind}    o = out + (size_t)n * QM_NW;")
        for k in range(lay.words):
            if const_mask[k]:
                lines.append(f"{ind}    o[{k}] = (w[{k}] & ~{const_mask[k]:#x}ULL) | {const_bits[k]:#x}ULL;")
            else:
                lines.append(f"{ind}    o[{k}] = w[{k}];")
        lines.extend(f"{ind}    {x}" for x in body)
        lines.append(f"{ind}    acts[n++] = {i};")
        lines.append(f"{ind}}}")

    def walk(node: GuardTree, ind: str) -> None:
        for i in node.direct:
            emit(i, ind)
        if not node.branches:
            return
        lines.append(f"{ind}switch (s[{node.var}]) {{")
        for value, sub in node.branches:
            lines.append(f"{ind}case {value}: {{")
            walk(sub, ind + "    ")
            lines.append(f"{ind}    break;")
            lines.append(f"{ind}}}")
        lines.append(f"{ind}default: break;")
        lines.append(f"{ind}}}")

    walk(guard_tree(model), "    ")
    lines += [
        "    qm_sort_succ(out, acts, n);",
        "    return n;",
        "}",
    ]
    return lines


def _switch(name: str, exprs: Sequence[Expr]) -> list[str]:
    lines = [f"static int {name}(int k, const int32_t *s)", "{", "    switch (k) {"]
    for k, e in enumerate(exprs):
        lines.append(f"    case {k}: return {c_expr(e)} ? 1 : 0;")
    lines += ["    default: return 1;", "    }", "}"]
    return lines


def _table(ctype: str, name: str, values: Sequence[int]) -> str:
    body = ", ".join(str(v) for v in values) if values else "0"
    return f"static const {ctype} {name}[{max(1, len(values))}] = {{{body}}};"


def generate(model: Model, props: Sequence[Expr], goals: Sequence[Expr]) -> str:
    """The model-specific C source (compiled together with the fixed runtime ``kernel.c``).

    ``props`` are state predicates (index ``k`` is bit ``k`` of the kernel's
    property results; at most 62), ``goals`` the liveness goals.
    """
    if len(props) > 62:
        raise ModelDefinitionError("the native kernel judges at most 62 state properties per task")
    if len(model.actions) >= 0xFFFF:
        raise ModelDefinitionError("the native kernel handles fewer than 65535 actions")
    lay = pack_layout(model)
    groups = fair_groups(model)
    if len(groups) > 64:
        raise ModelDefinitionError("the native kernel handles at most 64 fairness groups")
    gidx = {g: k for k, g in enumerate(groups)}
    nv = len(model.layout.vars)
    out = [
        f"#define QM_NV {nv}",
        f"#define QM_NW {lay.words}",
        f"#define QM_NA {len(model.actions)}",
        f"#define QM_NPROP {len(props)}",
        f"#define QM_NGOAL {len(goals)}",
        f"#define QM_NGROUP {len(groups)}",
        f"#define QM_EXACT {1 if lay.exact else 0}",
        _table("int32_t", "qm_lo", [v.lo for v in model.layout.vars]),
        _table("int32_t", "qm_hi", [v.hi for v in model.layout.vars]),
        _table("int32_t", "qm_init", list(model.init)),
        _table("uint8_t", "qm_fair", [1 if a.fair else 0 for a in model.actions]),
        _table("int8_t", "qm_group", [gidx[f"{a.fair}:{a.actor}"] if a.fair else -1 for a in model.actions]),
        "static void qm_sort_succ(uint64_t *out, uint16_t *acts, int n);",
        "static void qm_unpack(const uint64_t *w, int32_t *s)",
        "{",
        *(f"    s[{f.index}] = {_get(f, 'w')};" for f in lay.fields),
        "}",
        "static void qm_pack(const int32_t *s, uint64_t *w)",
        "{",
        *(f"    w[{k}] = 0;" for k in range(lay.words)),
        *(x for f in lay.fields for x in _set(f, "w", f"s[{f.index}]")),
        "}",
        *_succ(model, lay),
        *_switch("qm_prop", props),
        "static int qm_all_props(const int32_t *s)",
        "{",
        "    for (int k = 0; k < QM_NPROP; k++)",
        "        if (!qm_prop(k, s))",
        "            return 0;",
        "    return 1;",
        "}",
        *_switch("qm_goal", goals),
        "static int qm_pending(const int32_t *s)",
        "{",
        f"    return {c_expr(model.pending)} ? 1 : 0;",
        "}",
    ]
    return "\n".join(out) + "\n"
