"""Shared fixtures: tiny seeded models and data, and an offline, isolated asset setup."""
import os

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))


@pytest.fixture
def tiny_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


@pytest.fixture
def xor_loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=g)
