"""`SiglipEmbedder`: SigLIP's image and text towers (transformers + PyTorch), the production path.

Weights are loaded from a local folder, or from the Hugging Face cache by hub id, never over
the network at run time (`local_files_only`). Text is padded to the model's full context
(64 tokens) with no attention mask, exactly as SigLIP was trained: its text tower pools the
*last* position, so shorter padding or a padding mask gives different, worse vectors.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image

from soko.embedding.base import FloatMatrix
from soko.embedding.hybrid import normalize
from soko.errors import EmbedderUnavailable, EmbeddingError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_MODEL = "google/siglip-base-patch16-224"

#: Files whose bytes decide what vectors come out; their digest is a local folder's revision.
_FINGERPRINTED = (
    "config.json",
    "preprocessor_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "spiece.model",
    "tokenizer.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_TOWERS = ("vision_model.", "text_model.")

HOW_TO_GET_WEIGHTS = (
    "download the model where there is internet (`hf download {model} --local-dir siglip`), "
    "copy the folder here and set SOKO_SIGLIP_MODEL=/path/to/siglip; "
    "or set SOKO_EMBEDDER=effnet-minilm to use the offline embedder"
)


class SiglipEmbedder:
    """Image and text vectors from one SigLIP checkpoint, on CUDA (fp16) or CPU (fp32)."""

    def __init__(
        self,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        *,
        identity: str,
        batch_size: int = 32,
    ) -> None:
        import torch

        self._model = model.eval()
        self._image_processor = image_processor
        self._tokenizer = tokenizer
        self._identity = identity
        self._batch_size = batch_size
        self._device = next(model.parameters()).device
        self._dtype = next(model.parameters()).dtype
        self._torch = torch
        config = model.config
        self._text_length = int(config.text_config.max_position_embeddings)
        image_dim = int(config.vision_config.hidden_size)
        text_dim = int(getattr(config.text_config, "projection_size", None) or image_dim)
        if image_dim != text_dim:
            raise EmbedderUnavailable(
                f"{identity}: image vectors ({image_dim}) and text vectors ({text_dim}) differ"
            )
        self._dim = image_dim

    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        *,
        threads: int = 0,
        batch_size: int = 32,
        device: str | None = None,
        cache_dir: Path | None = None,
    ) -> SiglipEmbedder:
        """Load a checkpoint by local folder or cached hub id, without touching the network."""
        # Find the weights first: without them, there is no point importing torch (seconds).
        folder, revision = resolve_checkpoint(model, cache_dir=cache_dir)
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"SigLIP needs torch and transformers ({exc.name} is not installed): "
                "pip install 'soko-search[siglip]'"
            ) from None
        if threads > 0:
            torch.set_num_threads(threads)
        target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # Half precision halves GPU memory and doubles throughput; CPUs are slow at fp16.
        dtype = torch.float16 if target.type == "cuda" else torch.float32
        # Quiet: loading problems that matter are checked below and raised as ours, and
        # transformers also warns about its own default configs when printing one.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        try:
            network, loading = transformers.SiglipModel.from_pretrained(
                folder, local_files_only=True, output_loading_info=True
            )
            image_processor = transformers.AutoImageProcessor.from_pretrained(
                folder, local_files_only=True
            )
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            # Loaders fail in many ways on a broken or foreign checkpoint (OSError, ValueError,
            # RuntimeError on shape mismatches, SafetensorError...); `auto` must fall back.
            raise EmbedderUnavailable(
                f"SigLIP checkpoint {model!r} at {folder} does not load ({exc}); "
                + HOW_TO_GET_WEIGHTS.format(model=DEFAULT_MODEL)
            ) from None
        # A checkpoint without some tower weights loads "fine" with those weights random:
        # vectors would be silently meaningless.
        missing = sorted(k for k in loading["missing_keys"] if k.startswith(_TOWERS))
        if missing:
            raise EmbedderUnavailable(
                f"SigLIP checkpoint {model!r} lacks {len(missing)} weights of its towers "
                f"(first: {missing[0]}); it is not a complete SiglipModel checkpoint"
            )
        network = network.to(device=target, dtype=dtype)
        name = model if not Path(model).is_dir() else Path(model).resolve().name
        embedder = cls(
            network,
            image_processor,
            tokenizer,
            identity=f"siglip:{name}@{revision[:12]}",
            batch_size=batch_size,
        )
        log.info(
            "loaded %s on %s (%s, %d threads)",
            embedder.identity,
            target,
            str(dtype).removeprefix("torch."),
            torch.get_num_threads(),
        )
        return embedder

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def device(self) -> str:
        return str(self._device)

    def encode_images(self, images: Sequence[Image.Image]) -> FloatMatrix:
        out = np.zeros((len(images), self._dim), dtype=np.float32)
        for start, batch in _chunks(images, self._batch_size):
            rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in batch]
            pixels = self._image_processor(images=rgb, return_tensors="pt")["pixel_values"]
            pixels = pixels.to(device=self._device, dtype=self._dtype)
            with self._torch.inference_mode():
                pooled = _pooled(self._model.get_image_features(pixel_values=pixels))
            out[start : start + len(batch)] = self._to_numpy(pooled)
        return normalize(out)

    def encode_texts(self, texts: Sequence[str]) -> FloatMatrix:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        # Blank text is "no text" (a zero row), which fusion treats as a missing modality.
        present = [i for i, text in enumerate(texts) if text.strip()]
        for start, batch in _chunks(present, self._batch_size):
            tokens = self._tokenizer(
                [texts[i] for i in batch],
                padding="max_length",
                max_length=self._text_length,
                truncation=True,
                return_tensors="pt",
            )
            # input_ids only: SigLIP was trained without a padding mask (see module docstring).
            input_ids = tokens["input_ids"].to(self._device)
            with self._torch.inference_mode():
                pooled = _pooled(self._model.get_text_features(input_ids=input_ids))
            out[[present[start + k] for k in range(len(batch))]] = self._to_numpy(pooled)
        return normalize(out)

    def _to_numpy(self, tensor: torch.Tensor) -> FloatMatrix:
        array: FloatMatrix = tensor.float().cpu().numpy().astype(np.float32, copy=False)
        if not np.isfinite(array).all():
            raise EmbeddingError(f"{self._identity} produced NaN or inf (fp16 overflow?)")
        return array


def _pooled(output: Any) -> torch.Tensor:
    """transformers 4.x returns the projected tensor, 5.x an output with `pooler_output`."""
    return getattr(output, "pooler_output", output)


def _chunks(items: Sequence[_T], size: int) -> Iterator[tuple[int, Sequence[_T]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def resolve_checkpoint(model: str, *, cache_dir: Path | None = None) -> tuple[Path, str]:
    """The local folder of a checkpoint and its revision, without any network access.

    A folder gives a digest of its files as revision; a hub id is looked up in the Hugging
    Face cache, whose snapshot folder is named by the commit it was downloaded at.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EmbedderUnavailable(f"{path} has no config.json: not a SigLIP checkpoint folder")
        return path.resolve(), folder_digest(path)
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") != 1:
        raise EmbedderUnavailable(
            f"SOKO_SIGLIP_MODEL={model!r} is neither a folder nor a hub id like "
            f"{DEFAULT_MODEL}; " + HOW_TO_GET_WEIGHTS.format(model=DEFAULT_MODEL)
        )
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        raise EmbedderUnavailable("huggingface_hub is not installed") from None
    cached = try_to_load_from_cache(model, "config.json", cache_dir=cache_dir)
    if not isinstance(cached, str):
        raise EmbedderUnavailable(
            f"SigLIP weights for {model!r} are not on this machine (no such folder, and not "
            "in the Hugging Face cache); " + HOW_TO_GET_WEIGHTS.format(model=model)
        )
    snapshot = Path(cached).parent
    return snapshot, snapshot.name


def folder_digest(folder: Path) -> str:
    """SHA-256 over the files that determine the vectors (config, tokenizer, weights)."""
    digest = hashlib.sha256()
    names = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and (p.name in _FINGERPRINTED or p.name.endswith(_WEIGHT_SUFFIXES))
    )
    for name in names:
        digest.update(name.encode() + b"\0")
        with (folder / name).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
