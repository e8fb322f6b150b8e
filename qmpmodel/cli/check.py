"""``qmpmodel check PATH...``: check specs against their pinned expectations (the CI gate).

Every input (spec files, ``-k``, output options) is validated before any
spec is checked: bad input prints every mistake, one line each, exits 2 and
writes nothing. Output is described in :mod:`qmpmodel.cli.check_output`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import click

from qmpmodel import __version__
from qmpmodel.artefacts.ci import junit_xml, sarif
from qmpmodel.artefacts.jsonout import results_to_json
from qmpmodel.artefacts.report import itf_path, write_artefacts
from qmpmodel.check import Prepared, check_spec, engine_runner, prepare
from qmpmodel.cli.check_output import CheckPrinter
from qmpmodel.cli.common import (
    COLOR_OPTION,
    Console,
    check_stdout_once,
    color_mode,
    exit_status_help,
    exit_with,
    fail_input,
    plural,
    write_output,
)
from qmpmodel.cli.progress import _Budget, parse_size
from qmpmodel.cli.select import item_names, parse_selector
from qmpmodel.core.results import CheckResult, EngineOptions, worst
from qmpmodel.errors import InputError, raise_all
from qmpmodel.specs import Spec, expand_paths, load_spec

__all__ = ["check", "load_selected"]

_K_HELP = ("Check only the specs and properties matching PATTERN: words matched as case-insensitive "
           "substrings of the spec path, the property name or SPEC::PROPERTY, combined with and, or, "
           "not and parentheses (as pytest -k). Example: -k 'bugs/ and not fixed'.")


def load_selected(paths: tuple[str, ...] | list[str], pattern: str | None) -> tuple[list[Prepared], int]:
    """Load the specs under ``paths``, keep the properties ``pattern`` selects, build their models.

    Returns the prepared specs and the number of deselected properties. Every
    mistake in every spec is reported at once (:class:`~qmpmodel.errors.InputErrors`).
    """
    select = parse_selector(pattern) if pattern is not None else None
    errors: list[InputError] = []
    specs: list[Spec] = []
    for p in expand_paths(paths):
        try:
            specs.append(load_spec(p))
        except InputError as e:
            errors.append(e)
    raise_all(errors)
    if not specs:
        raise InputError(" ".join(paths), None, "at least one spec file (*.toml with a [design], [bounds] "
                         "or [expect] table)", "none")
    deselected = 0
    if select is not None:
        chosen = []
        for s in specs:
            keep = tuple((inv, exp) for inv, exp in s.expectations if select(item_names(s.path, inv.name)))
            deselected += len(s.expectations) - len(keep)
            if keep:
                chosen.append(replace(s, expectations=keep))
        if not chosen:
            raise InputError("<command line>", f"-k {pattern!r}", "a pattern selecting at least one property",
                             f"none of {plural(deselected, 'property', 'properties')} in "
                             f"{plural(len(specs), 'spec')}")
        specs = chosen
    prepared: list[Prepared] = []
    for s in specs:  # bad bounds are found while building the model: still before any output
        try:
            prepared.append(prepare(s))
        except InputError as e:
            errors.append(e)
    raise_all(errors)
    return prepared, deselected


@click.command(epilog=exit_status_help(
    "The expectations are each spec's [expect] table; an invariant the table does not name is expected to hold."))
@click.argument("paths", nargs=-1, required=True)
@click.option("--engine", default="explicit", show_default=True,
              help="explicit, native (generated C kernel), hypothesis, smt, spin or distributed (--workers)")
@click.option("-k", "pattern", metavar="PATTERN", help=_K_HELP)
@click.option("-x", "--exitfirst", is_flag=True, help="Stop after the first spec with an unmet expectation.")
@click.option("-v", "--verbose", "verbose", count=True, help="Print every property, not only those that do not hold.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the unmet expectations and the summary.")
@COLOR_OPTION
@click.option("--json", "json_file", metavar="FILE", help="Write the results document to FILE (- for standard output).")
@click.option("--max-states", type=click.IntRange(min=1), help="State budget per spec (beyond it: unknown).")
@click.option("--timeout", type=click.FloatRange(min=0.0, min_open=True), help="Seconds per spec (beyond: unknown).")
@click.option("--max-memory", "max_memory", metavar="SIZE",
              help="Memory budget per spec, e.g. 512M or 4G (beyond: unknown).")
@click.option("--symmetry", is_flag=True, help="native: one state per orbit of interchangeable monitors.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Distributed search: the visited set partitioned over N Ray workers, each running the "
                   "native kernel (needs pip install 'qmpmodel[cluster]'; liveness: unknown).")
@click.option("--ray-address", "ray_address", metavar="ADDR",
              help="With --workers: the Ray cluster to run on (default: a local Ray on this machine).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Check N specs at once, each in its own process (output in spec order, as with one; "
                   "not with --workers).")
@click.option("--examples", type=click.IntRange(min=1), default=200, show_default=True, help="hypothesis: examples.")
@click.option("--seed", type=int, default=0, show_default=True, help="hypothesis: random seed.")
@click.option("--depth", type=click.IntRange(min=1), help="smt: unrolling depth (default 30; 4 with --prove).")
@click.option("--prove", is_flag=True, help="smt: prove (k-induction, PDR) instead of bounded checking.")
@click.option("--method", type=click.Choice(["auto", "kind", "pdr"]), default="auto", show_default=True,
              help="smt --prove: k-induction (kind), PDR/Spacer (pdr), or k-induction then PDR (auto).")
@click.option("--out", "out_dir", metavar="DIR", help="Write counterexamples (ITF, Markdown, Mermaid, SVG) to DIR.")
@click.option("--junit", "junit_file", metavar="FILE", help="Write JUnit XML (a testcase per spec and invariant).")
@click.option("--sarif", "sarif_file", metavar="FILE", help="Write SARIF 2.1.0 (a result per broken expectation).")
def check(paths: tuple[str, ...], engine: str, pattern: str | None, exitfirst: bool, verbose: int, quiet: bool,
          color: str, json_file: str | None, max_states: int | None, timeout: float | None, examples: int,
          seed: int, depth: int | None, prove: bool, method: str, out_dir: str | None, junit_file: str | None,
          sarif_file: str | None, max_memory: str | None = None, symmetry: bool = False,
          workers: int | None = None, ray_address: str | None = None, jobs: int = 1) -> None:
    """Check spec files (or the specs among *.toml files under directories) against their pinned expectations.

    Prints a line per spec, and under it the properties that do not hold (-v: all; -q: none); an
    unexpected violation comes with its trace, or with --out the file it was written to. The run
    ends with every unmet expectation and a one-line summary.
    """
    try:
        options = EngineOptions(examples=examples, seed=seed, prove=prove, method=method, symmetry=symmetry,
                                max_memory=parse_size(max_memory) if max_memory else 0, workers=workers or 0,
                                ray_address=ray_address or "")
        if workers or ray_address:
            engine = _distributed(engine, workers, ray_address)
            if jobs > 1:
                raise InputError("<command line>", "--jobs", "one job with --workers (the workers are the "
                                 "parallelism)", f"--jobs {jobs}")
        engine_runner(engine)
        check_stdout_once(json=json_file, junit=junit_file, sarif=sarif_file)
        prepared, deselected = load_selected(paths, pattern)
    except InputError as e:
        fail_input(e)
    console = Console(err="-" in (json_file, junit_file, sarif_file), color=color_mode(color))
    printer = CheckPrinter(console, -1 if quiet else min(verbose, 1))
    results: list[CheckResult] = []
    by_spec = {p.spec.path: p for p in prepared}
    artefacts = 0
    t_all = time.monotonic()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_cluster(engine, workers, ray_address or ""))  # one Ray session for every spec
        runs = stack.enter_context(contextlib.closing(
            _check_all(prepared, engine, options, max_states, depth, timeout, jobs)))
        for _spec in prepared:
            try:
                r = next(runs)
            except InputError as e:  # a proposal whose update leaves a declared range (one line, exit 2)
                fail_input(e)
            results.append(r)
            if out_dir:
                artefacts += len(write_artefacts([r], by_spec, out_dir))
                printer.traces.update({(r.spec, i.name): str(itf_path(out_dir, r.spec, i.name))
                                       for i in r.invariants if i.trace is not None})
            printer.spec(r)
            if exitfirst and r.outcome != "met":
                break
    elapsed = time.monotonic() - t_all
    wrote = []
    try:
        if json_file:
            where = write_output(json_file, json.dumps(results_to_json(results, __version__), indent=1) + "\n")
            wrote.append(f"wrote the results document to {where}")
        if junit_file:
            wrote.append(f"wrote JUnit XML to {write_output(junit_file, junit_xml(results))}")
        if sarif_file:
            wrote.append(f"wrote SARIF to {write_output(sarif_file, json.dumps(sarif(results), indent=1) + chr(10))}")
    except InputError as e:
        fail_input(e)
    if out_dir:
        cex = sum(1 for r in results for i in r.invariants if i.trace is not None)
        wrote.append(f"wrote {plural(artefacts, 'file')} to {Path(out_dir)}/ ({plural(cex, 'counterexample')})")
    printer.summary(results, elapsed, deselected=deselected, not_run=len(prepared) - len(results), wrote=wrote)
    exit_with(worst(r.outcome for r in results))


def _distributed(engine: str, workers: int | None, ray_address: str | None) -> str:
    """``--workers``/``--ray-address`` select the distributed engine (built on the native kernel)."""
    from qmpmodel.engines.distributed import INSTALL, available

    if not workers:
        raise InputError("<command line>", "--ray-address", "--workers N with it (the number of partitions)",
                         "--ray-address alone")
    if engine not in ("explicit", "native", "distributed"):
        raise InputError("<command line>", "--engine", "native or distributed with --workers (each worker "
                         "runs the native kernel)", repr(engine))
    if not available():
        raise InputError("<command line>", "--workers", f"Ray, an optional dependency: {INSTALL}",
                         "ray is not installed")
    return "distributed"


@contextlib.contextmanager
def _cluster(engine: str, workers: int | None, address: str) -> Iterator[None]:
    """The Ray session of a distributed run (started once for every spec, shut down at the end)."""
    with contextlib.ExitStack() as stack:
        if engine == "distributed":
            from qmpmodel.engines.distributed.cluster import session

            try:
                stack.enter_context(session(workers or 2, address))
            except InputError as e:
                fail_input(e)
        yield


#: The specs a ``--jobs`` pool checks: set before the pool forks, read by its processes.
_POOL_SPECS: list[Spec] = []


def _check_all(prepared: list[Prepared], engine: str, options: EngineOptions, max_states: int | None,
               depth: int | None, timeout: float | None, jobs: int) -> Generator[CheckResult, None, None]:
    """Results of the specs, in their order; with ``jobs > 1`` checked in that many forked processes.

    A forked process inherits the specs (designs loaded from proposal files
    included) and sends back only its result. Stopping early (``-x``) cancels
    the specs not yet started.
    """
    if jobs <= 1 or len(prepared) <= 1:
        for p in prepared:
            yield _check_one(p.spec, engine, options, max_states, depth, timeout)
        return
    _POOL_SPECS[:] = [p.spec for p in prepared]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(jobs, len(prepared)), mp_context=ctx) as pool:
        futures = [pool.submit(_pool_check, k, engine, options, max_states, depth, timeout)
                   for k in range(len(prepared))]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()


def _pool_check(k: int, engine: str, options: EngineOptions, max_states: int | None, depth: int | None,
                timeout: float | None) -> CheckResult:
    return _check_one(_POOL_SPECS[k], engine, options, max_states, depth, timeout, live=False)


def _check_one(spec: Spec, engine: str, options: EngineOptions, max_states: int | None, depth: int | None,
               timeout: float | None, live: bool = True) -> CheckResult:
    """One spec under the command line's options, with its own state budget and depth where it sets them.

    ``live``: a progress line on a terminal (off in a ``--jobs`` process: log lines only).
    """
    states = max_states or spec.max_states or EngineOptions().max_states
    obs = _Budget(timeout, spec.path, states, options.max_memory, live=live)
    t0 = time.monotonic()
    # k-induction needs a small k; bounded checking a deep unrolling
    k = depth or spec.depth or (4 if options.prove else EngineOptions().depth)
    r = check_spec(spec, engine, replace(options, max_states=states, depth=k), obs)
    obs.done()
    return replace(r, seconds=time.monotonic() - t0)
