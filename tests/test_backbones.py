from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from smartmining.errors import SmartMiningError
from smartmining.models import BACKBONES, EmbeddingNet, build_backbone, build_model, embed, register_backbone
from smartmining.models.backbones import weights_cache_file

FEATURE_DIMS = {"convnet": 256, "googlenet": 1024, "mobilenet_v2": 1280, "resnet18": 512, "resnet50": 2048}


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path):
    """No test may reach the network: downloads fail as they would offline, the hub cache is empty."""
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_registry_holds_the_five_backbones():
    assert set(FEATURE_DIMS) <= set(BACKBONES)


@pytest.mark.parametrize("name", sorted(FEATURE_DIMS))
def test_embedding_shape_unit_norm_and_feature_dim(name):
    torch.manual_seed(0)
    model = build_model(name, embedding_dim=16)
    assert model.feature_dim == FEATURE_DIMS[name]
    assert model.head.in_features == FEATURE_DIMS[name] and model.head.out_features == 16
    images = torch.rand(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert out.shape == (2, 16)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    model.train()
    with torch.no_grad():
        trained = model(images)
    assert isinstance(trained, torch.Tensor) and trained.shape == (2, 16)  # no GoogLeNet aux outputs
    if name not in ("convnet", "mobilenet_v2"):
        assert isinstance(model.backbone.fc, nn.Identity)
    if name == "googlenet":  # pool5 after dropout, auxiliary classifiers gone
        assert isinstance(model.backbone.dropout, nn.Dropout)
        assert model.backbone.aux1 is None and model.backbone.aux2 is None


def test_gradients_reach_head_and_backbone():
    model = build_model("convnet", embedding_dim=8, widths=(4, 8))
    model.train()
    out = model(torch.rand(2, 3, 32, 32))
    out[:, 0].sum().backward()
    assert model.head.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_convnet_options_and_grayscale_input():
    model = build_model("convnet", embedding_dim=32, in_channels=1, widths=(8, 16))
    assert model.feature_dim == 16
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert [c.in_channels for c in convs] == [1, 8] and [c.out_channels for c in convs] == [8, 16]
    assert model(torch.rand(3, 1, 48, 48)).shape == (3, 32)


def test_param_groups_give_the_head_ten_times_the_rate():
    model = build_model("convnet", embedding_dim=8, widths=(4, 8))
    groups = model.param_groups(base_lr=0.01, weight_decay=5e-4)
    by_name = {g["name"]: g for g in groups}
    assert by_name["backbone"]["lr"] == pytest.approx(0.01)
    assert by_name["head"]["lr"] == pytest.approx(0.1)
    assert all(g["weight_decay"] == 5e-4 for g in groups)
    head_ids = {id(p) for p in by_name["head"]["params"]}
    assert head_ids == {id(model.head.weight), id(model.head.bias)}
    all_ids = head_ids | {id(p) for p in by_name["backbone"]["params"]}
    assert all_ids == {id(p) for p in model.parameters()}  # every parameter in exactly one group
    optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.1])
    assert model.param_groups(0.01, head_lr_mult=5.0)[1]["lr"] == pytest.approx(0.05)


def test_unknown_backbone_and_option_name_the_choices():
    with pytest.raises(SmartMiningError, match="convnet, googlenet, mobilenet_v2, resnet18, resnet50"):
        build_model("vgg16")
    with pytest.raises(SmartMiningError, match="widths"):
        build_model("resnet18", widths=(8,))


def test_register_backbone_adds_a_builder():
    @register_backbone("test_linear")
    def build_linear(pretrained=False, size: int = 12):
        return nn.Sequential(nn.Flatten(), nn.Linear(size, 5)), 5

    try:
        model = build_model("test_linear", embedding_dim=3, size=12)
        assert model(torch.rand(4, 3, 2, 2)).shape == (4, 3)
        with pytest.raises(SmartMiningError, match="twice"):
            register_backbone("test_linear")(build_linear)
    finally:
        del BACKBONES["test_linear"]


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "mobilenet_v2"])
def test_pretrained_without_cache_or_network_says_what_to_do(name):
    weights = {"resnet18": torchvision.models.ResNet18_Weights, "googlenet": torchvision.models.GoogLeNet_Weights,
               "mobilenet_v2": torchvision.models.MobileNet_V2_Weights}
    file_name = weights[name].IMAGENET1K_V1.url.rsplit("/", 1)[1]
    with pytest.raises(SmartMiningError) as info:
        build_model(name, pretrained=True)
    message = str(info.value)
    assert file_name in message and torch.hub.get_dir() in message and "local state_dict" in message


