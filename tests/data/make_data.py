#!/usr/bin/python3
"""make_data.py -- regenerates the small real-numpy fixtures in tests/data/.

Run with the system Python that has numpy:  /usr/bin/python3 tests/data/make_data.py
The unit tests (tests/unit/test_npy.c, test_npz.c, test_checkpoint.c) read
these files and expect exactly the values written here: element k of every
array, counted in C order over its logical shape, is  k * 0.25 - 1.5,
which is exact in float16, float32 and float64 for the sizes used.

numpy's own writers are the point: np.save (format 1.0 by default),
np.lib.format.write_array for versions 2.0 and 3.0, np.savez (stored, with
the zip64 extra fields numpy always writes), np.savez_compressed, and a zip
written to an unseekable stream so that its members carry data descriptors.
"""
import io
import os
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def ramp(shape, dtype):
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) * 0.25 - 1.5).reshape(shape).astype(dtype)


def write_version(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile must then use data descriptors (flag bit 3)."""

    def __init__(self):
        super().__init__()
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.data += b
        return len(b)


def savez_streamed(path, **arrays):
    """Like np.savez_compressed, but written as a stream, as by a writer on a pipe."""
    out = _Unseekable()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.save(buf, arr)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
    with open(path, "wb") as f:
        f.write(bytes(out.data))


def main():
    np.save(os.path.join(HERE, "f4_2d.npy"), ramp((3, 4), "<f4"))
    np.save(os.path.join(HERE, "f8_fortran.npy"), np.asfortranarray(ramp((3, 2), "<f8")))
    np.save(os.path.join(HERE, "f2_be_3d.npy"), ramp((2, 3, 2), ">f2"))
    np.save(os.path.join(HERE, "f4_4d.npy"), ramp((2, 3, 2, 2), "<f4"))
    np.save(os.path.join(HERE, "f8_1d.npy"), ramp((5,), "<f8"))
    write_version(os.path.join(HERE, "f4_v2.npy"), ramp((2, 3), "<f4"), (2, 0))
    write_version(os.path.join(HERE, "f4_v3.npy"), ramp((2, 3), "<f4"), (3, 0))
    np.save(os.path.join(HERE, "i4_refused.npy"), np.arange(6, dtype="<i4").reshape(2, 3))
    np.save(os.path.join(HERE, "object_refused.npy"), np.array([1, "a", None], dtype=object),
            allow_pickle=True)
    layers = {"conv1": ramp((2, 3, 2, 2), "<f4"), "fc1": ramp((4, 3), "<f8"),
              "fc2": ramp((4, 2), ">f2")}
    np.savez(os.path.join(HERE, "stored.npz"), **layers)
    np.savez_compressed(os.path.join(HERE, "deflated.npz"), **layers)
    savez_streamed(os.path.join(HERE, "descriptor.npz"), **layers)


if __name__ == "__main__":
    main()
