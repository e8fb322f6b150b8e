"""The C interface between the runtime ``kernel.c`` and Python (one text, two readers).

:data:`CDEF` is given verbatim both to the C compiler (ahead of the generated
model and the runtime) and to ``cffi.FFI.cdef``, so the struct layout Python
reads is the one C writes. Status codes are the values of ``qm_ctx.status``.
"""

from __future__ import annotations

__all__ = ["CDEF", "STATUS"]

CDEF = r"""
typedef struct qm_err {
    int32_t action;     /* action whose update left a range, or -1 */
    int32_t var;        /* variable index */
    int64_t value;      /* the value it got */
    int64_t state;      /* id of the state the action was applied to */
} qm_err;

typedef int (*qm_progress_fn)(uint64_t states, uint32_t depth, uint64_t bytes);

typedef struct qm_ctx {
    /* configuration, set by Python before qm_bfs */
    uint64_t max_states;      /* budget on distinct states (0 = none) */
    uint64_t max_memory;      /* budget on the kernel's own allocations in bytes (0 = none) */
    uint64_t prop_mask;       /* which state properties to judge (bit k = property k) */
    int32_t want_stuck;       /* judge "stuck with pending work" (deadlock) */
    int32_t stuck_prop;       /* property index the stuck test reports under */
    int32_t want_edges;       /* record the transition graph, goal bits and fairness masks (liveness) */
    int32_t keep_states;      /* keep every packed state, in id order (tests, small models) */
    uint64_t progress_every;  /* call progress after this many expanded states */
    qm_progress_fn progress;  /* may be NULL; returning 0 stops the search */
    /* symmetry: ng group elements other than the identity */
    int32_t ng;
    const int32_t *g_src;     /* ng * NV: out[i] = remap(in[g_src[g*NV+i]]) */
    const int32_t *g_map;     /* ng * NV: offset into g_vals, or -1 for no value remap */
    const int32_t *g_vals;    /* remap tables: g_vals[off + value - lo[i]] */
    const int32_t *g_active;  /* variable positions some element moves or remaps, ascending */
    int32_t n_active;
    /* results */
    int32_t status;
    uint32_t depth;           /* greatest BFS depth reached */
    uint64_t n_states;
    uint64_t n_trans;
    int64_t found[64];        /* first violating state id per property, -1 if none */
    uint64_t bytes;           /* bytes the kernel holds now */
    uint64_t peak_bytes;
    qm_err err;
    /* per state, indexed by id */
    uint32_t *parent;
    uint16_t *act;
    uint64_t *level_start;    /* id of the first state of each depth; n_levels + 1 entries */
    uint32_t n_levels;
    uint64_t *states;         /* keep_states: NW words per state */
    /* liveness (want_edges) */
    uint64_t *edge_start;     /* n_states + 1 entries */
    uint32_t *edge_to;
    uint16_t *edge_act;
    uint64_t n_edges;
    uint8_t *goal;            /* per state: bit k = liveness goal k holds */
    uint64_t *fairmask;       /* per state: bit g = fairness group g has an enabled action */
    /* visited set: open addressing, linear probing, 0 = empty slot */
    uint64_t *slots;
    uint32_t *slot_ids;       /* want_edges: the state id stored with each slot */
    uint64_t cap;
    uint64_t used;
} qm_ctx;

int qm_nv(void);
int qm_nw(void);
int qm_na(void);
int qm_nprop(void);
int qm_ngoal(void);
int qm_ngroup(void);
int qm_exact(void);
int qm_group_of(int action);
qm_ctx *qm_new(void);
void qm_free(qm_ctx *c);
int qm_bfs(qm_ctx *c);
void qm_pack_batch(const int32_t *in, uint64_t n, uint64_t *out);
void qm_unpack_batch(const uint64_t *in, uint64_t n, int32_t *out);
int64_t qm_expand(qm_ctx *c, const uint64_t *in, uint64_t n, uint64_t *out, uint16_t *acts,
                  uint64_t *src, uint64_t cap, uint64_t *consumed);
int64_t qm_insert(qm_ctx *c, const uint64_t *in, uint64_t n, uint8_t *is_new);
void qm_eval(qm_ctx *c, const uint64_t *in, uint64_t n, uint64_t *bits);
void qm_canon_batch(qm_ctx *c, const uint64_t *in, uint64_t n, uint64_t *out);
void qm_hash_batch(const uint64_t *in, uint64_t n, uint64_t *out);
"""

#: ``qm_ctx.status`` after :func:`qm_bfs`.
STATUS = {
    0: "complete",
    1: "state budget exhausted",
    2: "stopped by the observer (time budget)",
    3: "memory budget exhausted",
    4: "range error",
    5: "out of memory (allocation failed)",
}
