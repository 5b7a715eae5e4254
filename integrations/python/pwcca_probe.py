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

Affordable probes (each documented on ``Probe``): ``spatial=K`` keeps K
positions per probe image of every conv map, ``pool=(H, W)`` average-pools
conv maps first, ``tokens=K`` keeps K tokens per sequence and
``token_mask=`` leaves padded tokens out (nested-tensor outputs, as a
``TransformerEncoder`` with a padding mask produces, are read as their real
tokens).  The choice of positions is drawn once per run from ``seed`` and is
the same at every checkpoint; ``__metadata__`` records it and a
``probe_fingerprint`` of the probe inputs and positions.  Files are written
by a background thread (``background=True``): ``snapshot`` returns once the
activations are on the CPU; ``finalize``/``close`` wait for the writes.

Only numpy and torch are required; when the ``safetensors`` package is
installed its ``safetensors.torch.save_file`` writes the file instead of the
built-in writer (same content; the "layers" metadata keeps the order).
"""

import atexit
import hashlib
import json
import os
import queue
import threading
import warnings
import weakref
import zlib

import numpy as np
import torch

try:  # optional: the reference implementation, when installed
    import safetensors.torch as _st_torch
except ImportError:  # pragma: no cover - depends on the environment
    _st_torch = None

__all__ = ["Probe", "ProbeWarning", "write_safetensors"]

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


def _check_tensors(tensors):
    """Refuse what write_safetensors cannot write, before anything is written."""
    names = [n for n, _ in tensors]
    if len(set(names)) != len(names):
        raise ValueError("tensor names must be unique: %r" % names)
    for n, t in tensors:
        if t.dtype not in _DTYPES:
            raise TypeError("tensor %r: dtype %s is not one of float16, bfloat16, float32, "
                            "float64 (pass cast=torch.float32)" % (n, t.dtype))


def write_safetensors(path, tensors, metadata=None):
    """Write an ordered list of (name, CPU tensor) pairs as a safetensors file at
    path, atomically (dotfile + rename).  metadata: dict of str to str."""
    _check_tensors(tensors)
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


class ProbeWarning(UserWarning):
    """A probe pwccad cannot score exactly, or one that costs more than it needs to."""


def _datapoints(shape):
    """(datapoints, neurons) as pwccad reads a stored shape (docs/FORMATS.md)."""
    if len(shape) == 1:
        return shape[0], 1
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 3:
        return shape[0] * shape[1], shape[2]
    if len(shape) == 4:
        return shape[0] * shape[2] * shape[3], shape[1]
    return None


def _pick_output(output, name):
    """The tensor a module's output stands for: the first element of a tuple or
    list (an LSTM's output), a dict's (or ModelOutput's) last_hidden_state or
    else its first tensor value."""
    if isinstance(output, dict):
        if torch.is_tensor(output.get("last_hidden_state")):
            return output["last_hidden_state"]
        output = next((v for v in output.values() if torch.is_tensor(v)), None)
    elif isinstance(output, (tuple, list)):
        output = output[0] if output else None
    if not torch.is_tensor(output):
        raise TypeError("module %r returned %s, not a tensor (nor a tuple or dict holding one)"
                        % (name, type(output).__name__))
    return output


def _tensor_digest(h, t):
    """Feed a tensor's dtype, shape and bytes to a hashlib object."""
    t = t.detach().cpu().contiguous()
    h.update(("%s%s" % (t.dtype, list(t.shape))).encode())
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    h.update(t.numpy().tobytes())


def _seed_for(seed, name, example=None):
    """A generator seed fixed by the run's seed, the layer and (optionally) one example."""
    s = zlib.crc32(name.encode("utf-8"), int(seed) & 0xFFFFFFFF)
    if example is not None:
        s = zlib.crc32(b"%d" % example, s)
    return (int(seed) << 32 ^ s) & 0x7FFFFFFFFFFFFFFF


class _Writer:
    """One background thread writing snapshots in order through a bounded queue:
    put() blocks while `depth` snapshots wait (back-pressure, not memory), an
    error is kept and raised at the next put() or wait()."""

    def __init__(self, depth):
        self._q = queue.Queue(maxsize=depth)
        self._lock = threading.Lock()
        self._error = None  # (path, exception) of the first failed write not yet raised
        self.seconds = 0.0  # time spent writing
        self._thread = threading.Thread(target=self._run, name="pwcca_probe-writer", daemon=True)
        self._thread.start()

    def _run(self):
        import time
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                path, tensors, meta = item
                t0 = time.perf_counter()
                try:
                    write_safetensors(path, tensors, meta)
                except BaseException as e:  # kept for the caller's thread
                    with self._lock:
                        if self._error is None:
                            self._error = (path, e)
                self.seconds += time.perf_counter() - t0
            finally:
                self._q.task_done()

    def raise_pending(self):
        with self._lock:
            err, self._error = self._error, None
        if err is not None:
            path, e = err
            raise RuntimeError("pwcca_probe: writing %s failed in the background: %s: %s"
                               % (path, type(e).__name__, e)) from e

    def put(self, item):
        self.raise_pending()
        self._q.put(item)

    def wait(self):
        self._q.join()
        self.raise_pending()

    def close(self):
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()


_open_probes = weakref.WeakSet()


@atexit.register
def _flush_open_probes():
    """Snapshots still queued when the interpreter exits are written, not lost."""
    for p in list(_open_probes):
        try:
            p.close()
        except Exception as e:  # pragma: no cover - reported, exit goes on
            print("pwcca_probe: %s" % e, file=__import__("sys").stderr)


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

    Affordable probes.  pwccad treats every position of a conv map and every
    token of a sequence as a datapoint, as the PWCCA paper does; these options
    keep fewer of them.  They change the numbers (a score on fewer datapoints
    is a noisier estimate of the same quantity), so keep them fixed for a run
    and across runs you compare; pwccad sees them in the file's metadata.
    spatial     K: keep K positions per probe image of every conv map [N, C, H, W],
                drawn without replacement, separately for each image, once per run
                (from `seed`); stored as [N, C, K, 1] (N*K datapoints of C channels)
    pool        (H, W) or an int: average-pool conv maps larger than H x W down to
                it first (each datapoint is then a region's mean response, a
                smoother signal than one position; smaller maps are kept)
    tokens      K: keep K tokens per sequence [N, T, D] (all of them when fewer),
                drawn once per run; [N, K, D], or [M, D] with a mask
    token_mask  bool [N, T], True for a real token: padded tokens are left out, so
                a sequence layer is stored as [M, D], its M real tokens.  A module
                returning a nested tensor (a TransformerEncoder with a padding mask,
                in eval mode) is read as its real tokens, mask or not.
    seed        the draw of positions and tokens (default 0)
    background  write files on a background thread (default True): snapshot()
                returns once the activations are on the CPU
    queue       snapshots that may wait for the writer (default 1; snapshot()
                blocks beyond that rather than hold more in memory)
    check       warn at the first snapshot about layers pwccad cannot score
                exactly (n <= 2p) and about large conv maps (default True)
    """

    def __init__(self, model, modules, inputs, out_dir, *, batch_size=None, cast=None,
                 forward=None, names=None, spatial=None, pool=None, tokens=None,
                 token_mask=None, seed=0, background=True, queue=1, check=True):
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

        for opt, v in (("spatial", spatial), ("tokens", tokens)):
            if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
                raise ValueError("%s must be a positive whole number of positions, not %r"
                                 % (opt, v))
        self.spatial = None if spatial is None else int(spatial)
        self.tokens = None if tokens is None else int(tokens)
        if pool is not None:
            pool = (pool, pool) if isinstance(pool, int) else tuple(pool)
            if len(pool) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in pool):
                raise ValueError("pool must be an int or an (H, W) pair of positive ints, not %r"
                                 % (pool,))
            pool = tuple(int(v) for v in pool)
        self.pool = pool
        if token_mask is not None:
            token_mask = torch.as_tensor(token_mask).detach().cpu()
            if token_mask.dtype != torch.bool or token_mask.dim() != 2 or \
                    token_mask.shape[0] != self.n:
                raise ValueError("token_mask must be a bool tensor [N, T] with N = %d probe "
                                 "examples (True for a real token), not %s %s"
                                 % (self.n, token_mask.dtype, list(token_mask.shape)))
            if not bool(token_mask.any(1).all()):
                raise ValueError("token_mask leaves probe example %d without a token"
                                 % int((~token_mask.any(1)).nonzero()[0]))
        self.token_mask = token_mask
        self.seed = int(seed)
        self.check = check
        self._index = {}      # layer -> (what was drawn, the drawn positions)
        self._rows = {}       # layer -> {example: LongTensor of kept tokens} (masked/nested)
        self._lo = 0          # first probe example of the chunk being run
        self._checked = False
        self._fingerprint = None
        h = hashlib.sha256()
        for a in self._args:
            if torch.is_tensor(a):
                _tensor_digest(h, a)
        for k in sorted(self._kwargs):
            if torch.is_tensor(self._kwargs[k]):
                h.update(k.encode())
                _tensor_digest(h, self._kwargs[k])
        if self.token_mask is not None:
            _tensor_digest(h, self.token_mask)
        self.inputs_sha256 = h.hexdigest()
        self.seconds = 0.0  # time snapshot() took in the caller's thread
        self.bytes_written = 0  # bytes of the last checkpoint
        self._writer = _Writer(max(1, int(queue))) if background else None
        self._closed = False
        os.makedirs(self.out_dir, exist_ok=True)
        if self._writer is not None:
            _open_probes.add(self)

    # ---- subsampling ------------------------------------------------------------

    def _draw(self, name, what, make):
        """The positions drawn for `name` once per run: make(generator) the first
        time, the same tensor afterwards; a layer whose shape changed is refused."""
        got = self._index.get(name)
        if got is None:
            g = torch.Generator().manual_seed(_seed_for(self.seed, name))
            got = self._index[name] = (what, make(g))
        elif got[0] != what:
            raise RuntimeError("layer %r changed shape during the run: positions were drawn for "
                               "%s, now %s" % (name, got[0], what))
        return got[1]

    def _keep_first(self, n_rows, size, k, g):
        """k of `size` positions per row, without replacement, ascending."""
        return torch.rand(n_rows, size, generator=g).argsort(1)[:, :k].sort(1).values

    def _spatial(self, name, out):
        b, c, h, w = out.shape
        k = min(self.spatial, h * w)
        if k == h * w:
            return out
        idx = self._draw(name, "spatial %d of %dx%d" % (k, h, w),
                         lambda g: self._keep_first(self.n, h * w, k, g))
        sel = idx[self._lo:self._lo + b].to(out.device)
        picked = out.reshape(b, c, h * w).gather(2, sel.unsqueeze(1).expand(b, c, k))
        return picked.unsqueeze(3)

    def _example_tokens(self, name, example, valid):
        """Token positions kept for one example among its `valid` ones (a LongTensor
        of positions), drawn once per run."""
        rows = self._rows.setdefault(name, {})
        got = rows.get(example)
        if got is None:
            if self.tokens is not None and self.tokens < len(valid):
                g = torch.Generator().manual_seed(_seed_for(self.seed, name, example))
                pick = torch.randperm(len(valid), generator=g)[:self.tokens].sort().values
                got = valid[pick]
            else:
                got = valid
            rows[example] = got
        return got

    def _masked_tokens(self, name, parts):
        """Concatenate the kept tokens of each example's [T_i, D] part into [M, D]."""
        kept = []
        for i, part in enumerate(parts):
            ex = self._lo + i
            n_real = part.shape[0]
            if self.token_mask is not None:
                valid = self.token_mask[ex].nonzero().flatten()
                if part.shape[0] == self.token_mask.shape[1]:
                    pass  # a padded example: the mask says which tokens are real
                elif part.shape[0] == len(valid):
                    valid = torch.arange(n_real)  # a nested part holds just the real tokens
                else:
                    raise RuntimeError("layer %r: probe example %d has %d tokens; token_mask "
                                       "has %d positions, %d of them real"
                                       % (name, ex, n_real, self.token_mask.shape[1], len(valid)))
            else:
                valid = torch.arange(n_real)
            pos = self._example_tokens(name, ex, valid)
            kept.append(part.index_select(0, pos.to(part.device)))
        return torch.cat(kept, 0)

    def _subsample(self, name, out):
        """A chunk's output as it is stored, after pool/spatial/tokens/masks."""
        if out.is_nested:
            return self._masked_tokens(name, out.unbind())
        if out.dim() == 5:  # 3-D convolutions: depth x height positions as one axis
            out = out.reshape(out.shape[0], out.shape[1], out.shape[2] * out.shape[3],
                              out.shape[4])
        if out.dim() == 4:
            if self.pool is not None and (out.shape[2] > self.pool[0] or
                                          out.shape[3] > self.pool[1]):
                # Never enlarge: a map already at most H x W is kept as it is.
                size = (min(out.shape[2], self.pool[0]), min(out.shape[3], self.pool[1]))
                out = torch.nn.functional.adaptive_avg_pool2d(out, size)
            if self.spatial is not None:
                out = self._spatial(name, out)
        elif out.dim() == 3:
            if self.token_mask is not None:
                return self._masked_tokens(name, out.unbind(0))
            if self.tokens is not None and self.tokens < out.shape[1]:
                b, t, d = out.shape
                k = self.tokens
                idx = self._draw(name, "tokens %d of %d" % (k, t),
                                 lambda g: self._keep_first(self.n, t, k, g))
                sel = idx[self._lo:self._lo + b].to(out.device)
                out = out.gather(1, sel.unsqueeze(2).expand(b, k, d))
        return out

    def _subsample_sha256(self):
        h = hashlib.sha256()
        for name in self.names:
            if name in self._index:
                what, idx = self._index[name]
                h.update(("%s:%s" % (name, what)).encode())
                h.update(idx.numpy().astype("<i8").tobytes())
            if name in self._rows:
                h.update(("%s:tokens" % name).encode())
                for ex in sorted(self._rows[name]):
                    h.update(b"%d:" % ex)
                    h.update(self._rows[name][ex].numpy().astype("<i8").tobytes())
        return h.hexdigest()

    def _settings(self):
        return "spatial=%s pool=%s tokens=%s token_mask=%s seed=%d" % (
            self.spatial or "all", "x".join(map(str, self.pool)) if self.pool else "none",
            self.tokens or "all", "yes" if self.token_mask is not None else "no", self.seed)

    def fingerprint(self):
        """The probe's identity: a hash of the probe inputs, the subsampling settings
        and the positions drawn (complete after the first snapshot)."""
        h = hashlib.sha256()
        h.update(self.inputs_sha256.encode())
        h.update(self._settings().encode())
        h.update(self._subsample_sha256().encode())
        return h.hexdigest()[:32]

    # ---- running the probe ----------------------------------------------------

    def _chunk(self, lo, hi):
        def cut(x):
            return x[lo:hi] if torch.is_tensor(x) and x.dim() > 0 and x.shape[0] == self.n else x
        return tuple(cut(a) for a in self._args), {k: cut(v) for k, v in self._kwargs.items()}

    def activations(self):
        """Run the probe; return [(name, CPU tensor)] bottom to top, as they would be
        written (after subsampling), without writing."""
        outs = {n: [] for n in self.names}
        calls = {n: 0 for n in self.names}

        def hook_for(name):
            def hook(_module, _inputs, output):
                raw = _pick_output(output, name).detach()
                calls[name] += 1
                out = self._subsample(name, raw)
                if self.cast is not None:
                    out = out.to(self.cast)
                out = out.cpu()
                if not raw.is_nested and out.data_ptr() == raw.data_ptr():
                    # Still the module's own tensor: a later in-place op (ReLU(inplace=True))
                    # or the writer thread must not see it change.
                    out = out.clone()
                outs[name].append(out)
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
                    self._lo = lo
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
            self._lo = 0
        result = []
        for n in self.names:
            if calls[n] != nchunks:
                raise RuntimeError("module %r ran %d times for %d probe chunk(s); watch a module "
                                   "that runs once per forward pass" % (n, calls[n], nchunks))
            result.append((n, torch.cat(outs[n], 0) if len(outs[n]) > 1 else outs[n][0]))
        return result

    def _check_layers(self, acts):
        """Warnings a user can act on before the run is long."""
        for name, t in acts:
            dp = _datapoints(list(t.shape))
            if dp is None:
                continue
            n, p = dp
            if n <= 2 * p:
                warnings.warn(
                    "pwcca_probe: layer %r gives n = %d datapoints of p = %d neurons: its CCA "
                    "scores need n > 2p = %d (it is compared with itself) and are stable from "
                    "about 5-10x p = %d-%d.  Fixes: more probe inputs; for conv maps keep more "
                    "positions (spatial=, pool=); or let pwccad score it through its top "
                    "directions (config reduce = auto, the default, or dims:K)"
                    % (name, n, p, 2 * p, 5 * p, 10 * p), ProbeWarning, stacklevel=3)
            nbytes = t.numel() * t.element_size()
            if t.dim() == 4 and t.shape[3] > 1 and nbytes > (16 << 20):
                k = max(1, (10 * t.shape[1]) // max(1, t.shape[0]) + 1)
                warnings.warn(
                    "pwcca_probe: layer %r writes %.1f MB per checkpoint (%d images x %d "
                    "positions x %d channels); spatial=%d would keep %d datapoints (10x its "
                    "width) in %.1f MB" % (name, nbytes / 1e6, t.shape[0], t.shape[2] * t.shape[3],
                                          t.shape[1], k, t.shape[0] * k,
                                          nbytes * k / (t.shape[2] * t.shape[3]) / 1e6),
                    ProbeWarning, stacklevel=3)

    def snapshot(self, step, metadata=None):
        """Write OUT_DIR/step-NNNNNN.safetensors for this step; returns its path.  With
        background=True the file is written by the writer thread; an error there is
        raised by the next snapshot(), finalize() or close()."""
        import time
        t0 = time.perf_counter()
        if self._closed:
            raise RuntimeError("pwcca_probe: snapshot after close()")
        if self._writer is not None:
            self._writer.raise_pending()
        step = int(step)
        if step < 0:
            raise ValueError("step must be >= 0, not %d" % step)
        acts = self.activations()
        if not self._checked:
            self._checked = True
            if self.check:
                self._check_layers(acts)
        if self._fingerprint is None:
            self._fingerprint = self.fingerprint()
        meta = {"step": str(step), "layers": ",".join(self.names), "producer": "pwcca_probe",
                "probe_fingerprint": self._fingerprint,
                "probe_inputs_sha256": self.inputs_sha256,
                "subsample": self._settings(),
                "subsample_sha256": self._subsample_sha256()}
        meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
        path = os.path.join(self.out_dir, "step-%06d.safetensors" % step)
        _check_tensors(acts)
        self.bytes_written = sum(t.numel() * t.element_size() for _, t in acts)
        if self._writer is not None:
            self._writer.put((path, acts, meta))
        else:
            write_safetensors(path, acts, meta)
        self.last_step = step
        self.seconds += time.perf_counter() - t0
        return path

    def wait(self):
        """Block until every snapshot taken so far is on disk; raise a writer error."""
        if self._writer is not None:
            self._writer.wait()

    def close(self):
        """Wait for the writer and stop it (the Probe is also a context manager)."""
        if self._closed:
            return
        self._closed = True
        _open_probes.discard(self)
        if self._writer is not None:
            try:
                self._writer.wait()
            finally:
                self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def finalize(self, step=None):
        """Mark the run final: OUT_DIR/FINAL holding the final checkpoint's step
        (default: the last snapshot; empty -- the highest step present -- if none),
        once every snapshot is on disk."""
        self.wait()
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
