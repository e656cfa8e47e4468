"""What every system in the queue benchmark provides, and the helpers they share."""

from __future__ import annotations

import hashlib
import os
import sys
import time

from sqlalchemy.engine import make_url

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 5000  # jobs per batched-enqueue call, for every system
# What each batched job carries (``--payload``), the same for every system: nothing, or the
# params Zixly's listener gives a webhook's job (webhook.routing.job_params): ids and the event.
PAYLOADS = ("empty", "webhook")
PAYLOAD = "empty"


def payload(i: int) -> dict[str, object]:
    """Job ``i``'s payload (``PAYLOAD``): ``{}``, or about 250 characters of a Shopify order's webhook."""
    if PAYLOAD == "empty":
        return {}
    order = str(4_000_000 + i)
    return {
        "shop": "acme-outdoor.myshopify.com",
        "order_id": order,
        "gid": f"gid://shopify/Order/{order}",
        "event": {
            "source": "shopify",
            "type": "orders/paid",
            "occurred_at": "2026-12-07T12:00:00.123456+00:00",
            # as integrations/shopify/webhooks.py makes it: the topic and 48 hex digits of the body's digest
            "dedup_key": f"shopify:orders/paid:{hashlib.sha256(order.encode()).hexdigest()[:48]}",
            "org_id": "acme-outdoor.myshopify.com",
        },
    }


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sa_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def stamp(path: str, ident: str) -> None:
    with open(path, "a") as fh:
        fh.write(f"{ident} {time.time()}\n")


def python_worker(system: str, url: str, stamp_file: str) -> list[str]:
    """The command line of a Python worker process: ``bench/job_queue.py --worker SYSTEM``."""
    script = os.path.join(ROOT, "bench", "job_queue.py")
    return [sys.executable, script, "--worker", system, "--url", url, "--stamp", stamp_file]


class System:
    """One queue's bench-side operations (in the bench process) and how to start its workers."""

    name = ""
    settings = ""  # the tuning it runs with, with where it comes from (printed with the figures)

    def __init__(self, url: str) -> None:
        self.url = url

    def worker_command(self, stamp_file: str) -> list[str]:
        return python_worker(self.name, self.url, stamp_file)

    def setup(self) -> None: ...
    def clear(self) -> None: ...
    def enqueue_one(self, i: int) -> None: ...
    def enqueue_batch(self, n: int) -> None: ...
    def enqueue_stamp(self, i: int) -> None: ...
    def stamp_key(self, i: int) -> str:
        """What the worker writes in the stamp file for sample ``i``."""
        return str(i)

    def any_left(self) -> bool:
        """Is any job still queued or running? Polled every 20 ms while workers run, so it must
        be cheap: a count(*) over the whole table stole CPU from the workers on 2 cores."""
        raise NotImplementedError

    def processed(self) -> int | None:
        """Jobs that ended successfully (checked once after a processing run), if known."""
        return None

    def close(self) -> None: ...
