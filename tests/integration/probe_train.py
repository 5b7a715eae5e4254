#!/usr/bin/python3
"""probe_train.py -- real small PyTorch trainings instrumented with pwcca_probe.

    probe_train.py ROOT

Trains, on synthetic data generated from fixed seeds, three tiny models for a
few dozen steps each, with integrations/python/pwcca_probe.py writing a
checkpoint every 10 steps into ROOT/mlp, ROOT/conv and ROOT/seq and FINAL at
the end:

  mlp   16-64-64-64-4 MLP; fc2's output is cast to bfloat16 inside the model,
        so its checkpoint layer is BF16 (the other layers F32)
  conv  two Conv2d layers on 8x8 images: NCHW outputs [N, C, H, W] as they are
  seq   a per-token Linear on [N, T, D] sequences: [N, T, D] as it is

and checks what a user relies on: the loss falls; every file is valid
(independent parser stcheck.py), complete, with step and layer-order metadata;
shapes and dtypes are kept; the stored values are exactly the modules' outputs
(bfloat16 bit for bit); the model is back in training mode after a snapshot;
FINAL names the last step.  Prints one JSON line; exit 1 on any failure.
"""
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "integrations", "python"))
sys.path.insert(0, here)
import pwcca_probe  # noqa: E402
import stcheck  # noqa: E402

STEPS, EVERY = 40, 10


class AsBF16(torch.nn.Module):
    """Casts to bfloat16, as a mixed-precision model's layer would output."""

    def forward(self, x):
        return x.to(torch.bfloat16)


class AsF32(torch.nn.Module):
    def forward(self, x):
        return x.float()


