"""Order questions: verify the customer (order number + email on the order), then answer.

A wrong pair reveals nothing: not whether the number exists, nor whose it is."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import guessing, sentiment, validation
from actions.base import Resources, float_slot, polite_on_failure
from caredesk.db import repository
from caredesk.db.models import Order
from actions.formatting import day, money

MAX_ATTEMPTS = 3
UNVERIFIED = "unverified"
# The intents that open the look-up (data/rules/orders.yml).
ORDER_INTENTS = frozenset({"track_order", "cancel_order", "change_order", "track_refund", "get_invoice",
                           "check_invoice"})
ORDER_EMPATHY = {"mild": "utter_order_empathy_mild", "strong": "utter_order_empathy_strong"}


class ValidateOrderLookupForm(Resources, FormValidationAction):
    def name(self) -> str:
        return "validate_order_lookup_form"

    run = polite_on_failure(FormValidationAction.run)

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Cancelling asks for a yes first, and only for an order that can still be cancelled."""
        needs_yes = (
            tracker.get_slot("order_request") == "cancel_order"
            and tracker.get_slot("order_verified")
            and tracker.get_slot("order_status") == "processing"
        )
        return [s for s in domain_slots if s != "cancel_confirmed" or needs_yes]

    async def _verify(
        self, number: str, email: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """Number and email must belong together. Failures count across conversations
        (actions/guessing.py): past the limit the look-up pauses, even for the right pair."""
        now = self.now()
        wanted = guessing.checks(("order", number), ("email", email), ("client", guessing.client_of(tracker)))
        async with self.sessions.begin() as session:
            if await guessing.blocked(session, wanted, self.limits, now):
                await guessing.failed(session, guessing.checks(("client", guessing.client_of(tracker))), now)
                dispatcher.utter_message(response="utter_lookup_paused")
                return {"order_number": UNVERIFIED, "order_email": UNVERIFIED, "order_verified": False,
                        "verify_attempts": 0}
            order = await repository.verified_order(session, number, email)
            if order is not None:
                customer = await order.awaitable_attrs.customer
                return {
                    "order_number": order.number,
                    "order_email": email,
                    "order_verified": True,
                    "order_status": order.status,
                    "order_summary": order.items,
                    "customer_name": customer.name.split()[0],
                    "customer_tier": customer.tier,
                    "verify_attempts": 0,
                }
            await guessing.failed(session, wanted, now)
        return self._failed(dispatcher, tracker, "utter_order_not_verified", {"order_number": None, "order_email": None})

    @staticmethod
    def _failed(
        dispatcher: CollectingDispatcher, tracker: Tracker, response: str, cleared: dict[str, Any]
    ) -> dict[str, Any]:
        """A wrong pair, or an answer that is no order number or email. After MAX_ATTEMPTS of
        them in a row the look-up ends with a way to a person, instead of asking forever."""
        attempts = int(float_slot(tracker, "verify_attempts") or 0) + 1
        if attempts >= MAX_ATTEMPTS:
            dispatcher.utter_message(response="utter_order_verification_failed")
            return {"order_number": UNVERIFIED, "order_email": UNVERIFIED, "order_verified": False,
                    "verify_attempts": 0}
        dispatcher.utter_message(response=response)
        return {**cleared, "order_verified": False, "verify_attempts": attempts}

    @validation.answered_only
    async def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = validation.order_number(value)
        if number is None:
            question = validation.question_asked(tracker.latest_message, domain.get("responses") or {})
            if question:  # answered, then asked again; not a failed attempt
                dispatcher.utter_message(response=question)
                return {"order_number": None, "order_verified": False}
            return self._failed(dispatcher, tracker, "utter_order_number_invalid", {"order_number": None})
        email = validation.email(tracker.get_slot("order_email"))
        if email and "order_email" not in tracker.slots_to_validate():
            return await self._verify(number, email, dispatcher, tracker)
        return {"order_number": number, "order_verified": False}

    @validation.answered_only
    async def validate_order_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = validation.email(value)
        if email is None:
            question = validation.question_asked(tracker.latest_message, domain.get("responses") or {})
            if question:
                dispatcher.utter_message(response=question)
                return {"order_email": None}
            return self._failed(dispatcher, tracker, "utter_email_invalid", {"order_email": None})
        number = validation.order_number(tracker.get_slot("order_number"))
        if number is None:
            return {"order_email": email}
        return await self._verify(number, email, dispatcher, tracker)

    @validation.answered_only
    async def validate_cancel_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"cancel_confirmed": bool(value) if value is not None else None}


