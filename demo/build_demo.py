#!/usr/bin/env python3
"""Build the real-photo demo catalog `demo/` from the licensed source sets.

    python build_demo.py [--src /work/shared/data] [--out demo]

Inputs (read-only):
  <src>/clothing  Clothing dataset (Alexey Grigorev and contributors, CC0 1.0)
  <src>/grocery   Grocery Store Dataset (Klasson et al., MIT)

Output: <out>/catalog.csv, <out>/images/{clothing,grocery}/*.jpg, <out>/LICENSE-clothing,
<out>/LICENSE-grocery, <out>/SOURCE.md.

Pure Python + Pillow. Deterministic: every random choice comes from `random.Random` seeded
with a fixed string (string seeds are hashed with SHA-512, so PYTHONHASHSEED does not matter),
every listing is sorted before use, and the selection does not depend on encoded image sizes.
Same input and same Pillow/libjpeg give the same bytes out.

What is real: the photos; grocery names, descriptions (URLs removed, long ones cut at a
sentence boundary) and categories; clothing categories and the kids flag. What is made up:
clothing names, descriptions, sizes, places, prices and the seller numbering; grocery prices
and sellers (shop ids 9001-9008).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image, ImageOps

SEED = "soko-demo-v1"

# --- selection sizes (fixed numbers, so the choice never depends on JPEG sizes) ---
CLOTHING_COUNT = 370  # spread over the 11 categories by water-filling
GROCERY_PER_CLASS = 3  # natural photos per class (81 classes); iconic images are not used

# --- image processing ---
LONG_SIDE = 320
JPEG_QUALITY = 80

DESCRIPTION_MAX = 600
SIZE_CAP_BYTES = 15 * 1024 * 1024  # hard cap for the whole demo/ folder

CATALOG_COLUMNS = ["product_id", "name", "description", "category", "price", "seller_id", "image_path"]

CLOTHING_SELLER_OFFSET = 1000  # seller_id = 1000 + upstream contributor id (0..370 upstream)
GROCERY_SELLERS = list(range(9001, 9009))  # eight made-up shops


def rng_for(*parts: object) -> random.Random:
    return random.Random(":".join([SEED, *map(str, parts)]))


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------


def convert_image(src: Path, dst: Path) -> None:
    """Upright (EXIF orientation applied), RGB, long side <= LONG_SIDE, no metadata."""
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        w, h = im.size
        scale = LONG_SIDE / max(w, h)
        if scale < 1:
            im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
        # A fresh image without info: no EXIF, ICC profile or comment is written.
        clean = Image.new("RGB", im.size)
        clean.paste(im)
    buf = io.BytesIO()
    clean.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True, subsampling="4:2:0")
    dst.write_bytes(buf.getvalue())


# ---------------------------------------------------------------------------
# clothing
# ---------------------------------------------------------------------------

# upstream label -> (English, Swahili, Swahili possessive for "of children", French)
CLOTHING_WORDS = {
    "Dress": ("Dress", "Gauni", "la", "Robe"),
    "Hat": ("Hat", "Kofia", "ya", "Chapeau"),
    "Longsleeve": ("Longsleeve top", "Tisheti ya mikono mirefu", "ya", "Haut à manches longues"),
    "Outwear": ("Jacket", "Koti", "la", "Veste"),
    "Pants": ("Trousers", "Suruali", "ya", "Pantalon"),
    "Polo": ("Polo shirt", "Shati la polo", "la", "Polo"),
    "Shirt": ("Shirt", "Shati", "la", "Chemise"),
    "Shoes": ("Shoes", "Viatu", "vya", "Chaussures"),
    "Shorts": ("Shorts", "Kaptura", "ya", "Short"),
    "Skirt": ("Skirt", "Sketi", "ya", "Jupe"),
    "T-Shirt": ("T-shirt", "Tisheti", "ya", "T-shirt"),
}

# made-up price ranges in KES (adult); kids' items cost about 60 %
CLOTHING_PRICES = {
    "Dress": (800, 3500),
    "Hat": (200, 1000),
    "Longsleeve": (500, 1800),
    "Outwear": (1500, 6000),
    "Pants": (800, 3000),
    "Polo": (600, 1800),
    "Shirt": (600, 2000),
    "Shoes": (1500, 6000),
    "Shorts": (400, 1500),
    "Skirt": (500, 2000),
    "T-Shirt": (400, 1500),
}

SW_TAGS = ["safi sana", "bei nafuu", "mitumba grade A", "original", "kali sana", "bei poa"]
EN_TAGS = ["good condition", "like new", "grade A mitumba", "great price", "neat and clean"]
FR_TAGS = ["très bon état", "bon état", "comme neuf", "petit prix", "seconde main"]
EN_ADJ = ["Second-hand", "Quality", "Stylish", "Neat", "Classic", "Everyday"]

PLACES = [
    "Nairobi CBD", "Westlands", "Kilimani", "Eastleigh", "Ngong Road", "Kasarani", "Rongai",
    "Thika", "Nakuru", "Mombasa", "Kisumu", "Eldoret", "Machakos", "Kitengela",
]


def clothing_size(category: str, kids: bool, rng: random.Random) -> tuple[str, str, str]:
    """A made-up size as (English, Swahili, French) phrases."""
    if kids:
        lo = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10])
        age = f"{lo}-{lo + 2}"
        return f"Age {age} years.", f"Umri miaka {age}.", f"Âge {age} ans."
    if category == "Shoes":
        s = str(rng.randint(36, 45))
    elif category == "Hat":
        return "One size.", "Saizi moja.", "Taille unique."
    elif category in ("Pants", "Shorts"):
        s = rng.choice(["28", "30", "32", "34", "36", "38", "S", "M", "L", "XL"])
    else:
        s = rng.choice(["S", "M", "M", "L", "L", "XL", "XXL"])
    return f"Size {s}.", f"Saizi {s}.", f"Taille {s}."


def clothing_name(category: str, kids: bool, rng: random.Random) -> str:
    en, sw, poss, fr = CLOTHING_WORDS[category]
    enl = en[0].lower() + en[1:] if not en.startswith("T-") else en
    if kids:
        patterns = [
            f"{sw} {poss} watoto / Kids' {enl}",
            f"Kids' {enl} – {rng.choice(SW_TAGS)}",
            f"{fr} pour enfant",
            f"{sw} {poss} watoto {rng.choice(SW_TAGS)}",
            f"{en} for kids ({fr.lower()} enfant)",
        ]
    else:
        patterns = [
            f"{sw} / {en}",
            f"{en} – {rng.choice(SW_TAGS)}",
            f"{fr} – {rng.choice(FR_TAGS)}",
            f"{sw} {rng.choice(SW_TAGS)}",
            f"{en} ({fr.lower()})",
            f"{rng.choice(EN_ADJ)} {enl}",
            f"{sw} – {rng.choice(EN_TAGS)}",
        ]
    return rng.choice(patterns)


def clothing_description(category: str, kids: bool, place: str, lang: str, rng: random.Random) -> str:
    size_en, size_sw, size_fr = clothing_size(category, kids, rng)
    if lang == "sw":
        pool = ["Hali nzuri sana.", "Imefuliwa na iko tayari kuvaliwa.", "Bei inazungumzika.",
                "Tunaleta mpaka mlangoni.", "Picha ni ya bidhaa halisi.", "Mzigo mpya wa mitumba."]
        tail = f"Inapatikana {place}."
        size = size_sw
    elif lang == "fr":
        pool = ["Très bon état, porté quelques fois.", "Lavé et prêt à porter.", "Prix négociable.",
                "Livraison possible.", "Photo de l'article réel.", "Arrivage de friperie."]
        tail = f"Retrait à {place}."
        size = size_fr
    else:
        pool = ["Gently used, washed and ready to wear.", "Photo taken at home, item as seen.",
                "Price slightly negotiable.", "Delivery by boda or pick-up.", "Good quality mitumba.",
                "Worn only a few times."]
        tail = f"Pick-up in {place}."
        size = size_en
    parts = [size, *rng.sample(pool, 2), tail]
    # the odd seller mixes in a Swahili or English line
    if rng.random() < 0.3:
        parts.append(rng.choice(["Karibu!", "Bei poa.", "Call or WhatsApp via the app.", "Asante."]))
    return " ".join(parts)


def clothing_price(category: str, kids: bool, rng: random.Random) -> int:
    lo, hi = CLOTHING_PRICES[category]
    if kids:
        lo, hi = lo * 6 // 10, hi * 6 // 10
    price = rng.uniform(lo, hi)
    return max(10, int(round(price / 10.0)) * 10)


def water_fill(available: dict[str, int], total: int) -> dict[str, int]:
    """Per-category quotas: as equal as possible, never more than available."""
    quotas = {c: 0 for c in available}
    left = min(total, sum(available.values()))
    while left > 0:
        open_cats = sorted(c for c in available if quotas[c] < available[c])
        for c in open_cats:
            if left == 0:
                break
            quotas[c] += 1
            left -= 1
    return quotas


def select_clothing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    by_cat: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["image_id"]):
        by_cat[r["category"]].append(r)
    for cat in by_cat:
        rng_for("clothing-order", cat).shuffle(by_cat[cat])
    quotas = water_fill({c: len(v) for c, v in by_cat.items()}, CLOTHING_COUNT)
    used_seller: Counter[str] = Counter()
    used_seller_cat: Counter[tuple[str, str]] = Counter()
    chosen: list[dict[str, str]] = []
    taken = {c: 0 for c in by_cat}
    while any(taken[c] < quotas[c] for c in by_cat):
        for cat in sorted(by_cat):
            if taken[cat] >= quotas[cat]:
                continue
            pool = by_cat[cat]
            # fewest photos from this contributor so far (overall, then in this category),
            # ties broken by the seeded shuffle order
            best = min(
                range(len(pool)),
                key=lambda i: (used_seller[pool[i]["seller_id"]],
                               used_seller_cat[(pool[i]["seller_id"], cat)], i),
            )
            r = pool.pop(best)
            used_seller[r["seller_id"]] += 1
            used_seller_cat[(r["seller_id"], cat)] += 1
            taken[cat] += 1
            chosen.append(r)
    return sorted(chosen, key=lambda r: (r["category"], r["image_id"]))


def build_clothing(src: Path, out: Path) -> list[dict[str, object]]:
    rows = list(csv.DictReader((src / "metadata.csv").open(encoding="utf-8", newline="")))
    chosen = select_clothing(rows)
    img_dir = out / "images" / "clothing"
    img_dir.mkdir(parents=True, exist_ok=True)
    products = []
    for r in chosen:
        seller = CLOTHING_SELLER_OFFSET + int(r["seller_id"])
        srng = rng_for("seller", seller)  # one home, one usual language per seller
        place = srng.choice(PLACES)
        lang_weights = srng.choice([(6, 2, 2), (2, 6, 2), (3, 3, 1), (2, 2, 6), (4, 4, 2)])
        rng = rng_for("clothing", r["image_id"])
        kids = r["kids"].strip().lower() == "true"
        cat = r["category"]
        lang = rng.choices(["en", "sw", "fr"], weights=lang_weights)[0]
        name = clothing_name(cat, kids, rng)
        desc = clothing_description(cat, kids, place, lang, rng)
        price = clothing_price(cat, kids, rng)
        rel = f"images/clothing/{r['image_id']}.jpg"
        convert_image(src / r["image_file"], out / rel)
        products.append({
            "name": name,
            "description": desc,
            "category": "clothing/" + cat.lower(),
            "price": price,
            "seller_id": seller,
            "image_path": rel,
        })
    return products


# ---------------------------------------------------------------------------
# grocery
# ---------------------------------------------------------------------------

# made-up price ranges in KES for one unit/pack, by upstream category (lowercase)
GROCERY_PRICES = {
    "fruit": (50, 400),
    "vegetables": (40, 300),
    "packages/juice": (250, 600),
    "packages/milk": (120, 300),
    "packages/oat-milk": (300, 550),
    "packages/soy-milk": (300, 550),
    "packages/sour-milk": (150, 300),
    "packages/sour-cream": (200, 400),
    "packages/yoghurt": (180, 450),
    "packages/oatghurt": (300, 550),
    "packages/soyghurt": (300, 550),
}

URL_RE = re.compile(r"\s*https?://\S+")


def clean_description(text: str) -> str:
    text = URL_RE.sub("", text)
    text = " ".join(text.split())
    if len(text) <= DESCRIPTION_MAX:
        return text
    head = text[:DESCRIPTION_MAX]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", head)]
    return head[: ends[-1]].strip() if ends else head.rsplit(" ", 1)[0].strip()


def grocery_price(category: str, class_name: str, rng: random.Random) -> int:
    key = category if category in GROCERY_PRICES else category.split("/")[0]
    lo, hi = GROCERY_PRICES[key]
    base = rng_for("grocery-base", class_name).uniform(lo, hi)  # one going price per product
    price = base * rng.uniform(0.88, 1.12)  # each shop prices it a bit differently
    return max(10, int(round(price / 10.0)) * 10)


def build_grocery(src: Path, out: Path) -> list[dict[str, object]]:
    rows = list(csv.DictReader((src / "metadata.csv").open(encoding="utf-8", newline="")))
    by_class: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        if r["image_kind"] == "natural":
            by_class[r["class_name"]].append(r)
    img_dir = out / "images" / "grocery"
    img_dir.mkdir(parents=True, exist_ok=True)
    chosen = []
    for cls in sorted(by_class):
        pool = sorted(by_class[cls], key=lambda r: r["image_file"])
        rng = rng_for("grocery-pick", cls)
        picks = sorted(rng.sample(pool, min(GROCERY_PER_CLASS, len(pool))), key=lambda r: r["image_file"])
        shops = rng.sample(GROCERY_SELLERS, len(picks))  # each photo listed by a different shop
        chosen.extend(zip(picks, shops))
    chosen.sort(key=lambda t: (t[0]["category"].lower(), t[0]["class_name"], t[0]["image_file"]))
    products = []
    for r, shop in chosen:
        category = r["category"].strip().lower()
        rng = rng_for("grocery", r["image_file"])
        rel = f"images/grocery/{Path(r['image_file']).name}"
        convert_image(src / r["image_file"], out / rel)
        products.append({
            "name": " ".join(r["name"].split()),
            "description": clean_description(r["description"]),
            "category": category,
            "price": grocery_price(category, r["class_name"], rng),
            "seller_id": shop,
            "image_path": rel,
        })
    return products


# ---------------------------------------------------------------------------
# SOURCE.md
# ---------------------------------------------------------------------------


def source_field(text: str, label: str) -> str:
    m = re.search(rf"^- {label}:\s*(\S+)", text, re.M)
    if not m:
        raise SystemExit(f"SOURCE.md: no '{label}:' line")
    return m.group(1)


def write_source_md(src: Path, out: Path, products: list[dict[str, object]]) -> None:
    cs = (src / "clothing" / "SOURCE.md").read_text(encoding="utf-8")
    gs = (src / "grocery" / "SOURCE.md").read_text(encoding="utf-8")
    c_repo, c_commit = source_field(cs, "Repository"), source_field(cs, "Commit")
    g_repo, g_commit = source_field(gs, "Repository"), source_field(gs, "Commit")
    counts = Counter(str(p["category"]) for p in products)
    n_cloth = sum(v for k, v in counts.items() if k.startswith("clothing/"))
    n_groc = len(products) - n_cloth
    n_sellers = len({p["seller_id"] for p in products if str(p["category"]).startswith("clothing/")})
    n_classes = n_groc // GROCERY_PER_CLASS
    all_lines = "\n".join(f"| `{k}` | {v} |" for k, v in sorted(counts.items()))
    groc_top = Counter(k.split("/")[0] for k in counts if not k.startswith("clothing/"))
    groc_lines = ", ".join(
        f"{top} ({sum(v for k, v in counts.items() if k.split('/')[0] == top)} products, {n} categories)"
        for top, n in sorted(groc_top.items())
    )
    text = f"""# Demo catalog: where it comes from

