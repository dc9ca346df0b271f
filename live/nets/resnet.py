"""ResNet-18 and ResNet-50 (He et al. 2016), headless: the backbones of E_I and E_M.

Parameter names and shapes are torchvision's (`conv1`, `bn1`, `layer1.0.downsample.0`, ...),
so its ImageNet state dicts load as they are, and so does every bundle trained on its
modules. Written here rather than imported: `import torchvision` pulls in torch._dynamo
through its detection ops, for two networks. Without torch._dynamo (which building a
generator on the meta device imported too: see FullyConnectedLayer) a bundle loads in
4.0-4.2 s, not 4.9-5.0 s, and 94 MB smaller (this machine, 3 runs each).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions around a shortcut (ResNet-18/34)."""
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv(in_channels, channels, 3, stride), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = _conv(channels, channels, 3), nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 down, 3x3 (strided: torchvision's "v1.5"), 1x1 up, around a shortcut (ResNet-50)."""
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1, self.bn1 = _conv(in_channels, channels, 1), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = _conv(channels, channels, 3, stride), nn.BatchNorm2d(channels)
        self.conv3, self.bn3 = _conv(channels, out_channels, 1), nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """A projection where the block changes the shape, else None (the identity)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(_conv(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))


class ResNet(nn.Module):
    """Images [N, in_channels, H, W] -> pooled features [N, width]; no classifier."""

    def __init__(self,
                 block: type[BasicBlock] | type[Bottleneck],
                 depths: tuple[int, int, int, int],  # blocks per stage
                 in_channels: int = 3):             # 1 for E_M's spectrograms
        super().__init__()
        self.conv1, self.bn1 = _conv(in_channels, 64, 7, stride=2), nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = 64
        for stage, (width, depth) in enumerate(zip((64, 128, 256, 512), depths), start=1):
            blocks = []
            for i in range(depth):
                blocks.append(block(channels, width, stride=2 if i == 0 and stage > 1 else 1))
                channels = width * block.expansion
            self.add_module(f"layer{stage}", nn.Sequential(*blocks))
        self.width = channels
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def resnet18(in_channels: int = 3) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels)


def resnet50(in_channels: int = 3) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels)
