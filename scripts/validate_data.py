"""`rasa data validate --fail-on-warnings`, with one blind spot of Rasa 3.6 fixed.

Rasa's check "utterance X is not used in any story or rule" only looks at stories and rules,
so it flags every form question (utter_ask_*) and every response a custom action sends. Here
those count as used: form questions of required slots, responses named in actions/*.py and
bot/*.py (the gateway's own lines), and `utter_default`, which Rasa's own
action_default_fallback sends (the core fallback in config.yml).
In exchange this check is stricter: a response named in actions/ that the domain lacks is an
error. Every other check is Rasa's own. Rasa 3.6 does not fail on all of its own warnings
(its "ignore_warnings" logic is inverted for some checks), so this script records every
warning and fails on any, except one that Rasa 3.6.21 raises for every domain with slots
("Slot auto-fill has been removed", emitted unconditionally).
Run with the Rasa environment: .venv-rasa/bin/python scripts/validate_data.py
"""
from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Set, Text

ROOT = Path(__file__).resolve().parent.parent
RESPONSE_IN_CODE = re.compile(r"""["'](utter_[a-z0-9_]*[a-z0-9])["']""")
ALWAYS_RAISED_BY_RASA = "Slot auto-fill has been removed in 3.0"


def responses_named_in_actions() -> Set[Text]:
    names: Set[Text] = set()
    for path in [*(ROOT / "actions").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]:
        names.update(RESPONSE_IN_CODE.findall(path.read_text(encoding="utf-8")))
    return names


def main() -> int:
    import rasa.cli.utils
    import rasa.shared.utils.io
    import rasa.validator
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.importers.importer import TrainingDataImporter

    used_by_actions = responses_named_in_actions()

    class Validator(rasa.validator.Validator):
        def _used_outside_stories(self) -> Set[Text]:
            asked = set()
            for form in self.domain.form_names:
                for slot in self.domain.required_slots_for_form(form):
                    asked |= {f"utter_ask_{slot}", f"utter_ask_{form}_{slot}"}
            return asked | used_by_actions | {"utter_default"}

        def verify_utterances_in_stories(self, ignore_warnings: bool = True) -> bool:
            defined = self._gather_utterance_actions()
            in_stories = {
                event.action_name
                for story in self.story_graph.story_steps
                for event in story.events
                if isinstance(event, ActionExecuted)
                and event.action_name
                and event.action_name.startswith("utter_")
            }
            problems = [
                f"The action '{name}' is used in the stories, but no response defines it."
                for name in sorted(in_stories - defined)
            ] + [
                f"The utterance '{name}' is not used in any story, rule, form or action."
                for name in sorted(defined - in_stories - self._used_outside_stories())
            ] + [
                f"The response '{name}' is used in actions/ but not defined in the domain."
                for name in sorted(used_by_actions - set(self.domain.responses))
            ]
            for problem in problems:
                rasa.shared.utils.io.raise_warning(problem)
            return not problems

    rasa.validator.Validator = Validator  # type: ignore[misc]
    importer = TrainingDataImporter.load_from_config(
        config_path=str(ROOT / "config.yml"),
        domain_path=str(ROOT / "domain.yml"),
        training_data_paths=[str(ROOT / "data")],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rasa.cli.utils.validate_files(
                fail_on_warnings=True, max_history=None, importer=importer
            )
        finally:
            problems = [
                str(w.message)
                for w in caught
                if issubclass(w.category, UserWarning)
                and not issubclass(w.category, (DeprecationWarning, FutureWarning))
                and not str(w.message).startswith(ALWAYS_RAISED_BY_RASA)
            ]
            for problem in problems:
                print(f"WARNING: {problem}", file=sys.stderr)
    if problems:
        print(f"Validation failed: {len(problems)} warning(s).", file=sys.stderr)
        return 1
    print("Validation passed: no errors, no warnings.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
