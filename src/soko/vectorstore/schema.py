"""The `product_embeddings` collection: fields, index and the checks that keep them stable.

The field table is the contract in docs/architecture.md ("Contracts"), exactly. What the
collection was built with (dimension, index, embedder, fusion weights) is recorded in its
properties, so that a later start with different settings fails loudly instead of mixing
incompatible vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymilvus import CollectionSchema, DataType, MilvusClient

from soko.config import IndexType
from soko.errors import EmbedderMismatch, SchemaMismatch
from soko.products import CATEGORY_MAX_BYTES, IMAGE_URL_MAX_BYTES, NAME_MAX_BYTES

METRIC = "L2"

PRIMARY_KEY = "product_id"
VECTOR_FIELD = "embedding"

#: Scalar fields returned with every hit (everything but the vector).
OUTPUT_FIELDS = (
    "product_name",
    "category",
    "price",
    "seller_id",
    "image_url",
    "created_at",
    "last_hydrated_at",
)

#: Collection properties Soko writes at creation and checks on every start.
PROP_EMBEDDER = "soko.embedder"
PROP_SCHEMA_VERSION = "soko.schema_version"
SCHEMA_VERSION = "1"

#: Partitions behind the category partition key; Milvus hashes categories into them.
#: 16, not Milvus's default 64: each partition holds its own segments, each with its own IVF
#: index, so fewer and larger segments mean fewer centroid scans per query and IVF lists
#: trained on more data; docs/vectorstore.md has the 1M measurements behind the choice. A
#: category filter still prunes the search to one partition (a sixteenth of the catalog).
NUM_PARTITIONS = 16

REINDEX_HINT = "run `soko reindex` to rebuild the collection with the current settings"


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection must look like for this process to use it."""

    name: str
    #: The `VectorSpace.id` of the vectors; recorded as the collection's `soko.embedder`.
    space_id: str
    dim: int
    index_type: IndexType = IndexType.IVF_FLAT
    nlist: int = 1024
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200

    def index_build_params(self) -> dict[str, Any]:
        if self.index_type is IndexType.HNSW:
            return {"M": self.hnsw_m, "efConstruction": self.hnsw_ef_construction}
        return {"nlist": self.nlist}


def build_schema(spec: CollectionSpec) -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(PRIMARY_KEY, DataType.INT64, is_primary=True)
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=spec.dim)
    schema.add_field("product_name", DataType.VARCHAR, max_length=NAME_MAX_BYTES)
    schema.add_field(
        "category", DataType.VARCHAR, max_length=CATEGORY_MAX_BYTES, is_partition_key=True
    )
    schema.add_field("price", DataType.FLOAT)
    schema.add_field("seller_id", DataType.INT64)
    schema.add_field("image_url", DataType.VARCHAR, max_length=IMAGE_URL_MAX_BYTES)
    schema.add_field("created_at", DataType.INT64)
    schema.add_field("last_hydrated_at", DataType.INT64)
    return schema


def build_index_params(client: MilvusClient, spec: CollectionSpec) -> Any:
    params = client.prepare_index_params()
    params.add_index(
        field_name=VECTOR_FIELD,
        index_name=VECTOR_FIELD,
        index_type=spec.index_type.value,
        metric_type=METRIC,
        params=spec.index_build_params(),
    )
    return params


def collection_properties(spec: CollectionSpec) -> dict[str, str]:
    return {PROP_EMBEDDER: spec.space_id, PROP_SCHEMA_VERSION: SCHEMA_VERSION}


#: (field name, DataType, type params that must match)
_EXPECTED_FIELDS: tuple[tuple[str, DataType, dict[str, int]], ...] = (
    (PRIMARY_KEY, DataType.INT64, {}),
    (VECTOR_FIELD, DataType.FLOAT_VECTOR, {}),
    ("product_name", DataType.VARCHAR, {"max_length": NAME_MAX_BYTES}),
    ("category", DataType.VARCHAR, {"max_length": CATEGORY_MAX_BYTES}),
    ("price", DataType.FLOAT, {}),
    ("seller_id", DataType.INT64, {}),
    ("image_url", DataType.VARCHAR, {"max_length": IMAGE_URL_MAX_BYTES}),
    ("created_at", DataType.INT64, {}),
    ("last_hydrated_at", DataType.INT64, {}),
)


def check_schema(described: dict[str, Any], spec: CollectionSpec) -> None:
    """Raise SchemaMismatch if an existing collection is not the one `spec` describes."""
    fields = {f["name"]: f for f in described.get("fields", [])}
    expected_names = [name for name, _, _ in _EXPECTED_FIELDS]
    if sorted(fields) != sorted(expected_names):
        raise SchemaMismatch(
            f"collection {spec.name!r} has fields {sorted(fields)}, expected "
            f"{sorted(expected_names)}; {REINDEX_HINT} or set SOKO_COLLECTION to another name"
        )
    for name, dtype, params in _EXPECTED_FIELDS:
        field = fields[name]
        want = dict(params)
        if name == VECTOR_FIELD:
            want["dim"] = spec.dim
        got = {key: int(field.get("params", {}).get(key, -1)) for key in want}
        if field["type"] != dtype or got != want:
            raise SchemaMismatch(
                f"collection {spec.name!r}: field {name!r} is {field['type'].name} {got}, "
                f"expected {dtype.name} {want}; {REINDEX_HINT}"
            )
    if not fields[PRIMARY_KEY].get("is_primary") or fields[PRIMARY_KEY].get("auto_id"):
        raise SchemaMismatch(f"collection {spec.name!r}: product_id must be a non-auto primary key")
    if not fields["category"].get("is_partition_key"):
        raise SchemaMismatch(
            f"collection {spec.name!r}: category is not the partition key; {REINDEX_HINT}"
        )


def check_embedder(properties: dict[str, str], spec: CollectionSpec) -> None:
    recorded = properties.get(PROP_EMBEDDER)
    if recorded is None:
        raise EmbedderMismatch(
            f"collection {spec.name!r} does not record which embedder made its vectors; "
            f"{REINDEX_HINT}"
        )
    if recorded != spec.space_id:
        raise EmbedderMismatch(
            f"collection {spec.name!r} holds vectors from embedder {recorded!r} but this "
            f"process uses {spec.space_id!r}; {REINDEX_HINT}, or set SOKO_EMBEDDER to match"
        )


def check_index(index: dict[str, Any], spec: CollectionSpec) -> None:
    index_type = str(index.get("index_type", ""))
    metric = str(index.get("metric_type", ""))
    if index_type != spec.index_type.value or metric != METRIC:
        raise SchemaMismatch(
            f"collection {spec.name!r} has a {index_type}/{metric} index, settings ask for "
            f"{spec.index_type.value}/{METRIC}; run `soko index rebuild` to change it"
        )
