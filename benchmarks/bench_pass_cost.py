"""What a no-gradient re-embedding pass costs against a training pass, per image.

    PYTHONPATH=src python benchmarks/bench_pass_cost.py [--repeats 7] [--threads 1]

Offline miners re-embed the whole training set each epoch (eval mode, no gradients); epochs.csv counted
those images as image passes like the images of the training steps (forward + backward + optimiser step).
This prints, per network, the median milliseconds per image of each and their ratio: the
``train.reembed_pass_cost`` of params.yaml (``compute_passes`` = training images + ratio x re-embedded).
Batches as in training: re-embedding at 256 images (models/embedding.py ``embed``), a training step at
96 images (32 triplets x 3, the cpu profile's batch_triplets).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from common import machine
from smartmining.models.embedding import build_model

EMBED_BATCH, TRAIN_BATCH = 256, 96


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def costs(model: torch.nn.Module, channels: int, size: int, repeats: int) -> tuple[float, float]:
    """Median seconds per image: (no-grad eval forward, training forward + backward + step)."""
    gen = torch.Generator().manual_seed(0)
    x_embed = torch.rand(EMBED_BATCH, channels, size, size, generator=gen)
    x_train = torch.rand(TRAIN_BATCH, channels, size, size, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def embed() -> None:
        model.eval()
        with torch.no_grad():
            model(x_embed)

    def train() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        out = model(x_train)
        a, p, n = out.view(3, -1, out.shape[-1])  # a triplet-shaped loss: its cost is negligible
        torch.relu((a - p).pow(2).sum(1) - (a - n).pow(2).sum(1) + 0.2).mean().backward()
        opt.step()

    return _timed(embed, repeats) / EMBED_BATCH, _timed(train, repeats) / TRAIN_BATCH


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (train.threads of the cpu profile: 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nets = {
        "convnet 32 px, 1 channel (cpu profile)": (build_model("convnet", 64, in_channels=1, widths=(16, 32, 64, 128)), 1, 32),
        "mobilenet_v2 64 px, 3 channels": (torchvision.models.mobilenet_v2(num_classes=64), 3, 64),
    }
    print(f"{machine()}, torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'network':40s} {'no-grad ms/img':>15s} {'train ms/img':>13s} {'ratio':>7s}")
    for name, (model, channels, size) in nets.items():
        embed_s, train_s = costs(model, channels, size, args.repeats)
        print(f"{name:40s} {1e3 * embed_s:15.3f} {1e3 * train_s:13.3f} {embed_s / train_s:7.3f}")


if __name__ == "__main__":
    main()
