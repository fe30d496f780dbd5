"""The towers twin builds, written out in PyTorch (no torchvision needed), with module names
that match twin's node names, so a state_dict and twin's named_tensors() share their keys.
Used by check_runtimes.py and bench/onnx_speed.py."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class D2Tower(nn.Module):
    """The D2 signature tower (twin/models/signature_tower.hpp) for 1 x h x w images."""

    def __init__(self, h=96, w=192):
        super().__init__()

        def out(n, k, s, p):
            return (n + 2 * p - k) // s + 1
        hh, ww = out(h, 7, 2, 3), out(w, 7, 2, 3)
        for _ in range(3):
            hh, ww = out(hh, 3, 2, 0), out(ww, 3, 2, 0)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2), nn.Flatten(), nn.Linear(128 * hh * ww, 256), nn.ReLU(), nn.Linear(256, 128))

    def forward(self, x):
        return F.normalize(self.features(x), dim=1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """torchvision's resnet18 / resnet34 topology (twin/models/resnet.hpp)."""

    def __init__(self, blocks=(2, 2, 2, 2), classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, n in enumerate(blocks):
            cout = 64 << i
            layer = []
            for b in range(n):
                layer.append(BasicBlock(cin, cout, 2 if b == 0 and i > 0 else 1))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(512, classes) if classes else None

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x) if self.fc is not None else x


def randomise(model, seed):
    """Random weights and BatchNorm statistics (so eval-mode BatchNorm is not the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()
