"""Build a randomly initialised SigLIP checkpoint folder, for tests and the speed benchmark.

SigLIP weights cannot be downloaded here, but every other part of a real checkpoint can be
made: a `SiglipModel` from a `SiglipConfig`, SigLIP's image processor config, and a real
SentencePiece `SiglipTokenizer` trained on product titles. The folder is then loaded by
`SiglipEmbedder.load`, exactly as a downloaded one would be. Its vectors mean nothing; its
shapes, code path and speed (for the `base` size) are the real ones.
"""

from __future__ import annotations

import itertools
import json
import random
import tempfile
from pathlib import Path
from typing import Literal

Size = Literal["tiny", "base"]

_COLOURS = ("red", "blue", "green", "black", "white", "yellow", "brown", "orange", "pink", "grey")
_MATERIALS = ("leather", "cotton", "kitenge", "ankara", "wax print", "canvas", "plastic", "wooden")
_ITEMS = (
    "shoes", "sandals", "handbag", "backpack", "dress", "shirt", "phone case", "headphones",
    "cooking pot", "basket", "necklace", "bracelet", "kikoi", "kanga", "sufuria", "jiko",
)  # fmt: skip
_DETAILS = ("size 42", "for women", "for men", "handmade in Nairobi", "brand new", "2 pack", "")


def product_titles(n: int = 400, seed: int = 0) -> list[str]:
    """Plausible marketplace titles (English with Swahili product words), deterministic."""
    combos = list(itertools.product(_COLOURS, _MATERIALS, _ITEMS, _DETAILS))
    random.Random(seed).shuffle(combos)
    return [" ".join(part for part in combo if part).capitalize() for combo in combos[:n]]


def train_tokenizer(folder: Path, titles: list[str], vocab_size: int = 300) -> None:
    """Train a unigram SentencePiece model with SigLIP's special ids and save the tokenizer."""
    import sentencepiece as spm
    from transformers import SiglipTokenizer

    model_prefix = folder / "spiece"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(titles),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        # SigLIP's vocabulary: 0 is unused padding, 1 is </s> (also used to pad), 2 is <unk>.
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    tokenizer = SiglipTokenizer(vocab_file=str(model_prefix) + ".model", model_max_length=64)
    tokenizer.save_pretrained(str(folder))


def build_random_siglip(
    folder: Path | None = None, *, size: Size = "tiny", seed: int = 0, image_size: int = 32
) -> Path:
    """Write a random SigLIP checkpoint (768-dim outputs) to `folder` and return it.

    `tiny` has one layer per tower and 32-pixel images (fast tests); `base` has exactly the
    architecture of google/siglip-base-patch16-224 (for speed measurements).
    """
    import torch
    from transformers import SiglipConfig, SiglipModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # its default text config trips its own token-id check
    folder = Path(tempfile.mkdtemp(prefix="siglip-random-")) if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    train_tokenizer(folder, product_titles())
    # The real model's vocabulary size and special ids; our smaller SentencePiece model's ids
    # fit inside it.
    text_ids = {"vocab_size": 32_000, "pad_token_id": 1, "eos_token_id": 1, "bos_token_id": 1}
    if size == "base":
        image_size = 224
        config = SiglipConfig(text_config=text_ids, vision_config={"image_size": image_size})
    else:
        config = SiglipConfig(
            text_config={
                **text_ids,
                "hidden_size": 64,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "max_position_embeddings": 64,
                "projection_size": 768,
            },
            vision_config={
                "hidden_size": 768,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": image_size,
                "patch_size": 16,
            },
        )
    torch.manual_seed(seed)
    SiglipModel(config).save_pretrained(str(folder))
    # The image processor config exactly as google/siglip-base-patch16-224 ships it.
    preprocessor = {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "SiglipImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "processor_class": "SiglipProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": image_size, "width": image_size},
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    return folder
