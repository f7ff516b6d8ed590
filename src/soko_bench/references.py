"""The references measured in the same run: FAISS IndexIVFFlat and numpy exact search.

FAISS gets the same data, nlist and nprobe values as Milvus, in this process. Searches run
with one OpenMP thread (one query cannot use more than a thread or two usefully, and with
concurrent clients each client is a thread); training and adding use every core.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from soko_bench.dataset import Dataset
from soko_bench.measure import MeasureOptions, Report, measure_points
from soko_bench.results import Run

#: FAISS trains k-means on at most this many points per list (its own default cap).
TRAIN_POINTS_PER_LIST = 256
SEARCH_THREADS = 1


def run_faiss_ivf_flat(
    dataset: Dataset, nlist: int, options: MeasureOptions, report: Report | None = None
) -> Run:
    import faiss

    spec = dataset.spec
    base = dataset.base()
    started = time.perf_counter()
    train_rows = min(spec.n, TRAIN_POINTS_PER_LIST * nlist)
    rng = np.random.default_rng([spec.seed, 99])
    sample = np.sort(rng.choice(spec.n, size=train_rows, replace=False))
    quantizer = faiss.IndexFlatL2(spec.dim)
    index = faiss.IndexIVFFlat(quantizer, spec.dim, nlist, faiss.METRIC_L2)
    build_threads = faiss.omp_get_max_threads()
    index.train(np.ascontiguousarray(base[sample]))
    for _, chunk in dataset.chunks(50_000):
        index.add(chunk)
    build_s = time.perf_counter() - started
    del base
    faiss.omp_set_num_threads(SEARCH_THREADS)
    k = spec.k

    def search(query: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        _, ids = index.search(query[None, :], k)
        return np.asarray(ids[0], dtype=np.int64)

    def set_param(value: int) -> None:
        index.nprobe = value

    params = [p for p in options.params if p <= nlist]
    try:
        points = measure_points(
            "nprobe",
            set_param,
            search,
            dataset.queries(),
            dataset.truth(),
            options,
            report,
            params=params,
        )
    finally:
        faiss.omp_set_num_threads(build_threads)
    return Run(
        backend="faiss",
        index="IVF_FLAT",
        build_params={"nlist": nlist, "train_rows": train_rows},
        threads=f"{SEARCH_THREADS} OpenMP thread per search; build on {build_threads}",
        build_s=build_s,
        points=points,
        notes=[f"faiss {faiss.__version__}, IndexIVFFlat over IndexFlatL2, in-process"],
    )


def run_numpy_exact(dataset: Dataset, options: MeasureOptions, report: Report | None = None) -> Run:
    """Brute force over the whole base per query: the floor of recall, the ceiling of work."""
    base = np.ascontiguousarray(dataset.base())
    norms = (base * base).sum(axis=1)
    k = dataset.spec.k

    def search(query: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        d = norms - 2.0 * (base @ query)
        top = np.argpartition(d, k - 1)[:k]
        return top[np.argsort(d[top], kind="stable")].astype(np.int64)

    points = measure_points(
        "exact",
        lambda _: None,
        search,
        dataset.queries(),
        dataset.truth(),
        options,
        report,
        params=[0],
    )
    return Run(
        backend="numpy",
        index="EXACT",
        build_params={},
        threads="numpy's BLAS threads (all cores)",
        points=points,
        notes=["base @ query over the whole base (float32), argpartition for the top k"],
    )
