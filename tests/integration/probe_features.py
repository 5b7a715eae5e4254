#!/usr/bin/python3
"""probe_features.py -- the Probe's affordable-probe features on real torch models.

    probe_features.py ROOT

Writes runs into ROOT (the caller then lets pwccad score them and compares
with `pwcca compare`) and checks, on real models:

  resnet  a torchvision ResNet-18 (random weights, 32x32 inputs) probed with
          spatial=16: stored shapes [N, C, 16, 1], the same positions (and
          fingerprint) in every checkpoint, the stored values exactly the
          module outputs at the drawn positions, the width warning naming
          layer4, and the bytes saved.  Skipped when torchvision is missing.
  tfm     a TransformerEncoder run with a padding mask: inner layers return
          nested tensors (the crash users hit); stored as the real tokens
          only, with tokens=K keeping at most K of them per sequence.
  writer  the background writer: snapshot() returns while a write is still
          in progress, a second one waits in the queue, a third blocks
          (back-pressure), and a failed write surfaces at the next call.

Prints one JSON line (including "final_scores", the number of scores against
FINAL the daemon will store for these runs); exit 1 on any failure.
"""
import json
import os
import sys
import threading
import warnings

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "integrations", "python"))
sys.path.insert(0, here)
import pwcca_probe  # noqa: E402
import stcheck  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def stored(path):
    meta, tensors = stcheck.load(path)
    return meta, {t[0]: (t[2], t[3]) for t in tensors}


def train_steps(model, make_batch, steps, lr=0.05):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        x, y, kw = make_batch()
        loss = torch.nn.functional.cross_entropy(model(x, **kw), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def resnet(root, report):
    try:
        import torchvision
    except ImportError:
        report["resnet"] = "skipped: python3-torchvision not installed"
        return 0
    torch.manual_seed(1)
    model = torchvision.models.resnet18(num_classes=10)
    g = torch.Generator().manual_seed(2)
    probe_x = torch.randn(128, 3, 32, 32, generator=g)
    layers = ["relu", "layer1", "layer2", "layer3", "layer4"]
    out = os.path.join(root, "resnet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe = pwcca_probe.Probe(model, layers, probe_x, out, spatial=16, batch_size=64)
        for step in range(3):
            if step:
                train_steps(model, lambda: (torch.randn(16, 3, 32, 32, generator=g),
                                            torch.randint(0, 10, (16,), generator=g), {}), 1)
            probe.snapshot(step)
        probe.finalize()
        probe.close()
    msgs = [str(w.message) for w in caught if issubclass(w.category, pwcca_probe.ProbeWarning)]
    check(any("'layer4'" in m and "n = 128" in m and "p = 512" in m and "reduce" in m
              for m in msgs), "no width warning naming layer4: %r" % msgs)
    check(not any("'layer1'" in m for m in msgs), "layer1 warned although it is scorable")

    want = {"relu": [128, 64, 16, 1], "layer1": [128, 64, 16, 1], "layer2": [128, 128, 4, 4],
            "layer3": [128, 256, 2, 2], "layer4": [128, 512, 1, 1]}
    metas = []
    for step in range(3):
        meta, ts = stored(os.path.join(out, "step-%06d.safetensors" % step))
        metas.append(meta)
        check({k: v[0] for k, v in ts.items()} == want,
              "resnet step %d shapes %r" % (step, {k: v[0] for k, v in ts.items()}))
    for key in ("probe_fingerprint", "subsample_sha256", "probe_inputs_sha256", "subsample"):
        check(len({m.get(key) for m in metas}) == 1 and metas[0].get(key),
              "resnet: %s differs between checkpoints or is missing" % key)
    check("spatial=16" in metas[0]["subsample"], "subsample metadata %r" % metas[0]["subsample"])

    # The stored values are the module outputs at the drawn positions.
    full = pwcca_probe.Probe(model, layers, probe_x, os.path.join(root, ".full"),
                             background=False, check=False)
    _, last = stored(os.path.join(out, "step-000002.safetensors"))
    full_bytes = 0
    for name, act in full.activations():
        full_bytes += act.numel() * act.element_size()
        if name in probe._index:
            b, c, h, w = act.shape
            idx = probe._index[name][1]
            picked = act.reshape(b, c, h * w).gather(2, idx.unsqueeze(1).expand(b, c, idx.shape[1]))
            check(np.array_equal(picked.unsqueeze(3).double().numpy(), last[name][1]),
                  "resnet %s: stored values are not the outputs at the drawn positions" % name)
        else:
            check(np.array_equal(act.double().numpy(), last[name][1]),
                  "resnet %s: a map smaller than spatial= must be kept whole" % name)
    check(sorted(probe._index) == ["layer1", "relu"], "positions drawn for %r" % sorted(probe._index))
    sub_bytes = os.path.getsize(os.path.join(out, "step-000002.safetensors"))
    check(sub_bytes * 4 < full_bytes, "spatial=16 saved too little: %d of %d" % (sub_bytes, full_bytes))

    # The fingerprint names the probe: another seed or other inputs give another.
    other = pwcca_probe.Probe(model, layers, probe_x, os.path.join(root, ".seed"),
                              spatial=16, seed=7, background=False, check=False)
    other.activations()
    check(other.fingerprint() != metas[0]["probe_fingerprint"], "seed does not change the fingerprint")
    moved = pwcca_probe.Probe(model, layers, probe_x + 1, os.path.join(root, ".inputs"),
                              spatial=16, background=False, check=False)
    check(moved.inputs_sha256 != metas[0]["probe_inputs_sha256"], "inputs do not change their hash")
    report["resnet"] = {"bytes_full": full_bytes, "bytes_spatial16": sub_bytes}
    return 2 * len(layers)


class Tfm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(8, 16)
        layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, 2)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x, src_key_padding_mask=None):
        h = self.enc(self.embed(x), src_key_padding_mask=src_key_padding_mask)
        keep = (~src_key_padding_mask).unsqueeze(2).float() if src_key_padding_mask is not None \
            else torch.ones_like(h[..., :1])
        return self.head((h * keep).sum(1) / keep.sum(1))


