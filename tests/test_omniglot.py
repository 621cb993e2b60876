"""Omniglot: from the npz conversion or the official zips (local or over HTTP), the same class-disjoint,
alphabet-disjoint splits and images; checksums; subsets by seed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_omniglot import FakeHalf, fake_half, write_npz, write_zip
from fixtures_paper import RangeServer
from PIL import Image

import smartmining.data.omniglot as omni
from smartmining.data.images import load_images_checked
from smartmining.data.manifest import file_md5, read_manifest
from smartmining.data.registry import prepare_dataset
from smartmining.errors import SmartMiningError

QUIET = {"progress": False, "retries": 1, "backoff": 0.0, "timeout": 5.0}


@pytest.fixture(scope="module")
def halves() -> dict[str, FakeHalf]:
    return {"background": fake_half("background", {"Alpha": 2, "Beta_(x)": 2}, seed=1),
            "evaluation": fake_half("evaluation", {"Gamma": 3}, seed=2)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, halves: dict[str, FakeHalf]) -> dict[str, Path | str]:
    folder = tmp_path_factory.mktemp("omniglot-files")
    out: dict[str, Path | str] = {}
    for half, data in halves.items():
        out[f"{half}_npz"], out[f"{half}_zip"] = folder / f"images_{half}.npz", folder / f"images_{half}.zip"
        out[f"{half}_sha256"] = write_npz(data, out[f"{half}_npz"])
        out[f"{half}_md5"] = write_zip(data, out[f"{half}_zip"])
    return out


def _checksums(files: dict) -> dict[str, str]:
    return {key: files[key] for key in ("background_sha256", "evaluation_sha256", "background_md5", "evaluation_md5")}


def _put(files: dict, folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(files[name], folder / Path(files[name]).name)


def test_npz_copies_give_background_train_and_evaluation_test(tmp_path: Path, files: dict, halves: dict,
                                                              _private_download_folder: Path) -> None:
    _put(files, _private_download_folder, "background_npz", "evaluation_npz")
    root = tmp_path / "omniglot"
    prepare_dataset("omniglot", root, image_size=105, val_classes=2, **_checksums(files), **QUIET)
    manifest = read_manifest(root / "manifest.csv")
    splits = manifest.groupby("class_name")["split"].first().to_dict()
    assert splits == {"bg-0001": splits["bg-0001"], "bg-0002": splits["bg-0002"], "bg-0003": splits["bg-0003"],
                      "bg-0004": splits["bg-0004"], "ev-0965": "test", "ev-0966": "test", "ev-0967": "test"}
    assert sorted(s for n, s in splits.items() if n.startswith("bg")) == ["train", "train", "val", "val"]
    assert (manifest.groupby("class_name").size() == 20).all()
    # Pixels: at the native size the stored PNG is the drawing, ink 0 on 255; md5 is the file's.
    row = manifest[(manifest["class_name"] == "ev-0966") & (manifest["path"].str.endswith("/07.png"))].iloc[0]
    pixels = np.asarray(Image.open(root / row["path"]))
    assert np.array_equal(pixels, np.where(halves["evaluation"].drawings[1, 6], 255, 0))
    assert row["md5"] == file_md5(root / row["path"])
    classes = (root / "classes.csv").read_text().splitlines()
    assert classes[0] == "label,class_name,pool,character,alphabet"
    assert classes[5].startswith("4,ev-0965,evaluation,965,")  # the npz form does not know alphabets
    # An ImageNet network sees 3 equal channels, dark ink on white.
    loaded = load_images_checked(manifest, root, "test", size=32, channels=3)
    assert loaded.images.shape[1] == 3 and (loaded.images == loaded.images[:, :1]).all()
    assert loaded.images.float().mean() > 200


def test_zips_over_http_give_the_same_manifest_and_name_alphabets(tmp_path: Path, files: dict,
                                                                  _private_download_folder: Path) -> None:
    _put(files, tmp_path / "npz", "background_npz", "evaluation_npz")
    by_npz = tmp_path / "from-npz"
    prepare_dataset("omniglot", by_npz, image_size=28, download_dir=str(tmp_path / "npz"), **_checksums(files),
                    **QUIET)
    served = {f"images_{h}.zip": Path(files[f"{h}_zip"]).read_bytes() for h in ("background", "evaluation")}
    with RangeServer(served) as server:
        urls = {f"{h}_urls": ["http://127.0.0.1:9/gone.zip", server.url(f"images_{h}.zip")]
                for h in ("background", "evaluation")}
        by_zip = tmp_path / "from-zip"
        prepare_dataset("omniglot", by_zip, image_size=28, **urls, **_checksums(files), **QUIET)
    assert sorted(p.name for p in _private_download_folder.iterdir()) == ["images_background.zip",
                                                                         "images_evaluation.zip"]
    assert read_manifest(by_zip / "manifest.csv").equals(read_manifest(by_npz / "manifest.csv"))
    classes = (by_zip / "classes.csv").read_text().splitlines()
    assert classes[1] == "0,bg-0001,background,1,Alpha" and classes[4] == "3,bg-0004,background,4,Beta_(x)"
    assert classes[7] == "6,ev-0967,evaluation,967,Gamma"
    assert Image.open(by_zip / "images" / "bg-0001" / "01.png").size == (28, 28)


def test_subsets_are_drawn_with_the_seed(tmp_path: Path, files: dict) -> None:
    _put(files, tmp_path / "dl", "background_npz", "evaluation_npz")
    chosen = {}
    for seed in range(6):
        manifest = omni.omniglot(tmp_path / f"s{seed}", background_classes=3, evaluation_classes=2, seed=seed,
                                 image_size=16, download_dir=str(tmp_path / "dl"), **_checksums(files), **QUIET)
        names = manifest.groupby("class_name")["split"].first()
        assert (names[names.index.str.startswith("bg")] == "train").all() and len(names) == 5
        assert (names[names.index.str.startswith("ev")] == "test").sum() == 2
        chosen[seed] = tuple(names.index)
    assert len(set(chosen.values())) > 1
    again = omni.omniglot(tmp_path / "again", background_classes=3, evaluation_classes=2, seed=3, image_size=16,
                          download_dir=str(tmp_path / "dl"), **_checksums(files), **QUIET)
    assert tuple(again.groupby("class_name").size().index) == chosen[3]


def test_a_copy_with_other_content_is_named_with_its_checksum(tmp_path: Path, files: dict) -> None:
    folder = tmp_path / "dl"
    _put(files, folder, "evaluation_npz")
    shutil.copy(files["evaluation_npz"], folder / "images_background.npz")  # the right name, the wrong half
    with pytest.raises(SmartMiningError) as err:
        omni.omniglot(tmp_path / "o", download_dir=str(folder), **_checksums(files), **QUIET)
    assert str(folder / "images_background.npz") in str(err.value)
    assert f"expected {files['background_sha256']}" in str(err.value)


@pytest.mark.parametrize(("options", "message"), [
    ({"image_size": 4}, "image_size must be an integer in 8..420"),
    ({"background_classes": 5}, "background_classes must be an integer in 2..4"),
    ({"evaluation_classes": 1}, "evaluation_classes must be an integer in 2..3"),
])
def test_bad_options_are_named(tmp_path: Path, files: dict, options: dict, message: str) -> None:
    _put(files, tmp_path / "dl", "background_npz", "evaluation_npz")
    with pytest.raises(SmartMiningError, match=message):
        omni.omniglot(tmp_path / "o", download_dir=str(tmp_path / "dl"), **options, **_checksums(files), **QUIET)


def test_published_checksums_and_urls_are_torchvisions() -> None:
    from torchvision.datasets import Omniglot

    assert {f"images_{h}": md5 for h, md5 in omni.ZIP_MD5.items()} == Omniglot.zips_md5
    assert omni.remote_zip("background").urls[0] == f"{Omniglot.download_url_prefix}/images_background.zip"
