"""Test helpers: tiny archives with the real layouts of CUB-200-2011, Cars196 and SOP, and a local HTTP
server that honours Range requests and can drop a connection half-way or stall."""

from __future__ import annotations

import hashlib
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

IMAGE_SIZE = (24, 20)  # width, height of every fixture image


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tiny_jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")


@dataclass
class Fixture:
    """An archive (or two, for Cars) and what a correct manifest built from it holds."""

    archive: Path
    images_per_class: dict[int, int]  # class id -> images
    class_names: dict[int, str]
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # image path -> PIL crop box
    annotations: Path | None = None

    @property
    def md5(self) -> str:
        return md5_of(self.archive.read_bytes())

    @property
    def annotations_md5(self) -> str:
        assert self.annotations is not None
        return md5_of(self.annotations.read_bytes())

    def counts(self, train_ids: set[int]) -> dict[str, int]:
        train = [c for c in self.images_per_class if c in train_ids]
        test = [c for c in self.images_per_class if c not in train_ids]
        return {"images": sum(self.images_per_class.values()), "classes": len(self.images_per_class),
                "train_images": sum(self.images_per_class[c] for c in train),
                "test_images": sum(self.images_per_class[c] for c in test),
                "train_classes": len(train), "test_classes": len(test)}


def build_cub(folder: Path, class_ids: tuple[int, ...] = (1, 2, 101, 102), per_class: int = 2) -> Fixture:
    """CUB_200_2011.tgz: images/<class>/x.jpg and the five annotation files, ids around the 100/101 boundary."""
    src = folder / "cub-src" / "CUB_200_2011"
    names = {c: f"{c:03d}.Bird_{c}" for c in class_ids}
    images, labels, split, boxes_txt, boxes = [], [], [], [], {}
    image_id = 0
    for c in class_ids:
        for j in range(per_class):
            image_id += 1
            rel = f"{names[c]}/Bird_{c}_{j:04d}_{image_id}.jpg"
            tiny_jpeg(src / "images" / rel, image_id)
            x, y, w, h = 1.0 + j, 2.0, 10.0 + j, 8.0
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c}")
            split.append(f"{image_id} {image_id % 2}")  # the official image split, which the protocol ignores
            boxes_txt.append(f"{image_id} {x} {y} {w} {h}")
            boxes[f"images/{rel}"] = (int(x), int(y), int(x + w), int(y + h))
    for name, lines in (("images.txt", images), ("image_class_labels.txt", labels), ("train_test_split.txt", split),
                        ("bounding_boxes.txt", boxes_txt), ("classes.txt", [f"{c} {names[c]}" for c in class_ids])):
        (src / name).write_text("\n".join(lines) + "\n")
    (src.parent / "attributes.txt").write_text("1 has_bill_shape::curved\n")  # the real archive has it at top level
    archive = folder / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="CUB_200_2011")
        tar.add(src.parent / "attributes.txt", arcname="attributes.txt")
    return Fixture(archive, {c: per_class for c in class_ids}, names, boxes)


