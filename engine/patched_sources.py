"""The Rasa that engine/speedups.py was written and checked against: its version, and the
SHA-256 of the source of every Rasa function it replaces, wraps or follows step by step, and
of every Rasa module whose `copy` it swaps (the fix relies on how the whole module uses it).

engine/startup.py compares these with the Rasa installed before it installs anything, so
this module imports nothing. When Rasa is upgraded, read each changed function against its
fix, run tests/engine, then record the new values (`engine.startup.source_fingerprint`)."""
from __future__ import annotations

TESTED_RASA = "3.6.21"

WRITTEN_AGAINST: dict[str, str] = {
    # replaced
    "rasa.core.actions.action.RemoteAction._validate_action_result":
        "f8cdb4be6812396167ced74161b2ccd65c5ea676ad86d7d359d8c322d9d8dc42",
    "rasa.utils.endpoints.EndpointConfig.request":
        "ccdb778aed8208e23cde3c3f47eac7fbbbb735dac8f7ef7254d54451c64ad608",
    "rasa.engine.runner.dask.DaskGraphRunner.run":
        "45f0f52f574f3aa9546a552bf671183e171092c18b66e97f5771a7fa295de37e",
    "rasa.shared.core.trackers.DialogueStateTracker.past_states":
        "5463eefb5c69d27f82cdc7eca84e23b4b82851e9a5ff575bd02447d4d987103b",
    "rasa.shared.core.trackers.DialogueStateTracker.applied_events":
        "764d5065ea9997d613c1984d9357370f9ae32d31ca21346086f16c54f0487aae",
    # followed step by step (engine/states.py replays its loop)
    "rasa.shared.core.domain.Domain.states_for_tracker_history":
        "035111ce73ac90ba50e143abf556f924af07d9f452893f5a96a62895d44df8b7",
    # replaced
    "rasa.shared.core.events.Event.resolve_by_type":
        "b5cf570fa7f286c7059ec73d8880528d03a78b28cf4e80285a46079c0fa65968",
    "rasa.shared.nlu.training_data.message.Message._combine_features":
        "6f88fa43154948bd3f5285324dcba76bf4f80a4a8632a02dff16cd0b0f9631fa",
    "rasa.utils.tensorflow.models.RasaModel._rasa_predict":
        "7f745b0f9cb647c9df9e5b04b318a7b93709daf9460bad4373970c6cf9f04d8f",
    "rasa.core.policies.rule_policy.RulePolicy._get_possible_keys":
        "2915fd81711e194c6d667728e00bd0e51e9c1c2791a0be14c55f0ef9938f9936",
    # wrapped (engine/memory.py)
    "rasa.core.agent.Agent.load_model":
        "f4c1ab4c5c7af6349384fc0a2d3a1cffdc5f277f08378d07fd0cd247cd4d5fa7",
    # modules whose `copy` is swapped
    "rasa.core.processor":
        "f42dfbf26e2ffcb66e08cf4180d1de1cce2a8f59389d5d3b4ea12a95b1f186dd",
    "rasa.core.policies.memoization":
        "e4519f1a04ecdcce2241f5bd01f33b0b886d8a2136329da104946acaff31b775",
    "rasa.core.policies.rule_policy":
        "952d1a13906511ac9b8d1c3dcd27148b24bbcd6610ebb13bff23f2fb1667b2b5",
    "rasa.core.actions.forms":
        "7cb6c30550116597a43e0139b3d0c3507e4a1a900d72a5eae8b818aa19647dd7",
    "rasa.shared.core.trackers":
        "33eababde59f2ef873e27bd13cfd7842e1e2df07e09f17ebd6521d323a547e50",
}