`catalog.csv` lists {len(products)} products, each with one real photo under `images/`:
{n_cloth} clothing photos (`images/clothing/`) and {n_groc} grocery photos (`images/grocery/`).
Import it with `soko import demo/catalog.csv` (image paths are relative to this folder).

## Sources and licences

| part | source | commit | licence | copy here |
| --- | --- | --- | --- | --- |
| clothing | Clothing dataset, Alexey Grigorev and contributors, {c_repo} | `{c_commit}` | CC0 1.0 (public domain dedication) | `LICENSE-clothing` |
| grocery | Grocery Store Dataset, Klasson et al. (WACV 2019), {g_repo} | `{g_commit}` | MIT, Copyright (c) 2019 Marcus Klasson | `LICENSE-grocery` |

The MIT licence asks that its copyright and permission notice be kept with copies of the
material: keep `LICENSE-grocery` next to the grocery images.

Grocery caveat (from the upstream notes): the *natural* photos were taken by the dataset's
authors in Swedish stores; the *iconic* product images and the product texts were downloaded
by the authors from a Swedish grocer's website. This demo therefore uses **only the natural
photos** (no iconic image). The grocery names and descriptions do come from that scraped
product text; they are the least clean part of this folder and can be blanked without
affecting the photos.

## What is real and what is made up

