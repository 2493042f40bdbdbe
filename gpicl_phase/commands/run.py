"""The commands that train: ``train``, ``sweep``, ``refine``, ``demo`` (JAX is imported inside them)."""

from __future__ import annotations

import argparse
import sys

from gpicl_phase.config import ConfigError, RunConfig, coerce_value, fields


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    values = {}
    for f in fields():
        raw = getattr(args, f.name)
        if raw is None:
            continue
        try:
            values[f.name] = coerce_value(f, raw)
        except ConfigError as err:
            raise ConfigError(f"--{f.name.replace('_', '-')}: {err}") from None
    try:
        return RunConfig(**values)
    except ConfigError as err:
        name = str(err).split(":")[0]
        raise ConfigError(f"--{name.replace('_', '-')}{str(err)[len(name):]}") from None


def cmd_train(args) -> int:
    """One run: progress bar, final meta-test accuracies, metrics to a netCDF file."""
    cfg = _config_from_args(args)
    from tqdm.auto import tqdm

    from gpicl_phase import single_run
    from gpicl_phase.data import DataError
    from gpicl_phase.train import task_data

    if args.out is not None and not args.out.endswith(".nc"):
        print(f"error: --out: expected a .nc (netCDF) path, got {args.out!r}", file=sys.stderr)
        return 2
    try:
        data = task_data(cfg)
    except (DataError, ValueError) as err:  # a dataset not fetched, or one with too few classes
        print(f"error: {err}", file=sys.stderr)
        return 2
    bar = tqdm(total=cfg.budget, unit="step", disable=args.quiet, file=sys.stderr, desc="compiling")

    def on_chunk(c, runs):
        bar.set_description("training")
        bar.update(cfg.eval_every)

    try:
        ds, driven = single_run.train_one(cfg, data, on_chunk=on_chunk)
    finally:
        bar.close()
    print(single_run.summary(ds))
    if single_run.stop_text(cfg, driven):
        print(single_run.stop_text(cfg, driven))
    if args.out:
        ds.to_netcdf(args.out, engine="scipy")
        print(f"metrics written to {args.out}")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set: expected FIELD=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), value.strip()


def cmd_sweep(args) -> int:
    """Runs (or resumes) a sweep into a store; refines it when the file has a [refine] table."""
    from gpicl_phase.sweep import SpecError, load
    from gpicl_phase.sweep.runner import SweepError, check_arguments, run_sweep

    try:
        overrides = dict(_key_value(kv) for kv in args.set or ())
        spec = load(args.spec, smoke=args.smoke, overrides=overrides, max_cells=args.max_cells)
        kwargs = dict(executor=args.executor, max_pack=args.max_pack, workers=args.workers,
                      scheduler=args.scheduler, progress=not args.quiet, task_source=args.task_source,
                      checkpoint_every=args.checkpoint_every, engine=engine_from_args(args),
                      probe_pack=args.probe_pack)
        check_arguments(spec, **{k: kwargs[k] for k in ("task_source", "max_pack", "workers", "executor",
                                                         "checkpoint_every")})
        if args.dry_run:
            return _dry_run(spec, args)
        if not args.store:
            raise SweepError("--store is required (where results go); or use --dry-run to check the file only")
        if spec.refine is not None and not args.no_refine:
            from gpicl_phase.refine import refine

            return _refined(refine(spec, args.store, spec.refine, **kwargs), args.store)
        summary = run_sweep(spec, args.store, **kwargs)
    except (SpecError, SweepError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print_summary(args.store, summary)
    return 0 if summary.ok else 1


def engine_from_args(args):
    """The backend's engine with the options given on the command line; None when none was given."""
    from gpicl_phase.engine import Engine

    given = {f.name: getattr(args, f.name, None) for f in Engine.flags()}
    if all(v is None for v in given.values()):
        return None
    import jax

    return Engine.for_backend(jax.default_backend()).replace(**given)


def cmd_refine(args) -> int:
    """Adds cells where the phase changes along numeric axes, runs them, until boundaries are located."""
    from gpicl_phase.refine import refine, store_spec
    from gpicl_phase.store import StoreError
    from gpicl_phase.sweep.runner import SweepError, check_arguments
    from gpicl_phase.sweep.spec import Refine

    try:
        spec = store_spec(args.store)
        base = spec.refine or Refine()
        settings = Refine(axes=tuple(args.axis) if args.axis else base.axes,
                          resolution=base.resolution if args.resolution is None else args.resolution,
                          max_rounds=base.max_rounds if args.max_rounds is None else args.max_rounds,
                          between=base.between)
    except (ValueError, SweepError) as err:  # StoreError, SpecError, a store without a spec, bad settings
        print(f"error: {err}", file=sys.stderr)
        return 2
    kwargs = dict(max_pack=args.max_pack, progress=not args.quiet, checkpoint_every=args.checkpoint_every)
    try:
        check_arguments(spec, max_pack=args.max_pack, checkpoint_every=args.checkpoint_every)
        return _refined(refine(spec, args.store, settings, **kwargs), args.store)
    except (SweepError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _print_summary(path, summary) -> None:
    print(f"{path}: {summary.cells} cells; {summary.skipped} already finished; wrote "
          f"{summary.written or 'nothing'} ({summary.run_steps:,} run-steps) in {summary.wall_time:.1f} s")
    for failure in summary.failures:
        print(f"FAILED {failure}", file=sys.stderr)


def _refined(result, path) -> int:
    for s in result.sweeps:
        _print_summary(path, s)
    print(f"refinement: {result.rounds} round(s); {len(result.located)} boundaries located, "
          f"{len(result.open)} still wider than the resolution")
    for b in result.open:
        where = ", ".join(f"{k}={v}" for k, v in b.series.items())
        print(f"  open: {where}: {b.phases[0]} at {b.low:g} | {b.phases[1]} at {b.high:g} ({b.octaves:.2f} octaves)")
    return 0 if result.ok else 1


def _dry_run(spec, args) -> int:
    """Prints the plan of a sweep and traces each program; nothing is trained or written."""
    from gpicl_phase.sweep.dry_run import check_sweep

    print(f"{spec.name}: {spec.size} runs; tracing each compiled program (nothing is trained or written)")
    print("group  runs/pack  steps (max)   task source     MiB/run  shapes")

    def show(c):
        source = f"bank of {c.bank}" if c.bank else "fresh draws"
        budget = f"{c.steps} ({c.max_steps})" if c.max_steps > c.steps else f"{c.steps}"
        print(f"{c.group:5d}  {c.runs:4d}/{c.size:<4d}  {budget:12s}  {source:14s} {c.run_mib:8.1f}  {c.static}")

    chunks = check_sweep(spec, max_pack=args.max_pack, task_source=args.task_source, on_chunk=show,
                         engine=engine_from_args(args))
    groups = len({c.group for c in chunks})
    print(f"ok: {len(chunks)} chunks in {groups} compiled program group(s); every program traces")
    return 0


def cmd_demo(args) -> int:
    """The main job on the embedded default: a small sweep, its analysis, then the app."""
    from gpicl_phase import demo

    return demo.main(store=args.store, serve=not args.no_app, port=args.port)