def test_pretrained_from_torch_hub_cache(tmp_path):
    source = torchvision.models.resnet18(weights=None)
    cached = weights_cache_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    cached.parent.mkdir(parents=True)
    torch.save(source.state_dict(), cached)
    model = build_model("resnet18", pretrained=True)
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "mobilenet_v2"])
def test_pretrained_from_local_state_dict_file(name, tmp_path):
    torch.manual_seed(1)
    if name == "mobilenet_v2":  # torchvision's file layout: features.* and classifier.*
        source = torchvision.models.mobilenet_v2(weights=None)
    elif name == "googlenet":  # as torchvision's ImageNet file: with the auxiliary classifiers
        source = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    else:
        source = torchvision.models.resnet18(weights=None)
    path = tmp_path / f"{name}.pth"
    torch.save(source.state_dict(), path)
    model = build_model(name, pretrained=str(path))
    loaded = model.backbone.state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, source.state_dict()[key]), key
    assert len(loaded) > 10


def test_pretrained_file_errors(tmp_path):
    with pytest.raises(SmartMiningError, match="does not exist"):
        build_model("resnet18", pretrained=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "convnet.pth"
    torch.save(build_backbone("convnet")[0].state_dict(), wrong)
    with pytest.raises(SmartMiningError, match="do not fit"):
        build_model("resnet18", pretrained=str(wrong))
    with pytest.raises(SmartMiningError, match="no ImageNet weights"):
        build_model("convnet", pretrained=True)


def test_convnet_loads_its_own_state_dict(tmp_path):
    torch.manual_seed(2)
    source = build_model("convnet", widths=(4, 8))
    path = tmp_path / "convnet.pth"
    torch.save(source.backbone.state_dict(), path)
    model = build_model("convnet", widths=(4, 8), pretrained=path)
    assert all(torch.equal(a, b) for a, b in zip(model.backbone.state_dict().values(),
                                                  source.backbone.state_dict().values()))


def test_embed_matches_a_direct_forward_in_eval_mode():
    torch.manual_seed(3)
    model = build_model("convnet", embedding_dim=8, in_channels=1, widths=(4, 8))
    model.train()
    images = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8)
    out = embed(model, images, transform=lambda x: (x.float() / 255.0 - 0.5) / 0.5, batch_size=3)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        direct = model((images.float() / 255.0 - 0.5) / 0.5).numpy()
    assert out.dtype == np.float32 and out.shape == (10, 8)
    np.testing.assert_allclose(out, direct, atol=1e-5)
    plain = embed(model, images, batch_size=4)
    with torch.no_grad():
        np.testing.assert_allclose(plain, model(images.float() / 255.0).numpy(), atol=1e-5)
    with pytest.raises(SmartMiningError, match="uint8"):
        embed(model, images.float())


def test_embedding_net_rejects_bad_dims():
    with pytest.raises(SmartMiningError, match="embedding_dim"):
        EmbeddingNet(nn.Identity(), 4, embedding_dim=0)


def test_mobilenet_v2_from_the_torch_hub_cache_file_torchvision_names():
    torch.manual_seed(3)
    source = torchvision.models.mobilenet_v2(weights=None)
    cached = weights_cache_file(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1)
    assert cached.name == "mobilenet_v2-b0353104.pth"  # the file ../shared/weights holds
    cached.parent.mkdir(parents=True)
    torch.save(source.state_dict(), cached)
    model = build_model("mobilenet_v2", pretrained=True, frozen_blocks=4)
    assert torch.equal(model.backbone.features[0][0].weight, source.features[0][0].weight)
    assert torch.equal(model.backbone.features[18][1].running_var, source.features[18][1].running_var)


def test_mobilenet_v2_frozen_blocks_keep_weights_and_batch_norm_statistics():
    torch.manual_seed(4)
    model = build_model("mobilenet_v2", embedding_dim=8, frozen_blocks=5)
    frozen, trained = model.backbone.features[:5], model.backbone.features[5:]
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    trained_bn = trained[0].conv[0][1].running_mean.clone()
    model.train()
    assert not any(m.training for block in frozen for m in block.modules())
    assert all(m.training for block in trained for m in block.modules())
    out = model(torch.rand(4, 3, 32, 32))
    out[:, 0].sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in frozen.parameters())
    assert all(p.grad is not None for p in trained.parameters())
    assert all(torch.equal(v, before[k]) for k, v in frozen.state_dict().items())  # BN statistics too
    assert not torch.equal(trained[0].conv[0][1].running_mean, trained_bn)  # trained blocks update theirs
    groups = model.param_groups(base_lr=0.01)
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())
    with pytest.raises(SmartMiningError, match="frozen_blocks must be between 0 and 19"):
        build_model("mobilenet_v2", frozen_blocks=20)
