"""The pretrain stage (PAPER.md section 10): the CPU profile's stand-in for ImageNet pretraining.

The backbone learns to classify the *source* classes (disjoint from training, validation and test) with a
normalised-softmax classifier on the embedding (cosine logits over a temperature); every run of the
profile then fine-tunes from this backbone with a new, randomly initialised embedding head, as the paper
fine-tunes GoogLeNet from ImageNet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from smartmining import atomic
from smartmining.evaluation.metrics import evaluate
from smartmining.models.embedding import embed
from smartmining.settings import Settings
from smartmining.training.checkpoint import save_checkpoint
from smartmining.training.data import RunData, resolve_device
from smartmining.training.trainer import build_network, seed_everything

log = logging.getLogger(__name__)
BACKBONE_NAME = "backbone.pt"


def pretrain(settings: Settings, data: RunData, out: Path, seed: int, progress: bool = False) -> dict[str, Any]:
    """Train the backbone on the source split; write ``out/backbone.pt`` and ``out/pretrain.json``."""
    p = settings.pretrain
    torch.set_num_threads(settings.train.threads)
    device = resolve_device(settings.train.device)
    rng = seed_everything(seed)
    source = data.split("source")
    classes, targets = np.unique(source.labels, return_inverse=True)
    model = build_network(replace(settings, model=replace(settings.model, init="scratch"))).to(device)
    weights = torch.nn.Parameter(torch.randn(len(classes), settings.model.embedding_dim, device=device) * 0.01)
    params = list(model.parameters()) + [weights]
    opt = torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay)
    targets_t = torch.as_tensor(targets, device=device)
    history = []
    t0 = time.perf_counter()
    for epoch in range(1, p.epochs + 1):
        model.train()
        order = rng.permutation(len(targets))
        total, correct = 0.0, 0
        for start in range(0, len(order), p.batch_size):
            idx = order[start:start + p.batch_size]
            x = data.train_transform(source.images[torch.as_tensor(idx)].to(device))
            logits = model(x) @ F.normalize(weights, dim=1).T / p.temperature
            loss = F.cross_entropy(logits, targets_t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == targets_t[idx]).sum())
        history.append({"epoch": epoch, "loss": total / len(order), "accuracy": correct / len(order)})
        log.info("pretrain epoch %d: loss %.4f, accuracy %.3f", epoch, history[-1]["loss"], history[-1]["accuracy"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / BACKBONE_NAME, {"backbone": model.backbone.state_dict(), "seed": seed})
    emb = embed(model, source.images, data.test_transform, device=device)
    record = {"classes": int(len(classes)), "images": int(len(targets)), "epochs": history,
              "seconds": time.perf_counter() - t0,
              "source_recall@1": evaluate(emb, source.labels, ks=(1,), seed=0, metrics=("recall",))["recall@1"]}
    atomic.write_json(out / "pretrain.json", record)
    return record
