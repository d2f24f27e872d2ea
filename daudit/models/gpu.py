"""Optional CUDA backend: sufficient statistics and the eigendecomposition in float64 on a GPU.

Uses CuPy or PyTorch, whichever is installed (``pip install daudit[cuda]`` brings CuPy). The
statistics of every row chunk are accumulated in one device buffer about the same shift as the
CPU path, and ``eigh`` runs on the device; the results come back as the same numpy records
(`GramStats`, `GramEigen`), so everything after them is shared with the CPU path.
"""

from __future__ import annotations

import numpy as np

from daudit.core.errors import DauditError
from daudit.models.linear import GramEigen, eigen_from, equilibration
from daudit.models.stats import CenteredStats, GramStats

__all__ = ["backend_name", "GramAccumulator", "decompose_cuda"]


def backend_name() -> str | None:
    """'cupy' or 'torch' when a CUDA device is usable through it, else None."""
    try:
        import cupy  # lazy: optional dependency (pip install daudit[cuda])

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return "cupy"
    except Exception:  # noqa: BLE001 - any import or driver failure means "not usable"
        pass
    try:
        import torch  # lazy: optional dependency

        if torch.cuda.is_available():
            return "torch"
    except Exception:  # noqa: BLE001
        pass
    return None


class _Ops:
    """The handful of array operations the backend needs, for CuPy or PyTorch."""

    def __init__(self, name: str):
        self.name = name
        if name == "cupy":
            import cupy  # lazy: optional dependency

            self.xp = cupy
        else:
            import torch  # lazy: optional dependency

            self.torch = torch

    def to_dev(self, a):
        a = np.ascontiguousarray(a)
        if self.name == "cupy":
            return self.xp.asarray(a)
        return self.torch.from_numpy(a).to("cuda", non_blocking=False)

    def f64(self, a):
        return a.astype(self.xp.float64) if self.name == "cupy" else a.to(self.torch.float64)

    def to_host(self, a):
        return self.xp.asnumpy(a) if self.name == "cupy" else a.cpu().numpy()

    def eigh(self, a):
        return self.xp.linalg.eigh(a) if self.name == "cupy" else self.torch.linalg.eigh(a)


def _ops(name: str | None = None) -> _Ops:
    name = name or backend_name()
    if name is None:
        raise DauditError("compute.device: cuda needs a CUDA GPU with CuPy or PyTorch installed "
                          "(pip install 'daudit[cuda]'); use device: cpu")
    return _Ops(name)


class GramAccumulator:
    """Accumulate `GramStats` of row chunks on the GPU (float64), about a fixed shift.

    Call :meth:`add` per chunk (x (rows, p), y (rows,) or (rows, k)) and :meth:`result` once.
    """

    def __init__(self, x_shift: np.ndarray, y_shift: np.ndarray, *, backend: str | None = None):
        self.ops = _ops(backend)
        self.x_shift = np.asarray(x_shift, dtype=np.float64)
        self.y_shift = np.asarray(y_shift, dtype=np.float64)
        self._xs, self._ys = self.ops.to_dev(self.x_shift), self.ops.to_dev(self.y_shift)
        self.n, self._acc = 0, None

    def add(self, x: np.ndarray, y: np.ndarray):
        ops = self.ops
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        xc = ops.f64(ops.to_dev(x)) - self._xs
        yc = ops.to_dev(y) - self._ys
        part = [xc.sum(0), yc.sum(0), xc.T @ xc, xc.T @ yc, (yc * yc).sum(0)]
        self._acc = part if self._acc is None else [a + b for a, b in zip(self._acc, part)]
        self.n += x.shape[0]

    def result(self) -> GramStats:
        if self._acc is None:
            raise ValueError("no chunks were added")
        sx, sy, xtx, xty, yty = (self.ops.to_host(a) for a in self._acc)
        return GramStats(n=self.n, x_shift=self.x_shift, y_shift=self.y_shift, sum_x=sx, sum_y=sy,
                         xtx=xtx, xty=xty, yty=yty)


def decompose_cuda(stats: GramStats | CenteredStats, *, backend: str | None = None,
                   input_dtype=np.float32) -> GramEigen:
    """`daudit.models.linear.decompose` with both ``eigh`` on the GPU (float64); the same `GramEigen`
    record, built by the same `daudit.models.linear.eigen_from` (so the same floor and path)."""
    ops = _ops(backend)
    if isinstance(stats, GramStats):
        stats = stats.centered()
    d, rmax, rsum = equilibration(stats)
    mu, vq = ops.eigh(ops.to_dev(stats.sxx * d[:, None] * d[None, :]))
    mu, vq = ops.to_host(mu), ops.to_host(vq)
    w, v = ops.eigh(ops.to_dev(stats.sxx))
    return eigen_from(stats, ops.to_host(w), ops.to_host(v), input_dtype=input_dtype,
                      equilibrated=(d, mu, vq, rmax, rsum))
