"""A synthetic demo catalog: deterministic products with rendered photos.

Each category has a few product *designs* (a shape drawn the same way, a palette, a pattern);
each design comes in several colour and pattern variants. Visual similarity is therefore
real: variants of one design look alike, designs of one category share a silhouette, and
categories differ. Names and descriptions mix English, Swahili and French, as Soko's sellers
do. Nothing here is real data; see README ("Demo catalog").
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

IMAGE_SIZE = 320
CSV_COLUMNS = ("product_id", "name", "description", "category", "price", "seller_id", "image_path")

Colour = tuple[int, int, int]
Painter = Callable[[ImageDraw.ImageDraw, random.Random, Colour, Colour], None]

#: name in English, Swahili, French, and an RGB value
COLOURS: tuple[tuple[str, str, str, Colour], ...] = (
    ("red", "nyekundu", "rouge", (200, 40, 45)),
    ("blue", "buluu", "bleu", (40, 80, 190)),
    ("green", "kijani", "vert", (40, 150, 70)),
    ("yellow", "njano", "jaune", (235, 195, 40)),
    ("black", "nyeusi", "noir", (30, 30, 32)),
    ("white", "nyeupe", "blanc", (235, 235, 228)),
    ("orange", "machungwa", "orange", (240, 130, 30)),
    ("purple", "zambarau", "violet", (120, 50, 150)),
    ("brown", "kahawia", "marron", (120, 75, 40)),
    ("pink", "waridi", "rose", (235, 120, 160)),
)


def _shoe(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.polygon([(50, 200), (120, 150), (190, 160), (270, 215), (270, 245), (50, 245)], main)
    draw.rectangle([50, 240, 270, 258], fill=accent)
    for i in range(rng.randint(3, 5)):
        draw.line([(130 + 12 * i, 160), (140 + 12 * i, 185)], fill=accent, width=4)


def _bag(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.arc([105, 60, 215, 170], 180, 360, fill=accent, width=10)
    draw.polygon([(70, 120), (250, 120), (275, 270), (45, 270)], main)
    draw.rectangle([140, 150, 180, 175], fill=accent)


def _phone(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.rounded_rectangle([100, 30, 220, 290], radius=22, fill=main)
    draw.rounded_rectangle([110, 55, 210, 255], radius=6, fill=accent)
    draw.ellipse([150, 262, 170, 282], fill=accent)


def _fabric(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.rectangle([20, 20, 300, 300], fill=main)
    step = rng.choice((24, 32, 40))
    for y in range(20, 300, step):
        for x in range(20, 300, step):
            if (x // step + y // step) % 2:
                draw.ellipse([x + 4, y + 4, x + step - 4, y + step - 4], fill=accent)
            else:
                draw.polygon([(x, y + step), (x + step // 2, y), (x + step, y + step)], accent)


def _jewellery(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    beads = rng.randint(14, 20)
    for i in range(beads):
        angle = math.pi * (0.1 + 0.8 * i / (beads - 1))
        x, y = 160 + 110 * math.cos(angle), 90 + 150 * math.sin(angle)
        colour = main if i % 2 else accent
        draw.ellipse([x - 13, y - 13, x + 13, y + 13], fill=colour, outline=(60, 60, 60))


def _pot(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.ellipse([60, 90, 260, 280], fill=main)
    draw.rectangle([60, 90, 260, 185], fill=main)
    draw.ellipse([60, 70, 260, 110], fill=accent)
    draw.rectangle([25, 130, 62, 145], fill=accent)
    draw.rectangle([258, 130, 295, 145], fill=accent)


def _chair(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.rectangle([95, 40, 120, 290], fill=main)
    draw.rectangle([95, 170, 235, 195], fill=main)
    draw.rectangle([210, 170, 235, 290], fill=main)
    for y in range(55, 165, 22):
        draw.rectangle([120, y, 200, y + 10], fill=accent)


def _bottle(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.rounded_rectangle([115, 110, 205, 290], radius=18, fill=main)
    draw.rectangle([143, 60, 177, 112], fill=main)
    draw.rectangle([138, 35, 182, 62], fill=accent)
    draw.rectangle([125, 170, 195, 230], fill=accent)


def _shirt(draw: ImageDraw.ImageDraw, rng: random.Random, main: Colour, accent: Colour) -> None:
    draw.polygon(
        [
            (110, 50),
            (210, 50),
            (285, 110),
            (250, 145),
            (225, 125),
            (225, 290),
            (95, 290),
            (95, 125),
            (70, 145),
            (35, 110),
        ],
        main,
    )
    draw.polygon([(135, 50), (160, 85), (185, 50)], accent)
    for y in range(150, 280, 30):
        draw.line([(95, y), (225, y)], fill=accent, width=6)


@dataclass(frozen=True)
class CategorySpec:
    slug: str
    painter: Painter
    noun_en: str
    noun_sw: str
    noun_fr: str
    price_range: tuple[int, int]
    blurb: str


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "shoes",
        _shoe,
        "leather shoes",
        "viatu vya ngozi",
        "chaussures en cuir",
        (1500, 9000),
        "Comfortable, hand-stitched soles for everyday wear.",
    ),
    CategorySpec(
        "bags",
        _bag,
        "handbag",
        "mkoba",
        "sac à main",
        (1200, 12000),
        "Roomy and sturdy, with an inner pocket for your phone.",
    ),
    CategorySpec(
        "phones",
        _phone,
        "smartphone",
        "simu janja",
        "smartphone",
        (8000, 65000),
        "Dual SIM, long battery life, 128 GB storage.",
    ),
    CategorySpec(
        "fabrics",
        _fabric,
        "kitenge fabric",
        "kitambaa cha kitenge",
        "pagne wax",
        (600, 4500),
        "Six yards of bright cotton print, colour-fast.",
    ),
    CategorySpec(
        "jewellery",
        _jewellery,
        "beaded necklace",
        "mkufu wa shanga",
        "collier de perles",
        (300, 5000),
        "Hand-beaded by Maasai artisans.",
    ),
    CategorySpec(
        "kitchenware",
        _pot,
        "cooking pot",
        "sufuria",
        "marmite",
        (900, 7000),
        "Heavy aluminium, even heat for ugali and stews.",
    ),
    CategorySpec(
        "furniture",
        _chair,
        "wooden chair",
        "kiti cha mbao",
        "chaise en bois",
        (2500, 18000),
        "Solid mninga hardwood, assembled and varnished.",
    ),
    CategorySpec(
        "beauty",
        _bottle,
        "shea body lotion",
        "losheni ya shea",
        "lotion au karité",
        (350, 3000),
        "Unrefined shea butter, no added perfume.",
    ),
    CategorySpec(
        "clothing",
        _shirt,
        "cotton shirt",
        "shati la pamba",
        "chemise en coton",
        (700, 6000),
        "Breathable cotton, tailored fit.",
    ),
)


@dataclass(frozen=True)
class DemoProduct:
    product_id: int
    name: str
    description: str
    category: str
    price: float
    seller_id: int
    image_path: str


def _render(
    spec: CategorySpec, design_seed: int, variant: int, main: Colour, accent: Colour
) -> Image.Image:
    rng = random.Random(design_seed)  # same design, same drawing
    background = tuple(int(v) for v in (242 - 6 * (variant % 3), 240, 236 - 5 * (variant % 4)))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    spec.painter(ImageDraw.Draw(image), rng, main, accent)
    # Designs of one category differ in proportions as well as colour.
    scale = rng.uniform(0.78, 1.0)
    side = int(IMAGE_SIZE * scale)
    shrunk = image.resize((side, side), Image.Resampling.LANCZOS)
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    offset = (IMAGE_SIZE - side) // 2
    image.paste(shrunk, (offset + rng.randint(-8, 8), offset + rng.randint(-8, 8)))
    # A slight per-variant rotation and blur, like photos of one item taken twice.
    angle = random.Random(design_seed * 31 + variant).uniform(-6, 6)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=background)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _shift(colour: Colour, rng: random.Random, amount: int) -> Colour:
    r, g, b = (max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)
    return (r, g, b)


def generate(out_dir: Path, count: int = 1200, seed: int = 7) -> Iterator[DemoProduct]:
    """Yield `count` products, writing each photo under `out_dir/images/` as it goes."""
    rng = random.Random(seed)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    designs_per_category = 6
    for product_id in range(1, count + 1):
        spec = CATEGORIES[(product_id - 1) % len(CATEGORIES)]
        design = rng.randrange(designs_per_category)
        design_seed = seed * 1000 + CATEGORIES.index(spec) * 100 + design
        design_rng = random.Random(design_seed)
        colour_en, colour_sw, colour_fr, base = COLOURS[design_rng.randrange(len(COLOURS))]
        accent = COLOURS[design_rng.randrange(len(COLOURS))][3]
        variant = rng.randrange(8)
        main = _shift(base, rng, 18)
        path = images / f"{product_id}.jpg"
        _render(spec, design_seed, variant, main, _shift(accent, rng, 18)).save(
            path, "JPEG", quality=85
        )
        language = rng.choice(("en", "sw", "fr"))
        style = f"model {chr(65 + design)}"
        if language == "sw":
            name = f"{spec.noun_sw.capitalize()} {colour_sw} — {style}"
            description = f"{spec.noun_sw.capitalize()} rangi {colour_sw}. Bei nafuu, ubora wa juu."
        elif language == "fr":
            name = f"{spec.noun_fr.capitalize()} {colour_fr} — {style}"
            description = (
                f"{spec.noun_fr.capitalize()} {colour_fr}, qualité supérieure. {spec.blurb}"
            )
        else:
            name = f"{colour_en.capitalize()} {spec.noun_en} — {style}"
            description = f"{colour_en.capitalize()} {spec.noun_en}. {spec.blurb}"
        low, high = spec.price_range
        yield DemoProduct(
            product_id=product_id,
            name=name,
            description=description,
            category=spec.slug,
            price=float(round(rng.uniform(low, high), -1)),
            seller_id=rng.randint(1, 60),
            image_path=f"images/{product_id}.jpg",
        )


def write_catalog(out_dir: Path, count: int = 1200, seed: int = 7) -> Path:
    """Write the demo catalog as CSV (image paths relative to it); return the CSV path.

    A folder that already holds the catalog for this count and seed is left as it is, so a
    second `make run` starts at once.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "catalog.csv"
    stamp = out_dir / ".generated"
    recipe = f"count={count} seed={seed} size={IMAGE_SIZE}\n"
    if csv_path.exists() and stamp.exists() and stamp.read_text() == recipe:
        return csv_path
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for p in generate(out_dir, count, seed):
            writer.writerow(
                [
                    p.product_id,
                    p.name,
                    p.description,
                    p.category,
                    p.price,
                    p.seller_id,
                    p.image_path,
                ]
            )
    tmp.replace(csv_path)
    stamp.write_text(recipe)
    return csv_path
