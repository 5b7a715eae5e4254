"""pwcca_probe -- write layer activations for pwccad from a PyTorch training loop.

pwccad watches a run directory for checkpoints holding each monitored
layer's activations on a fixed probe set.  This module writes them::

    from pwcca_probe import Probe
    probe = Probe(model, ["layer1", "layer2", "layer3", "fc"], probe_inputs, "runs/resnet")
    for step in range(steps):
        ...                                   # your training step
        if step % 500 == 0:
            probe.snapshot(step)              # runs/resnet/step-000500.safetensors
    probe.finalize()                          # runs/resnet/FINAL: the run is final

* ``modules`` are names from ``model.named_modules()`` (or module objects),
  listed bottom to top: that is the depth order pwccad reports.
* ``snapshot(step)`` puts the model in eval mode, runs the probe inputs under
  ``torch.no_grad()`` with forward hooks on the named modules (in chunks of
  ``batch_size`` rows if given), restores the previous mode, and writes one
  safetensors file with every module's output concatenated over the probe
  set.  Shapes are kept as they are: pwccad treats ``[N, D]`` as N datapoints,
  conv ``[N, C, H, W]`` as N*H*W datapoints of C channels and sequence
  ``[N, T, D]`` as N*T datapoints of D features.  A module returning a tuple
  (e.g. an LSTM) contributes its first element.
* dtypes are kept: float32 -> F32, float64 -> F64, float16 -> F16, and
  bfloat16 -> BF16 written as raw bits (torch 1.13's ``.numpy()`` cannot
  convert bfloat16).  ``cast=torch.float32`` converts everything instead.
* The file is written to a dotfile in the same directory, fsync'ed and
  renamed into place, so pwccad never sees a partial checkpoint.  Its
  ``__metadata__`` holds ``step`` and ``layers`` (the order above).
* ``finalize(step=None)`` writes ``FINAL`` holding the step of the final
  checkpoint (the last snapshot by default), which pwccad takes as the
  reference for its backfill.  ``pwcca finalize RUN`` does the same over the
  daemon's socket.

Only numpy and torch are required; when the ``safetensors`` package is
installed its ``safetensors.torch.save_file`` writes the file instead of the
built-in writer (same content; the "layers" metadata keeps the order).
"""

import json
import os

import numpy as np
import torch

try:  # optional: the reference implementation, when installed
    import safetensors.torch as _st_torch
except ImportError:  # pragma: no cover - depends on the environment
    _st_torch = None

__all__ = ["Probe", "write_safetensors"]

_DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.float16: ("F16", "<f2"),
    torch.bfloat16: ("BF16", None),  # raw bits, see _tensor_bytes
}


