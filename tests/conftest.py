from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
# The select stage's choices for the smoke runs that train with them (the pipeline writes the real ones):
# the same values for every method; a run applies the ones its method tunes.
SMOKE_CHOSEN = {"train.lr": 0.0005, "train.mined_fraction": 0.5, "mining.kappa": 2.0, "controller.target_error": 0.5}
SMOKE_SELECTION = {"methods": {m: {"chosen": SMOKE_CHOSEN} for m in
                               ("random", "random+global", "semihard", "hard", "smart", "smart+global",
                                "smart+global+adaptive", "smart+global+adaptive-paper", "smart+adaptive", "smart-xbm")}}


@pytest.fixture(scope="session")
def smoke_profile() -> dict:
    from smartmining.config import load_params

    return load_params(PARAMS, "smoke")


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory: pytest.TempPathFactory, smoke_profile: dict) -> Path:
    """The smoke profile's glyphs, rendered once per test session."""
    from smartmining.data.registry import prepare_dataset

    root = tmp_path_factory.mktemp("glyphs-smoke")
    prepare_dataset("glyphs", root, **smoke_profile["data"]["glyphs"])
    return root


@pytest.fixture(scope="session")
def smoke_backbone(tmp_path_factory: pytest.TempPathFactory, smoke_profile: dict, smoke_data: Path) -> Path:
    """The smoke profile's pretrain stage, run once per test session."""
    from smartmining.training.job import pretrain_backbone

    out = tmp_path_factory.mktemp("pretrain-smoke")
    pretrain_backbone(smoke_profile, "glyphs", smoke_data, out)
    return out / "backbone.pt"


@pytest.fixture(scope="session")
def train_smoke(smoke_data: Path, smoke_backbone: Path) -> Callable[..., dict]:
    """train_smoke(profile, out, method=..., seed=0, **options): one run on the smoke data, as the CLI runs it."""
    from smartmining.training.job import train_named

    def run(profile: dict, out: Path, method: str = "smart+global+adaptive", seed: int = 0, data: Path | None = None,
            **options: object) -> dict:
        return train_named(profile, "glyphs", method, seed, out, data or smoke_data, selection=SMOKE_SELECTION,
                           init_from=smoke_backbone, progress=False, **options)

    return run


@pytest.fixture(autouse=True)
def _private_download_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own download folder: no test reads or writes ~/.cache/smartmining/downloads."""
    folder = tmp_path_factory.mktemp("downloads") / "dl"
    monkeypatch.setenv("SMARTMINING_DOWNLOADS", str(folder))
    return folder