class ActionAskOrderNumber(Action):
    """The look-up's first question. Feelings before facts: a customer who is upset about
    their order hears that first ("where is my parcel, this is ridiculous")."""

    def name(self) -> str:
        return "action_ask_order_lookup_form_order_number"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in ORDER_INTENTS:  # the message that opened the look-up, not a retry
            text = tracker.latest_message.get("text") or ""
            strength = "strong" if sentiment.mentions_leaving(text) else sentiment.level(sentiment.score(text))
            if strength != "neutral":
                dispatcher.utter_message(response=ORDER_EMPATHY[strength])
        dispatcher.utter_message(response="utter_ask_order_lookup_form_order_number")
        return []


class ActionAnswerOrder(Resources, Action):
    def name(self) -> str:
        return "action_answer_order"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet("cancel_confirmed", None)]
        number = tracker.get_slot("order_number")
        email = tracker.get_slot("order_email")
        if not tracker.get_slot("order_verified") or not number or not email:
            # Verification failed and the customer has been told; forget the attempt.
            return reset + [SlotSet("order_number", None), SlotSet("order_email", None)]
        request = tracker.get_slot("order_request") or "track_order"
        async with self.sessions.begin() as session:
            order = await repository.verified_order(session, number, email)
            if order is None:
                dispatcher.utter_message(response="utter_order_not_verified")
                return reset + [SlotSet("order_verified", False), SlotSet("order_number", None)]
            if (
                request == "cancel_order"
                and order.status == "processing"
                and tracker.get_slot("cancel_confirmed")
            ):
                await repository.cancel_order(session, order, now=self.now())
                self._say(dispatcher, "utter_cancel_done", order)
            else:
                self._say(dispatcher, self._response_for(request, order, tracker), order)
            return reset + [SlotSet("order_status", order.status)]

    @staticmethod
    def _response_for(request: str, order: Order, tracker: Tracker) -> str:
        status = order.status
        if status == "cancelled" and request != "track_refund":
            return "utter_order_is_cancelled"
        if request == "cancel_order":
            return {
                "processing": "utter_cancel_kept",
                "shipped": "utter_cancel_shipped",
            }.get(status, "utter_cancel_delivered")
        if request == "change_order":
            return "utter_change_order_processing" if status == "processing" else "utter_change_order_too_late"
        if request == "track_refund":
            return {
                "requested": "utter_refund_requested",
                "paid": "utter_refund_paid",
            }.get(order.refund_status or "", "utter_refund_none")
        if request == "get_invoice":
            return "utter_invoice_copy"
        if request == "check_invoice":
            return "utter_invoice_details"
        return {
            "processing": "utter_order_processing",
            "shipped": "utter_order_shipped",
        }.get(status, "utter_order_delivered")

    def _say(self, dispatcher: CollectingDispatcher, response: str, order: Order) -> None:
        """Every response gets every value, so no reply is ever left with a blank {name}."""
        company = self.company
        dispatcher.utter_message(
            response=response,
            order_number=order.number,
            order_summary=order.items,
            order_state="been delivered" if order.status == "delivered" else "shipped",
            carrier=order.carrier or "our carrier",
            tracking_code=order.tracking_code or "not available yet",
            eta=day(order.estimated_delivery, company),
            delivered_on=day(order.delivered_at, company),
            cancelled_on=day(order.cancelled_at, company),
            requested_on=day(order.refund_requested_at, company),
            paid_on=day(order.refund_paid_at, company),
            amount=money(order.refund_cents or order.total_cents, order.currency),
            invoice_number=order.invoice_number or "",
            invoice_date=day(order.placed_at, company),
            payment_method=order.payment_method,
        )