class TokenNet(torch.nn.Module):
    """Per-token features [N, T, D] pooled over T, then classified."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(6, 24)
        self.act = torch.nn.ReLU()
        self.head = torch.nn.Linear(24, 3)

    def forward(self, x):
        return self.head(self.act(self.embed(x)).mean(1))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def train(name, model, make_batch, probe_inputs, modules, root, lr):
    """SGD on fresh batches; snapshot every EVERY steps and at the end; finalize."""
    out = os.path.join(root, name)
    probe = pwcca_probe.Probe(model, modules, probe_inputs, out, batch_size=48)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(11)
    losses = []
    model.train()
    for step in range(STEPS + 1):
        if step % EVERY == 0:
            probe.snapshot(step)
            check(model.training, f"{name}: snapshot left the model in eval mode")
        if step == STEPS:
            break
        x, y = make_batch(gen)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    probe.finalize()
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    check(last < 0.85 * first, f"{name}: loss did not fall ({first:.4f} -> {last:.4f})")
    return out, probe, (first, last)


def verify(name, out, probe, layers, dtypes, shapes):
    files = sorted(f for f in os.listdir(out) if not f.startswith("."))
    want = ["FINAL"] + ["step-%06d.safetensors" % s for s in range(0, STEPS + 1, EVERY)]
    check(files == want, f"{name}: files {files}, expected {want}")
    check(not [f for f in os.listdir(out) if f.startswith(".")], f"{name}: temporaries left")
    with open(os.path.join(out, "FINAL")) as f:
        check(f.read().strip() == str(STEPS), f"{name}: FINAL does not name step {STEPS}")
    for fn in want[1:]:
        meta, tensors = stcheck.load(os.path.join(out, fn))
        check(meta.get("step") == str(int(fn[5:11])), f"{name}/{fn}: step metadata {meta}")
        check(meta.get("layers") == ",".join(layers), f"{name}/{fn}: layers metadata {meta}")
        check([t[0] for t in tensors] == layers, f"{name}/{fn}: tensor order")
        check([t[1] for t in tensors] == dtypes, f"{name}/{fn}: dtypes {[t[1] for t in tensors]}")
        check([t[2] for t in tensors] == shapes, f"{name}/{fn}: shapes {[t[2] for t in tensors]}")
    # The last file holds exactly what the modules output now (training has ended).
    _, tensors = stcheck.load(os.path.join(out, want[-1]))
    for (lname, act), (_, dt, _, stored) in zip(probe.activations(), tensors):
        if dt == "BF16":
            check(act.dtype == torch.bfloat16, f"{name}/{lname}: not bfloat16 in the model")
            bits = act.view(torch.int16).numpy().view(np.uint16)
            check(np.array_equal(stcheck.bf16_to_f32(bits).astype(np.float64), stored),
                  f"{name}/{lname}: BF16 bits differ from the module output")
        else:
            check(np.array_equal(act.double().numpy(), stored),
                  f"{name}/{lname}: stored values differ from the module output")


def main(root):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)

    # mlp: labels from a fixed random linear teacher on tanh features
    teacher = torch.randn(16, 4, generator=g)
    def mlp_batch(gen, n=64):
        x = torch.randn(n, 16, generator=gen)
        return x, (torch.tanh(x) @ teacher).argmax(1)
    mlp = torch.nn.Sequential()
    mlp.add_module("fc1", torch.nn.Linear(16, 64))
    mlp.add_module("relu1", torch.nn.ReLU())
    mlp.add_module("fc2", torch.nn.Linear(64, 64))
    mlp.add_module("bf16", AsBF16())
    mlp.add_module("back", AsF32())
    mlp.add_module("relu2", torch.nn.ReLU())
    mlp.add_module("fc3", torch.nn.Linear(64, 64))
    mlp.add_module("relu3", torch.nn.ReLU())
    mlp.add_module("out", torch.nn.Linear(64, 4))
    probe_x = torch.randn(400, 16, generator=g)
    out, probe, mlp_loss = train("mlp", mlp, mlp_batch, probe_x,
                                 ["relu1", "bf16", "relu3", "out"], root, lr=0.2)
    verify("mlp", out, probe, ["relu1", "bf16", "relu3", "out"], ["F32", "BF16", "F32", "F32"],
           [[400, 64], [400, 64], [400, 64], [400, 4]])

    # conv: class = which quadrant of an 8x8 image holds a bright blob
    def conv_batch(gen, n=32):
        y = torch.randint(0, 4, (n,), generator=gen)
        x = 0.3 * torch.randn(n, 3, 8, 8, generator=gen)
        for i in range(n):
            r, c = divmod(int(y[i]), 2)
            x[i, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 2.0
        return x, y
    conv = torch.nn.Sequential()
    conv.add_module("conv1", torch.nn.Conv2d(3, 8, 3, padding=1))
    conv.add_module("relu1", torch.nn.ReLU())
    conv.add_module("conv2", torch.nn.Conv2d(8, 16, 3, stride=2, padding=1))
    conv.add_module("relu2", torch.nn.ReLU())
    conv.add_module("pool", torch.nn.AdaptiveAvgPool2d(1))
    conv.add_module("flat", torch.nn.Flatten())
    conv.add_module("fc", torch.nn.Linear(16, 4))
    probe_c, _ = conv_batch(torch.Generator().manual_seed(6), n=96)
    out, probe, conv_loss = train("conv", conv, conv_batch, probe_c, ["relu1", "relu2", "fc"],
                                  root, lr=0.1)
    verify("conv", out, probe, ["relu1", "relu2", "fc"], ["F32"] * 3,
           [[96, 8, 8, 8], [96, 16, 4, 4], [96, 4]])

    # seq: class = sign pattern of the mean token; per-token features [N, T, D]
    w_seq = torch.randn(6, 3, generator=g)
    def seq_batch(gen, n=64):
        x = torch.randn(n, 5, 6, generator=gen)
        return x, (x.mean(1) @ w_seq).argmax(1)
    seq = TokenNet()
    probe_s = torch.randn(120, 5, 6, generator=g)
    out, probe, seq_loss = train("seq", seq, seq_batch, probe_s, ["act", "head"], root, lr=0.2)
    verify("seq", out, probe, ["act", "head"], ["F32", "F32"], [[120, 5, 24], [120, 3]])

    print(json.dumps({"mlp_loss": mlp_loss, "conv_loss": conv_loss, "seq_loss": seq_loss,
                      "checkpoints": 3 * (STEPS // EVERY + 1)}))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print(f"probe_train: {e}", file=sys.stderr)
        sys.exit(1)
