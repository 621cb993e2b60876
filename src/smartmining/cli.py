"""The command line: ``smartmining SUBCOMMAND --help``. The pipeline's rules call these and hold no logic."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from smartmining import cli_stages
from smartmining.cli_support import (Main, check_dataset_options, config_option, load, profile_option,
                                     profile_options, setup_logging, threads_option, user_errors)
from smartmining.errors import SmartMiningError


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smartmining")
@click.option("-v", "--verbose", is_flag=True, help="Log more (FAISS's loader included).")
def main(verbose: bool) -> None:
    """Smart Mining for Deep Metric Learning (Harwood et al., ICCV 2017), reproduced."""
    setup_logging(verbose)


for _stage in (cli_stages.pretrain, cli_stages.features, cli_stages.select):
    main.add_command(_stage)


@main.command()
@click.option("--dataset", required=True, help="Dataset name (see `smartmining datasets`).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset folder: images and manifest.csv.")
@profile_options
@click.option("--no-config", is_flag=True, help="Ignore params.yaml; use the dataset's default options.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Dataset option (repeatable).")
@user_errors
def prepare(dataset: str, out: Path, config_path: Path, profile: str | None, overrides: tuple[str, ...],
            no_config: bool, options: tuple[str, ...]) -> None:
    """Prepare a dataset: render or download it, write manifest.csv with a class-disjoint split."""
    import yaml

    from smartmining.data.registry import prepare_dataset

    from smartmining.runs import prepare_options

    opts: dict[str, Any] = {} if no_config else prepare_options(load(config_path, profile, overrides), dataset)
    for text in options:
        key, _, value = text.partition("=")
        if not _:
            raise SmartMiningError(f"--option {text!r}: expected KEY=VALUE")
        opts[key] = yaml.safe_load(value)
    check_dataset_options(dataset, opts, {text.partition("=")[0] for text in options})
    manifest = prepare_dataset(dataset, out, **opts)
    click.echo(str(manifest))


@main.command()
@profile_options
@click.option("--dataset", required=True, help="Dataset name.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Prepared dataset folder [default: data/PROFILE/DATASET].")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the splits' counts here (JSON).")
@user_errors
def check(config_path: Path, profile: str | None, overrides: tuple[str, ...], dataset: str, data_dir: Path | None,
          out: Path | None) -> None:
    """Check the profile against the prepared dataset before any training: every stage's data-dependent
    parameters (validation classes for the selection sweeps, evaluation.ks, mining.k, batch sizes)."""
    from smartmining import atomic
    from smartmining.profilecheck import check_dataset
    from smartmining.runs import DATA_DIR

    cfg = load(config_path, profile, overrides)
    counts = check_dataset(cfg, dataset, data_dir or Path(DATA_DIR.format(profile=cfg["profile"], dataset=dataset)))
    if out is not None:
        atomic.write_json(out, {"dataset": dataset, "splits": counts})
    click.echo(json.dumps(counts))


@main.command()
def datasets() -> None:
    """List the registered datasets."""
    from smartmining.data.registry import available_datasets

    for name in available_datasets():
        click.echo(name)


@main.command()
def methods() -> None:
    """List the method names of the matrix."""
    from smartmining.methods import METHODS

    for spec in METHODS.values():
        law = f" law={spec.law}" if spec.law else ""
        click.echo(f"{spec.name:28s} miner={spec.miner} global={spec.use_global} adaptive={spec.adaptive}{law}")


def _selection(path: Path | None, cfg: dict[str, Any], dataset: str, name: str) -> dict[str, Any] | None:
    """The select stage's choices where the run trains with them (--selection, else the pipeline's file)."""
    from smartmining.runs import SELECTION_FILE, selected_keys

    if not selected_keys(cfg, name):
        return None
    path = path or Path(SELECTION_FILE.format(profile=cfg["profile"], dataset=dataset))
    if not path.is_file():
        raise SmartMiningError(f"{path}: no such file; run {name!r} trains with hyperparameters chosen on validation "
                               f"classes: run the pipeline's select stage first, or pass --selection FILE")
    return json.loads(path.read_text())


@main.command()
@profile_options
@click.option("--dataset", required=True, help="Dataset name.")
@click.option("--method", required=True,
              help="Method name (see `smartmining methods`), or a sweep point: sweep-kappa-V, sweep-fraction-V, sweep-kappa0-V.")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="Seed of every random source of the run.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder (resumes from its checkpoint).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Prepared dataset folder [default: data/PROFILE/DATASET].")
@click.option("--selection", type=click.Path(path_type=Path), default=None,
              help="The select stage's choices [default: results/PROFILE/selection/DATASET.json, where the run needs them].")
@click.option("--init-from", type=click.Path(path_type=Path), default=None,
              help="The pretrain stage's backbone [default: runs/PROFILE/DATASET/_pretrain/backbone.pt when model.init = pretrain].")
@threads_option
@click.option("--quiet", is_flag=True, help="No progress bars (for pipelines).")
@click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and train from scratch.")
@click.option("--restart-if-changed", is_flag=True,
              help="Train from scratch when the checkpoint was written with other parameters (else: an error).")
@user_errors
def train(config_path: Path, profile: str | None, overrides: tuple[str, ...], dataset: str, method: str, seed: int,
          out: Path, data_dir: Path | None, selection: Path | None, init_from: Path | None, threads: int | None,
          quiet: bool, restart: bool, restart_if_changed: bool) -> None:
    """Train one (dataset, method or sweep point, seed) run; writes epochs.csv, metrics.json, embeddings, checkpoint.

    Under `torchrun --nproc_per_node=N -m smartmining train ...` the N processes train the one run together.
    """
    from smartmining.runs import DATA_DIR
    from smartmining.training.job import train_named

    cfg = load(config_path, profile, overrides)
    data_dir = data_dir or Path(DATA_DIR.format(profile=cfg["profile"], dataset=dataset))
    final = train_named(cfg, dataset, method, seed, out, data_dir, selection=_selection(selection, cfg, dataset, method),
                        init_from=init_from, progress=not quiet, restart=restart, restart_if_changed=restart_if_changed,
                        threads=threads)
    if os.environ.get("RANK", "0") == "0":  # under torchrun: rank 0 reports
        click.echo(json.dumps(final, indent=2))


@main.command()
@click.option("--embeddings", type=click.Path(path_type=Path), required=True, help="N x d .npy file.")
@click.option("--labels", type=click.Path(path_type=Path), required=True, help="N .npy file of integer labels.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="metrics.json to write.")
@click.option("--k", "ks", type=click.IntRange(min=1), multiple=True,
              help="Recall@K values [default: the profile's evaluation.ks where --config exists, else 1 2 4 8].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the k-means clustering for NMI [default: the profile's evaluation.seed, else 0].")
@config_option
@profile_option
@user_errors
def evaluate(embeddings: Path, labels: Path, out: Path, ks: tuple[int, ...], seed: int | None, config_path: Path,
             profile: str | None) -> None:
    """Recall@K, NMI, MAP@R and R-precision of saved embeddings."""
    from smartmining.evaluation.io import evaluate_files
    from smartmining.settings import EvaluationSettings, Settings

    ev: EvaluationSettings | None = Settings.of(load(config_path, profile, ())).evaluation if config_path.is_file() else None
    ks = ks or (ev.ks if ev else (1, 2, 4, 8))
    seed = seed if seed is not None else (ev.seed if ev else 0)
    metrics = evaluate_files(embeddings, labels, out, ks=ks, seed=seed)
    click.echo(json.dumps(metrics, indent=2))


@main.command()
@profile_options
@click.option("--dataset", default="glyphs", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for metrics.json and the embeddings [default: results/PROFILE/untrained/DATASET/seedSEED].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Prepared dataset folder [default: data/PROFILE/DATASET].")
@click.option("--init-from", type=click.Path(path_type=Path), default=None,
              help="Evaluate the pretrain stage's backbone (pretrained-only baseline) instead of the untrained network.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="The seed of the new head (and of the class split, with train.redraw_split).")
@click.option("--kind", type=click.Choice(["untrained", "pretrained"]), default=None,
              help="untrained: random weights; pretrained: the network runs start from [default: pretrained with --init-from].")
@threads_option
@user_errors
def baseline(config_path: Path, profile: str | None, overrides: tuple[str, ...], dataset: str, out: Path,
             data_dir: Path | None, init_from: Path | None, seed: int, kind: str | None, threads: int | None) -> None:
    """Evaluate the untrained (or pretrained-only) network on the test split: the floors of every table."""
    from smartmining.runs import DATA_DIR, RESULTS_DIR
    from smartmining.training.job import baseline as run_baseline

    cfg = load(config_path, profile, overrides)
    names = {"profile": cfg["profile"], "dataset": dataset}
    kind = kind or ("pretrained" if init_from else "untrained")
    out = out or Path(RESULTS_DIR.format(**names)) / kind / dataset / f"seed{seed}"
    metrics = run_baseline(cfg, dataset, data_dir or Path(DATA_DIR.format(**names)), out, init_from=init_from,
                           seed=seed, kind=kind, threads=threads)
    click.echo(json.dumps(metrics, indent=2))


@main.command()
@profile_options
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the profile's runs [default: runs/PROFILE].")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Folder of the profile's prepared datasets, for the triplet galleries [default: data/PROFILE].")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Results folder [default: results/PROFILE].")
@click.option("--readme", type=click.Path(path_type=Path), default=None,
              help="Also rewrite this README's results block of the profile (between <!-- results:PROFILE:start/end -->).")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="readings.json to compare this run's readings with [default: the committed results/PROFILE/readings.json].")
@click.option("--no-reference", is_flag=True, help="Compare with no reference report.")
@click.option("--logs", type=click.Path(path_type=Path), default=None,
              help="The pipeline's logs, which say why a dataset is missing [default: logs/PROFILE].")
@user_errors
def report(config_path: Path, profile: str | None, overrides: tuple[str, ...], runs_dir: Path | None,
           data_root: Path | None, out: Path | None, readme: Path | None, reference: Path | None,
           no_reference: bool, logs: Path | None) -> None:
    """Tables, figures and REPORT.md from the run logs and embeddings of a profile; the readings compared with a
    reference report's (held, changed, contradicted)."""
    from smartmining.report.build import build_report
    from smartmining.report.readme import update_readme

    cfg = load(config_path, profile, overrides)
    name = cfg["profile"]
    out = out or Path("results") / name
    path = build_report(cfg, runs_dir or Path("runs") / name, out, data_root or Path("data") / name,
                        reference=reference, use_reference=not no_reference, echo=lambda line: click.echo(line, err=True),
                        logs=logs or Path("logs") / name)
    if readme is not None:
        update_readme(readme, out, name)
    click.echo(str(path))


