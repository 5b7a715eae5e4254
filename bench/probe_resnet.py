#!/usr/bin/python3
"""probe_resnet.py -- what the Probe costs a real training loop.

    probe_resnet.py WORKDIR [--quick]

Trains a torchvision ResNet-18 (random init, 32x32 inputs, batch 64, SGD)
and snapshots 5 layers (stem relu, layer1..layer4) on a fixed probe of 1024
images every 20 steps, once per configuration:

  plain         every position kept, written in the training thread (the old Probe)
  spatial=K     K positions per image per conv map, background writer
  ... F16       the same stored as float16 (cast=torch.float16)
  pool=4        conv maps average-pooled to at most 4x4
  forward only  the probe batch's forward pass, the floor of any snapshot

and prints, per configuration, bytes per checkpoint and the Probe's share of
the training wall time (time inside snapshot() and in the writer thread over
the whole loop's time).  Needs python3-torch and python3-torchvision.
"""
import os
import shutil
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integrations", "python"))
import pwcca_probe  # noqa: E402


def run(workdir, label, snapshots, every, **opts):
    import torchvision
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    g = torch.Generator().manual_seed(1)
    probe_x = torch.randn(1024, 3, 32, 32, generator=g)
    out = os.path.join(workdir, label.replace(" ", "_").replace("=", ""))
    shutil.rmtree(out, ignore_errors=True)
    probe = pwcca_probe.Probe(model, ["relu", "layer1", "layer2", "layer3", "layer4"], probe_x,
                              out, batch_size=256, check=False, **opts)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    t0 = time.perf_counter()
    sizes = []
    for step in range(snapshots * every):
        if step % every == 0:
            probe.snapshot(step)
            sizes.append(probe.bytes_written)
        x = torch.randn(64, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe.close()
    wall = time.perf_counter() - t0
    writer = probe._writer.seconds if probe._writer is not None else 0.0
    disk = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / len(sizes)
    print("%-24s %10.1f MB %9.2f s %9.2f s %9.1f s %8.1f %%"
          % (label, disk / 1e6, probe.seconds / len(sizes), writer / len(sizes), wall,
             100.0 * probe.seconds / wall))
    shutil.rmtree(out, ignore_errors=True)


def floor(snaps):
    """The probe batch's forward pass alone: what any snapshot must spend."""
    import torchvision
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(1024, 3, 32, 32)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(snaps):
            for lo in range(0, 1024, 256):
                model(x[lo:lo + 256])
    print("%-24s %13s %9.2f s" % ("forward pass only", "", (time.perf_counter() - t0) / snaps))


def main():
    workdir = sys.argv[1]
    quick = "--quick" in sys.argv
    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("skipped: python3-torchvision not installed (make deps-torch)")
        return
    torch.set_num_threads(2)
    snaps, every = (2, 5) if quick else (3, 20)
    print("ResNet-18, 32x32 inputs, probe 1024 images, batch 64, one snapshot per %d steps, "
          "%d snapshots" % (every, snaps))
    print("%-24s %13s %11s %11s %11s %10s" % ("probe", "per ckpt", "snapshot", "writer",
                                             "wall", "share"))
    run(workdir, "plain (old Probe)", snaps, every, background=False)
    run(workdir, "spatial=16 background", snaps, every, spatial=16)
    run(workdir, "spatial=4 background", snaps, every, spatial=4)
    run(workdir, "spatial=4 F16 background", snaps, every, spatial=4, cast=torch.float16)
    run(workdir, "pool=4 background", snaps, every, pool=4)
    floor(snaps)


if __name__ == "__main__":
    main()
