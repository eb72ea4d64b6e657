"""Every head builds and trains (forward + backward) with the right shapes."""

import pytest
import torch
import torch.nn.functional as F

from bench.code import ArchCode
from bench.errors import BenchError
from bench.nn import HEADS, build_network
from bench.nn.backbone import Fusion
from bench.registry import Registry
from bench.space import sample_codes

SMALLEST = ArchCode.from_list([8, 8] + [1, 1, 8] + [1, 1, 1, 8, 8] + [1] * 4 + [8] * 3 + [1] * 5 + [8] * 4 + [8])
LARGEST = ArchCode.from_list([128, 128] + [4, 4, 128] + [4, 4, 4, 128, 128] + [4] * 4 + [128] * 3 + [4] * 5 + [128] * 4 + [128])
CODES = {"smallest": SMALLEST, "largest": LARGEST, **{f"random{i}": c for i, c in enumerate(sample_codes(2, seed=42))}}

# head -> (input shape, expected output shape), batch 2, small inputs so the largest code stays quick
CASES = {
    "cls": ((2, 3, 32, 32), lambda code: (2, 7)),
    "seg": ((2, 3, 32, 48), lambda code: (2, 7, 32, 48)),
    "video": ((2, 3, 3, 32, 32), lambda code: (2, 7)),
    "det": ((2, 64, 32, 40), lambda code: (2, code.out_channels, 8, 10)),
}


def test_every_registered_head_has_a_case():
    assert set(HEADS.names()) == set(CASES)


@pytest.mark.parametrize("head", sorted(CASES))
@pytest.mark.parametrize("name", sorted(CODES))
def test_forward_and_backward(head, name):
    torch.manual_seed(0)
    code = CODES[name]
    shape, expected = CASES[head]
    net = build_network(code, head, num_classes=7 if HEADS.get(head).has_classifier else None)
    out = net(torch.randn(shape))
    assert tuple(out.shape) == expected(code)
    out.float().pow(2).mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_backbone_declares_its_outputs():
    net = build_network(LARGEST, "det")
    feats = net.backbone(torch.zeros(1, 64, 64, 64))
    for info, x in zip(net.backbone.feature_info, feats):
        assert x.shape[1] == info.channels and 64 // info.stride == x.shape[-1]
    assert net.out_info.channels == LARGEST.out_channels and net.out_info.stride == 4


def test_weights_move_between_tasks_through_the_backbone():
    cls_net = build_network(SMALLEST, "cls", num_classes=50)
    video_net = build_network(SMALLEST, "video", num_classes=51)
    video_net.backbone.load_state_dict(cls_net.backbone.state_dict())
    for a, b in zip(cls_net.backbone.parameters(), video_net.backbone.parameters()):
        assert torch.equal(a, b)


def test_unknown_head_and_bad_class_count_are_refused():
    with pytest.raises(BenchError, match="unknown head 'lstm'.*'cls'"):
        build_network(SMALLEST, "lstm")
    with pytest.raises(BenchError, match="num_classes=0"):
        build_network(SMALLEST, "cls", num_classes=0)
    with pytest.raises(BenchError, match="head 'det' has no classifier; num_classes=999 does not apply"):
        build_network(SMALLEST, "det", num_classes=999)


def test_a_duplicate_registry_name_is_an_error():
    registry = Registry("thing")
    registry.register("a")(1)
    with pytest.raises(BenchError, match="thing 'a' is already registered"):
        registry.register("a")(2)
    with registry.registered("b", 3):
        assert registry.get("b") == 3 and registry.names() == ["a", "b"]
    assert "b" not in registry


def test_fusion_upsamples_the_lower_branch_by_nearest_neighbour():
    # HRNet's fusion (SPEC section 2): the lower-resolution neighbour's 1x1 output is repeated 2x2
    # (nearest), then summed. Computed here independently of F.interpolate.
    torch.manual_seed(0)
    fusion = Fusion([8, 16], [8, 16]).eval()
    x0, x1 = torch.randn(1, 8, 6, 10), torch.randn(1, 16, 3, 5)
    same, up = fusion.paths[0][0], fusion.paths[0][1]
    lower = up(x1).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    expected = torch.relu(same(x0) + lower)
    assert torch.allclose(fusion([x0, x1])[0], expected)
    bilinear = F.interpolate(up(x1), size=(6, 10), mode="bilinear", align_corners=False)
    assert not torch.allclose(torch.relu(same(x0) + bilinear), expected, atol=1e-3)  # the mode is visible here
