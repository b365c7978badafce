"""When the database fails, the customer gets a polite answer, never silence or a traceback."""
import logging

from caredesk.db.session import make_engine, make_sessions
from actions.handoff import ActionHandoff
from actions.orders import ValidateOrderLookupForm
from caredesk.settings import async_database_url
from actions.tickets import ActionSubmitComplaint
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.test_tickets import COMPLAINT
from tests.actions.trackers import responses, tracker


async def test_a_broken_database_gets_an_apology_and_a_log_line(tmp_path, company, domain, caplog) -> None:
    # A database file without CareDesk's tables: every query fails.
    engine = make_engine(async_database_url(f"sqlite:///{tmp_path / 'empty.db'}"))
    broken = make_sessions(engine)
    try:
        caplog.set_level(logging.ERROR, logger="actions.base")
        # The hand-off reads the database only to check a ticket the customer named.
        for action in (ActionSubmitComplaint(sessions=broken, company=company),
                       ActionHandoff(sessions=broken, company=company)):
            dispatcher = CollectingDispatcher()
            slots = {**COMPLAINT, "ticket_number": "CD-100001"}
            events = await action.run(dispatcher, tracker("yes", "affirm", slots=slots, sender_id="c-broken"), domain)
            assert responses(dispatcher) == ["utter_technical_problem"], action.name()
            assert events == [FollowupAction("action_listen")], "asks nothing more after a failure"

        dispatcher = CollectingDispatcher()
        t = tracker("maria.lopez@example.com", slots={"order_number": "10005533"},
                    extracted={"order_email": "maria.lopez@example.com"}, active_loop="order_lookup_form")
        assert await ValidateOrderLookupForm(sessions=broken).run(dispatcher, t, domain) == []
        assert responses(dispatcher) == ["utter_technical_problem"]
    finally:
        await engine.dispose()
    failures = [r for r in caplog.records if "c-broken" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures)


def test_rasas_own_fallback_has_a_reply(domain) -> None:
    """When the dialogue policies are unsure, Rasa runs action_default_fallback (config.yml),
    which sends utter_default: without it the customer would get silence."""
    import yaml

    from caredesk.settings import PROJECT_ROOT

    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    [rule_policy] = [p for p in config["policies"] if p["name"] == "RulePolicy"]
    assert rule_policy["core_fallback_action_name"] == "action_default_fallback"
    [reply] = domain["responses"]["utter_default"]
    assert reply["text"] and "/contact_human_agent" in [b["payload"] for b in reply["buttons"]]
