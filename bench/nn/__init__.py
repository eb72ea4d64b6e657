"""PyTorch modules built from an :class:`~bench.code.ArchCode`."""

from bench.nn.backbone import FeatureInfo, MultiResolutionNet
from bench.nn.model import HEADS, build_network

__all__ = ["HEADS", "FeatureInfo", "MultiResolutionNet", "build_network"]
