"""Write examples/shop.csv: a small e-commerce search log as a pandas export would look.

One row per shown result with the shop's own column names (session, query_text, product_id,
position, clicked), 0-based positions, query texts that hold commas and quotes, a price
feature per product and a device flag per impression. Clicks follow a position-based model
(attraction per product and query, examination 0.85^position, lower on phones), so that
`clickfit compare examples/shop.csv` has a model to find. Seeded: rerunning writes the same
file. Run from the repository root: `python examples/make_shop.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

QUERIES = ["red shoes, size 9", "running shoes", 'bag "classic", leather', "socks",
           "winter jacket", "sandals, women", "backpack", "sneakers white"]


def shop_log(n_sessions: int = 400, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_products = 40
    price = np.round(rng.uniform(5, 120, n_products), 2)
    attraction = rng.uniform(0.05, 0.7, (len(QUERIES), n_products))
    rows = []
    for session in range(n_sessions):
        query = int(rng.zipf(1.6) - 1) % len(QUERIES)
        shown = rng.permutation(n_products)[: int(rng.integers(3, 9))]
        phone = int(rng.random() < 0.4)
        for position, product in enumerate(shown):
            examination = 0.85**position * (0.8 if phone else 1.0)
            clicked = int(rng.random() < examination * attraction[query, product])
            rows.append((10_000 + session, QUERIES[query], f"P-{product:04d}", position,
                         clicked, price[product], phone))
    return pd.DataFrame(rows, columns=["session", "query_text", "product_id", "position",
                                       "clicked", "feat_price", "is_phone"])


if __name__ == "__main__":
    shop_log().to_csv(Path(__file__).with_name("shop.csv"), index=False)
