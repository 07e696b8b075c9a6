"""Small helpers shared by several test modules."""

import torch


def randomise_batchnorm(module: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm2d non-trivial statistics and affine weights, so Conv+BN folding is really tested."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            size = norm.num_features
            with torch.no_grad():
                norm.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                norm.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                norm.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                norm.bias.copy_(torch.rand(size, generator=generator) - 0.5)
