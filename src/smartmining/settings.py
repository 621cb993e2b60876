"""Typed sections of a resolved profile, and the one place where optional parameters get their defaults.

``config.load_params`` fills every section's missing optional keys from the dataclasses below before it
validates, so every consumer (the trainer, the cache keys, the report) sees the same complete values and
no module keeps its own copy of a default. ``Settings.of(profile)`` gives the typed view.
"""

from __future__ import annotations

import copy
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ModelSettings:
    backbone: str
    embedding_dim: int
    pretrained: bool | str
    init: str = "scratch"  # "pretrain": fine-tune from the pipeline's pretrain stage (source classes)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    in_channels: int | None = None  # None: follow transform.channels
    frozen_blocks: int = 0  # mobilenet_v2: leading feature blocks kept as pretrained (no gradient, BN statistics)
    cache_frozen: bool = False  # the frozen blocks' outputs computed once by the features stage (training/features.py)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    warmup_epochs: int
    batch_triplets: int
    triplets_per_epoch: int | None
    mined_fraction: float
    optimizer: str
    lr: float
    head_lr_mult: float
    weight_decay: float
    momentum: float
    lr_step_epochs: int
    lr_gamma: float
    threads: int
    device: str
    amp: bool = False
    skip_bad_images: bool = False
    semihard_classes: int = 8  # P of P x K
    semihard_per_class: int = 4  # K
    redraw_split: bool = False  # each seed redraws which classes train, validate and test (PAPER.md section 10)
    max_memory_gb: float = 16.0  # splits above this many GB at the input size stream from disk (data/stream.py)
    reembed_cost: float = 0.5  # a no-grad re-embedded image in training passes (benchmarks/bench_pass_cost.py)


@dataclass(frozen=True)
class LossSettings:
    triplet: str
    margin: float
    global_t: float
    global_lambda: float


@dataclass(frozen=True)
class MiningSettings:
    kappa: float
    k: int
    index: str
    index_params: dict[str, Any] = field(default_factory=dict)
    recall_sample: int = 1000
    hard_chunk: int = 1024
    xbm_memory: int = 1024  # embeddings held by smart-xbm's memory


@dataclass(frozen=True)
class ControllerSettings:
    kappa0: float
    target_error: float
    kappa_min: float
    kappa_max: float
    window: int
    tolerance: float = 0.03
    space: str = "log"  # fit ln(kappa) against e (docs/controller.md)
    max_step: float | None = None  # largest factor per epoch; None: the data's range bounds the step
    slope0: float = 0.2  # |de / d ln kappa| assumed before the first fit
    bracket: bool = True
    prior_weight: float = 0.02
    range_share: float = 0.5  # kappa_hi: half the anchors still have a qualifying negative
    law: str = "ours"  # "paper": eqs. 7-8 as written (controller_laws.py); a method may force one
    paper_probe: float = 2.0  # paper law: the second kappa of a 2-point fit is kappa x / this factor
    paper_fallback: str = "step"  # paper law, degenerate or wrong-sign fit: "step" by paper_probe or "hold"


@dataclass(frozen=True)
class EvaluationSettings:
    ks: tuple[int, ...]
    seed: int
    every_epoch: bool  # validation metrics every epoch (else the last only)
    test_every_epoch: bool = False  # test metrics every epoch (else the last only)
    probe_triplets: int = 1000  # random training triplets whose zero-loss share is logged per epoch
    selection_metric: str = "recall@1"  # the validation metric the select stage maximises


@dataclass(frozen=True)
class PretrainSettings:
    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.001
    weight_decay: float = 0.0005
    temperature: float = 0.05  # normalised-softmax classifier on the embedding


@dataclass(frozen=True)
class ReportSettings:
    """The report's statistics, fixed before any run (PAPER.md section 10) [ours]."""

    alpha: float = 0.05  # family-wise error of each family of readings (Holm)
    margin_points: float = 2.0  # equivalence margin (TOST) of R@1 / NMI differences, in points
    margin_epochs: float = 1.0  # equivalence margin of the difference in epochs to converge (C4)
    gain_fraction: float = 0.95  # convergence: the first epoch reaching this share of the gain over epoch 0


@dataclass(frozen=True)
class RuleResources:
    """What one pipeline job asks for (Snakemake's threads, mem_mb, runtime; SLURM's --cpus-per-task, --mem,
    -t, --gpus). Locally, ``gpu`` jobs never outnumber the visible devices (workflow/rules/common.smk)."""

    threads: int = 1
    mem_mb: int = 2000
    runtime_min: int = 30
    gpu: int = 0


# [ours] The defaults per rule, for the small profiles; the paper profiles size theirs in params.yaml
# (README, "Running on a cluster", says from which measurements).
RULE_RESOURCES: dict[str, RuleResources] = {
    "prepare": RuleResources(mem_mb=4000, runtime_min=60),  # a download and extraction
    "check": RuleResources(runtime_min=10),
    "pretrain": RuleResources(),
    "features": RuleResources(),  # the frozen trunk's outputs, once per dataset (model.cache_frozen)
    "train": RuleResources(),
    "baseline": RuleResources(runtime_min=10),
    "evaluate": RuleResources(runtime_min=10),
    "select": RuleResources(mem_mb=1000, runtime_min=10),
    "report": RuleResources(mem_mb=4000, runtime_min=30),
}


def resources_with_defaults(section: dict[str, Any]) -> dict[str, Any]:
    """params.yaml's ``resources`` with every rule and key present."""
    out = {}
    for rule, default in RULE_RESOURCES.items():
        given = section.get(rule) or {}
        out[rule] = {f.name: given.get(f.name, getattr(default, f.name)) for f in fields(RuleResources)}
    return {**section, **out}


SECTIONS: dict[str, type] = {
    "model": ModelSettings,
    "train": TrainSettings,
    "loss": LossSettings,
    "mining": MiningSettings,
    "controller": ControllerSettings,
    "evaluation": EvaluationSettings,
    "pretrain": PretrainSettings,
    "report": ReportSettings,
}


def with_defaults(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with every section's missing optional keys set to their defaults."""
    out = copy.deepcopy(profile)
    for name, cls in SECTIONS.items():
        section = out.setdefault(name, {})
        if not isinstance(section, dict):
            continue  # the schema names the mistake
        for f in fields(cls):
            if f.name in section:
                continue
            if f.default is not MISSING:
                section[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
            elif f.default_factory is not MISSING:
                section[f.name] = f.default_factory()
    if isinstance(out.setdefault("resources", {}), dict):
        out["resources"] = resources_with_defaults(out["resources"])
    return out


def _typed(cls: type, values: dict[str, Any]) -> Any:
    kwargs = {}
    for f in fields(cls):
        value = values[f.name]
        kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


@dataclass(frozen=True)
class Settings:
    model: ModelSettings
    train: TrainSettings
    loss: LossSettings
    mining: MiningSettings
    controller: ControllerSettings
    evaluation: EvaluationSettings
    pretrain: PretrainSettings
    report: ReportSettings
    transform: dict[str, Any]
    data: dict[str, Any]

    @classmethod
    def of(cls, profile: dict[str, Any]) -> Settings:
        """The typed view of a resolved, validated profile (``config.load_params`` output)."""
        full = with_defaults(profile)
        return cls(**{name: _typed(c, full[name]) for name, c in SECTIONS.items()},
                   transform=full["transform"], data=full["data"])

    @property
    def in_channels(self) -> int:
        return int(self.model.in_channels or self.transform["channels"])