@main.command()
@click.option("--embeddings", type=click.Path(path_type=Path), required=True, help="N x d .npy file.")
@click.option("--labels", type=click.Path(path_type=Path), required=True, help="N .npy file of integer labels.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="triplets CSV to write: anchor,positive,negative,is_random (row indices).")
@click.option("--kappa", type=float, default=4.0, show_default=True,
              help="Scale of the exclusion boundary (eq. 6); with --controller, its kappa0 if the state file is new.")
@click.option("--k", type=int, default=200, show_default=True, help="Neighbour list length (grown where no positive).")
@click.option("--index", type=click.Choice(["flat", "hnsw", "ivf"]), default="flat", show_default=True,
              help="FAISS index of the neighbour lists.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random draws.")
@click.option("--controller", "controller_path", type=click.Path(path_type=Path), default=None,
              help="Adaptive kappa: a KappaController state JSON (created if missing), read and written back.")
@click.option("--error", type=float, default=None,
              help="With --controller: training error of the epoch trained on its kappa, observed before mining.")
@click.option("--controller-out", type=click.Path(path_type=Path), default=None,
              help="Write the controller state here instead of back to --controller.")
@user_errors
def mine(embeddings: Path, labels: Path, out: Path, kappa: float, k: int, index: str, seed: int,
         controller_path: Path | None, error: float | None, controller_out: Path | None) -> None:
    """Smart mining (Algorithm 1) on saved embeddings: one triplet per point, written as CSV."""
    from smartmining.mining.files import mine_files

    stats = mine_files(embeddings, labels, out, kappa=kappa, k=k, index=index, seed=seed,
                       controller=controller_path, error=error, controller_out=controller_out)
    click.echo(json.dumps(stats, indent=2))