def _tensor_bytes(t):
    """Little-endian element bytes of a CPU tensor, C order."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: reinterpret the 16-bit patterns as integers.
        return t.view(torch.int16).numpy().view(np.uint16).astype("<u2", copy=False).tobytes()
    return t.numpy().astype(_DTYPES[t.dtype][1], copy=False).tobytes()


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_atomically(path, write):
    """Call write(tmp_path) for a dotfile beside path, then rename it over path."""
    d, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.tmp.%d" % (base, os.getpid()))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(d)


def write_safetensors(path, tensors, metadata=None):
    """Write an ordered list of (name, CPU tensor) pairs as a safetensors file at
    path, atomically (dotfile + rename).  metadata: dict of str to str."""
    names = [n for n, _ in tensors]
    if len(set(names)) != len(names):
        raise ValueError("tensor names must be unique: %r" % names)
    for n, t in tensors:
        if t.dtype not in _DTYPES:
            raise TypeError("tensor %r: dtype %s is not one of float16, bfloat16, float32, "
                            "float64 (pass cast=torch.float32)" % (n, t.dtype))
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}

    if _st_torch is not None:
        def write(tmp):
            _st_torch.save_file({n: t.contiguous() for n, t in tensors}, tmp, metadata=meta)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
    else:
        def write(tmp):
            header = {"__metadata__": meta} if meta else {}
            blobs, off = [], 0
            for n, t in tensors:
                b = _tensor_bytes(t)
                header[n] = {"dtype": _DTYPES[t.dtype][0], "shape": list(t.shape),
                             "data_offsets": [off, off + len(b)]}
                blobs.append(b)
                off += len(b)
            h = json.dumps(header, separators=(",", ":")).encode("utf-8")
            h += b" " * (-len(h) % 8)  # data starts 8-byte aligned
            with open(tmp, "wb") as f:
                f.write(len(h).to_bytes(8, "little"))
                f.write(h)
                for b in blobs:
                    f.write(b)
                f.flush()
                os.fsync(f.fileno())

    _replace_atomically(path, write)


class Probe:
    """Snapshots of named modules' outputs on a fixed probe batch, for pwccad.

    model       the torch.nn.Module being trained
    modules     names from model.named_modules() or module objects, bottom to top
    inputs      the probe batch: a tensor, a tuple of positional inputs, or a dict
                of keyword inputs; dimension 0 indexes the probe examples.  Keep it
                fixed for the whole run (pwccad compares the same datapoints).
    out_dir     the run directory pwccad watches (created if missing)
    batch_size  run the probe in chunks of this many examples (default: all at once)
    cast        a torch dtype to convert every output to, or None to keep dtypes
    forward     optional callable(model, *args, **kwargs) replacing model(*args, **kwargs)
                for one chunk of the probe inputs (e.g. to call model.encode)
    names       optional layer names for the file (default: the module names)
    """

    def __init__(self, model, modules, inputs, out_dir, *, batch_size=None, cast=None,
                 forward=None, names=None):
        self.model = model
        self.out_dir = str(out_dir)
        self.batch_size = batch_size
        self.cast = cast
        self.forward = forward
        self.last_step = None
        by_name = dict(model.named_modules())
        by_id = {id(m): n for n, m in model.named_modules()}
        self._modules = []
        for m in modules:
            if isinstance(m, str):
                if m not in by_name:
                    known = [n for n in by_name if n][:20]
                    raise ValueError("no module named %r in the model; known: %s"
                                     % (m, ", ".join(known)))
                self._modules.append((m, by_name[m]))
            elif isinstance(m, torch.nn.Module):
                if id(m) not in by_id:
                    raise ValueError("module %r is not part of the model" % (m,))
                self._modules.append((by_id[id(m)] or "model", m))
            else:
                raise TypeError("modules must be names or torch.nn.Module objects, not %r" % (m,))
        if not self._modules:
            raise ValueError("name at least one module to watch")
        self.names = list(names) if names is not None else [n for n, _ in self._modules]
        if len(self.names) != len(self._modules) or len(set(self.names)) != len(self.names):
            raise ValueError("names must be unique, one per module: %r" % self.names)
        if any("," in n or not n for n in self.names):
            raise ValueError("layer names must be non-empty and contain no comma: %r" % self.names)
        if isinstance(inputs, dict):
            self._args, self._kwargs = (), dict(inputs)
        elif isinstance(inputs, (tuple, list)):
            self._args, self._kwargs = tuple(inputs), {}
        else:
            self._args, self._kwargs = (inputs,), {}
        firsts = [x for x in list(self._args) + list(self._kwargs.values()) if torch.is_tensor(x)]
        if not firsts:
            raise ValueError("the probe inputs hold no tensor")
        self.n = firsts[0].shape[0]
        os.makedirs(self.out_dir, exist_ok=True)

    def _chunk(self, lo, hi):
        def cut(x):
            return x[lo:hi] if torch.is_tensor(x) and x.dim() > 0 and x.shape[0] == self.n else x
        return tuple(cut(a) for a in self._args), {k: cut(v) for k, v in self._kwargs.items()}

    def activations(self):
        """Run the probe; return [(name, CPU tensor)] bottom to top, without writing."""
        outs = {n: [] for n in self.names}
        calls = {n: 0 for n in self.names}

        def hook_for(name):
            def hook(_module, _inputs, output):
                if isinstance(output, (tuple, list)):
                    output = output[0]
                if not torch.is_tensor(output):
                    raise TypeError("module %r returned %s, not a tensor" % (name, type(output)))
                calls[name] += 1
                out = output.detach()
                if self.cast is not None:
                    out = out.to(self.cast)
                outs[name].append(out.cpu())
            return hook

        handles = [m.register_forward_hook(hook_for(n))
                   for n, (_, m) in zip(self.names, self._modules)]
        was_training = self.model.training
        step = self.batch_size or self.n
        nchunks = 0
        try:
            self.model.eval()
            with torch.no_grad():
                for lo in range(0, self.n, step):
                    args, kwargs = self._chunk(lo, min(lo + step, self.n))
                    if self.forward is not None:
                        self.forward(self.model, *args, **kwargs)
                    else:
                        self.model(*args, **kwargs)
                    nchunks += 1
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        result = []
        for n in self.names:
            if calls[n] != nchunks:
                raise RuntimeError("module %r ran %d times for %d probe chunk(s); watch a module "
                                   "that runs once per forward pass" % (n, calls[n], nchunks))
            result.append((n, torch.cat(outs[n], 0) if len(outs[n]) > 1 else outs[n][0]))
        return result

    def snapshot(self, step, metadata=None):
        """Write OUT_DIR/step-NNNNNN.safetensors for this step; returns its path."""
        step = int(step)
        if step < 0:
            raise ValueError("step must be >= 0, not %d" % step)
        acts = self.activations()
        meta = {"step": str(step), "layers": ",".join(self.names), "producer": "pwcca_probe"}
        meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
        path = os.path.join(self.out_dir, "step-%06d.safetensors" % step)
        write_safetensors(path, acts, meta)
        self.last_step = step
        return path

    def finalize(self, step=None):
        """Mark the run final: OUT_DIR/FINAL holding the final checkpoint's step
        (default: the last snapshot; empty -- the highest step present -- if none)."""
        if step is None:
            step = self.last_step
        path = os.path.join(self.out_dir, "FINAL")

        def write(tmp):
            with open(tmp, "w") as f:
                f.write("" if step is None else "%d\n" % int(step))
                f.flush()
                os.fsync(f.fileno())

        _replace_atomically(path, write)
        return path
