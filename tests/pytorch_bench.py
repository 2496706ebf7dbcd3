"""PyTorch reference for `tilelab bench train` (not run by CI; needs `pip install torch`).

The paper's Fashion run: 40x40 -> conv 5x5 x12 -> ReLU -> flatten -> FC -> 10, softmax
cross-entropy, plain SGD lr 0.03, batch 100, 15 epochs x 4000 samples, 2 threads. The images are
uniform noise with random labels, as in the Rust benchmark (every operation is dense, so the time
does not depend on the data). Prints the median samples/s over the repeats as one JSON line.
Run it interleaved with `tilelab bench train` on a quiet machine (check `uptime` first).
"""

import json
import statistics
import sys
import time

import torch

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
EPOCHS, SAMPLES, BATCH = 15, 4000, 100

torch.set_num_threads(2)
torch.manual_seed(0)
images = torch.rand(SAMPLES, 1, 40, 40)
labels = torch.randint(0, 10, (SAMPLES,))
seconds = []
for repeat in range(REPEATS):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 12, 5), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(12 * 36 * 36, 10)
    )
    optimizer = torch.optim.SGD(net.parameters(), lr=0.03)
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
print(json.dumps({"benchmark": "pytorch_train_fashion", "threads": 2, "seconds": seconds,
                  "median_samples_per_second": EPOCHS * SAMPLES / median}))
