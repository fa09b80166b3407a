"""PyTorch's training step, for ``purenet bench --compare torch`` and the benchmarks.

    torch_step_fn(layers, act, batch_size) -> step   the same network in PyTorch

The same network, loss, SGD step and synthetic batches as
``purenet.bench.train_step_fn``, so that ``purenet.bench.paired_rates`` can time the
two in turn. PyTorch is never a dependency of purenet: it is imported when a step is
built, and ``torch_step_fn`` raises ImportError when it is not installed (the caller
says so in its own words). The core library (``purenet/``) never imports it.
"""

from __future__ import annotations

from typing import Callable, Sequence

from purenet.bench import synthetic_batches


def torch_step_fn(layers: Sequence[int], act: str, batch_size: int, *, lr: float = 0.01) -> Callable[[], int]:
    """The same network, loss and SGD step in PyTorch on the CPU (ImportError if absent)."""
    import torch

    activations = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "elu": torch.nn.ELU,
                   "leaky_relu": torch.nn.LeakyReLU, "identity": torch.nn.Identity}
    modules = []
    for i, (m, n) in enumerate(zip(layers[:-1], layers[1:])):
        modules.append(torch.nn.Linear(m, n))
        if i < len(layers) - 2:
            modules.append(activations[act]())
    model = torch.nn.Sequential(*modules)
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
