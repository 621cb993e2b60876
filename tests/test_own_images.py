"""Your own images as the README says: a folder of class sub-folders through `snakemake all` with the
documented `mine` profile of params.yaml, uncommented, and no edit but the source path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartmining.config import load_params
from test_pipeline import make_project, snakemake

CLASSES = ["apple", "brick", "cloud", "daisy", "ember", "fjord"]  # 3 train, 3 test (sorted by name)


def colour_folder(root: Path, per_class: int = 10, size: int = 40) -> Path:
    """Six classes of RGB images: each class its own hue and stripe angle, with noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        hue = np.array([np.cos(c), np.cos(c + 2.1), np.cos(c + 4.2)]) * 0.5 + 0.5
        for i in range(per_class):
            angle = c * np.pi / 6 + rng.normal(0, 0.1)
            stripes = 0.5 + 0.5 * np.sin(12 * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 6))
            pixels = stripes[..., None] * hue + rng.normal(0, 0.05, (size, size, 3))
            Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB").save(root / name / f"{i}.jpg")
    return root


def uncommented_mine_profile(params_text: str, source: Path) -> str:
    """params.yaml with the documented `mine` template uncommented and its source set."""
    lines = params_text.splitlines()
    start = lines.index("  # mine:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  # "):
            break
        block.append("  " + line[4:])
    assert len(block) > 10
    text = "\n".join(block).replace("/path/to/my/images", str(source))
    assert text.count(str(source)) == 1
    return params_text.rstrip("\n") + "\n" + text + "\n"


def test_the_template_is_commented_out_and_valid_once_uncommented(tmp_path: Path) -> None:
    params = (Path(__file__).resolve().parents[1] / "params.yaml").read_text()
    assert not re.search(r"^  mine:", params, re.M)  # commented in the hand-written file
    (tmp_path / "params.yaml").write_text(uncommented_mine_profile(params, tmp_path / "photos"))
    mine = load_params(tmp_path / "params.yaml", "mine")
    assert mine["transform"]["channels"] == 3 and mine["datasets"] == ["imagefolder"]
    assert load_params(tmp_path / "params.yaml", "cpu") == load_params(Path(__file__).resolve().parents[1] / "params.yaml", "cpu")


@pytest.mark.slow
def test_a_colour_image_folder_runs_through_the_pipeline_with_the_mine_profile(tmp_path: Path) -> None:
    photos = colour_folder(tmp_path / "photos")
    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project")
    params = project / "params.yaml"
    params.write_text(uncommented_mine_profile(params.read_text(), photos))
    snakemake(project, "all", "--config", "profile=mine")
    report = (project / "results" / "mine" / "REPORT.md").read_text()
    assert "imagefolder" in report
    run = project / "runs" / "mine" / "imagefolder" / "smart+global+adaptive" / "seed0"
    assert (run / "metrics.json").is_file()
    emb = np.load(run / "test_embeddings.npy")
    assert emb.shape == (30, 64)  # 3 test classes x 10 images
    log = (project / "logs" / "mine" / "train" / "imagefolder" / "smart" / "seed0.log").read_text()
    assert len(re.findall(r"epoch \d+: loss", log)) == 3 and "faiss.loader" not in log
    # RGB stays RGB: the network's first layer takes 3 channels
    import torch
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    first = next(v for k, v in state["model"].items() if v.ndim == 4)
    assert first.shape[1] == 3
