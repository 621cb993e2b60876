"""The pipeline's stage commands (pretrain, features, select); `smartmining.cli` adds them to its group."""

from __future__ import annotations

import json
from pathlib import Path

import click

from smartmining.cli_support import load, profile_options, threads_option, user_errors


@click.command()
@profile_options
@click.option("--dataset", required=True, help="Dataset name.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for backbone.pt [default: runs/PROFILE/DATASET/_pretrain].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Prepared dataset folder [default: data/PROFILE/DATASET].")
@threads_option
@user_errors
def pretrain(config_path: Path, profile: str | None, overrides: tuple[str, ...], dataset: str, out: Path | None,
             data_dir: Path | None, threads: int | None) -> None:
    """Pretrain the backbone on the dataset's source classes (disjoint from train, validation and test)."""
    from smartmining.runs import DATA_DIR, PRETRAIN_DIR
    from smartmining.training.job import pretrain_backbone

    cfg = load(config_path, profile, overrides)
    names = {"profile": cfg["profile"], "dataset": dataset}
    record = pretrain_backbone(cfg, dataset, data_dir or Path(DATA_DIR.format(**names)), out or Path(PRETRAIN_DIR.format(**names)),
                               threads=threads)
    click.echo(json.dumps(record, indent=2))


@click.command()
@profile_options
@click.option("--dataset", required=True, help="Dataset name.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="[default: runs/PROFILE/DATASET/_features].")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Prepared dataset folder [default: data/PROFILE/DATASET].")
@threads_option
@user_errors
def features(config_path: Path, profile: str | None, overrides: tuple[str, ...], dataset: str, out: Path | None,
             data_dir: Path | None, threads: int | None) -> None:
    """Cache the frozen blocks' outputs for every image (model.cache_frozen): runs train the rest on them."""
    from smartmining.runs import DATA_DIR, FEATURES_DIR
    from smartmining.training.job import cache_features

    cfg = load(config_path, profile, overrides)
    names = {"profile": cfg["profile"], "dataset": dataset}
    record = cache_features(cfg, dataset, data_dir or Path(DATA_DIR.format(**names)), out or Path(FEATURES_DIR.format(**names)),
                            threads=threads)
    click.echo(json.dumps(record, indent=2))


@click.command()
@profile_options
@click.option("--dataset", required=True, help="Dataset name.")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=None, help="Folder of the profile's runs [default: runs/PROFILE].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="selection JSON to write [default: results/PROFILE/selection/DATASET.json].")
@user_errors
def select(config_path: Path, profile: str | None, overrides: tuple[str, ...], dataset: str, runs_dir: Path | None,
           out: Path | None) -> None:
    """Choose each method's hyperparameters from its tuning runs, on validation classes (never on test classes)."""
    from smartmining import atomic
    from smartmining.runs import SELECTION_FILE
    from smartmining.selection import select as choose

    cfg = load(config_path, profile, overrides)
    chosen = choose(cfg, dataset, runs_dir or Path("runs") / cfg["profile"], cfg["evaluation"]["selection_metric"])
    atomic.write_json(out or Path(SELECTION_FILE.format(profile=cfg["profile"], dataset=dataset)), chosen)
    click.echo(json.dumps(chosen, indent=2))
