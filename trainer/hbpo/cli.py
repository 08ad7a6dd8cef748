"""Command line: python -m hbpo train | resume | eval | validate | testbed build/status | export-gguf | grade | problems.

Exit codes: 0 success (a stopped run is a success), 1 the run failed, 2 bad input (nothing ran).
`grade` exits 0 at the end of its input; a bad input line is answered with an error line instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .config import ConfigError, default_config_path, load_config, to_dict
from .diskfull import DiskFullError
from .data import DataError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m hbpo", description="Hierarchical Budget Policy Optimization")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set train.steps=2 --set tiers=[32,64]")
        p.add_argument("--events-stdout", action="store_true", help="also stream events as JSON lines on stdout")

    def nproc(p):
        p.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="train with N processes on this node under torchrun (one GPU each on CUDA, "
                            "gloo on CPU); each step's queries are shared out whole")

    p = sub.add_parser("train", help="start a run")
    p.add_argument("--config", help="YAML or JSON config (default: the built-in testbed config)")
    common(p)
    nproc(p)

    p = sub.add_parser("resume", help="continue an interrupted run from its folder")
    p.add_argument("run_dir")
    common(p)
    nproc(p)

    p = sub.add_parser("eval", help="evaluate a checkpoint")
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder (runs/<id>/checkpoints/step-N)")
    p.add_argument("--data", required=True, help="a .json/.jsonl benchmark file or testbed:<split>")
    p.add_argument("--mode", default="natural", help="natural | efficiency | tier:<budget> (default natural)")
    p.add_argument("--limit", type=int, help="first N problems only")
    p.add_argument("--run", help="also append the result as an eval event to this run folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    p = sub.add_parser("validate", help="check a config without running anything")
    p.add_argument("--config", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="print {ok, problems, config} as JSON")

    p = sub.add_parser("testbed", help="the built-in testbed's over-thinking base model")
    tb = p.add_subparsers(dest="testbed_command", required=True)
    b = tb.add_parser("build", help="build the base model (model.path: testbed:base) into the cache, "
                                    "or find it there; prints {path, manifest} as JSON")
    b.add_argument("--rebuild", action="store_true", help="build again even if a usable one is cached")
    b.add_argument("--version", type=int, default=2, help="testbed.version: 2 (default) or 3 (slips and checks)")
    st = tb.add_parser("status", help="whether the base model is built and cached on this machine, without building; "
                                      "prints {cached, path, reason} as JSON")
    st.add_argument("--version", type=int, default=2, help="testbed.version (default 2)")
    c = tb.add_parser("curve", help="does thinking longer pay? the base model's accuracy per difficulty when its "
                                    "thinking is cut at b tokens and the answer forced; a table, an SVG and the "
                                    "acceptance criterion")
    c.add_argument("--version", type=int, default=2, help="testbed.version of the base model (default 2)")
    c.add_argument("--limit", type=int, default=300, help="test problems (default 300, balanced)")
    c.add_argument("--budgets", default=None, help="comma-separated budgets b (default 16,24,...,256)")
    c.add_argument("--samples", type=int, default=4, help="natural samples per problem (default 4)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="runs/testbed-curve", help="folder for curve-v<version>.{json,md,svg}")
    e = tb.add_parser("experiment", help="the paper's claims on the testbed with error bars: the SFT base, HBPO 4/2/1 "
                                         "tiers, cosine, L1-exact and GRPO with one compute budget, over seeds and "
                                         "training mixes; prints and writes a table and the claims' verdicts")
    e.add_argument("--out", default="runs/experiment", help="folder for the runs and results.{json,md}")
    e.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3: run.seed, +1, +2)")
    e.add_argument("--steps", type=int, default=40, help="training steps per method (default 40)")
    e.add_argument("--limit", type=int, default=300, help="test problems to evaluate (default 300, balanced)")
    e.add_argument("--mix", nargs="+", default=["default", "hard-heavy"],
                   help="training mixes: default (testbed:train), hard-heavy (1:1:3) or e:m:h weights "
                        "(default: default hard-heavy)")
    e.add_argument("--methods", nargs="+", help="a subset of: hbpo-4tier hbpo-2tier hbpo-1tier cosine l1-exact grpo")
    e.add_argument("--version", type=int, default=None, help="testbed.version of the base model (default: the config's)")
    e.add_argument("--config", help="base config (default: the built-in testbed config)")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value for every method")
    k = tb.add_parser("collapse", help="what wrecks hard problems under HBPO: per-tier length and accuracy over "
                                       "training by difficulty, for the default, a smaller step size and tiers "
                                       "that fit every minimal solution")
    k.add_argument("--version", type=int, default=2, help="testbed.version of the base model (default 2)")
    k.add_argument("--mix", default="hard-heavy", help="training mix (default hard-heavy, 1:1:3; or e:m:h)")
    k.add_argument("--steps", type=int, default=40, help="training steps per variant (default 40)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--variants", nargs="+", default=None, help="a subset of: default lr/5 tiers>=80")
    k.add_argument("--out", default="runs/collapse", help="folder for the runs and collapse.{json,md}")
    k.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value for every variant")

    p = sub.add_parser("export-gguf", help="convert a checkpoint (or an HF model folder, or testbed:base) "
                                           "to a GGUF file llama.cpp loads; prints a JSON summary")
    p.add_argument("source", help="runs/<id>/checkpoints/step-N, its model/ folder, an HF model folder, "
                                  "or testbed:base")
    p.add_argument("--out", help="the .gguf file (default: model.gguf next to model/, or "
                                 "./testbed-base.gguf for testbed:base)")
    p.add_argument("--dtype", choices=["f32", "f16"], default="f32",
                   help="storage of the weight matrices (default f32; norms and biases stay f32)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    sub.add_parser("grade", help="grade model outputs as the rollouts do: JSON lines "
                                 '{"id", "text", "ground_truth"} on stdin, one {"id", "answer", "correct"} '
                                 'line each on stdout (flushed); a bad line gets {"id", "error"}')
    p = sub.add_parser("problems", help="list the problems of a data file (or testbed:<split>) as the trainer reads "
                                        'them: one {"index", "id", "problem", "answer", "difficulty"} JSON line each')
    p.add_argument("data", help="a JSON-array or JSON Lines file, or testbed:train|val|test")
    p.add_argument("--limit", type=int, help="first N problems only")
    return ap


def main(argv: list[str] | None = None) -> int:
    if os.environ.get("TORCHELASTIC_ERROR_FILE"):  # a rank under torchrun: its error goes to the launcher
        from torch.distributed.elastic.multiprocessing.errors import record

        return record(_main)(argv)
    return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    args.argv = _without_nproc(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, DataError, FileExistsError) as exc:
        print(f"hbpo: {exc}", file=sys.stderr)
        return 2
    except DiskFullError as exc:  # the run's events hold the traceback; the user needs the reason
        print(f"hbpo: run failed: {exc}", file=sys.stderr)
        return 1


def cmd_train(args) -> int:
    path = args.config or default_config_path()
    overrides = args.overrides + (["events_stdout=true"] if args.events_stdout else [])
    # Relative paths in the built-in config resolve against the working directory.
    cfg = load_config(path, overrides, base_dir=None if args.config else Path.cwd())
    from .dist import under_torchrun
    from .launch import check_world, launch

    check_world(cfg, args.nproc)
    if args.nproc > 1 and not under_torchrun():
        from .train import run_name

        name = run_name(cfg)  # named here, so that the launcher and every rank agree on the folder
        argv = [a for a in (args.argv or []) if a]
        return launch(args.nproc, [*argv, "--set", f"run.name={name}"], Path(cfg.run.dir) / name)
    return _train_here(cfg, resume_dir=None)


def cmd_resume(args) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError([f"run_dir: {run_dir} has no config.yaml; is it a run folder?"])
    overrides = args.overrides + (["events_stdout=true"] if args.events_stdout else [])
    cfg = load_config(run_dir / "config.yaml", overrides)
    from .dist import under_torchrun
    from .launch import check_world, launch

    check_world(cfg, args.nproc)
    if args.nproc > 1 and not under_torchrun():
        return launch(args.nproc, list(args.argv or []), run_dir)
    return _train_here(cfg, resume_dir=run_dir)


def _train_here(cfg, *, resume_dir: Path | None) -> int:
    """Train in this process: alone, or as one rank of torchrun's (rank 0 makes the run folder)."""
    from .dist import broadcast, close_world, init_world
    from .launch import check_world
    from .model import pick_device
    from .train import new_run_dir, train  # heavy imports only once the config is known good

    world = init_world(pick_device(cfg.run.device).type)
    ended = False
    try:
        check_world(cfg, world.size)  # plain torchrun: its world size was not checked before
        run_dir = resume_dir
        if run_dir is None:
            made: Path | str | None = None
            if world.main:
                try:
                    made = new_run_dir(cfg)
                except FileExistsError as exc:
                    made = str(exc)
            made = broadcast(made, world)
            if isinstance(made, str):
                raise FileExistsError(made)
            run_dir = made
            if world.main:
                print(f"hbpo: run folder {run_dir}", file=sys.stderr, flush=True)
        status = train(cfg, run_dir, resume=resume_dir is not None, world=world)
        ended = status in ("finished", "stopped")
        return 0 if ended else 1
    finally:
        close_world(world, together=ended)


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line as given, less `--nproc N`: what each rank runs under torchrun."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def cmd_eval(args) -> int:
    from .checkpoint import load_state  # noqa: F401  (fail early if torch is missing)
    from .evaluate import evaluate
    from .events import EventLog
    from .model import load_policy, pick_device, pick_dtype
    from .modes import parse_mode
    from .sources import load_source, source_name

    ckpt = Path(args.checkpoint)
    if not (ckpt / "config.yaml").is_file() or not (ckpt / "model").is_dir():
        raise ConfigError([f"--checkpoint: {ckpt} is not a checkpoint folder (no config.yaml and model/)"])
    try:
        mode = parse_mode(args.mode)
    except ValueError as exc:
        raise ConfigError([f"--{exc}"]) from None
    cfg = load_config(ckpt / "config.yaml", args.overrides, check_files=False)
    try:
        problems = load_source(args.data, limit=args.limit)
    except FileNotFoundError:
        raise ConfigError([f"--data: no such file {args.data}"]) from None
    device = pick_device(cfg.run.device)
    model, tokenizer = load_policy(cfg.model, device, pick_dtype(cfg.model.dtype, device), seed=cfg.run.seed,
                                   weights_from=ckpt / "model", testbed_version=cfg.testbed.version)
    from .engines import make_engine

    engine = make_engine(cfg, model, tokenizer, device, next(model.parameters()).dtype)
    try:
        result = evaluate(engine, tokenizer, problems, mode, cfg, dataset=source_name(args.data))
    finally:
        engine.close()
    print(json.dumps(result, indent=2))
    if args.run:
        from .checkpoint import load_state as _load

        log = EventLog(Path(args.run) / "events.jsonl")
        log.emit("eval", _load(ckpt)["step"], **result)
        log.close()
    return 0