def transformer(root, report):
    torch.manual_seed(3)
    model = Tfm()
    g = torch.Generator().manual_seed(4)
    n, t = 80, 7
    x = torch.randn(n, t, 8, generator=g)
    lengths = torch.randint(2, t + 1, (n,), generator=g)
    pad = torch.arange(t).unsqueeze(0) >= lengths.unsqueeze(1)  # True = padding
    inputs = {"x": x, "src_key_padding_mask": pad}
    layers = ["enc.layers.0", "enc", "head"]
    real = int((~pad).sum())

    def batch():
        xb = torch.randn(16, t, 8, generator=g)
        lb = torch.randint(2, t + 1, (16,), generator=g)
        pb = torch.arange(t).unsqueeze(0) >= lb.unsqueeze(1)
        return xb, torch.randint(0, 3, (16,), generator=g), {"src_key_padding_mask": pb}

    out = os.path.join(root, "tfm")
    probe = pwcca_probe.Probe(model, layers, inputs, out, token_mask=~pad, batch_size=32,
                              check=False)
    for step in range(3):
        if step:
            train_steps(model, batch, 2)
        probe.snapshot(step)
    probe.finalize()
    probe.close()
    _, ts = stored(os.path.join(out, "step-000002.safetensors"))
    check(ts["enc.layers.0"][0] == [real, 16], "nested layer stored as %r, want [%d, 16]"
          % (ts["enc.layers.0"][0], real))
    check(ts["enc"][0] == [real, 16], "padded layer stored as %r" % (ts["enc"][0],))
    model.eval()
    with torch.no_grad():
        h = model.enc(model.embed(x), src_key_padding_mask=pad)
    check(np.allclose(h[~pad].double().numpy(), ts["enc"][1], rtol=0, atol=1e-6),
          "the stored tokens are not the encoder's real tokens")

    # tokens=K: at most K real tokens per sequence, the same ones every time.
    k = 3
    sub = pwcca_probe.Probe(model, layers, inputs, os.path.join(root, ".tokens"), token_mask=~pad,
                            tokens=k, background=False, check=False)
    a1 = dict(sub.activations())
    a2 = dict(sub.activations())
    want = int(torch.clamp(lengths, max=k).sum())
    check(list(a1["enc.layers.0"].shape) == [want, 16], "tokens=%d kept %r rows, want %d"
          % (k, list(a1["enc.layers.0"].shape), want))
    check(torch.equal(a1["enc"], a2["enc"]), "tokens= drew other tokens the second time")
    report["tfm"] = {"real_tokens": real, "tokens3_rows": want}
    return 2 * len(layers)


def writer(root, report):
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    x = torch.randn(200, 6)
    out = os.path.join(root, ".writer")
    gate = threading.Event()
    real_write = pwcca_probe.write_safetensors
    state = {"writing": None, "fail": None}

    def slow_write(path, tensors, meta):
        state["writing"] = path
        gate.wait(30)
        if state["fail"] and path.endswith(state["fail"]):
            raise OSError(28, "No space left on device")
        real_write(path, tensors, meta)

    pwcca_probe.write_safetensors = slow_write
    try:
        probe = pwcca_probe.Probe(model, ["0", "2"], x, out, queue=1)
        first = probe.snapshot(0)  # the writer takes it and blocks
        check(not os.path.exists(first), "snapshot() waited for its write")
        probe.snapshot(1)  # waits in the queue
        third = threading.Thread(target=probe.snapshot, args=(2,))
        third.start()
        third.join(0.5)
        check(third.is_alive(), "a third snapshot did not wait for the writer (queue=1)")
        gate.set()
        third.join(30)
        check(not third.is_alive(), "the third snapshot never went through")
        probe.wait()
        for s in range(3):
            check(os.path.exists(os.path.join(out, "step-%06d.safetensors" % s)),
                  "step %d not written" % s)
        state["fail"] = "step-000003.safetensors"
        probe.snapshot(3)  # returns: the failure is raised by the next call
        try:
            probe.snapshot(4)
            probe.wait()
            raised = None
        except RuntimeError as e:
            raised = str(e)
        check(raised and "step-000003" in raised and "No space left" in raised,
              "a failed background write was not reported: %r" % raised)
        probe.finalize()
        probe.close()
        with open(os.path.join(out, "FINAL")) as f:
            check(f.read().strip() in ("3", "4"), "FINAL after a failed write")
    finally:
        pwcca_probe.write_safetensors = real_write
        gate.set()
    report["writer"] = "ok"


def main(root):
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
    report = {}
    finals = resnet(root, report)
    finals += transformer(root, report)
    writer(root, report)
    report["final_scores"] = finals
    print(json.dumps(report))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print(f"probe_features: {e}", file=sys.stderr)
        sys.exit(1)
