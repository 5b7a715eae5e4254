"""train_digits.py -- several seeds of a narrow and a wide CNN on sklearn's digits,
each writing pwccad checkpoints through integrations/python/pwcca_probe.py.

    /usr/bin/python3 examples/digits/train_digits.py --root RUNS --acc ACC.tsv \
        [--widths 8,128] [--seeds 1,2,3] [--epochs 20] [--every 5]

What examples/digits/run.sh runs while a pwccad daemon watches RUNS.  For every
width W and seed S it trains RUNS/w{W}-s{S}/ (a run directory of the daemon):

* Data: sklearn's 8x8 digits (1797 images, bundled with scikit-learn, no
  download), pixels scaled to [0, 1].  One fixed split for every run
  (random_state=0): 500 held-out test images, the other 1297 for training.
* Model: conv 3x3 (W channels) - ReLU - maxpool 2 - conv 3x3 (W channels) -
  ReLU - maxpool 2 - flatten (4W) - linear 10.  Only W differs between widths.
* Training: Adam (lr 3e-3), batch 32, cross-entropy, E epochs; the seed fixes
  the initialisation and the order of the batches, nothing else.  These
  settings were picked once, on test accuracy alone (so that the narrow net
  learns the task too: with a global-average-pool head it reached 51-83 %),
  before any distance between runs had been computed.
* Probe: the 500 test images, the same tensor for every run, so every run's
  files carry the same probe_fingerprint and pwcca cluster accepts the set.
  Watched layers, bottom to top: conv1 (after ReLU, [500, W, 8, 8] with 16 of
  the 64 positions kept per image: 8000 datapoints), conv2 (after ReLU,
  [500, W, 4, 4]: 8000 datapoints), logits ([500, 10]).  The positions kept
  are drawn from the Probe's seed (0 for every run), not the training seed.
* Checkpoints at step 0, every `--every` epochs and at the end; then FINAL.

Prints one line per run with its train and test accuracy and writes the same
as a tab-separated file (--acc), outside the watched root.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integrations", "python"))

missing = []
try:
    import numpy as np
except ImportError:
    missing.append("python3-numpy")
try:
    import torch
    import torch.nn as nn
except ImportError:
    missing.append("python3-torch")
try:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
except ImportError:
    missing.append("python3-sklearn")
if missing:
    sys.stderr.write("train_digits.py: missing Debian package(s): %s\n"
                     "  install them with 'make deps-examples' (as root), or\n"
                     "  apt-get install --no-install-recommends %s\n"
                     % (" ".join(missing), " ".join(missing)))
    sys.exit(1)

from pwcca_probe import Probe  # noqa: E402  (after the path and the imports above)

TEST_SIZE = 500


class Net(nn.Module):
    """Two conv layers of `width` channels and a linear read-out."""

    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * width, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


def accuracy(model, x, y):
    was = model.training
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    model.train(was)
    return acc


def train_one(out_dir, width, seed, data, epochs, every, batch):
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = Net(width)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    # The probe is the held-out images, identical for every run; spatial=16 keeps
    # 16 of conv1's 64 positions per image (the same ones in every run: seed=0).
    probe = Probe(model, ["relu1", "relu2", "fc"], xte, out_dir,
                  names=["conv1", "conv2", "logits"], spatial=16, seed=0)
    gen = torch.Generator().manual_seed(seed)
    step = 0

    def snap():
        probe.snapshot(step, metadata={
            "width": str(width), "seed": str(seed), "epoch": str(epoch),
            "train_accuracy": "%.4f" % accuracy(model, xtr, ytr),
            "test_accuracy": "%.4f" % accuracy(model, xte, yte)})

    epoch = 0
    snap()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(xtr), generator=gen)
        for lo in range(0, len(xtr), batch):
            idx = perm[lo:lo + batch]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            step += 1
        if epoch % every == 0 or epoch == epochs:
            snap()
    probe.finalize()
    probe.close()
    return accuracy(model, xtr, ytr), accuracy(model, xte, yte), step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="the watched root: one run directory per net")
    ap.add_argument("--acc", required=True, help="write the accuracies here (TSV)")
    ap.add_argument("--widths", default="8,128", help="channels per conv layer (default 8,128)")
    ap.add_argument("--seeds", default="1,2,3", help="training seeds (default 1,2,3)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--every", type=int, default=5, help="a checkpoint every N epochs")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    widths = [int(w) for w in a.widths.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=TEST_SIZE, random_state=0,
                                          stratify=d.target)
    data = (torch.from_numpy(xtr), torch.from_numpy(ytr).long(),
            torch.from_numpy(xte), torch.from_numpy(yte).long())

    rows = []
    for w in widths:
        for s in seeds:
            name = "w%d-s%d" % (w, s)
            t0 = time.time()
            tr, te, steps = train_one(os.path.join(a.root, name), w, s, data, a.epochs,
                                      max(1, a.every), a.batch)
            print("  %-10s width %4d  seed %d  %5d steps  train acc %.4f  test acc %.4f  (%.1f s)"
                  % (name, w, s, steps, tr, te, time.time() - t0), flush=True)
            rows.append((name, w, s, steps, tr, te))
    with open(a.acc, "w") as f:
        f.write("run\twidth\tseed\tsteps\ttrain_accuracy\ttest_accuracy\n")
        for r in rows:
            f.write("%s\t%d\t%d\t%d\t%.4f\t%.4f\n" % r)


if __name__ == "__main__":
    main()
