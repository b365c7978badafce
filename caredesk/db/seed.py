"""Demo customers and orders of the fictional shop, so order questions have answers.

Idempotent: rows that already exist (same email or order number) are left alone. Dates are
relative to the first seeding, so a fresh install always has a parcel on its way."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Customer, Order

DEMO_CUSTOMERS: list[dict[str, Any]] = [
    {"email": "maria.lopez@example.com", "name": "Maria Lopez", "phone": "+49 151 5550 1001", "tier": "regular"},
    {"email": "tom.becker@example.com", "name": "Tom Becker", "phone": "+49 151 5550 1002", "tier": "vip"},
    {"email": "aisha.khan@example.com", "name": "Aisha Khan", "phone": "+44 7700 900123", "tier": "new"},
]

# (number, email, status, items, total in cents, days ago placed, extra fields)
DEMO_ORDERS: list[tuple[str, str, str, str, int, int, dict[str, Any]]] = [
    ("10004821", "maria.lopez@example.com", "processing", "1 x Linen duvet cover (double), 2 x pillowcases", 8990, 0, {}),
    ("10005533", "maria.lopez@example.com", "shipped", "1 x Bluetooth speaker Aria", 5900, 2,
     {"shipped_days_ago": 1, "eta_days": 2, "carrier": "DHL", "tracking_code": "JD014600003826401"}),
    ("10003310", "tom.becker@example.com", "delivered", "1 x Espresso machine Barista Pro", 34900, 12,
     {"shipped_days_ago": 10, "delivered_days_ago": 8, "carrier": "UPS", "tracking_code": "1Z999AA10123456784"}),
    ("10002200", "tom.becker@example.com", "delivered", "2 x Merino wool sweater (M)", 15800, 20,
     {"shipped_days_ago": 19, "delivered_days_ago": 17, "carrier": "DHL", "tracking_code": "JD014600003826402",
      "refund_status": "requested", "refund_cents": 7900, "refund_requested_days_ago": 3}),
    ("10001875", "aisha.khan@example.com", "delivered", "1 x Desk lamp Nova", 4490, 30,
     {"shipped_days_ago": 29, "delivered_days_ago": 27, "carrier": "Hermes", "tracking_code": "H1002003004005",
      "refund_status": "paid", "refund_cents": 4490, "refund_requested_days_ago": 20, "refund_paid_days_ago": 14}),
    ("10006001", "aisha.khan@example.com", "cancelled", "1 x Yoga mat", 2990, 5, {"cancelled_days_ago": 4}),
]


def _ago(now: dt.datetime, days: int | None) -> dt.datetime | None:
    return None if days is None else now - dt.timedelta(days=days)


async def seed_demo_shop(session: AsyncSession, *, now: dt.datetime) -> int:
    """Insert the demo rows that are missing; returns how many orders were added."""
    customers: dict[str, Customer] = {}
    for data in DEMO_CUSTOMERS:
        customer = await session.scalar(select(Customer).where(Customer.email == data["email"]))
        if customer is None:
            customer = Customer(**data)
            session.add(customer)
        customers[data["email"]] = customer
    await session.flush()

    added = 0
    for number, email, status, items, total, placed_days_ago, extra in DEMO_ORDERS:
        if await session.scalar(select(Order.id).where(Order.number == number)) is not None:
            continue
        placed = now - dt.timedelta(days=placed_days_ago)
        session.add(
            Order(
                number=number,
                customer_id=customers[email].id,
                status=status,
                items=items,
                total_cents=total,
                placed_at=placed,
                shipped_at=_ago(now, extra.get("shipped_days_ago")),
                delivered_at=_ago(now, extra.get("delivered_days_ago")),
                estimated_delivery=(
                    now + dt.timedelta(days=extra["eta_days"]) if "eta_days" in extra else None
                ),
                carrier=extra.get("carrier"),
                tracking_code=extra.get("tracking_code"),
                shipping_address="Demo Street 1, 10115 Berlin, Germany",
                payment_method="Visa" if total > 5000 else "PayPal",
                invoice_number=f"INV-{placed.year}-{number[-5:]}",
                refund_status=extra.get("refund_status"),
                refund_cents=extra.get("refund_cents"),
                refund_requested_at=_ago(now, extra.get("refund_requested_days_ago")),
                refund_paid_at=_ago(now, extra.get("refund_paid_days_ago")),
                cancelled_at=_ago(now, extra.get("cancelled_days_ago")),
            )
        )
        added += 1
    await session.flush()
    return added
