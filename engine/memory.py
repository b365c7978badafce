"""Garbage collection pauses in the Rasa process.

A Rasa process with the trained bot loaded holds about 740,000 objects that Python's cyclic
garbage collector tracks, most of them the model: TensorFlow's and numpy's wrappers, the
domain, the rule policy's lookup. A full collection walks every one of them with the event
loop stopped. Under load that happened several times a minute and took 420-440 ms each time
(measured with `gc.callbacks` at 150 typing customers): the longest pauses in the process,
landing on whichever customers were waiting.

The model's objects live as long as the model, so once it is loaded they are frozen
(`gc.freeze()`): later collections skip them and walk only what changes, the conversations.
Loading another model (Rasa's model API) unfreezes first, so the old model can be collected."""
from __future__ import annotations

import functools
import gc
from typing import Any, Callable


def freezing_after(load_model: Callable[..., Any]) -> Callable[..., Any]:
    """`Agent.load_model`, then the loaded model's objects moved out of the collector's way."""

    @functools.wraps(load_model)
    def load_and_freeze(self: Any, *args: Any, **kwargs: Any) -> Any:
        gc.unfreeze()  # a model loaded before becomes collectable again
        try:
            return load_model(self, *args, **kwargs)
        finally:
            gc.collect()  # only what survives a collection is frozen
            gc.freeze()

    return load_and_freeze