def build_cars(folder: Path, class_ids: tuple[int, ...] = (97, 98, 99, 100), per_class: int = 2) -> Fixture:
    """car_ims.tgz (car_ims/000001.jpg ...) and cars_annos.mat with the real struct fields."""
    src = folder / "cars-src"
    all_names = [f"Make{i} Model{i} {1990 + i % 30}" for i in range(1, 197)]
    dtype = [(f, "O") for f in ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test")]
    rows, boxes = [], {}
    image_id = 0
    for c in class_ids:
        for j in range(per_class):
            image_id += 1
            rel = f"car_ims/{image_id:06d}.jpg"
            tiny_jpeg(src / rel, 100 + image_id)
            x1, y1, x2, y2 = 3 + j, 2, 20, 15  # MATLAB's inclusive 1-based corners
            test_flag = (image_id + c) % 2  # the official flag mixes classes: it must be ignored
            rows.append((rel, np.uint16(x1), np.uint16(y1), np.uint16(x2), np.uint16(y2), np.uint8(c),
                         np.uint8(test_flag)))
            boxes[rel] = (x1 - 1, y1 - 1, x2, y2)
    annotations = np.empty((1, len(rows)), dtype=dtype)
    for i, row in enumerate(rows):
        annotations[0, i] = row
    mat = folder / "cars_annos.mat"
    scipy.io.savemat(mat, {"annotations": annotations,
                           "class_names": np.array(all_names, dtype=object).reshape(1, -1)})
    archive = folder / "car_ims.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "car_ims", arcname="car_ims")
    return Fixture(archive, {c: per_class for c in class_ids}, {c: all_names[c - 1] for c in class_ids}, boxes,
                   annotations=mat)


def build_sop(folder: Path, train_ids: tuple[int, ...] = (1, 2, 3), test_ids: tuple[int, ...] = (4, 5),
              per_class: int = 2) -> Fixture:
    """Stanford_Online_Products.zip: <super>_final/<id>_<n>.JPG and Ebay_train.txt / Ebay_test.txt."""
    archive = folder / "Stanford_Online_Products.zip"
    scratch = folder / "sop-src"
    image_id = 0
    with zipfile.ZipFile(archive, "w") as zf:
        for split, ids in (("train", train_ids), ("test", test_ids)):
            lines = ["image_id class_id super_class_id path"]
            for c in ids:
                super_id = 1 + c % 2
                for j in range(per_class):
                    image_id += 1
                    rel = f"{('bicycle', 'chair')[super_id - 1]}_final/{111000 + c}_{j}.JPG"
                    tiny_jpeg(scratch / rel, 200 + image_id)
                    zf.write(scratch / rel, f"Stanford_Online_Products/{rel}")
                    lines.append(f"{image_id} {c} {super_id} {rel}")
            zf.writestr(f"Stanford_Online_Products/Ebay_{split}.txt", "\n".join(lines) + "\n")
    ids = train_ids + test_ids
    return Fixture(archive, {c: per_class for c in ids}, {c: str(c) for c in ids})


class RangeServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 with Range support; records (path, Range header) per request.

    ``drop_first``: names whose first response stops half-way and closes the connection.
    ``ignore_range``: answer every request with the whole file (200), as some servers do.
    ``stall``: names whose requests get no answer until the server stops (to provoke client timeouts).
    """

    def __init__(self, files: dict[str, bytes], *, drop_first: set[str] = frozenset(),
                 ignore_range: bool = False, stall: set[str] = frozenset()) -> None:
        self.files, self.ignore_range = dict(files), ignore_range
        self.drop_first, self.stall = set(drop_first), set(stall)
        self.requests: list[tuple[str, str | None]] = []
        self._dropped: set[str] = set()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                name = self.path.split("?")[0].lstrip("/")
                wanted = self.headers.get("Range")
                with state._lock:
                    state.requests.append((self.path, wanted))
                if name in state.stall:
                    state._release.wait(10)
                    return
                data = state.files.get(name)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if wanted and not state.ignore_range:
                    start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                with state._lock:
                    drop = name in state.drop_first and name not in state._dropped
                    state._dropped.add(name)
                if drop:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


def closed_port_url(name: str) -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def _cars_mat(path: Path, rows: list[tuple]) -> None:
    """A devkit annotation file: annotations(bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, fname)."""
    dtype = [(f, "O") for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    annotations = np.empty((1, len(rows)), dtype=dtype)
    for i, row in enumerate(rows):
        annotations[0, i] = row
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"annotations": annotations})


def build_cars_devkit(folder: Path, class_ids: tuple[int, ...] = (97, 98, 99, 100), per_class: int = 2) -> Fixture:
    """The devkit layout of Kaggle's copies, under ``archive`` (a folder): cars_train/, cars_test/ (each class's
    images spread over both, as the official image split does), devkit/cars_train_annos.mat, devkit/cars_meta.mat
    and cars_test_annos_withlabels.mat. ``boxes`` maps "cars_train/00001.jpg" and the like to PIL crop boxes."""
    src = folder / "devkit-src"
    all_names = [f"Make{i} Model{i} {1990 + i % 30}" for i in range(1, 197)]
    rows: dict[str, list[tuple]] = {"cars_train": [], "cars_test": []}
    boxes = {}
    for c in class_ids:
        for j in range(per_class):
            part = ("cars_train", "cars_test")[j % 2]
            fname = f"{len(rows[part]) + 1:05d}.jpg"
            tiny_jpeg(src / part / fname, 300 + c * 10 + j)
            x1, y1, x2, y2 = 2 + j, 3, 18, 16
            rows[part].append((np.uint16(x1), np.uint16(y1), np.uint16(x2), np.uint16(y2), np.uint8(c), fname))
            boxes[f"{part}/{fname}"] = (x1 - 1, y1 - 1, x2, y2)
    _cars_mat(src / "devkit" / "cars_train_annos.mat", rows["cars_train"])
    _cars_mat(src / "cars_test_annos_withlabels.mat", rows["cars_test"])
    scipy.io.savemat(src / "devkit" / "cars_meta.mat", {"class_names": np.array(all_names, dtype=object).reshape(1, -1)})
    return Fixture(src, {c: per_class for c in class_ids}, {c: all_names[c - 1] for c in class_ids}, boxes)
