"""The Locust scenario of `soko-bench load` (run by `python -m locust -f` in a child process).

Offered load is open-loop in steps: each `Shopper` makes one query per second whatever its
latency (`constant_throughput(1)`), so N shoppers offer N queries/s until a query takes over
a second; `Steps` raises N along `SOKO_LOAD_RATES`, one rate every `SOKO_LOAD_STEP_S`
seconds. Queries mix similar products (60%), words (25%) and an uploaded photo (15%).
One `Seller` meanwhile creates, changes and deletes products through the API (with the
key) at `SOKO_LOAD_WRITES` requests/s. Every request is appended to `SOKO_LOAD_RECORDS` as
`start,kind,milliseconds,ok` for soko_bench.load to cut into steps.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, LoadTestShape, constant_throughput, events, task

N = int(os.environ.get("SOKO_LOAD_N", "1000"))
RATES = [int(r) for r in os.environ.get("SOKO_LOAD_RATES", "5,10").split(",")]
STEP_S = float(os.environ.get("SOKO_LOAD_STEP_S", "20"))
WRITES = float(os.environ.get("SOKO_LOAD_WRITES", "2"))
KEY = os.environ.get("SOKO_API_KEY", "")
PHOTO = Path(os.environ.get("SOKO_LOAD_PHOTO", "")).read_bytes()
WORDS = ["kanga", "viatu", "dress", "phone", "shoes", "bag", "mkoba", "shirt", "product", "red"]

_records = open(os.environ["SOKO_LOAD_RECORDS"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115


@events.request.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    started = start_time if start_time is not None else time.time() - response_time / 1000
    ok = 0 if exception else 1
    _records.write(f"{started:.4f},{name},{response_time:.3f},{ok}\n")


class Shopper(HttpUser):
    wait_time = constant_throughput(1)

    @task(60)
    def similar(self) -> None:
        product = random.randint(1, N)
        self.client.get(f"/api/products/similar/{product}?limit=10", name="similar")

    @task(25)
    def words(self) -> None:
        query = " ".join(random.sample(WORDS, 2))
        self.client.get("/api/search", params={"q": query, "limit": 10}, name="text")

    @task(15)
    def photo(self) -> None:
        self.client.post(
            "/api/search/image",
            files={"image": ("photo.jpg", PHOTO, "image/jpeg")},
            data={"limit": "10"},
            name="photo",
        )


class Seller(HttpUser):
    """Adds products, changes their price, deletes the oldest: the catalog keeps moving."""

    fixed_count = 1
    wait_time = constant_throughput(WRITES)

    def on_start(self) -> None:
        self.next_id = 10 * N + random.randint(0, 1000) * 10_000
        self.live: list[int] = []

    @task
    def write(self) -> None:
        headers = {"X-API-Key": KEY}
        step = random.random()
        if not self.live or step < 0.4:
            self.next_id += 1
            body = {
                "product_id": self.next_id,
                "name": f"kanga ya pamba {self.next_id}",
                "description": "Cotton kanga, new stock",
                "category": "load-test",
                "price": 1500,
                "seller_id": 77,
            }
            response = self.client.post("/api/products", json=body, headers=headers, name="write")
            if response.status_code == 201:
                self.live.append(self.next_id)
        elif step < 0.8:
            product = random.choice(self.live)
            price = {"price": random.randint(100, 5000)}
            self.client.patch(f"/api/products/{product}", json=price, headers=headers, name="write")
        else:
            product = self.live.pop(0)
            self.client.delete(f"/api/products/{product}", headers=headers, name="write")


class Steps(LoadTestShape):
    """One offered rate per step; stops after the last."""

    def tick(self) -> tuple[int, float] | None:
        step = int(self.get_run_time() // STEP_S)  # type: ignore[no-untyped-call]
        if step >= len(RATES):
            return None
        return RATES[step] + 1, 200.0  # the shoppers, plus the one seller
