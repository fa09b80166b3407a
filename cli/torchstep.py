"""PyTorch's training step, for ``purenet bench --compare torch`` and the benchmarks.

    torch_step_fn(layers, act, batch_size) -> step   the same network in PyTorch

The same network, loss, SGD step and synthetic batches as
``purenet.apps.bench.train_step_fn``, so that ``purenet.apps.bench.paired_rates`` can time the
two in turn. PyTorch is never a dependency of purenet: it is imported when a step is
built, and ``torch_step_fn`` raises ImportError when it is not installed (the caller
says so in its own words). The core library (``purenet/``) never imports it.
"""

from __future__ import annotations

from typing import Callable, Sequence

from purenet.apps.bench import synthetic_batches


def torch_step_fn(layers: Sequence[int | str], act: str, batch_size: int, *, lr: float = 0.01) -> Callable[[], int]:
    """The same network, loss and SGD step in PyTorch on the CPU (ImportError if absent)."""
    import torch

    model = _torch_model(torch, layers, act)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in synthetic_batches(layers, batch_size)]
    counter = iter(range(1 << 62))

    def step() -> int:
        x, y = batches[next(counter) % len(batches)]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        return batch_size

    return step


def _torch_model(torch, layers: Sequence[int | str], act: str):
    """The layer list as a ``torch.nn.Sequential`` (NCHW, as PyTorch computes fastest;
    only the order of the flattened features differs from purenet's, not the work)."""
    from purenet.core.layers import plan_layers
    from purenet.core.layers.conv import paddings

    nn = torch.nn
    activations = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU,
                   "leaky_relu": nn.LeakyReLU, "identity": nn.Identity}
    planned = plan_layers(tuple(layers))
    modules = []
    for i, layer in enumerate(planned):
        name, static, shapes = layer.kind.name, layer.plan.static, layer.plan.shapes
        if name == "dense":
            modules.append(nn.Linear(*shapes["w"]))
        elif name == "conv2d":
            k, _, c, f = shapes["w"]
            (top, bottom), (left, right) = (paddings(n, k, static["stride"], static["padding"]) for n in layer.in_shape[:2])
            if top or bottom or left or right:
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
            modules.append(nn.Conv2d(c, f, k, stride=static["stride"]))
        elif name in ("maxpool", "avgpool"):
            modules.append((nn.MaxPool2d if name == "maxpool" else nn.AvgPool2d)(static["size"]))
        elif name == "to_image":
            modules.append(nn.Unflatten(1, (1, static["side"], static["side"])))
        elif name == "flatten":
            modules.append(nn.Flatten())
        elif name == "dropout":
            modules.append(nn.Dropout(static["rate"]))
        elif name == "batchnorm":  # the same momentum and eps; per channel of an image, per unit of a vector
            norm = nn.BatchNorm2d if len(layer.in_shape) == 3 else nn.BatchNorm1d
            modules.append(norm(layer.in_shape[-1], eps=static["eps"], momentum=static["momentum"]))
        else:
            raise ValueError(f"no PyTorch counterpart for a {name} layer")
        if layer.kind.activated and i < len(planned) - 1:
            modules.append(activations[act]())
    return nn.Sequential(*modules)
