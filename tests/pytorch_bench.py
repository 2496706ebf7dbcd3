"""PyTorch reference for `tilelab bench train` (not run by CI; needs `pip install torch`).

Usage: python3 tests/pytorch_bench.py [REPEATS] [paper|deep]

paper: 40x40 -> conv 5x5 x12 -> ReLU -> flatten -> FC -> 10, plain SGD lr 0.03.
deep:  40x40 -> conv 3x3 x16 -> ReLU -> max-pool 2 -> conv 3x3 x32 -> ReLU -> max-pool 2 -> FC -> 10,
       SGD lr 0.01 with momentum 0.9.
Both: softmax cross-entropy, batch 100, 15 epochs x 4000 samples, 2 threads. The images are uniform
noise with random labels, as in the Rust benchmark (every operation is dense, so the time does not
depend on the data). Prints the median samples/s over the repeats as one JSON line.
`tilelab bench train --arch ARCH --against-pytorch` runs this script interleaved with its own runs.
"""

import json
import statistics
import sys
import time

import torch

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ARCH = sys.argv[2] if len(sys.argv) > 2 else "paper"
EPOCHS, SAMPLES, BATCH = 15, 4000, 100


def network(arch):
    """The network and its optimizer settings."""
    nn = torch.nn
    if arch == "paper":
        layers = [nn.Conv2d(1, 12, 5), nn.ReLU(), nn.Flatten(), nn.Linear(12 * 36 * 36, 10)]
        return nn.Sequential(*layers), {"lr": 0.03}
    if arch == "deep":
        layers = [
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 8 * 8, 10),
        ]
        return nn.Sequential(*layers), {"lr": 0.01, "momentum": 0.9}
    raise SystemExit(f"unknown architecture {arch!r} (paper or deep)")


torch.set_num_threads(2)
torch.manual_seed(0)
images = torch.rand(SAMPLES, 1, 40, 40)
labels = torch.randint(0, 10, (SAMPLES,))
seconds = []
for repeat in range(REPEATS):
    net, settings = network(ARCH)
    optimizer = torch.optim.SGD(net.parameters(), **settings)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        order = torch.randperm(SAMPLES)
        for first in range(0, SAMPLES, BATCH):
            batch = order[first : first + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(net(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
    seconds.append(time.perf_counter() - start)
median = statistics.median(seconds)
print(json.dumps({"benchmark": f"pytorch_train_{ARCH}", "torch": torch.__version__, "threads": 2,
                  "seconds": seconds, "median_samples_per_second": EPOCHS * SAMPLES / median}))
