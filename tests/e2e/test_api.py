"""Every route of a real `soko serve` over real HTTP, the bad inputs included."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from apiserver import API_KEY, CATALOG_SIZE, demo_photo, serving
from imageserver import image_bytes
from soko.catalog import Catalog, ProductCreate

AUTH = {"X-API-Key": API_KEY}


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.3)


# --- similar products -----------------------------------------------------------------------
def test_similar_products_have_the_seed_shape_and_never_the_product(
    client: httpx.Client,
) -> None:
    response = client.get("/api/products/similar/7", params={"limit": 10, "threshold": 0.5})
    assert response.status_code == 200
    hits = response.json()
    assert 0 < len(hits) <= 10
    for hit in hits:
        assert {"product_id", "product_name", "category", "price", "seller_id", "image_url",
                "score"} <= hit.keys()  # fmt: skip
        assert hit["product_id"] != 7
        assert hit["score"] >= 0.5
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_similar_products_respect_limit_and_filters(client: httpx.Client) -> None:
    hits = client.get(
        "/api/products/similar/3",
        params={
            "limit": 5,
            "threshold": 0,
            "category": "clothing/shoes",
            "max_price": 9000,
            "exclude_seller": 1,
        },
    ).json()
    assert len(hits) <= 5
    assert hits
    assert all(h["category"] == "clothing/shoes" and h["price"] <= 9000 for h in hits)
    assert all(h["seller_id"] != 1 for h in hits)


def test_unknown_product_is_404_with_the_seed_message(client: httpx.Client) -> None:
    response = client.get("/api/products/similar/987654")
    assert response.status_code == 404
    assert response.json() == {"error": "Product not found"}


def test_duplicates_of_a_product_are_other_listings_with_a_reason(client: httpx.Client) -> None:
    for product_id in (1, 2, 3):
        response = client.get(f"/api/products/{product_id}/duplicates")
        assert response.status_code == 200
        found = response.json()
        assert isinstance(found, list)
        for item in found:
            assert set(item) == {"product_id", "score", "same_seller", "reason"}
            assert item["product_id"] != product_id
            assert 0.3 <= item["score"] <= 1.0
    unknown = client.get("/api/products/987654/duplicates")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Product not found"}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/products/abc/duplicates", "product_id"),
        ("/api/products/0/duplicates", "product_id"),
        ("/api/products/similar/abc", "product_id"),
        ("/api/products/similar/-3", "product_id"),
        ("/api/products/similar/7?limit=0", "limit"),
        ("/api/products/similar/7?limit=101", "limit"),
        ("/api/products/similar/7?threshold=-0.1", "threshold"),
        ("/api/products/similar/7?threshold=1.5", "threshold"),
        ("/api/products/similar/7?limit=ten", "limit"),
        ("/api/products/similar/7?limt=5", "limt"),
        ("/api/products/similar/7?min_price=-1", "min_price"),
        ("/api/search?limit=5", "q"),
        ("/api/search?q=", "q"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    client: httpx.Client, path: str, field: str
) -> None:
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"].startswith(field)


def test_min_price_above_max_price_is_refused(client: httpx.Client) -> None:
    response = client.get("/api/products/similar/7?min_price=500&max_price=100")
    assert response.status_code == 422
    assert "min_price" in response.json()["error"]


@pytest.mark.parametrize(
    "category", ['x" or category != "y', "bags\\", "bags' || true || '", 'bags" || "1"=="1']
)
def test_category_values_cannot_widen_the_filter(client: httpx.Client, category: str) -> None:
    response = client.get("/api/products/similar/7", params={"category": category, "threshold": 0})
    assert response.status_code == 200
    assert response.json() == []


# --- text and image search ------------------------------------------------------------------
def test_text_search_finds_products_by_their_words(client: httpx.Client) -> None:
    hits = client.get("/api/search", params={"q": "viatu", "limit": 5}).json()  # Swahili: shoes
    assert len(hits) == 5
    assert all(h["category"] == "clothing/shoes" for h in hits)
    fruit = client.get("/api/search", params={"q": "banana", "limit": 3}).json()
    assert {h["category"] for h in fruit} == {"fruit/banana"}


def test_image_search_finds_the_photographed_product(client: httpx.Client) -> None:
    response = client.post(
        "/api/search/image",
        files={"image": ("photo.jpg", demo_photo(12).read_bytes(), "image/jpeg")},
        data={"limit": "5"},
    )
    assert response.status_code == 200, response.text
    hits = response.json()
    assert hits[0]["product_id"] == 12
    # A photo against the product's own hybrid vector: effnet-minilm keeps image and text in
    # separate blocks, so the cosine is the image share 0.6 / |(0.6, 0.4)| = 0.832.
    assert hits[0]["score"] == pytest.approx(0.832, abs=0.01)
    assert len(hits) == 5
    # Real neighbours: the other top hits are clothes too (the demo also sells groceries).
    assert all(h["category"].startswith("clothing/") for h in hits)


def test_image_search_takes_words_and_filters(client: httpx.Client) -> None:
    response = client.post(
        "/api/search/image",
        files={"image": ("p.jpg", demo_photo(12).read_bytes(), "image/jpeg")},
        data={"text": "viatu", "limit": "4", "category": "clothing/shoes", "threshold": "0.1"},
    )
    assert response.status_code == 200
    hits = response.json()
    assert len(hits) == 4
    assert all(h["category"] == "clothing/shoes" and h["score"] >= 0.1 for h in hits)


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "payload", "status"),
    [
        ("empty.jpg", b"", 422),
        ("notes.jpg", b"this is a shopping list, not a photo\n" * 20, 422),
        ("huge.png", _png_claiming(100_000, 100_000), 413),
    ],
)
def test_bad_uploads_are_refused_with_json(
    client: httpx.Client, name: str, payload: bytes, status: int
) -> None:
    response = client.post("/api/search/image", files={"image": (name, payload, "image/jpeg")})
    assert response.status_code == status
    assert response.json()["error"]


def test_a_truncated_jpeg_is_refused(client: httpx.Client) -> None:
    photo = demo_photo(20).read_bytes()
    response = client.post(
        "/api/search/image", files={"image": ("cut.jpg", photo[: len(photo) // 2], "image/jpeg")}
    )
    assert response.status_code == 422
    assert "truncated" in response.json()["error"] or "image" in response.json()["error"]


def test_a_30_mb_upload_is_refused_before_it_is_read(client: httpx.Client) -> None:
    response = client.post(
        "/api/search/image", files={"image": ("big.jpg", b"\xff" * (30 * 1024 * 1024))}
    )
    assert response.status_code == 413
    assert "SOKO_MAX_IMAGE_BYTES" in response.json()["error"]


def test_unknown_and_repeated_form_fields_are_refused(client: httpx.Client) -> None:
    photo = demo_photo(12).read_bytes()
    typo = client.post(
        "/api/search/image", files={"image": ("p.jpg", photo, "image/jpeg")}, data={"limt": "5"}
    )
    assert typo.status_code == 422
    assert typo.json()["error"].startswith("limt: unknown form field")
    twice = client.post(
        "/api/search/image",
        files=[
            ("image", ("a.jpg", photo, "image/jpeg")),
            ("image", ("b.jpg", photo, "image/jpeg")),
        ],
    )
    assert twice.status_code == 422
    assert twice.json() == {"error": "image: given 2 times; send one"}


def test_bodies_that_do_not_parse_are_422_with_json(client: httpx.Client) -> None:
    json_type = {**AUTH, "content-type": "application/json"}
    broken = client.post("/api/products", content=b'{"name": ', headers=json_type)
    assert broken.status_code == 422
    assert broken.json()["error"].startswith("body: not valid JSON")
    latin1 = client.post(
        "/api/products", content='{"name": "Café"}'.encode("latin-1"), headers=json_type
    )
    assert latin1.status_code == 422
    assert latin1.json()["error"].startswith("body: cannot be parsed")
    multipart = client.post(
        "/api/search/image",
        content=b"--x\r\nnot a part",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert multipart.status_code == 422
    assert multipart.json()["error"]


def test_an_upload_without_the_image_field_names_it(client: httpx.Client) -> None:
    response = client.post("/api/search/image", data={"text": "shoes"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("image")


# --- listing suggestions (seller tools) -----------------------------------------------------
SHOE, SHOE_SELLER = 232, 1029  # a demo photo of shoes; its seller lists 3 demo products


def _suggest(client: httpx.Client, product_id: int, **data: str) -> httpx.Response:
    photo = demo_photo(product_id).read_bytes()
    return client.post(
        "/api/listings/suggest", files={"image": ("new.jpg", photo, "image/jpeg")}, data=data
    )


def test_a_shoe_photo_gets_shoes_a_price_band_and_other_sellers_products(
    client: httpx.Client,
) -> None:
    response = _suggest(client, SHOE, seller_id=str(SHOE_SELLER), limit="6")
    assert response.status_code == 200, response.text
    body = response.json()
    categories = body["categories"]
    assert categories[0]["category"] == "clothing/shoes"
    assert 0.7 <= categories[0]["confidence"] <= 1.0
    assert len(categories) <= 3
    confidences = [c["confidence"] for c in categories]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) <= 1.0001
    price = body["price"]
    assert 5 <= price["based_on"] <= 20
    assert 0 < price["low"] <= price["median"] <= price["high"]
    similar = body["similar"]
    assert len(similar) == 6
    # The seller's own products (the photographed one included) are not "the market".
    assert all(hit["seller_id"] != SHOE_SELLER for hit in similar)
    assert {"product_id", "product_name", "category", "price", "seller_id", "image_url",
            "thumbnail_url", "score"} == similar[0].keys()  # fmt: skip
    scores = [hit["score"] for hit in similar]
    assert scores == sorted(scores, reverse=True)


def test_without_a_seller_the_photographed_product_itself_is_similar(
    client: httpx.Client,
) -> None:
    body = _suggest(client, SHOE).json()
    assert body["categories"][0]["category"] == "clothing/shoes"
    assert len(body["similar"]) == 10  # the default limit
    assert body["similar"][0]["product_id"] == SHOE
    with_words = _suggest(client, SHOE, text="viatu vya ngozi", limit="3").json()
    assert len(with_words["similar"]) == 3
    assert with_words["categories"] == body["categories"]  # the draft text does not vote


def test_a_photo_already_listed_is_reported_as_a_duplicate_with_its_seller(
    client: httpx.Client,
) -> None:
    """The same picture, re-encoded smaller (as a phone re-shares it): its own seller is told
    they listed it; another seller is told someone did. A different shoe photo is not."""
    picture = Image.open(demo_photo(SHOE)).convert("RGB")
    buffer = io.BytesIO()
    picture.resize((picture.width * 3 // 4, picture.height * 3 // 4)).save(
        buffer, "JPEG", quality=60
    )
    upload = {"image": ("again.jpg", buffer.getvalue(), "image/jpeg")}
    own = client.post("/api/listings/suggest", files=upload, data={"seller_id": str(SHOE_SELLER)})
    assert own.status_code == 200, own.text
    [duplicate] = [d for d in own.json()["duplicates"] if d["product_id"] == SHOE]
    assert duplicate["same_seller"] is True
    assert duplicate["score"] > 0.8  # the image cosine; the perceptual hash confirms it
    assert duplicate["reason"]
    other = client.post("/api/listings/suggest", files=upload, data={"seller_id": "1"}).json()
    assert [d["same_seller"] for d in other["duplicates"] if d["product_id"] == SHOE] == [False]
    different = _suggest(client, SHOE + 1).json()
    assert SHOE not in {d["product_id"] for d in different["duplicates"]}


@pytest.mark.parametrize(
    ("files", "data", "status", "starts"),
    [
        (None, {"text": "shoes"}, 422, "image"),
        ({"image": ("a.jpg", b"a shopping list, not a photo\n" * 20, "image/jpeg")}, {}, 422, ""),
        ({"image": ("e.jpg", b"", "image/jpeg")}, {}, 422, "image"),
        ({"image": ("huge.png", _png_claiming(100_000, 100_000), "image/png")}, {}, 413, ""),
        ("photo", {"limt": "5"}, 422, "limt: unknown form field"),
        ("photo", {"limit": "0"}, 422, "limit"),
        ("photo", {"limit": "101"}, 422, "limit"),
        ("photo", {"seller_id": "-1"}, 422, "seller_id"),
    ],
)
def test_bad_suggest_requests_are_refused_naming_the_field(
    client: httpx.Client,
    files: dict[str, tuple[str, bytes, str]] | str | None,
    data: dict[str, str],
    status: int,
    starts: str,
) -> None:
    upload = (
        {"image": ("p.jpg", demo_photo(SHOE).read_bytes(), "image/jpeg")}
        if files == "photo"
        else files
    )
    assert not isinstance(upload, str)
    response = client.post("/api/listings/suggest", files=upload, data=data)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(starts)


def test_a_30_mb_photo_to_suggest_is_refused_before_it_is_read(client: httpx.Client) -> None:
    response = client.post(
        "/api/listings/suggest", files={"image": ("big.jpg", b"\xff" * (30 * 1024 * 1024))}
    )
    assert response.status_code == 413
    assert "SOKO_MAX_IMAGE_BYTES" in response.json()["error"]


# --- products -------------------------------------------------------------------------------
def test_get_product_and_its_images(client: httpx.Client) -> None:
    product = client.get("/api/products/4").json()
    assert product["product_id"] == 4
    assert product["category"] == "clothing/dress"
    assert product["searchable"] is True
    full = client.get(product["image_url"])
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/jpeg"
    thumb = client.get(product["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/webp"
    assert len(thumb.content) < len(full.content)
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 256
    assert client.get("/api/products/4/image?size=huge").status_code == 422
    assert client.get("/api/products/999999").json() == {"error": "Product not found"}


def test_categories_list_the_demo_categories(client: httpx.Client) -> None:
    categories = client.get("/api/categories").json()
    assert {"clothing/dress", "clothing/shoes", "fruit/apple", "fruit/banana", "packages/juice",
            "vegetables/pepper"} <= set(categories)  # fmt: skip


NEW = {
    "product_id": 5001,
    "name": "Kikapu cha ukili — woven basket",
    "description": "Hand-woven palm-leaf basket",
    "category": "bags",
    "price": 1500,
    "seller_id": 9,
}


def test_writes_need_the_key(client: httpx.Client) -> None:
    missing = client.post("/api/products", json=NEW)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["error"]
    wrong = client.post("/api/products", json=NEW, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 403
    assert client.delete("/api/products/3", headers={"X-API-Key": "nope"}).status_code == 403
    assert client.get("/api/products/5001").status_code == 404


def test_the_key_is_also_accepted_as_a_bearer_token_and_both_are_documented(
    client: httpx.Client,
) -> None:
    body = {**NEW, "product_id": 5003}
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert client.post("/api/products", json=body, headers=bearer).status_code == 201
    wrong = client.delete("/api/products/5003", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert client.delete("/api/products/5003", headers=bearer).status_code == 204
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"apiKey", "http"}
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_create_update_delete_flow_reaches_search(client: httpx.Client) -> None:
    created = client.post("/api/products", json=NEW, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["searchable"] is False
    assert client.post("/api/products", json=NEW, headers=AUTH).status_code == 409

    # The background sync embeds and ingests it; then it has neighbours of its own.
    wait_for(lambda: client.get("/api/products/similar/5001?threshold=0").status_code == 200)
    hits = client.get("/api/search", params={"q": "kikapu ukili", "limit": 3}).json()
    assert hits[0]["product_id"] == 5001

    patched = client.patch("/api/products/5001", json={"price": 1750.5}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.json()["price"] == 1750.5

    assert client.delete("/api/products/5001", headers=AUTH).status_code == 204
    assert client.get("/api/products/5001").status_code == 404

    def gone() -> bool:
        hits = client.get("/api/search", params={"q": "kikapu ukili", "limit": 3}).json()
        return all(h["product_id"] != 5001 for h in hits)

    wait_for(gone)


def test_bad_product_bodies_name_the_field(client: httpx.Client) -> None:
    extra = client.post("/api/products", json={**NEW, "colour": "red"}, headers=AUTH)
    assert extra.status_code == 422
    assert "colour" in extra.json()["error"]
    long_category = client.post(
        "/api/products", json={**NEW, "product_id": 5002, "category": "ß" * 40}, headers=AUTH
    )
    assert long_category.status_code == 422
    assert "category" in long_category.json()["error"]
    bad_price = client.patch("/api/products/4", json={"price": "cheap"}, headers=AUTH)
    assert bad_price.status_code == 422
    assert bad_price.json()["error"].startswith("price")


def test_image_path_is_refused_over_http(client: httpx.Client) -> None:
    """The write key must not reach the server's files: images over HTTP are URLs only."""
    probe = {**NEW, "product_id": 5003, "image_path": "/etc/passwd"}
    created = client.post("/api/products", json=probe, headers=AUTH)
    assert created.status_code == 422, created.text
    assert created.json()["error"].startswith("image_path: ")
    assert "image_url" in created.json()["error"]
    assert client.get("/api/products/5003").status_code == 404
    assert client.get("/api/products/5003/image").status_code == 404
    for change in ({"image_path": "/etc/passwd"}, {"image_path": None}):
        patched = client.patch("/api/products/4", json=change, headers=AUTH)
        assert patched.status_code == 422, patched.text
        assert patched.json()["error"].startswith("image_path: ")
    photo = client.get("/api/products/4/image")
    assert photo.status_code == 200
    assert photo.content == demo_photo(4).read_bytes()
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "image_path" not in schemas["ProductCreateBody"]["properties"]
    assert "image_path" not in schemas["ProductUpdateBody"]["properties"]


