"""Parameters that depend on the data, checked against the prepared data before a run starts.

A profile written for one dataset can ask too much of another (your own, smaller one): more neighbours
than training images, batches larger than the training set, more classes a batch than the data holds,
Recall@K past the test images, or grey input for colour photos. Each is a SmartMiningError that names the
key, its value and a value that works, raised before the run folder is created.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from smartmining.errors import SmartMiningError
from smartmining.methods import MethodSpec
from smartmining.settings import Settings
from smartmining.training.data import RunData

COLOUR_SAMPLE = 8  # training images looked at to tell colour from grey


def data_problems(method: MethodSpec, settings: Settings, labels: dict[str, np.ndarray]) -> list[str]:
    """Every data-dependent parameter of the run that the data cannot satisfy, as 'key = value: why; set ...'.
    ``labels``: the class labels of each split present (train, val, test, ...)."""
    train = labels["train"]
    n_train = len(train)
    classes, counts = np.unique(train, return_counts=True)
    usable = int((counts >= 2).sum())
    t, problems = settings.train, []
    if t.batch_triplets > n_train:
        problems.append(f"train.batch_triplets = {t.batch_triplets} exceeds the {n_train} training images; "
                        f"set it to at most {n_train}")
    if method.miner == "smart" and settings.mining.k >= n_train:
        problems.append(f"mining.k = {settings.mining.k} must be smaller than the {n_train} training images; "
                        f"set it to at most {n_train - 1}")
    if method.miner == "semihard" and t.semihard_classes > usable:
        problems.append(f"train.semihard_classes = {t.semihard_classes} (P of P x K) exceeds the {usable} training "
                        f"classes with at least 2 images; set it to at most {usable}")
    for split in ("val", "test"):
        if split in labels:
            n = len(labels[split])
            too_big = [k for k in settings.evaluation.ks if k >= n]
            if too_big:
                problems.append(f"evaluation.ks = {list(settings.evaluation.ks)}: Recall@{too_big[0]} needs more than "
                                f"{too_big[0]} {split} images, the data has {n}; use values below {n}")
    return problems


def colour_problem(settings: Settings, paths: list[str], data_dir: Path, dataset: str) -> str | None:
    """Grey input (transform.channels = 1) for colour images (``paths``: training images) would throw the
    colour away: say so."""
    if int(settings.transform["channels"]) != 1:
        return None
    for path in paths[:COLOUR_SAMPLE]:
        try:
            with Image.open(Path(data_dir) / path) as image:
                bands = image.getbands()
                colour = len(bands) >= 3 and _differs(image)
        except (OSError, UnidentifiedImageError):
            continue
        if colour:
            return (f"transform.channels = 1 but the images of dataset {dataset!r} are in colour ({path}); set "
                    f"transform.channels: 3 with a 3-value transform.normalize (see profiles.mine in params.yaml), "
                    f"or convert the images to grey first")
    return None


def _differs(image: Image.Image) -> bool:
    """Whether an RGB(A) image holds colour (its bands differ), not grey stored as RGB."""
    rgb = np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 1]).max() > 8 or np.abs(rgb[..., 1] - rgb[..., 2]).max() > 8)


def check_run_data(method: MethodSpec, settings: Settings, data: RunData, data_dir: Path, dataset: str) -> None:
    """Raise one SmartMiningError listing every data-dependent parameter the prepared data cannot satisfy."""
    problems = data_problems(method, settings, {name: split.labels for name, split in data.splits.items()})
    colour = colour_problem(settings, list(data.split("train").paths), data_dir, dataset)
    if colour:
        problems.append(colour)
    if problems:
        raise SmartMiningError(f"dataset {dataset!r} in {data_dir}: " + "; ".join(problems))
