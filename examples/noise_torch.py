#!/usr/bin/python3
"""noise_torch.py -- a small, real PyTorch run for the noise pictures (examples/README.md).

Usage: noise_torch.py OUT_DIR [--steps N] [--every K] [--probe N] [--seed S]

A CNN (two conv layers, two linear layers) learns a synthetic task with SGD:
16x16 single-channel images of Gaussian noise, labelled by the argmax of a
fixed random teacher CNN (its logits centred, so every class occurs); fresh
examples every step, so no dataset is needed and everything derives from
--seed (CPU float results may differ across machines in the last bits).
integrations/python/pwcca_probe.py writes, every K steps, the four layers' outputs on a fixed probe batch of N
images (conv maps at 4 positions per image: N*4 datapoints of their
channels), then FINAL.  Runs on the CPU in well under a minute.
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integrations",
                                "python"))
from pwcca_probe import Probe  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--steps", type=int, default=1000)
ap.add_argument("--every", type=int, default=40)
ap.add_argument("--probe", type=int, default=256)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

torch.manual_seed(a.seed)
torch.set_num_threads(1)


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),            # conv1: 16 x 16 x 16
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),  # conv2: 32 x 8 x 8
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 64), nn.ReLU(),                 # fc1: 64
        nn.Linear(64, 10))                                    # logits: 10


teacher, model = cnn(), cnn()
for p in teacher.parameters():
    p.requires_grad_(False)
with torch.no_grad():  # centre the teacher's logits so that every class occurs
    teacher[-1].bias -= teacher(torch.randn(4096, 1, 16, 16)).mean(0)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.steps)
probe_x = torch.randn(a.probe, 1, 16, 16, generator=torch.Generator().manual_seed(12345))
# Outputs after the ReLUs (modules 1, 3, 6) and the logits (7), bottom to top.
probe = Probe(model, ["1", "3", "6", "7"], probe_x, a.out, names=["conv1", "conv2", "fc1", "logits"],
              spatial=4, seed=a.seed, check=False)
loss_fn = nn.CrossEntropyLoss()
for step in range(a.steps + 1):
    if step % a.every == 0 or step == a.steps:
        probe.snapshot(step)
    if step == a.steps:
        break
    x = torch.randn(64, 1, 16, 16)
    y = teacher(x).argmax(1)
    loss = loss_fn(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    if step % 500 == 0:
        with torch.no_grad():
            acc = (model(probe_x).argmax(1) == teacher(probe_x).argmax(1)).float().mean().item()
        print("step %5d loss %.3f probe accuracy %.1f%%" % (step, loss.item(), 100 * acc))
probe.finalize()
probe.close()