# --- local photos: the media root and the image guards ---------------------------------------
#: Limits low enough for small test files to cross them (the guards' logic is the same).
MAX_PIXELS = 1_000_000
MAX_BYTES = 200_000


@dataclass(frozen=True)
class MediaServer:
    url: str
    shop: Path
    files: dict[str, Path]


def _noise_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    """A catalog folder whose rows try every way out of it, imported with `soko import`;
    plus rows as an old version (or a hand edit) left them, pointing anywhere."""
    root = tmp_path_factory.mktemp("media")
    shop = root / "shop"
    (shop / "images").mkdir(parents=True)
    files = {
        "ok": shop / "images" / "ok.png",
        "many_pixels": shop / "images" / "poster.png",
        "many_bytes": shop / "images" / "noise.png",
        "not_an_image": shop / "images" / "notes.png",
        "link_out": shop / "images" / "link.png",
        "outside": root / "outside.png",
    }
    files["ok"].write_bytes(image_bytes((200, 30, 30), size=64))
    files["many_pixels"].write_bytes(image_bytes((30, 200, 30), size=2000))  # 4 MP, 12 KB
    files["many_bytes"].write_bytes(_noise_png(300))  # 90 kP, ~270 KB
    files["not_an_image"].write_bytes(b"this is a shopping list, not a photo\n" * 20)
    files["outside"].write_bytes(image_bytes((30, 30, 200), size=64))
    files["link_out"].symlink_to(files["outside"])
    assert len(files["many_bytes"].read_bytes()) > MAX_BYTES
    (shop / "catalog.csv").write_text(
        "product_id,name,category,price,seller_id,image_path\n"
        "1,Kanga,fabrics,10,1,images/ok.png\n"
        "2,Poster,fabrics,10,1,images/poster.png\n"
        "3,Noise,fabrics,10,1,images/noise.png\n"
        "4,Notes,fabrics,10,1,images/notes.png\n"
        "5,Linked,fabrics,10,1,images/link.png\n"
        "6,Dotted,fabrics,10,1,../outside.png\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "MILVUS_ADDRESS": str(root / "milvus.db"),
        "DATABASE_URL": f"sqlite:///{root / 'catalog.db'}",
        "SOKO_DATA_DIR": str(root / "data"),
        "SOKO_EMBEDDER": "effnet-minilm",
        "SOKO_MAX_IMAGE_PIXELS": str(MAX_PIXELS),
        "SOKO_MAX_IMAGE_BYTES": str(MAX_BYTES),
    }
    env.pop("SOKO_MEDIA_ROOT", None)
    imported = subprocess.run(
        [sys.executable, "-m", "soko", "import", str(shop / "catalog.csv")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 1, imported.stderr
    assert "rejected line 6: image_path: " in imported.stdout
    assert "rejected line 7: image_path: " in imported.stdout
    assert "catalog.csv: 6 rows: 4 new, 0 updated, 0 restored, 0 unchanged, 2 rejected" in (
        imported.stdout
    )
    # Rows from before the media root existed, straight into the catalog.
    legacy = {
        7: "/etc/passwd",
        8: str(files["outside"]),
        9: str(root / "catalog.db"),
        10: str(files["link_out"]),  # inside the root by name, outside once resolved
    }
    with Catalog.connect(env["DATABASE_URL"]) as catalog:
        for pid, path in legacy.items():
            catalog.create(
                ProductCreate(
                    product_id=pid, name="Old", category="fabrics", price=1, seller_id=1,
                    image_path=path,
                )
            )  # fmt: skip
    with serving(env, cwd=root) as url:
        yield MediaServer(url, shop, files)


def test_local_photos_are_served_from_the_media_root_only(media_server: MediaServer) -> None:
    with httpx.Client(base_url=media_server.url, timeout=30) as http:
        photo = http.get("/api/products/1/image")
        assert photo.status_code == 200
        assert photo.headers["content-type"] == "image/png"
        assert photo.content == media_server.files["ok"].read_bytes()
        thumb = http.get("/api/products/1/image?size=thumb")
        assert thumb.headers["content-type"] == "image/webp"
        for pid in (7, 8, 9, 10):
            for size in ("full", "thumb"):
                response = http.get(f"/api/products/{pid}/image?size={size}")
                assert response.status_code == 404, (pid, size, response.content[:80])
                assert response.json() == {"error": f"Product {pid} has no image to serve"}


@pytest.mark.parametrize(
    ("pid", "file", "reason", "upload_status"),
    [
        (2, "many_pixels", "pixels, over the 1000000 limit", 413),
        (3, "many_bytes", "-byte limit", 413),
        (4, "not_an_image", "not an image", 422),
    ],
)
def test_local_photos_pass_the_upload_guards_or_are_not_served(
    media_server: MediaServer, pid: int, file: str, reason: str, upload_status: int
) -> None:
    """Full size and thumbnail alike: the byte and pixel limits of an upload, and its
    formats; a refusal is JSON, never the file's bytes, never a 500."""
    data = media_server.files[file].read_bytes()
    with httpx.Client(base_url=media_server.url, timeout=30) as http:
        upload = http.post("/api/search/image", files={"image": ("x.png", data, "image/png")})
        assert upload.status_code == upload_status
        for size in ("full", "thumb"):
            response = http.get(f"/api/products/{pid}/image?size={size}")
            assert response.status_code == 422, (size, response.text[:200])
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert error.startswith(f"the image of product {pid} cannot be served: ")
            assert reason in error
            assert str(media_server.shop) not in error


# --- operations -----------------------------------------------------------------------------
def test_health_reports_milvus_catalog_and_embedder(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["collection"] == "product_embeddings"
    assert body["embedder"].startswith("effnet-lite0+minilm-l6-v2@")
    assert body["vectors"] >= CATALOG_SIZE
    assert body["catalog"]["active"] >= CATALOG_SIZE
    assert body["sync"]["state"] in {"running", "starting"}


def test_metrics_expose_latency_errors_and_ingest_lag(client: httpx.Client) -> None:
    client.get("/api/products/similar/7")
    text = client.get("/metrics").text
    assert (
        'soko_http_request_duration_seconds_count{method="GET",route="/api/products/similar/{product_id}",status="2xx"}'
        in text
    )
    assert 'soko_search_duration_seconds_count{kind="similar"}' in text
    assert "soko_ingest_pending_rows" in text
    assert "soko_milvus_errors_total" in text


def test_openapi_docs_and_the_page_are_served(client: httpx.Client) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/products/similar/{product_id}", "/api/search/image", "/api/search"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200
    assert "Soko visual search" in page.text


def test_writes_are_refused_when_no_key_is_configured(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MILVUS_ADDRESS": str(tmp_path / "milvus.db"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
        "SOKO_DATA_DIR": str(tmp_path),
        "SOKO_EMBEDDER": "effnet-minilm",
    }
    env.pop("SOKO_API_KEY", None)
    with serving(env, cwd=tmp_path) as url:
        response = httpx.post(f"{url}/api/products", json=NEW, headers=AUTH)
        assert response.status_code == 403
        assert "SOKO_API_KEY" in response.json()["error"]


def test_image_urls_the_fetcher_would_refuse_are_422_naming_the_field(
    client: httpx.Client,
) -> None:
    for url in ("http://0177.0.0.1/x.jpg", "http://0x7f.1/x.jpg", "http://u:hunter2@a.example/x"):
        created = client.post(
            "/api/products", json={**NEW, "product_id": 5004, "image_url": url}, headers=AUTH
        )
        assert created.status_code == 422, created.text
        assert created.json()["error"].startswith("image_url: ")
        assert "hunter2" not in created.text
        patched = client.patch("/api/products/4", json={"image_url": url}, headers=AUTH)
        assert patched.status_code == 422
        assert patched.json()["error"].startswith("image_url: ")
    assert client.get("/api/products/5004").status_code == 404


def test_health_lists_failing_products_without_degrading(client: httpx.Client) -> None:
    # The server does not allow private URLs: a loopback image is refused when fetched.
    body = {**NEW, "product_id": 5003, "image_url": "http://127.0.0.1:9/kikapu.jpg"}
    assert client.post("/api/products", json=body, headers=AUTH).status_code == 201

    def listed() -> bool:
        report = client.get("/health").json()["failing_products"]
        return any(e["product_id"] == 5003 for e in report["examples"])

    wait_for(listed)
    health = client.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok"
    assert report["failing_products"]["count"] >= 1
    example = next(e for e in report["failing_products"]["examples"] if e["product_id"] == 5003)
    assert "loopback" in example["error"]
    assert example["next_attempt_at"] is None  # final until the product changes
    # Still searchable by its text.
    wait_for(lambda: client.get("/api/products/similar/5003?threshold=0").status_code == 200)
    assert client.delete("/api/products/5003", headers=AUTH).status_code == 204


def test_health_is_503_while_the_sync_loop_fails(tmp_path: Path) -> None:
    from factories import seed_catalog
    from soko.catalog import Catalog, ProductCreate

    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with Catalog.connect(database_url) as catalog:
        # Vectors of another vector space: every hydrate round fails (EmbedderMismatch).
        seed_catalog(catalog, [1])
        catalog.import_products(
            [ProductCreate(product_id=2, name="Kanga", category="c", price=1, seller_id=1)]
        )
    env = {
        **os.environ,
        "MILVUS_ADDRESS": str(tmp_path / "milvus.db"),
        "DATABASE_URL": database_url,
        "SOKO_DATA_DIR": str(tmp_path),
        "SOKO_EMBEDDER": "effnet-minilm",
        "SOKO_INGEST_POLL": "0.5",
    }
    with serving(env, cwd=tmp_path, worker=True, healthy=False) as url:

        def failing() -> bool:
            try:
                body = httpx.get(f"{url}/health", timeout=5).json()
            except (httpx.TransportError, ValueError):
                return False
            return bool(body.get("sync", {}).get("state") == "failing")

        wait_for(failing, timeout=120)
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "degraded"
        assert body["sync"]["failing"] is True
        assert "soko reindex" in body["sync"]["last_error"]
