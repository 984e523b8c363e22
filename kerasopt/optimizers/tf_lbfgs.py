"""On-device L-BFGS-B for tf.Variables: the whole iteration runs inside one compiled tf.function.

`TFLBFGS` is the in-graph counterpart of the scipy driver `kerasopt.optimizers.lbfgs.LBFGS`
(same constructor budget arguments, same ``minimize`` contract, same `DriverResult`) and follows
scipy's L-BFGS-B (version 3.0 of Zhu, Byrd, Lu & Nocedal's code) step by step:

- **Model**: the compact limited-memory matrix ``B = theta I - W M W'`` of the last
  ``history_size`` pairs (Byrd, Nocedal & Schnabel 1994), ``theta = y'y / s'y`` of the newest
  pair (1 with no pair); a pair is stored only if ``s'y > eps * (-g's)``
  (`kerasopt.optimizers.compact_bfgs`).
- **Memory** (`Memory`), as scipy's ``matupd``/``formk`` keep it incrementally: the pairs live in a
  ring buffer (one row written per stored pair, nothing shifted), their inner products S'Y, S'S,
  Y'Y gain one row and column per pair, and W'g of the current gradient is kept, all from ONE
  pass over the pairs per accepted iteration (``[S; Y] [g, s]``); the subspace step makes one more.
  So an iteration costs O(n m) memory traffic plus O(m^3) for the small factorizations, not the
  O(n m^2) of recomputing the products; and m here is the number of pairs stored, rounded up to a
  block of `BLOCK_ROWS` (a power of two of them),
  not the history size (`sized_trial_point`, `compact_bfgs.pairs_times`).
- **Box** (``bounds=(low, high)``, scalars for every element): generalized Cauchy point along
  the projected steepest-descent path, then minimization of the model over the variables free
  there, projected onto the box (with L-BFGS-B 3.0's backtracking when the projection is not a
  descent direction) (Byrd, Lu, Nocedal & Zhu 1995). Without bounds this is L-BFGS.
- **Line search**: Moré-Thuente (MINPACK-2 ``dcsrch``, `kerasopt.optimizers.more_thuente`)
  along ``d = x-bar - x`` with ``ftol=c1=1e-3, gtol=c2=0.9, xtol=0.1``; its largest step keeps
  the iterate in the box (1 on the very first iteration of a bounded problem); the first trial
  is ``stp = 1`` (``1/||d||`` on the first iteration of a problem that is not boxed on both
  sides). More than ``max_line_search`` (20) trials, or a direction that is not a descent
  direction, restores the iterate and clears the memory (with an empty memory: the run ends).
- **Budget**: ``max_evaluations`` counts every loss-and-gradient evaluation (the one at the
  start and every line-search trial), as scipy does, and is never exceeded: the line search
  stops before an evaluation beyond it. If the interrupted line search has met sufficient
  decrease, its lowest such trial is accepted as the last iteration; otherwise the run ends at
  the last accepted iterate.
- **Precision**: the optimizer works in float64 (x, g, the pairs, as scipy does); the loss is
  evaluated at x cast to the variables' dtype and its gradient is cast back.
- **Host traffic**: each iteration (Cauchy point, subspace step, line search, memory update) is
  ONE call of a compiled tf.function; only scalars (loss, counts, a status code) come back to
  Python, for the callback and the stopping tests.

References:
    Byrd, R. H., Lu, P., Nocedal, J. & Zhu, C. (1995). A limited memory algorithm for
    bound constrained optimization. SIAM J. Sci. Comput. 16(5), 1190-1208.
    Byrd, R. H., Nocedal, J. & Schnabel, R. B. (1994). Representations of quasi-Newton matrices
    and their use in limited memory methods. Math. Programming 63, 129-156.
    Morales, J. L. & Nocedal, J. (2011). Remark on "Algorithm 778: L-BFGS-B". ACM TOMS 38(1).
    Moré, J. J. & Thuente, D. J. (1994). Line search algorithms with guaranteed sufficient
    decrease. ACM TOMS 20(3), 286-307.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from kerasopt.optimizers import more_thuente
from kerasopt.optimizers.compact_bfgs import (CauchyPoint, CompactMatrix, from_products, generalized_cauchy_point,
                                              pairs_times,
                                              subspace_minimization)
from kerasopt.optimizers.full_batch import (Callback, DriverResult, FlatProblem, FullBatchDriver, check_budget,
                                            dot, stopping_tolerances)

# Status codes of one compiled iteration.
ACCEPTED, BUDGET_DECREASE, NO_DECREASE, NON_FINITE, RESTART, ABNORMAL, BUDGET = 0, 1, 2, 3, 4, 5, 6
_MESSAGES = {
    NO_DECREASE: "line search ended at a point no lower than the iterate",
    NON_FINITE: "non-finite loss or gradient",
    ABNORMAL: "abnormal termination in line search (no descent with an empty memory)",
}
XTOL = 0.1  # dcsrch's relative bracket tolerance in L-BFGS-B
BIG_STEP = 1e10  # L-BFGS-B's largest line-search step without bounds
EPS = float(np.finfo(np.float64).eps)
BLOCK_ROWS = 32
"""Pairs per block of the ring buffer: storing a pair rewrites one block, not the whole (m, n) buffer."""


class Settings(NamedTuple):
    """The constants of one `TFLBFGS.minimize` call (Python values, baked into its compiled functions)."""

    low: float
    high: float
    bounded: bool  # a finite bound on some side
    boxed: bool  # finite bounds on both sides
    c1: float
    c2: float
    max_line_search: int
    history_size: int
    max_evaluations: int


class Memory(NamedTuple):
    """The tf.Variables of one `TFLBFGS.minimize` call (float64 unless said otherwise).

    Attributes:
        x, g: (n,) current iterate and its gradient; f: its loss (scalar).
        s, y: the (m, n) ring buffers of the pairs (zero rows on unused slots), m = history size, each
            a tuple of variables of `BLOCK_ROWS` rows (`kerasopt.optimizers.compact_bfgs.Blocks`).
        age: (m,) int32 insertion number of each slot's pair, -1 when unused.
        sy, ss, yy: (m, m) S Y' (``sy[i, j] = s_i'y_j``), S S', Y Y' in slot order.
        sg, yg: (m,) S g and Y g of the current gradient.
        stored: int32 pairs stored since the memory was last cleared (the next slot is ``stored % m``).
        theta: scalar, B0 = theta I (1 with an empty memory).
        iterations: int32 accepted iterations; evaluations: int64 evaluations so far.
    """

    x: tf.Variable
    g: tf.Variable
    f: tf.Variable
    s: tuple
    y: tuple
    age: tf.Variable
    sy: tf.Variable
    ss: tf.Variable
    yy: tf.Variable
    sg: tf.Variable
    yg: tf.Variable
    stored: tf.Variable
    theta: tf.Variable
    iterations: tf.Variable
    evaluations: tf.Variable


def new_memory(n: int, history_size: int, pair_dtype=tf.float64) -> Memory:
    """A zero `Memory` for n variables and ``history_size`` pairs stored in ``pair_dtype``."""
    def variable(value):
        return tf.Variable(value, trainable=False)

    zeros = functools.partial(tf.zeros, dtype=tf.float64)
    m = history_size
    rows = [min(BLOCK_ROWS, m - start) for start in range(0, m, BLOCK_ROWS)]

    def pairs():
        return tuple(variable(tf.zeros([r, n], pair_dtype)) for r in rows)

    return Memory(variable(zeros([n])), variable(zeros([n])), variable(zeros([])), pairs(),
                  pairs(), variable(-tf.ones([m], tf.int32)), variable(zeros([m, m])),
                  variable(zeros([m, m])), variable(zeros([m, m])), variable(zeros([m])), variable(zeros([m])),
                  variable(0), variable(tf.ones([], tf.float64)), variable(0), variable(tf.constant(0, tf.int64)))


def clear(memory: Memory) -> None:
    """Empty the memory: no pairs, theta = 1 (L-BFGS-B's refresh)."""
    for buffer in (*memory.s, *memory.y, memory.sy, memory.ss, memory.yy, memory.sg, memory.yg):
        buffer.assign(tf.zeros_like(buffer))
    memory.age.assign(-tf.ones_like(memory.age))
    memory.stored.assign(0)
    memory.theta.assign(tf.ones_like(memory.theta))


def compact(memory: Memory, blocks: int | None = None) -> CompactMatrix:
    """The `CompactMatrix` of the pairs in the first ``blocks`` blocks of the memory (all by default),
    from the kept products (no pass over n); a memory whose factorization is not finite is cleared first.

    The ring buffer fills its slots in order from slot 0 (and from 0 again after `clear`), so the
    stored pairs are always the first ``min(stored, m)`` slots: the matrix of the blocks that hold
    them is the whole memory's, with small matrices sized by the pairs stored, not by m (as scipy's
    L-BFGS-B sizes them by its ``col``)."""
    rows = sum(block.shape[0] for block in memory.s[:blocks])

    def build():
        return from_products(_read(memory.s[:blocks]), _read(memory.y[:blocks]), memory.age[:rows],
                             memory.sy[:rows, :rows], memory.ss[:rows, :rows], memory.yy[:rows, :rows],
                             memory.theta.read_value())

    b = build()

    def refreshed():
        clear(memory)
        return build()

    return tf.cond(tf.reduce_all(tf.math.is_finite(b.schur_lu)), lambda: b, refreshed)


def blocks_holding_pairs(memory: Memory) -> tf.Tensor:
    """int32 number of leading blocks that hold a stored pair (at least 1)."""
    stored = tf.minimum(memory.stored, memory.age.shape[0])
    return tf.maximum((stored + BLOCK_ROWS - 1) // BLOCK_ROWS, 1)


def _read(blocks: tuple) -> tuple:
    return tuple(block.read_value() for block in blocks)


def _write_row(blocks: tuple, slot: tf.Tensor, row: tf.Tensor) -> None:
    """Row ``slot`` of the block buffer <- ``row`` (n,), rewriting only the block that holds it (a dense
    assign: a sparse or sliced one would put the variable in TensorFlow's copy-on-read mode, copying
    it at every later read)."""
    for index, block in enumerate(blocks):
        def write(block=block, index=index):
            block.assign(tf.tensor_scatter_nd_update(block, (slot - index * BLOCK_ROWS)[None, None],
                                                     tf.cast(row, block.dtype)[None]))
            return tf.constant(0)

        tf.cond(tf.equal(slot // BLOCK_ROWS, index), write, lambda: tf.constant(0))


def w_of_gradient(memory: Memory, rows: int | None = None) -> tf.Tensor:
    """W'g = [Y g; theta S g] (2 rows,) of the current gradient over the first ``rows`` slots (all by
    default), from the kept products."""
    return tf.concat([memory.yg[:rows], memory.theta * memory.sg[:rows]], 0)


def remember(memory: Memory, s: tf.Tensor, y: tf.Tensor, g_new: tf.Tensor, slope: tf.Tensor) -> None:
    """After an accepted step s with gradient change y: store the pair if ``s'y > eps * (-g's)``
    (L-BFGS-B's skip rule) and keep S g, Y g of the new gradient ``g_new``.

    One pass over the pairs, ``[S; Y] [g_new, s]``, gives every product needed: ``S y = S g_new - S g``
    (S g kept), ``Y y`` likewise, ``S s``, ``Y s``. A stored pair overwrites the oldest slot (ring
    buffer) and its row and column of S'Y, S'S, Y'Y.
    """
    m, dtype, pair_dtype = memory.age.shape[0], g_new.dtype, memory.s[0].dtype
    s, y = (tf.cast(tf.cast(v, pair_dtype), dtype) for v in (s, y))  # the pair as it is stored
    both = tf.cast(tf.stack([g_new, s], 1), pair_dtype)
    valid = memory.age >= 0
    s_products = tf.cast(pairs_times(memory.s, valid, both), dtype)  # (m, 2): S g_new, S s
    y_products = tf.cast(pairs_times(memory.y, valid, both), dtype)  # (m, 2): Y g_new, Y s
    s_g, s_s = s_products[:, 0], s_products[:, 1]
    y_g, y_s = y_products[:, 0], y_products[:, 1]
    s_y, y_y = s_g - memory.sg, y_g - memory.yg  # S y and Y y
    curvature = dot(s, y)

    def store():
        slot = memory.stored % m
        here = tf.equal(tf.range(m), slot)
        row, column = here[:, None], here[None, :]

        def with_pair(matrix, row_values, column_values, self_product):
            row_values = tf.where(here, self_product, row_values)
            column_values = tf.where(here, self_product, column_values)
            return tf.where(row, row_values[None, :], tf.where(column, column_values[:, None], matrix))

        s_self, y_self = dot(s, s), dot(y, y)
        memory.sy.assign(with_pair(memory.sy, y_s, s_y, curvature))  # row: s'y_j; column: s_i'y
        memory.ss.assign(with_pair(memory.ss, s_s, s_s, s_self))
        memory.yy.assign(with_pair(memory.yy, y_y, y_y, y_self))
        _write_row(memory.s, slot, s)
        _write_row(memory.y, slot, y)
        memory.age.assign(tf.where(here, memory.stored, memory.age))
        memory.stored.assign_add(1)
        memory.theta.assign(y_self / curvature)
        return tf.where(here, dot(s, g_new), s_g), tf.where(here, dot(y, g_new), y_g)

    sg, yg = tf.cond(curvature > EPS * -slope, store, lambda: (s_g, y_g))
    memory.sg.assign(sg)
    memory.yg.assign(yg)


def project(settings: Settings, x: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(x, settings.low, settings.high) if settings.bounded else x


def projected_gradient_norm(settings: Settings, x: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    return tf.reduce_max(tf.abs(project(settings, x - g) - x))


def trial_point(settings: Settings, memory: Memory, b: CompactMatrix, x: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """L-BFGS-B's x-bar: Cauchy point then subspace minimization (L-BFGS without bounds)."""
    m = b.d.shape[0]
    wg = w_of_gradient(memory, m)
    low, high = settings.low, settings.high
    if settings.bounded:
        cauchy = generalized_cauchy_point(x, g, low, high, b, wg)
    else:  # L-BFGS-B skips the Cauchy point of an unconstrained problem once it has pairs
        cauchy = tf.cond(
            b.used > 0,
            lambda: CauchyPoint(x, tf.ones_like(x, tf.bool), tf.zeros([2 * m], x.dtype), tf.constant(0)),
            lambda: generalized_cauchy_point(x, g, low, high, b, wg))
    return subspace_minimization(x, g, cauchy, low, high, b, wg)


def block_buckets(count: int) -> list[int]:
    """The block counts `sized_trial_point` compiles a branch for: powers of two below ``count``, and
    ``count`` (so at most twice the blocks holding pairs are used, with log2(count) + 1 branches)."""
    return [c for c in (2 ** k for k in range(count.bit_length())) if c < count] + [count]


def sized_trial_point(settings: Settings, memory: Memory, x: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """`trial_point` with the compact matrix of the leading blocks that hold the stored pairs, rounded up
    to a `block_buckets` size: one compiled branch per bucket, so until the memory fills, the small
    factorizations and solves cost O(k^3) for k of at most twice the pairs stored, not O(m^3)."""
    buckets = block_buckets(len(memory.s))
    if len(buckets) == 1:
        return trial_point(settings, memory, compact(memory), x, g)
    needed = blocks_holding_pairs(memory)
    index = tf.reduce_sum(tf.cast(tf.constant(buckets) < needed, tf.int32))  # the smallest bucket >= needed
    branches = [functools.partial(lambda c: trial_point(settings, memory, compact(memory, c), x, g), c)
                for c in buckets]
    return tf.switch_case(index, branches)


def largest_step(settings: Settings, memory: Memory, x: tf.Tensor, d: tf.Tensor) -> tf.Tensor:
    """L-BFGS-B's ``stpmx``: 1 on the first iteration of a bounded problem, else the step to the box."""
    dtype, one = x.dtype, tf.ones([], x.dtype)
    if not settings.bounded:
        return tf.constant(BIG_STEP, dtype)
    big = tf.constant(BIG_STEP, dtype)
    to_low = tf.where(d < 0, (settings.low - x) / tf.where(d < 0, d, one), big)
    to_high = tf.where(d > 0, (settings.high - x) / tf.where(d > 0, d, one), big)
    step = tf.maximum(tf.minimum(tf.minimum(tf.reduce_min(to_low), tf.reduce_min(to_high)), BIG_STEP), 0.0)
    return tf.where(memory.iterations == 0, one, step)


def line_search(problem: FlatProblem, settings: Settings, memory: Memory, x0, f0, g0, d, slope0, xbar, stpmax):
    """Moré-Thuente trials along d; stops on convergence/warning, non-finite values, maxls or the budget.

    Returns:
        ``(evaluations, done, finite, last, best)``: the evaluation count after the search, whether
        dcsrch converged (or warned), whether the last trial was finite, the last trial's
        ``(f, x, g)`` and the lowest trial with sufficient decrease (``(f0, x0, g0)`` if none).
    """
    dtype = x0.dtype
    one, zero = tf.ones([], dtype), tf.zeros([], dtype)
    c1, c2 = settings.c1, settings.c2
    budget = tf.constant(settings.max_evaluations, tf.int64)
    stp = one if settings.boxed else tf.where(memory.iterations == 0, tf.minimum(1.0 / tf.norm(d), stpmax), one)
    search = more_thuente.start(stp, f0, slope0, c1, zero, stpmax)
    nothing = (f0, x0, g0)

    def trial(stp, search, trials, evaluations, done, finite, last, best):
        x_t = tf.where(tf.equal(stp, 1.0), xbar, project(settings, x0 + stp * d))
        f_t, g_t = problem.value_and_gradient(x_t)
        evaluations, trials = evaluations + 1, trials + 1
        finite = tf.math.is_finite(f_t) & tf.reduce_all(tf.math.is_finite(g_t))
        search, next_stp, converged, warned = more_thuente.advance(search, stp, f_t, dot(g_t, d), c2, XTOL, zero,
                                                                   stpmax)
        decrease = finite & (f_t <= f0 + c1 * stp * slope0) & (f_t < best[0])
        best = tuple(tf.where(decrease, new, old) for new, old in zip((f_t, x_t, g_t), best))
        return next_stp, search, trials, evaluations, converged | warned, finite, (f_t, x_t, g_t), best

    def searching(stp, search, trials, evaluations, done, finite, last, best):
        return ~done & finite & (trials < settings.max_line_search) & (evaluations < budget)

    loop = (stp, search, tf.constant(0), memory.evaluations.read_value(), tf.constant(False), tf.constant(True),
            nothing, nothing)
    _, _, _, evaluations, done, finite, last, best = tf.while_loop(searching, trial, loop)
    return evaluations, done, finite, last, best


def accept(memory: Memory, x0: tf.Tensor, g0: tf.Tensor, point: tuple) -> tf.Tensor:
    """Move to ``point = (f, x, g)``, updating the memory; returns 0 (added to a status code)."""
    f, x, g = point
    remember(memory, x - x0, g - g0, g, dot(g0, x - x0))
    memory.iterations.assign_add(1)
    memory.x.assign(x)
    memory.f.assign(f)
    memory.g.assign(g)
    return tf.constant(0)


def line_search_failed(memory: Memory) -> tf.Tensor:
    """Clear a non-empty memory and retry (`RESTART`), else give up (`ABNORMAL`), as L-BFGS-B."""
    empty = tf.equal(memory.stored, 0)
    clear(memory)
    return tf.where(empty, ABNORMAL, RESTART)


def initialize(problem: FlatProblem, settings: Settings, memory: Memory):
    """Evaluate the (projected) start point: ``(loss, projected gradient norm)``."""
    x = project(settings, problem.read())
    loss, gradient = problem.value_and_gradient(x)
    memory.x.assign(x)
    memory.f.assign(loss)
    memory.g.assign(gradient)
    clear(memory)
    memory.iterations.assign(0)
    memory.evaluations.assign(1)
    return loss, projected_gradient_norm(settings, x, gradient)


def iterate(problem: FlatProblem, settings: Settings, memory: Memory):
    """One L-BFGS-B iteration: ``(status code, loss, evaluations, projected gradient norm)``; the
    variables hold the (possibly unchanged) iterate."""
    x0, f0, g0 = memory.x.read_value(), memory.f.read_value(), memory.g.read_value()
    xbar = sized_trial_point(settings, memory, x0, g0)
    d = xbar - x0
    slope = dot(g0, d)
    budget = tf.constant(settings.max_evaluations, tf.int64)

    def search():
        stpmax = largest_step(settings, memory, x0, d)
        evaluations, done, finite, last, best = line_search(problem, settings, memory, x0, f0, g0, d, slope, xbar,
                                                            stpmax)
        memory.evaluations.assign(evaluations)
        lower = last[0] <= f0  # scipy accepts an equal loss (then stops by ftol)
        interrupted = ~done & (evaluations >= budget)
        code = tf.where(~finite, NON_FINITE,
                        tf.where(done, tf.where(lower, ACCEPTED, NO_DECREASE),
                                 tf.where(interrupted, tf.where(best[0] < f0, BUDGET_DECREASE, BUDGET), RESTART)))
        code = tf.cond(tf.equal(code, ACCEPTED), lambda: accept(memory, x0, g0, last) + ACCEPTED, lambda: code)
        code = tf.cond(tf.equal(code, BUDGET_DECREASE), lambda: accept(memory, x0, g0, best) + BUDGET_DECREASE,
                       lambda: code)
        return tf.cond(tf.equal(code, RESTART), lambda: line_search_failed(memory), lambda: code)

    code = tf.cond(slope < 0, search, lambda: line_search_failed(memory))
    x = memory.x.read_value()
    problem.assign(x)
    return code, memory.f.read_value(), memory.evaluations.read_value(), projected_gradient_norm(settings, x, memory.g)


def _autographed(loss_fn: Callable[[], tf.Tensor]) -> Callable[[], tf.Tensor]:
    """``loss_fn`` converted by AutoGraph (Python control flow on tensors becomes tf.cond/while).

    The driver's own compiled functions are traced with ``autograph=False`` (its control flow is
    explicit; converting it took seconds of tracing), so only the user's loss is converted, as a
    plain ``tf.function`` would. A function AutoGraph cannot convert is used as it is.
    """
    try:
        return tf.autograph.to_graph(loss_fn)
    except Exception:  # e.g. a lambda AutoGraph cannot parse: trace it unconverted
        return loss_fn


class TFLBFGS(FullBatchDriver):
    """L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995) compiled into one tf.function per iteration.

    Args:
        max_iterations: int > 0 or None, budget in accepted iterations.
        max_evaluations: int > 0 or None, budget in loss-and-gradient evaluations (the start
            and every line-search trial); never exceeded. With neither budget, 15000 each
            (scipy's defaults).
        history_size: int > 0, correction pairs kept (default 10, scipy's ``maxcor``).
        bounds: optional ``(low, high)`` scalars for every element (None: unbounded side).
        ftol: stop when ``(f_old - f_new) <= ftol * max(|f_old|, |f_new|, 1)``.
        gtol: stop when the projected gradient's largest component is ``<= gtol``.
            Both default to 0 with a budget (use the whole budget), else to scipy's
            ``2.2e-9`` and ``1e-5``.
        max_line_search: int > 0, most evaluations in one line search (default 20, scipy's ``maxls``).
        c1, c2: sufficient-decrease and curvature constants of the line search,
            ``0 < c1 < c2 < 1`` (default 1e-3, 0.9 as L-BFGS-B).
        jit_compile: compile the iteration with XLA.
        pair_dtype: precision of the stored pairs S, Y: ``"float32"``, ``"float64"``, or None (the
            variables' precision: float32 pairs for float32 variables, float64 otherwise). Everything
            else is float64. A float32 image's gradients carry float32 precision, so its pairs lose
            nothing measurable in float32 (docs/performance.md), while every pass over them costs
            about a quarter of the float64 one on this CPU.
    """

    name = "lbfgs"

    def __init__(
        self,
        max_iterations: int | None = None,
        max_evaluations: int | None = None,
        history_size: int = 10,
        bounds: tuple[float | None, float | None] | None = None,
        ftol: float | None = None,
        gtol: float | None = None,
        max_line_search: int = 20,
        c1: float = 1e-3,
        c2: float = 0.9,
        jit_compile: bool = False,
        pair_dtype: str | None = None,
    ):
        super().__init__(max_iterations, max_evaluations, bounds)
        if pair_dtype not in (None, "float32", "float64"):
            raise ValueError(f"lbfgs needs pair_dtype 'float32', 'float64' or None. Received: pair_dtype={pair_dtype!r}")
        self.pair_dtype = pair_dtype
        self.history_size = check_budget(self.name, "history_size", history_size)
        self.max_line_search = check_budget(self.name, "max_line_search", max_line_search)
        if not 0.0 < c1 < c2 < 1.0:
            raise ValueError(f"lbfgs needs 0 < c1 < c2 < 1. Received: c1={c1}, c2={c2}")
        self.ftol, self.gtol = stopping_tolerances(self.name, ftol, gtol, self.max_iterations, self.max_evaluations)
        self.c1, self.c2 = float(c1), float(c2)
        self.jit_compile = bool(jit_compile)

    def get_config(self) -> dict:
        return {**super().get_config(), "history_size": self.history_size, "ftol": self.ftol, "gtol": self.gtol,
                "max_line_search": self.max_line_search, "c1": self.c1, "c2": self.c2,
                "jit_compile": self.jit_compile, "pair_dtype": self.pair_dtype}

    def settings(self, max_evaluations: int) -> Settings:
        low, high = self.box if self.box is not None else (-math.inf, math.inf)
        return Settings(low, high, self.box is not None and (math.isfinite(low) or math.isfinite(high)),
                        math.isfinite(low) and math.isfinite(high), self.c1, self.c2, self.max_line_search,
                        self.history_size, max_evaluations)

    def minimize(self, loss_fn: Callable[[], tf.Tensor], variables: Sequence,
                 callback: Callback | None = None) -> DriverResult:
        """Minimise ``loss_fn()`` over ``variables`` in place.

        Args:
            loss_fn: no-argument callable returning a scalar float tensor that reads ``variables``.
            variables: float `tf.Variable`s / `keras.Variable`s, any shapes (the optimizer works
                in float64; the loss sees the variables' own dtype).
            callback: optional ``callback(iteration, evaluations, seconds, loss)`` after every
                accepted iteration; returning True stops.

        Returns:
            A `DriverResult`; the variables hold the last accepted iterate (the lowest loss
            accepted; on divergence the last finite iterate).
        """
        problem = FlatProblem(_autographed(loss_fn), variables, dtype=tf.float64)
        pair_dtype = tf.as_dtype(self.pair_dtype or ("float32" if problem.variable_dtype == tf.float32 else "float64"))
        memory = new_memory(problem.size, self.history_size, pair_dtype)
        max_iterations, max_evaluations = self.limits()
        settings = self.settings(max_evaluations)

        def compiled(function):
            return tf.function(functools.partial(function, problem, settings, memory), jit_compile=self.jit_compile,
                               autograph=False).get_concrete_function()

        trace_start = time.perf_counter()
        start_point, step = compiled(initialize), compiled(iterate)
        trace_seconds = time.perf_counter() - trace_start

        start = time.perf_counter()
        loss, projected_gradient = (float(v) for v in start_point())
        evaluations, iterations = 1, 0
        if not math.isfinite(loss):
            problem.assign(memory.x)
            return DriverResult(loss, 0, 1, time.perf_counter() - start, trace_seconds, "diverged",
                                "non-finite loss or gradient at the start point")
        status, message = "completed", f"budget of {max_iterations} iterations used"
        if projected_gradient <= self.gtol:
            message = "projected gradient <= gtol"
        while iterations < max_iterations and projected_gradient > self.gtol:
            if evaluations >= max_evaluations:
                message = f"budget of {max_evaluations} evaluations used"
                break
            previous = loss
            code, new_loss, evaluations, projected_gradient = (x.numpy() for x in step())
            code, evaluations, projected_gradient = int(code), int(evaluations), float(projected_gradient)
            if code == RESTART:  # memory cleared, same iterate: compute a new direction
                continue
            if code in (NO_DECREASE, NON_FINITE, ABNORMAL, BUDGET):
                if code == NON_FINITE:
                    status = "diverged"
                    message = f"{_MESSAGES[code]} at evaluation {evaluations}"
                elif code == BUDGET or (code == NO_DECREASE and evaluations >= max_evaluations):
                    message = f"budget of {max_evaluations} evaluations used"
                else:
                    message = _MESSAGES[code]
                break
            loss = float(new_loss)
            iterations += 1
            if callback is not None and callback(iterations, evaluations, time.perf_counter() - start, loss):
                message = "stopped by callback"
                break
            if previous - loss <= self.ftol * max(abs(previous), abs(loss), 1.0):
                message = "relative reduction <= ftol"
                break
            if projected_gradient <= self.gtol:
                message = "projected gradient <= gtol"
        seconds = time.perf_counter() - start
        return DriverResult(loss=loss, iterations=iterations, evaluations=evaluations, seconds=seconds,
                            trace_seconds=trace_seconds, status=status, message=message)
