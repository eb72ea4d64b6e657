"""The allow-list unpickler loads what numpy writes today, under every protocol, and nothing that runs code."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import subprocess
import warnings
from collections import OrderedDict

import numpy as np
import pytest

from bench.errors import DataError
from bench.safe_pickle import UnsafePickleError, load_untrusted

ARRAYS = [
    np.arange(6, dtype=np.float32).reshape(2, 3),
    np.arange(6, dtype=np.float64).reshape(3, 2).T,  # not C-contiguous
    np.array([1, -2, 3], dtype=np.int64),
    np.array([0, 255], dtype=np.uint8),
    np.array([True, False]),
    np.array([1 + 2j], dtype=np.complex128),
    np.array(["a", "bc"]),
    np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
    np.array(3.5),  # 0-d
    np.ones(100_000, dtype=np.float32),  # large: protocol 5 writes it as one raw buffer
]
SCALARS = [np.float64(2.5), np.float32(0.25), np.int8(-3), np.int64(7), np.bool_(True), np.complex64(1j)]


def _globals(data: bytes) -> set[str]:
    """The globals a (trusted, test-made) pickle resolves, to prove the test exercises them."""
    found = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(f"{module}.{name}")
            return super().find_class(module, name)

    with warnings.catch_warnings():  # numpy 2 warns about the numpy.core names
        warnings.simplefilter("ignore", DeprecationWarning)
        Recording(io.BytesIO(data)).load()
    return found


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_and_scalars_of_every_protocol_load(protocol):
    nested = OrderedDict(x={1, 2}, y=frozenset([3]))
    rows = [{"embedding": a, "top1": s, "nested": nested} for a, s in zip(ARRAYS, SCALARS * 2)]
    data = pickle.dumps(rows, protocol=protocol)
    if protocol == 5:
        assert any(g.endswith("numeric._frombuffer") for g in _globals(data))
    if protocol == 2:
        assert "_codecs.encode" in _globals(data)  # protocol 2 writes bytes this way
    loaded = load_untrusted(data)
    for got, want in zip(loaded, rows):
        assert got["embedding"].dtype == want["embedding"].dtype and got["embedding"].shape == want["embedding"].shape
        assert np.array_equal(got["embedding"], want["embedding"])
        assert type(got["top1"]) is type(want["top1"]) and got["top1"] == want["top1"]
        assert got["nested"] == want["nested"]


def test_object_arrays_and_old_numpy_core_names_load():
    objects = np.array([1, "a", None], dtype=object)
    assert list(load_untrusted(pickle.dumps(objects, protocol=5))) == [1, "a", None]
    data = pickle.dumps(np.arange(3.0), protocol=5)
    # As numpy 1.x names it: a one byte shorter string (its length byte fixed); optimize() re-frames.
    old = pickletools.optimize(data.replace(b"\x8c\x13numpy._core.numeric", b"\x8c\x12numpy.core.numeric"))
    assert "numpy.core.numeric._frombuffer" in _globals(old)
    assert np.array_equal(load_untrusted(old), np.arange(3.0))


class _Reduce:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _global_pickle(module: str, name: str, *args: str) -> bytes:
    """A protocol-2 pickle calling ``module.name(*args)``, for any name (also ones that do not import here)."""
    body = b"".join(pickle.dumps(a, protocol=2)[2:-1] for a in args)  # each argument without PROTO and STOP
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(" + body + b"tR."


@pytest.mark.parametrize(
    "data, global_name",
    [
        pytest.param(pickle.dumps([_Reduce(os.system, "touch PWNED")]), "system", id="os.system"),
        pytest.param(pickle.dumps(_Reduce(eval, "__import__('os').system('touch PWNED')")), "eval", id="eval"),
        pytest.param(pickle.dumps(_Reduce(subprocess.Popen, ["touch", "PWNED"])), "subprocess.Popen", id="Popen"),
        pytest.param(_global_pickle("__builtin__", "eval", "1"), "eval", id="python2-builtins-eval"),
        pytest.param(_global_pickle("nt", "system", "touch PWNED"), "nt.system", id="windows-os.system"),
        pytest.param(_global_pickle("numpy", "_core.multiarray._reconstruct.__globals__"), "numpy._core", id="dotted"),
        pytest.param(_global_pickle("numpy.testing._private.utils", "os"), "numpy.testing", id="os-via-numpy"),
        pytest.param(_global_pickle("numpy", "load", "x.npy"), "numpy.load", id="numpy.load"),  # it unpickles itself
        pytest.param(_global_pickle("_codecs", "encode", "x", "zlib_codec"), "_codecs.encode", id="other-codec"),
    ],
)
def test_globals_that_can_run_code_are_refused(tmp_path, monkeypatch, data, global_name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafePickleError, match=global_name):
        load_untrusted(data)
    assert not (tmp_path / "PWNED").exists()


def test_damaged_files_are_one_line_errors_naming_the_file(tmp_path):
    data = pickle.dumps([{"top1": np.float64(1.0), "embedding": np.arange(27)}], protocol=5)
    cases = {
        "half.pkl": (data[: len(data) // 2], "is truncated"),
        "empty.pkl": (b"", "is empty"),
        "text.pkl": (b"\xff\xfenot a pickle", "is not a valid pickle"),
        "._cls-50-1000.pkl": (b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ", "is not a valid pickle"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DataError, match=message) as caught:
            load_untrusted(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(DataError, match="from-memory.pkl is truncated"):
        load_untrusted(data[:-1], name="from-memory.pkl")
    bad_args = data.replace(b"\x8c\x02i8", b"\x8c\x02x8")  # an allowed call (dtype) with an argument it rejects
    assert bad_args != data
    with pytest.raises(DataError, match="in-memory.pkl is not a valid pickle: TypeError"):
        load_untrusted(bad_args, name="in-memory.pkl")
