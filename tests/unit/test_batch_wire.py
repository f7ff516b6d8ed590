from __future__ import annotations

import numpy as np
import pytest

from factories import product_batch, unit_vectors
from soko.errors import InvalidVector
from soko.vectorstore.wire import write_request


def test_wire_request_carries_exactly_the_batch() -> None:
    vectors = unit_vectors(50, seed=2)
    batch = product_batch(np.arange(100, 150), vectors)
    request = write_request("c", batch, upsert=True)
    fields = {f.field_name: f for f in request.fields_data}
    assert request.num_rows == 50
    got = np.asarray(fields["embedding"].vectors.float_vector.data, dtype=np.float32)
    np.testing.assert_array_equal(got.reshape(50, 768), vectors)
    assert fields["embedding"].vectors.dim == 768
    assert list(fields["product_id"].scalars.long_data.data) == list(range(100, 150))
    np.testing.assert_array_equal(
        np.asarray(fields["price"].scalars.float_data.data, dtype=np.float32), batch.prices
    )
    assert list(fields["category"].scalars.string_data.data) == list(batch.categories)
    assert type(write_request("c", batch, upsert=False)).__name__ == "InsertRequest"


def test_nan_and_inf_name_the_product() -> None:
    vectors = unit_vectors(3)
    vectors[2, 0] = np.inf
    with pytest.raises(InvalidVector, match="product 9") as info:
        product_batch([7, 8, 9], vectors)
    assert info.value.product_id == 9


def test_duplicate_ids_in_one_batch_are_refused() -> None:
    with pytest.raises(InvalidVector, match="same product id"):
        product_batch([1, 1], unit_vectors(2))


def test_wrong_dimension_is_refused() -> None:
    with pytest.raises(InvalidVector, match="768"):
        product_batch([1], unit_vectors(1, dim=767))