Real:
- every photo (phone photos of clothes taken at home by the clothing dataset's contributors;
  photos of fruit, vegetables and packaged products taken in stores by the grocery authors);
- clothing categories (upstream label, lowercased, e.g. `T-Shirt` -> `clothing/t-shirt`) and
  whether an item is for kids (upstream flag, used in the made-up name, size and price);
- which clothing photos were taken by the same person (see seller ids below);
- grocery names, descriptions and categories (upstream product text and `Fruit/Apple`-style
  category, lowercased). Cleaning: whitespace collapsed, shop URLs removed, descriptions longer
  than {DESCRIPTION_MAX} characters cut at the last full sentence. Some are in Swedish, as upstream.

Made up (by `build_demo.py`, from a fixed seed):
- clothing names and descriptions: templates per category mixing English, Swahili and French
  ("Shati la polo / Polo shirt", "Veste – très bon état"). They never state a colour or a
  material, because nothing upstream says so; sizes, condition and pick-up places in them are
  invented;
- all prices, in Kenyan shillings, rounded to 10, drawn from a plausible range per category
  (e.g. t-shirt 400-1500, shoes and jackets 1500-6000, fruit 50-400; kids' clothes about 60 %);
- sellers. Clothing: `seller_id = {CLOTHING_SELLER_OFFSET} + upstream contributor id`, so one
  contributor is one seller ({n_sellers} sellers here); their photos share a home background,
  so when measuring retrieval quality keep a seller's products on one side (catalog or query)
  only. Grocery: eight invented shops, ids {GROCERY_SELLERS[0]}-{GROCERY_SELLERS[-1]}; the
  {GROCERY_PER_CLASS} photos of one grocery product are listed by {GROCERY_PER_CLASS} different
  shops at slightly different prices.

## How the subset was chosen and prepared

`build_demo.py` (not part of this folder) builds it from the two source sets. It is pure
Python + Pillow and deterministic: the same input gives the same bytes out.

- Clothing: {CLOTHING_COUNT} of the 1,193 source photos. Quotas per category are as equal as
  possible (small categories such as polo and skirt are taken whole), then photos are picked
  round-robin across categories, each time from the contributor with the fewest photos chosen so
  far, ties broken by a seeded shuffle, so as many contributors as possible appear.
- Grocery: for each of the {n_classes} fine-grained product classes, {GROCERY_PER_CLASS} of its
  natural photos picked by a seeded sample ({n_groc} photos): {groc_lines}.
- Images: EXIF orientation applied, converted to RGB, downscaled (Lanczos) to at most
  {LONG_SIDE} px on the long side, re-encoded as JPEG quality {JPEG_QUALITY} (optimized, 4:2:0)
  with no EXIF, ICC profile or other metadata.

## Products per category

| category | products |
| --- | --- |
{all_lines}
"""
    (out / "SOURCE.md").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "demo")
    args = ap.parse_args()
    src, out = args.src, args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    products = build_clothing(src / "clothing", out) + build_grocery(src / "grocery", out)
    with (out / "catalog.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CATALOG_COLUMNS, lineterminator="\n")
        w.writeheader()
        for i, p in enumerate(products, start=1):
            w.writerow({"product_id": i, **p})
    shutil.copyfile(src / "clothing" / "LICENSE", out / "LICENSE-clothing")
    shutil.copyfile(src / "grocery" / "LICENSE", out / "LICENSE-grocery")
    write_source_md(src, out, products)

    size = folder_size(out)
    print(f"{out}: {len(products)} products, {size / 1e6:.2f} MB")
    if size > SIZE_CAP_BYTES:
        raise SystemExit(f"demo folder is {size} bytes, over the {SIZE_CAP_BYTES} byte cap")


if __name__ == "__main__":
    main()