def cmd_validate(args) -> int:
    try:
        cfg = load_config(args.config, args.overrides)
    except (ConfigError, DataError) as exc:
        problems = getattr(exc, "problems", [str(exc)])
        if args.json:
            print(json.dumps({"ok": False, "problems": problems}))
            return 2
        raise
    from .devices import visible_cuda_devices

    # The GPU count lets the editor ask how many processes to start (one a GPU) when there are several.
    verdict = {"ok": True, "problems": [], "config": to_dict(cfg), "cuda_devices": visible_cuda_devices()}
    print(json.dumps(verdict, indent=None if args.json else 2))
    return 0


def cmd_testbed(args) -> int:
    from .testbed.build import MANIFEST, ensure_testbed_model, testbed_status

    from .config import TESTBED_VERSIONS
    from .testbed.build import recipe_for

    version = getattr(args, "version", None)
    if version is not None and version not in TESTBED_VERSIONS:
        raise ConfigError([f"--version: unknown testbed version {version} (known: {', '.join(map(str, TESTBED_VERSIONS))})"])
    if args.testbed_command == "status":
        print(json.dumps(testbed_status(recipe_for(version))))
        return 0
    if args.testbed_command == "curve":
        from .testbed.curve import BUDGETS, markdown, run_curve

        try:
            budgets = [int(b) for b in args.budgets.split(",")] if args.budgets else list(BUDGETS)
        except ValueError:
            raise ConfigError([f"--budgets: not a comma-separated list of token counts: {args.budgets!r}"]) from None
        if args.limit < 3 or not budgets or min(budgets) < 1 or args.samples < 1:
            raise ConfigError(["--limit: must be >= 3" if args.limit < 3 else "--samples: must be >= 1" if args.samples < 1
                               else "--budgets: every budget must be >= 1"])
        out = Path(args.out)
        result = run_curve(version=version, limit=args.limit, budgets=budgets, out=out, seed=args.seed,
                           samples=args.samples)
        print(markdown(result, result["budgets"]))
        print(f"{result['problems']} problems at T={result['temperature']} in {result['seconds']:.0f} s; "
              f"written: {out / f'curve-v{version}.json'}, .md, .svg")
        return 0
    if args.testbed_command == "collapse":
        from .testbed.collapse import VARIANTS, run_collapse
        from .testbed.experiment import parse_mix

        parse_mix(args.mix)
        if args.steps < 1:
            raise ConfigError(["--steps: must be >= 1"])
        out = Path(args.out)
        run_collapse(out, version=version, mix=args.mix, steps=args.steps, seed=args.seed,
                     variants=args.variants or list(VARIANTS), overrides=args.overrides)
        print((out / "collapse.md").read_text(encoding="utf-8"))
        return 0
    if args.testbed_command == "experiment":
        from .testbed.experiment import METHODS, parse_mix, run_experiment

        unknown = [m for m in args.methods or [] if m not in METHODS]
        if unknown:
            raise ConfigError([f"--methods: unknown method {unknown[0]!r} (known: {', '.join(METHODS)})"])
        if args.steps < 1 or args.limit < 3 or args.seeds < 1:
            raise ConfigError(["--steps: must be >= 1" if args.steps < 1 else "--limit: must be >= 3" if args.limit < 3
                               else "--seeds: must be >= 1"])
        for mix in args.mix:
            parse_mix(mix)
        out = Path(args.out)
        result = run_experiment(out, steps=args.steps, eval_limit=args.limit, seeds=args.seeds, mixes=args.mix,
                                methods=args.methods, version=args.version, config=args.config, overrides=args.overrides)
        print((out / "results.md").read_text(encoding="utf-8"))
        print(f"\nwritten: {out / 'results.json'}, {out / 'results.md'}")
        return 0
    folder = ensure_testbed_model(rebuild=args.rebuild, recipe=recipe_for(version))  # progress goes to stderr
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    print(json.dumps({"path": str(folder), "manifest": manifest}, indent=2))
    return 0


