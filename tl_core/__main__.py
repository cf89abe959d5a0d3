"""Command line: ``python -m tl_core train|runs|predict|export|compare`` (see README)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import runfiles as rf
from .errors import UserError
from .registry import headline, metric_name


def _progress_line(st: dict) -> str:
    p = float(st.get("progress") or 0.0)
    bar = "#" * int(p * 30)
    eta = st.get("eta_s")
    eta_txt = f" ETA {int(eta)}s" if isinstance(eta, (int, float)) else ""
    return f"\r[{bar:<30}] {p * 100:5.1f}% {st.get('phase', ''):<20}{eta_txt}   "


def follow(run_dir: Path) -> int:
    """Print a progress bar until the run ends; Ctrl-C asks the run to stop (it saves a checkpoint)."""
    from . import runs

    shown = ""
    try:
        while True:
            st = runs.status(run_dir)
            line = _progress_line(st)
            if line != shown:  # redraw only on change: keeps logs of non-interactive runs short
                sys.stdout.write(line)
                sys.stdout.flush()
                shown = line
            if st["phase"] in rf.FINAL_PHASES and not runs.is_active(run_dir):
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nStopping (a checkpoint is saved; resume with: python -m tl_core runs resume RUN_DIR) ...")
        st = runs.stop(run_dir)
    print()
    if st["phase"] == "done":
        res = rf.read_json(run_dir / rf.RESULTS, {})
        print("metrics:", json.dumps(res.get("metrics", {})))
        return 0
    if st["phase"] == "failed":
        hint = f"\n  (command line: {st['cli_hint']})" if st.get("cli_hint") else ""
        print(f"FAILED: {st.get('error')}{hint}", file=sys.stderr)
        return 1
    print(f"stopped; checkpoint: {st.get('checkpoint')}")
    return 0


def data_arg(value: str) -> str:
    """A data file, folder or zip as an absolute path; a Hub dataset reference (``hub:ID...``) unchanged."""
    return value if value.startswith("hub:") else str(Path(value).resolve())


def cmd_train(ns: argparse.Namespace) -> int:
    from . import runs
    from .config import RunConfig

    cfg = RunConfig.from_file(ns.preset)
    overrides = list(ns.set or [])
    if ns.data:
        overrides.append(f"data.train_file={data_arg(ns.data)}")
    if ns.eval_data:
        overrides.append(f"data.eval_file={data_arg(ns.eval_data)}")
    if ns.model:
        overrides.append(f"model={ns.model}")
    cfg = cfg.with_overrides(overrides)
    plan, own_file = launch_plan(ns)
    run_dir = runs.create_run(
        cfg,
        runs_root=ns.runs_root,
        run_dir=Path(ns.run_dir) if ns.run_dir else None,
        plan=plan,
        accelerate_config=own_file,
    )
    print(run_dir)
    pid = runs.start(run_dir)  # the plan stored in the run folder: a resume launches the same way
    if ns.no_wait:
        return 0
    if plan.machine_rank > 0:
        # Only the main machine's rank 0 writes the run's progress and results; here, wait for this machine's part.
        print(f"machine {plan.machine_rank} of {plan.num_machines}: progress and results are on the main machine")
        return runs.exit_code(pid)
    return follow(run_dir)


def launch_plan(ns: argparse.Namespace) -> tuple:
    """The launch plan the train flags describe (launch_profiles.LaunchPlan), and the user's own accelerate config
    file when one was given (its process and machine counts apply unless a flag says otherwise)."""
    from . import launch_profiles as lp

    counts = {
        "num_processes": ns.num_processes,
        "num_machines": ns.num_machines,
        "machine_rank": ns.machine_rank,
        "main_process_ip": ns.main_process_ip,
        "main_process_port": ns.main_process_port,
    }
    if ns.accelerate_config:
        own = Path(ns.accelerate_config).resolve()
        if not own.is_file():
            raise UserError(f"--accelerate-config: {own} is not a file.")
        return lp.plan_from_file(own, **counts), own
    profile = ns.profile or lp.default_plan().profile
    return lp.LaunchPlan(profile, **{k: v for k, v in counts.items() if v is not None}), None


def cmd_runs(ns: argparse.Namespace) -> int:
    from . import runs

    if ns.action == "list":
        for row in runs.list_runs(ns.runs_root):
            key, value = headline(row["task"], row["metrics"])
            metric = f"{metric_name(key)}={value:.3f}" if value is not None else ""
            print(f"{row['run_dir']}\t{row['task']}\t{row['method']}\t{row['phase']}\t{metric}")
        return 0
    if not ns.run_dir:
        raise UserError(f"'runs {ns.action}' needs a RUN_DIR.")
    run_dir = Path(ns.run_dir)
    if ns.action == "status":
        print(json.dumps(runs.status(run_dir), indent=2, default=str))
    elif ns.action == "stop":
        print(runs.stop(run_dir)["phase"])
    elif ns.action == "resume":
        runs.resume(run_dir)
        return follow(run_dir)
    return 0


def cmd_predict(ns: argparse.Namespace) -> int:
    from .predict import Predictor, rows_to_csv

    predictor = Predictor.from_run(ns.run_dir)
    target = Path(ns.input)
    single_image = predictor.config.task == "image" and target.is_file() and target.suffix.lower() != ".zip"
    if target.exists() and not single_image:  # a table, folder or zip: batch scoring, CSV to stdout
        sys.stdout.write(rows_to_csv(predictor.predict_file(target, column=ns.column)))
    else:
        print(json.dumps(predictor.predict(str(target) if single_image else ns.input), indent=2))
    return 0


def cmd_export(ns: argparse.Namespace) -> int:
    from . import export

    if not ns.out and not ns.demo:
        raise UserError("Say where to write: --out DIR for the model, --demo DIR for a standalone demo app.")
    if ns.out:
        print(export.export_model(ns.run_dir, ns.out, merge=ns.merge))
    if ns.demo:
        print(export.export_demo(ns.run_dir, ns.demo))
    return 0


def cmd_compare(ns: argparse.Namespace) -> int:
    """One run per method on the same split, queued cheapest first; the table grows as runs finish."""
    from . import compare

    out = Path(ns.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = {}
    if ns.data:
        data["train_file"] = data_arg(ns.data)
    if ns.eval_data:
        data["eval_file"] = data_arg(ns.eval_data)
    configs = compare.method_configs(ns.task, ns.methods.split(","), data, ns.model, ns.set or [])
    run_dirs = compare.submit(configs, ns.runs_root or out / "runs")
    print(f"Comparing {', '.join(c.method for c in configs)} (queued cheapest first); runs in {run_dirs[0].parent}")
    comparison = compare.follow(run_dirs, out)
    rec = comparison["recommendation"] or {}
    print(f"Recommendation: {rec.get('reason')}")
    print(f"Wrote {out / compare.COMPARISON}")
    failed = [r for r in comparison["rows"] if r["phase"] != "done"]
    for r in failed:
        print(
            f"error: {r['method']} {r['phase']}: {r.get('error') or 'see its train.log'} ({r['run_dir']})",
            file=sys.stderr,
        )
    if comparison["same_split"] is False:
        print("error: the runs did not use the same split (data hashes differ); see comparison.json.", file=sys.stderr)
        return 1
    return 1 if failed else 0


def _hardware_flags(tr: argparse.ArgumentParser) -> None:
    from .launch_profiles import PROFILES

    hw = tr.add_argument_group("hardware (README: Bigger runs); stored with the run, so a resume launches the same")
    hw.add_argument(
        "--profile",
        choices=list(PROFILES),
        help="local, ddp, fsdp, deepspeed2/3 (default: ddp with several GPUs, else local)",
    )
    hw.add_argument(
        "--num-processes", type=int, help="processes per machine (default: 1 for local, one per GPU otherwise)"
    )
    hw.add_argument("--num-machines", type=int, help="machines taking part (default 1)")
    hw.add_argument("--machine-rank", type=int, help="this machine's rank, 0 = the main one (default 0)")
    hw.add_argument("--main-process-ip", help="address of machine 0 (needed with several machines)")
    hw.add_argument("--main-process-port", type=int, help="port on machine 0 (default 29500)")
    hw.add_argument("--accelerate-config", help="your own accelerate config file, used as is (instead of --profile)")


def cmd_advise(ns: argparse.Namespace) -> int:
    from .advise import advise, format_advice
    from .config import DataConfig, load_preset

    data = DataConfig(
        train_file=data_arg(ns.data) if ns.data else None, eval_file=data_arg(ns.eval_data) if ns.eval_data else None
    )
    current = None
    if ns.method:  # check the settings the user means to run, too (memory warning, estimate)
        current = load_preset(ns.task, ns.method).with_overrides(
            [*(ns.set or []), *([f"model={ns.model}"] if ns.model else [])]
        )
    result = advise(ns.task, data, ns.model, current=current)
    print(json.dumps(result, default=str) if ns.json else format_advice(result))
    return 0


def _task_data_model_args(p: argparse.ArgumentParser) -> None:
    """What compare and advise both need: the task, its data (files or a Hub dataset) and the model."""
    p.add_argument("--task", required=True, choices=["text", "image", "ner"])
    p.add_argument("--data", help="training data file/folder/zip or hub:ID[:CONFIG][@SPLIT] (default: the sample)")
    p.add_argument("--eval-data", help="separate evaluation data (default: a split of --data)")
    p.add_argument("--model", help="Hub id, local folder or bundled:<name> (default: the presets' bundled model)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tl_core", description="Transfer learning from the command line.")
    parser.add_argument("--runs-root", type=Path, default=None, help="folder holding runs (default: $TL_HOME/runs)")
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="start a run from a preset and follow it")
    tr.add_argument("--preset", required=True, help="presets/{text,image,ner}-{full,lora,features}.yaml")
    tr.add_argument("--data", help="training data file/folder/zip (default: the bundled sample)")
    tr.add_argument("--eval-data", help="separate evaluation data (default: a split of --data)")
    tr.add_argument("--model", help="Hub id, local folder or bundled:<name>")
    tr.add_argument("--run-dir", help="run folder to create (default: a new folder under --runs-root)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. train.epochs=1")
    _hardware_flags(tr)
    tr.add_argument("--no-wait", action="store_true", help="print the run folder and return at once")
    tr.set_defaults(func=cmd_train)

    ru = sub.add_parser("runs", help="list, inspect, stop or resume runs")
    ru.add_argument("action", choices=["list", "status", "stop", "resume"])
    ru.add_argument("run_dir", nargs="?")
    ru.set_defaults(func=cmd_runs)

    pr = sub.add_parser("predict", help="predict with a finished run")
    pr.add_argument("run_dir")
    pr.add_argument("input", help="a text, an image path, or a file/folder/zip to score in batch (CSV out)")
    pr.add_argument("--column", help="text column of a batch file (default: detected)")
    pr.set_defaults(func=cmd_predict)

    co = sub.add_parser("compare", help="train several methods on the same split and compare them in one table")
    _task_data_model_args(co)
    co.add_argument("--methods", default="features,lora,full", help="comma-separated, run cheapest first")
    co.add_argument("--out", required=True, help="folder for comparison.json (and the runs, unless --runs-root)")
    co.add_argument("--set", action="append", metavar="[METHOD:]KEY=VALUE", help="override for every method or one")
    co.set_defaults(func=cmd_compare)
    ad = sub.add_parser("advise", help="recommend a method and settings, with time and memory estimates, before a run")
    _task_data_model_args(ad)
    ad.add_argument("--method", choices=["features", "lora", "full"], help="also check this method's preset + --set")
    ad.add_argument("--set", action="append", metavar="KEY=VALUE", help="with --method: a config override")
    ad.add_argument("--json", action="store_true", help="print one JSON object")
    ad.set_defaults(func=cmd_advise)

    ex = sub.add_parser("export", help="write a finished run as a portable model folder (and/or a demo app)")
    ex.add_argument("run_dir")
    ex.add_argument("--out", help="folder for the model (loads with transformers / peft / sentence-transformers)")
    ex.add_argument("--demo", help="folder for a standalone Gradio demo app of the model")
    ex.add_argument(
        "--merge",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="LoRA: put the merged model at the top level (default) besides adapter/",
    )
    ex.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return ns.func(ns)
    except UserError as err:
        print(f"error: {err.for_cli()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
