"""SigLIP through the production loader, on a small randomly initialised checkpoint.

The checkpoint is real in every part but its weights: a `SiglipModel` saved with
`save_pretrained`, SigLIP's image processor config, and a SentencePiece tokenizer trained on
product titles. It is loaded by `load_embedder`/`SiglipEmbedder.load`, as production does.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pictures import PRODUCTS, product_photo
from soko.config import load_settings
from soko.embedding import SiglipEmbedder, load_embedder, normalize
from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder
from soko.errors import EmbedderUnavailable
from soko_bench.random_siglip import build_random_siglip, product_titles

torch = pytest.importorskip("torch")
huggingface_hub = pytest.importorskip("huggingface_hub")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_siglip(tmp_path_factory.mktemp("siglip") / "siglip-tiny", seed=7)


@pytest.fixture(scope="module")
def siglip(checkpoint: Path) -> SiglipEmbedder:
    settings = load_settings(embedder="siglip", siglip_model=str(checkpoint), embed_batch_size=8)
    embedder = load_embedder(settings)
    assert isinstance(embedder, SiglipEmbedder)
    return embedder


@pytest.fixture
def photos() -> list[Image.Image]:
    names = list(PRODUCTS)
    # Eight photos of different sizes and modes, as a real batch would be.
    images = [product_photo(names[i % len(names)], seed=i) for i in range(8)]
    images[3] = images[3].resize((500, 260))
    images[5] = images[5].convert("L")
    return images


def test_loads_as_a_768_dim_embedder_named_by_folder_and_content(
    siglip: SiglipEmbedder, checkpoint: Path
) -> None:
    assert siglip.dim == 768
    assert siglip.device == "cpu"
    name, revision = siglip.identity.removeprefix("siglip:").split("@")
    assert name == "siglip-tiny"
    assert len(revision) == 12


def test_vectors_have_the_right_shape_dtype_and_unit_norm(
    siglip: SiglipEmbedder, photos: list[Image.Image]
) -> None:
    images = siglip.encode_images(photos)
    assert images.shape == (8, 768)
    assert images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    texts = siglip.encode_texts(["Red leather handbag", "", "Kikoi ya pamba, rangi ya bluu"])
    assert texts.shape == (3, 768)
    assert texts.dtype == np.float32
    # A blank text is "no text" (zero row), which fusion treats as a missing modality.
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), [1.0, 0.0, 1.0], atol=1e-5)
    assert siglip.encode_images([]).shape == (0, 768)
    # Random weights mean nothing, but different inputs must still give different vectors.
    assert float(images[0] @ images[1]) < 0.9999
    assert float(texts[0] @ texts[2]) < 0.9999


def test_a_batch_of_eight_equals_eight_single_calls(
    siglip: SiglipEmbedder, photos: list[Image.Image]
) -> None:
    batch = siglip.encode_images(photos)
    singles = np.concatenate([siglip.encode_images([p]) for p in photos])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    titles = product_titles(8, seed=3)
    text_batch = siglip.encode_texts(titles)
    text_singles = np.concatenate([siglip.encode_texts([t]) for t in titles])
    np.testing.assert_allclose(text_batch, text_singles, atol=1e-5)


def test_vectors_are_deterministic_across_calls_and_loads(
    siglip: SiglipEmbedder, checkpoint: Path, photos: list[Image.Image]
) -> None:
    again = SiglipEmbedder.load(str(checkpoint), batch_size=3)  # other batch boundaries too
    titles = product_titles(5, seed=1)
    np.testing.assert_array_equal(siglip.encode_images(photos), siglip.encode_images(photos))
    np.testing.assert_allclose(siglip.encode_images(photos), again.encode_images(photos), atol=1e-5)
    np.testing.assert_allclose(siglip.encode_texts(titles), again.encode_texts(titles), atol=1e-5)
    assert again.identity == siglip.identity


class TowerCalls:
    """Forward hooks on the two towers: what each was called with, and what it returned."""

    def __init__(self, model: Any) -> None:
        self.calls: dict[str, list[tuple[dict[str, Any], Any]]] = {"vision": [], "text": []}
        self._handles = [
            model.vision_model.register_forward_hook(self._hook("vision"), with_kwargs=True),
            model.text_model.register_forward_hook(self._hook("text"), with_kwargs=True),
        ]

    def _hook(self, tower: str) -> Any:
        def record(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
            self.calls[tower].append((dict(kwargs), out))

        return record

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


@pytest.fixture
def towers(siglip: SiglipEmbedder) -> Iterator[TowerCalls]:
    calls = TowerCalls(siglip._model)
    yield calls
    calls.close()


def test_images_go_through_the_vision_tower_and_its_pooled_output(
    siglip: SiglipEmbedder, towers: TowerCalls, photos: list[Image.Image]
) -> None:
    vectors = siglip.encode_images(photos[:3])
    assert len(towers.calls["vision"]) == 1
    assert towers.calls["text"] == []
    kwargs, out = towers.calls["vision"][0]
    assert tuple(kwargs["pixel_values"].shape) == (3, 3, 32, 32)  # the processor's size
    np.testing.assert_allclose(vectors, normalize(out.pooler_output.numpy()), atol=1e-6)


def test_text_goes_through_the_text_tower_padded_to_64_without_mask(
    siglip: SiglipEmbedder, towers: TowerCalls
) -> None:
    vectors = siglip.encode_texts(["Red leather handbag", "Kitenge dress"])
    assert len(towers.calls["text"]) == 1
    assert towers.calls["vision"] == []
    kwargs, out = towers.calls["text"][0]
    input_ids = kwargs["input_ids"]
    assert tuple(input_ids.shape) == (2, 64)
    assert kwargs.get("attention_mask") is None
    pad = siglip._tokenizer.pad_token_id
    assert int(input_ids[0, -1]) == pad  # short titles are padded up to the full context
    np.testing.assert_allclose(vectors, normalize(out.pooler_output.numpy()), atol=1e-6)


def test_padding_to_the_trained_length_matters(siglip: SiglipEmbedder) -> None:
    """SigLIP pools the last position: padded and unpadded input give different vectors."""
    tokens = siglip._tokenizer(["Red leather handbag"], return_tensors="pt")
    with torch.inference_mode():
        unpadded = siglip._model.get_text_features(input_ids=tokens["input_ids"]).pooler_output
    padded = siglip.encode_texts(["Red leather handbag"])
    assert float(normalize(unpadded.numpy())[0] @ padded[0]) < 0.999


def test_long_text_is_truncated_to_the_context(siglip: SiglipEmbedder) -> None:
    long_text = " ".join(product_titles(60))
    assert siglip.encode_texts([long_text]).shape == (1, 768)


def test_a_hub_id_loads_from_the_hugging_face_cache_without_network(
    checkpoint: Path, tmp_path: Path
) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--acme--siglip-tiny"
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    embedder = SiglipEmbedder.load("acme/siglip-tiny", cache_dir=tmp_path)
    assert embedder.identity == f"siglip:acme/siglip-tiny@{commit[:12]}"
    assert embedder.encode_texts(["x"]).shape == (1, 768)


def test_changed_weights_get_another_identity(checkpoint: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(checkpoint, tmp_path / "siglip-tiny")
    same = SiglipEmbedder.load(str(copy))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4:] = bytes(4)  # a few bytes of the last tensor, still a loadable file
    weights.write_bytes(bytes(data))
    changed = SiglipEmbedder.load(str(copy))
    assert same.identity.split("@")[0] == changed.identity.split("@")[0]
    assert same.identity != changed.identity


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("acme/not-downloaded", "not on this machine"),
        ("/nonexistent/siglip", "neither a folder nor a hub id"),
    ],
)
def test_missing_weights_say_how_to_get_them(model: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match=message) as caught:
        SiglipEmbedder.load(model, cache_dir=tmp_path)
    assert "hf download" in str(caught.value)
    assert "SOKO_EMBEDDER=effnet-minilm" in str(caught.value)


def test_broken_checkpoints_are_unavailable_not_a_crash(checkpoint: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmbedderUnavailable, match=r"no config\.json"):
        SiglipEmbedder.load(str(empty))
    broken = shutil.copytree(checkpoint, tmp_path / "broken")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(EmbedderUnavailable, match="does not load"):
        SiglipEmbedder.load(str(broken))


def test_a_checkpoint_missing_tower_weights_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    partial = shutil.copytree(checkpoint, tmp_path / "partial")
    tensors = load_file(str(partial / "model.safetensors"))
    del tensors["vision_model.post_layernorm.weight"]
    save_file(tensors, str(partial / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(EmbedderUnavailable, match=r"lacks 1 weights .*post_layernorm\.weight"):
        SiglipEmbedder.load(str(partial))


def test_auto_uses_siglip_when_its_weights_load(checkpoint: Path) -> None:
    settings = load_settings(embedder="auto", siglip_model=str(checkpoint))
    assert isinstance(load_embedder(settings), SiglipEmbedder)


def test_auto_falls_back_to_effnet_minilm_with_a_warning_saying_why_and_how(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        embedder="auto", siglip_model=str(tmp_path / "absent"), data_dir=tmp_path / "data"
    )
    with caplog.at_level(logging.WARNING, logger="soko.embedding.loader"):
        embedder = load_embedder(settings)
    assert isinstance(embedder, EffnetMiniLMEmbedder)
    [record] = caplog.records
    message = record.getMessage()
    assert "\n" not in message
    assert "using effnet-minilm" in message
    assert "because SigLIP is unavailable" in message
    assert "hf download" in message


def test_siglip_requested_but_missing_is_an_error(tmp_path: Path) -> None:
    settings = load_settings(embedder="siglip", siglip_model=str(tmp_path / "absent"))
    with pytest.raises(EmbedderUnavailable):
        load_embedder(settings)


def test_effnet_minilm_requested_never_tries_siglip(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(embedder="effnet-minilm", siglip_model=str(tmp_path / "absent"))
    with caplog.at_level(logging.WARNING):
        assert isinstance(load_embedder(settings), EffnetMiniLMEmbedder)
    assert caplog.records == []


def test_a_checkpoint_of_another_size_is_refused(tmp_path: Path) -> None:
    from transformers import SiglipConfig, SiglipModel

    folder = build_random_siglip(tmp_path / "wide")
    config = SiglipConfig.from_pretrained(str(folder))
    config.vision_config.hidden_size = 64
    config.vision_config.intermediate_size = 32
    config.text_config.projection_size = 64
    SiglipModel(config).save_pretrained(str(folder))
    settings = load_settings(embedder="siglip", siglip_model=str(folder))
    with pytest.raises(
        EmbedderUnavailable, match="64-dimensional vectors; the collection holds 768"
    ):
        load_embedder(settings)