def cmd_export_gguf(args) -> int:
    from .gguf_export import ExportError, export_gguf, resolve_source

    try:
        source, default_out = resolve_source(args.source)
        summary = export_gguf(source, Path(args.out or default_out), dtype=args.dtype, force=args.force)
    except ExportError as exc:
        print(f"hbpo: export-gguf: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def _grade_line(raw: bytes, number: int, grade) -> dict:
    """The reply to one input line of `grade`: {id, answer, correct} or {id, error}."""
    def bad(message: str, id_=None) -> dict:
        return {"id": id_, "error": f"line {number}: {message}"}

    def no_constants(name: str):
        raise ValueError(f"{name} is not JSON")

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return bad(f"not UTF-8 ({exc})")
    try:
        item = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        return bad(f"not JSON ({exc})")
    if not isinstance(item, dict):
        return bad(f"expected a JSON object, got {type(item).__name__}")
    if "id" not in item:
        return bad('missing field "id"')
    id_ = item["id"]
    for field in ("text", "ground_truth"):
        if field not in item:
            return bad(f'missing field "{field}"', id_)
    if not isinstance(item["text"], str):
        return bad(f'field "text" must be a string, got {type(item["text"]).__name__}', id_)
    truth = item["ground_truth"]
    if not isinstance(truth, str):  # numbers and lists of strings: as the datasets' answers are normalized
        from .grading import normalize_ground_truth

        try:
            normalize_ground_truth(truth)
        except ValueError as exc:
            return bad(f'field "ground_truth": {exc}', id_)
    verdict = grade(item["text"], truth)
    return {"id": id_, "answer": verdict.extracted, "correct": verdict.correct}


def cmd_grade(args) -> int:
    """One output line per input line, in order, flushed at once so that a caller can stream items
    through one process. Blank lines are skipped. Grading runs in the main thread: math-verify's
    timeouts (signal.alarm) work only there."""
    from .grading import grade

    out = sys.stdout
    try:
        for number, raw in enumerate(sys.stdin.buffer, 1):
            if not raw.strip():
                continue
            reply = _grade_line(raw.strip(), number, grade)
            out.write(json.dumps(reply, allow_nan=False) + "\n")
            out.flush()
    except BrokenPipeError:  # the reader went away: nothing left to answer
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # no second error at exit's flush
        return 1
    return 0


def cmd_problems(args) -> int:
    """The problems and ground truths training and eval would use (the comparison panel's dataset items)."""
    from .sources import load_source

    try:
        problems = load_source(args.data, limit=args.limit)
    except FileNotFoundError:
        raise DataError(f"{args.data}: no such file") from None
    for index, p in enumerate(problems):
        print(json.dumps({"index": index, "id": p.id, "problem": p.problem, "answer": p.answer,
                          "difficulty": p.difficulty}, ensure_ascii=False))
    return 0


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "eval": cmd_eval, "validate": cmd_validate,
            "testbed": cmd_testbed, "export-gguf": cmd_export_gguf, "grade": cmd_grade,
            "problems": cmd_problems}
