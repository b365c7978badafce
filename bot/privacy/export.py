"""What is shown before an export or erasure (`overview`), and the export itself: one JSON
document with everything CareDesk and Rasa keep about one customer."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from caredesk.db.models import AuditEntry, Conversation, Feedback, Handoff, Message, Note, Order, TicketEvent, utcnow
from bot.privacy import tracker
from bot.privacy.find import OPEN_HANDOFF, Query, Subject, find_subject


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def _rows(session: AsyncSession, model: Any, column: Any, ids: set[str] | list[int]) -> list[Any]:
    if not ids:
        return []
    return list((await session.scalars(select(model).where(column.in_(sorted(ids))).order_by(model.id))).all())


async def overview(session: AsyncSession, subject: Subject, tracker_engine: AsyncEngine | None) -> dict[str, Any]:
    """What was found, in counts and ids: enough to check it is the right person before an
    export or erasure, without showing the transcript itself."""
    ids = subject.conversation_ids
    conversations = {c.id: c for c in await _rows(session, Conversation, Conversation.id, ids)}
    messages: dict[str, int] = {}
    if ids:
        messages = dict((await session.execute(
            select(Message.conversation_id, func.count()).where(Message.conversation_id.in_(sorted(ids)))
            .group_by(Message.conversation_id))).all())
    events = await tracker.count_events(tracker_engine, ids)
    handoffs = await _rows(session, Handoff, Handoff.conversation_id, ids)
    ticket_ids = [t.id for t in subject.tickets]
    return {
        "asked": {"kind": subject.query.kind, "value": subject.query.value},
        "found": not subject.empty,
        "customer": _customer(subject),
        "conversations": [
            {"id": cid, "channel": conversations[cid].channel if cid in conversations else None,
             "started_at": _iso(conversations[cid].created_at) if cid in conversations else None,
             "messages": int(messages.get(cid, 0)), "tracker_events": events.get(cid, 0),
             "with_a_person": any(h.conversation_id == cid and h.status in OPEN_HANDOFF for h in handoffs)}
            for cid in sorted(ids)
        ],
        "tickets": [{"number": t.number, "status": t.status, "category": t.category,
                     "created_at": _iso(t.created_at)} for t in subject.tickets],
        "counts": {
            "conversations": len(ids), "messages": sum(int(n) for n in messages.values()),
            "tracker_events": sum(events.values()), "tickets": len(subject.tickets), "handoffs": len(handoffs),
            "feedback": len(await _rows(session, Feedback, Feedback.conversation_id, ids)),
            "notes": len({n.id for n in await _rows(session, Note, Note.conversation_id, ids)}
                         | {n.id for n in await _rows(session, Note, Note.ticket_id, ticket_ids)}),
        },
    }


def _customer(subject: Subject) -> dict[str, Any] | None:
    customer = subject.customer
    if customer is None:
        return None
    return {"email": customer.email, "name": customer.name, "phone": customer.phone, "tier": customer.tier,
            "created_at": _iso(customer.created_at)}


async def export(session: AsyncSession, subject: Subject, tracker_engine: AsyncEngine | None) -> dict[str, Any]:
    """The customer's data as one JSON-ready document (a copy of what they gave us and what we
    wrote about them), in the shape of the tables it comes from."""
    ids = subject.conversation_ids
    ticket_ids = [t.id for t in subject.tickets]
    customer = _customer(subject)
    if customer is not None and subject.customer is not None:
        orders = await _rows(session, Order, Order.customer_id, [subject.customer.id])
        customer["orders"] = [
            {"number": o.number, "status": o.status, "items": o.items, "total_cents": o.total_cents,
             "currency": o.currency, "placed_at": _iso(o.placed_at), "shipping_address": o.shipping_address,
             "payment_method": o.payment_method, "invoice_number": o.invoice_number,
             "refund_status": o.refund_status} for o in orders]
    conversations = {c.id: c for c in await _rows(session, Conversation, Conversation.id, ids)}
    messages = await _rows(session, Message, Message.conversation_id, ids)
    events = await tracker.export_events(tracker_engine, ids)
    ticket_events = await _rows(session, TicketEvent, TicketEvent.ticket_id, ticket_ids)
    notes = {n.id: n for n in await _rows(session, Note, Note.conversation_id, ids)}
    notes.update({n.id: n for n in await _rows(session, Note, Note.ticket_id, ticket_ids)})
    return {
        "exported_at": _iso(utcnow()),
        "asked": {"kind": subject.query.kind, "value": subject.query.value},
        "customer": customer,
        "conversations": [
            {"id": cid,
             "channel": conversations[cid].channel if cid in conversations else None,
             "started_at": _iso(conversations[cid].created_at) if cid in conversations else None,
             "transcript": [{"at": _iso(m.created_at), "from": m.sender, "agent_name": m.agent_name,
                             "text": m.text, "payload": m.payload} for m in messages if m.conversation_id == cid],
             "tracker_events": events.get(cid, [])}
            for cid in sorted(ids)
        ],
        "tickets": [
            {"number": t.number, "channel": t.channel, "conversation_id": t.conversation_id,
             "status": t.status, "category": t.category, "description": t.description, "contact": t.contact,
             "contact_kind": t.contact_kind, "order_number": t.order_number,
             "desired_outcome": t.desired_outcome, "priority": t.priority, "created_at": _iso(t.created_at),
             "promised_response_at": _iso(t.promised_response_at), "resolved_at": _iso(t.resolved_at),
             "closed_at": _iso(t.closed_at),
             "events": [{"at": _iso(e.created_at), "kind": e.kind, "actor": e.actor, "from_status": e.from_status,
                         "to_status": e.to_status, "note": e.note} for e in ticket_events if e.ticket_id == t.id]}
            for t in subject.tickets
        ],
        "notes": [{"at": _iso(n.created_at), "conversation_id": n.conversation_id, "author": n.author,
                   "text": n.text} for n in sorted(notes.values(), key=lambda n: n.id)],
        "handoffs": [
            {"conversation_id": h.conversation_id, "reason": h.reason, "status": h.status,
             "created_at": _iso(h.created_at), "claimed_by": h.claimed_by, "ended_at": _iso(h.ended_at),
             "summary": h.summary} for h in await _rows(session, Handoff, Handoff.conversation_id, ids)
        ],
        "feedback": [
            {"conversation_id": f.conversation_id, "subject": f.subject, "agent_username": f.agent_username,
             "rating": f.rating, "comment": f.comment, "created_at": _iso(f.created_at)}
            for f in await _rows(session, Feedback, Feedback.conversation_id, ids)
        ],
    }


async def export_customer(sessions: Any, query: Query, tracker_engine: AsyncEngine | None, *,
                          actor: str, address: str | None = None) -> dict[str, Any]:
    """Find and export the customer, and record in the audit log who exported what (counts
    only; the target is what was asked, which an erasure later replaces)."""
    async with sessions.begin() as session:
        subject = await find_subject(session, query, tracker_engine)
        document = await export(session, subject, tracker_engine)
        counts = (await overview(session, subject, tracker_engine))["counts"]
        session.add(AuditEntry(actor=actor, action="privacy_export", target=query.target, detail=counts,
                               address=address))
    return document
