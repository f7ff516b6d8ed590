"""`soko import`: CSV and JSON Lines files into a real catalog, row by row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import run_soko
from imageserver import image_bytes
from soko.catalog import Catalog, MediaRoots
from soko.catalog.importer import import_file
from soko.errors import InvalidInput

CSV_TEXT = '''product_id,name,description,category,price,seller_id,image_url
1,Red shoe,"Leather,
hand-stitched",shoes,10,1,https://img.example/1.jpg
2,Blue bag,,bags,abc,1,
3,,x,bags,5,1,
4,Kanga,x,{long},5,1,
5,Phone,x,phones,100,2,ftp://x.example/a.jpg
1,Dup,x,shoes,1,1,
6,Simu,"Simu ""nzuri""",phones,100,2,
7,Short,x,bags,5
'''.format(long="k" * 65)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog.connect(f"sqlite:///{tmp_path / 'catalog.db'}") as c:
        yield c


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_csv_rows_are_reported_with_their_line_and_skipped(
    catalog: Catalog, tmp_path: Path
) -> None:
    report = import_file(catalog, write(tmp_path / "c.csv", CSV_TEXT))
    problems = {p.line: p.message for p in report.problems}
    # Record 1 spans lines 2-3, so "Blue bag" is on line 4.
    assert sorted(problems) == [4, 5, 6, 7, 8, 10]
    assert "price" in problems[4]
    assert "'abc'" in problems[4]
    assert problems[5].startswith("name: must not be empty")
    assert "64 UTF-8 bytes" in problems[6]
    assert problems[7].startswith("image_url:")
    assert problems[8] == "product_id 1 already given on line 2"
    assert problems[10] == "expected 7 fields, got 5"
    assert report.rows == 8
    assert (report.result.inserted, report.result.unchanged) == (2, 0)
    assert catalog.get(1).description == "Leather,\nhand-stitched"
    assert catalog.get(6).description == 'Simu "nzuri"'
    assert catalog.counts().total == 2


def test_reimporting_the_same_file_changes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", CSV_TEXT)
    import_file(catalog, path)
    before = catalog.get_many([1, 6])
    again = import_file(catalog, path)
    assert (again.result.inserted, again.result.updated, again.result.unchanged) == (0, 0, 2)
    assert catalog.get_many([1, 6]) == before  # same versions, same updated_at


def test_a_changed_file_updates_only_what_changed_and_restores_deleted_rows(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = write(tmp_path / "c.csv", CSV_TEXT)
    import_file(catalog, path)
    catalog.delete(6)
    v1 = catalog.get(1).version
    report = import_file(catalog, write(path, CSV_TEXT.replace("Red shoe", "Red shoes")))
    assert (report.result.updated, report.result.restored) == (1, 1)
    assert catalog.get(1).name == "Red shoes"
    assert catalog.get(1).version == v1 + 1
    assert not catalog.get(6).deleted


def test_jsonl_rows_are_validated_one_by_one(catalog: Catalog, tmp_path: Path) -> None:
    lines = [
        json.dumps({"product_id": 1, "name": "A", "category": "c", "price": 1, "seller_id": 1}),
        "",
        "{not json",
        json.dumps([1, 2]),
        json.dumps(
            {
                "product_id": 2,
                "name": "B",
                "category": "c",
                "price": 1,
                "seller_id": 1,
                "colour": "red",
            }
        ),
        json.dumps(
            {
                "product_id": 3,
                "name": "C",
                "category": "c",
                "price": "2.5",
                "seller_id": 1,
                "image_path": "img/3.png",
            }
        ),
    ]
    report = import_file(catalog, write(tmp_path / "c.jsonl", "\n".join(lines) + "\n"))
    problems = {p.line: p.message for p in report.problems}
    assert problems[3].startswith("invalid JSON")
    assert problems[4] == "expected a JSON object, got list"
    assert problems[5] == "unknown field(s) colour"
    assert report.result.inserted == 2
    # A relative image path is relative to the catalog file.
    assert catalog.get(3).image_path == str(tmp_path / "img" / "3.png")
    assert catalog.get(3).price == 2.5


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.csv", "product_id,name,colour\n", "unknown column(s) 'colour'"),
        ("c.csv", "product_id,name\n", "lacks required column(s) category, price, seller_id"),
        ("c.csv", "", "is empty"),
        ("c.txt", "x", "cannot tell the format"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_clear_error(
    catalog: Catalog, tmp_path: Path, name: str, content: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_file(catalog, write(tmp_path / name, content))


def test_a_file_that_is_not_utf8_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("product_id,name,category,price,seller_id\n1,Café,c,1,1\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="line 2 is not UTF-8"):
        import_file(catalog, path)


def test_a_bad_byte_deep_in_a_file_names_its_line_and_imports_nothing(
    catalog: Catalog, tmp_path: Path
) -> None:
    """A latin-1 byte on line 1502, after 1,500 good rows (more than one write batch)."""
    header = b"product_id,name,category,price,seller_id\n"
    good = b"".join(f"{i},Kanga {i},fabrics,10,1\n".encode() for i in range(1, 1501))
    bad = "1501,Café,fabrics,10,1\n".encode("latin-1")
    path = tmp_path / "big.csv"
    path.write_bytes(header + good + bad)
    column = bad.index(b"\xe9") + 1
    offset = len(header + good) + column
    with pytest.raises(InvalidInput) as caught:
        import_file(catalog, path)
    message = str(caught.value)
    assert "line 1502 is not UTF-8" in message
    assert f"byte {offset} of the file, column {column}" in message
    assert "nothing was imported" in message
    assert catalog.counts().active == 0


def test_the_import_command_reports_rows_and_exits_non_zero_on_rejects(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    path = write(tmp_path / "c.csv", CSV_TEXT)
    result = run_soko("import", str(path), env=env)
    assert result.returncode == 1, result.stderr
    assert "rejected line 4: price" in result.stdout
    assert "c.csv: 8 rows: 2 new, 0 updated, 0 restored, 0 unchanged, 6 rejected" in result.stdout
    good = write(tmp_path / "good.csv", "product_id,name,category,price,seller_id\n9,A,c,1,1\n")
    result = run_soko("import", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert "1 new" in result.stdout
    bad = write(tmp_path / "bad.csv", "product_id,name,colour\n")
    result = run_soko("import", str(bad), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: bad.csv: unknown column(s) 'colour' in the header; expected columns: "
        "product_id, name, description, category, price, seller_id, image_url, image_path"
    ]


def shop_with_escapes(tmp_path: Path) -> Path:
    """A catalog folder with one good photo and three ways out of the folder: `..`, an
    absolute path, and a symlink inside the folder that points outside it."""
    shop = tmp_path / "shop"
    (shop / "images").mkdir(parents=True)
    (shop / "images" / "ok.png").write_bytes(image_bytes((200, 30, 30)))
    (tmp_path / "secret.png").write_bytes(image_bytes((30, 30, 200)))
    (shop / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    return write(
        shop / "catalog.csv",
        "product_id,name,category,price,seller_id,image_path\n"
        "1,Kanga,fabrics,10,1,images/ok.png\n"
        "2,Dotted,fabrics,10,1,images/../../secret.png\n"
        "3,Passwd,fabrics,10,1,/etc/passwd\n"
        "4,Linked,fabrics,10,1,images/link.png\n",
    )


def test_image_paths_outside_the_media_root_are_bad_rows(catalog: Catalog, tmp_path: Path) -> None:
    report = import_file(catalog, shop_with_escapes(tmp_path))
    problems = {p.line: p.message for p in report.problems}
    assert sorted(problems) == [3, 4, 5]
    for message in problems.values():
        assert message.startswith("image_path: ")
        assert f"outside the media root {tmp_path / 'shop'}" in message
    assert "/etc/passwd" in problems[4]
    assert report.result.inserted == 1
    assert catalog.get(1).image_path == str(tmp_path / "shop" / "images" / "ok.png")
    # The root is recorded, for the image route to check the stored paths against.
    assert MediaRoots(catalog).recorded() == [tmp_path / "shop"]


def test_a_configured_media_root_is_the_only_folder_allowed(
    catalog: Catalog, tmp_path: Path
) -> None:
    report = import_file(catalog, shop_with_escapes(tmp_path), media_root=tmp_path)
    # The wider root takes in ../secret.png and the symlink's target; /etc/passwd stays out.
    assert [p.line for p in report.problems] == [4]
    assert catalog.get(2).image_path == str(tmp_path / "secret.png")
    assert catalog.get(4).image_path == str(tmp_path / "secret.png")
    assert MediaRoots(catalog).recorded() == [tmp_path]


def test_the_import_command_lists_image_paths_outside_the_root(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    result = run_soko("import", str(shop_with_escapes(tmp_path)), env=env)
    assert result.returncode == 1, result.stderr
    for line in (3, 4, 5):
        assert f"rejected line {line}: image_path: " in result.stdout
    assert "catalog.csv: 4 rows: 1 new, 0 updated, 0 restored, 0 unchanged, 3 rejected" in (
        result.stdout
    )
    narrow = run_soko(
        "import", str(tmp_path / "shop" / "catalog.csv"),
        env={**env, "SOKO_MEDIA_ROOT": str(tmp_path / "shop" / "images")},
    )  # fmt: skip
    assert narrow.returncode == 1
    assert "rejected line 2" not in narrow.stdout


def test_image_urls_the_fetcher_would_refuse_are_bad_rows(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    path = write(
        tmp_path / "urls.csv",
        "product_id,name,category,price,seller_id,image_url\n"
        "1,Kanga,fabrics,5,1,http://0177.0.0.1/x.jpg\n"
        "2,Kanga,fabrics,5,1,http://2130706433/x.jpg\n"
        "3,Kanga,fabrics,5,1,http://seller:hunter2@img.example/x.jpg\n"
        "4,Kanga,fabrics,5,1,https://img.example/x.jpg\n",
    )
    result = run_soko("import", str(path), env=env)
    assert result.returncode == 1, result.stderr
    assert "rejected line 2: image_url: host 0177.0.0.1 is not an IPv4 address written a.b.c.d" in (
        result.stdout
    )
    assert "rejected line 3: image_url: host 2130706433" in result.stdout
    assert "rejected line 4: image_url: must not contain credentials" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert "4 rows: 1 new" in result.stdout
    assert "Traceback" not in result.stderr
