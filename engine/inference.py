"""The NLU's hot spots in a Rasa process: how a parse's features are put together, and how
DIET's TensorFlow graph is called. Both give exactly Rasa's results (the checks in
tests/engine/rasa_side.py compare every parse with Rasa as shipped)."""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
from keras.utils import tf_utils
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.training_data.features import Features
from rasa.utils.tensorflow.models import RasaModel
from tensorflow.python.framework import ops
from tensorflow.python.util import nest

_CONCRETE = "_caredesk_concrete"


def _hstack_coo(matrices: list[Any]) -> Any:
    """scipy's `hstack` of COO matrices, all at once: the same entries in the same order,
    dtype and index dtype (its `bmat`), without its block bookkeeping. Rasa stacks a parse's
    featurizers pairwise, six `hstack` calls per message that cost 6 % of the process."""
    from scipy.sparse import coo_matrix
    from scipy.sparse._sputils import get_index_dtype, upcast

    widths = [m.shape[1] for m in matrices]
    shape = (matrices[0].shape[0], sum(widths))
    index_dtype = get_index_dtype(maxval=max(shape))
    offsets = np.cumsum([0] + widths[:-1])
    data = np.concatenate([m.data for m in matrices]).astype(upcast(*(m.dtype for m in matrices)), copy=False)
    row = np.concatenate([m.row.astype(index_dtype, copy=False) for m in matrices])
    col = np.concatenate([np.add(m.col, offset, dtype=index_dtype) for m, offset in zip(matrices, offsets)])
    return coo_matrix((data, (row, col)), shape=shape)


def combine_features(features: list[Features], featurizers: list[str]) -> Features | None:
    """`Message._combine_features`, copying the first features' matrix instead of
    deep-copying the whole object (the same values, a third of the cost), and stacking
    sparse matrices in one go."""
    if len(features) > 1 and all(f.is_sparse() and f.features.format == "coo" for f in features) \
            and len({f.features.shape[0] for f in features}) == 1:
        combined = copy.copy(features[0])
        combined.features = _hstack_coo([f.features for f in features])
        combined.origin = featurizers
        combined._cached_fingerprint = None
        return combined
    combined: Features | None = None
    for feature in features:
        if combined is None:
            combined = copy.copy(feature)
            combined.features = feature.features.copy()
            combined.origin = featurizers
        else:
            combined.combine_with_features(feature)
    return combined


def rasa_predict(self: RasaModel, batch_in: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """`RasaModel._rasa_predict`, calling the graph's one concrete function directly. Rasa
    wraps `predict_step` in a `tf.function` with a fixed input signature, so there is only
    ever one graph; calling through the `tf.function`, and even through the concrete
    function's own `__call__`, matched each call's arguments against that signature again
    (about 10 % of the process). The arrays are converted exactly as TensorFlow converts them
    and checked against the signature the same way; anything unexpected takes TensorFlow's
    own path, which raises its own errors. The first call (and any run without a graph) goes
    through Rasa's code, which builds the graph."""
    function = self._tf_predict_step
    if self._run_eagerly or function is None or not self.prepared_for_prediction:
        return _RASAS_PREDICT(self, batch_in)
    kept = self.__dict__.get(_CONCRETE)
    if kept is None or kept[0] is not function:
        concrete = function.get_concrete_function()
        specs = tuple(nest.flatten(concrete.structured_input_signature[0], expand_composites=True))
        kept = self.__dict__[_CONCRETE] = (function, concrete, specs)
    _, concrete, specs = kept
    self._training = False
    outputs = tf_utils.sync_to_numpy_or_python_type(_call(concrete, specs, batch_in))
    if DIAGNOSTIC_DATA in outputs:
        outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
    return outputs


def _call(concrete: Any, specs: tuple[Any, ...], batch_in: tuple[np.ndarray, ...]) -> Any:
    if len(batch_in) == len(specs) and all(isinstance(value, np.ndarray) for value in batch_in):
        tensors = [ops.convert_to_tensor(value, dtype_hint=spec.dtype) for value, spec in zip(batch_in, specs)]
        if all(spec.is_compatible_with(tensor) for spec, tensor in zip(specs, tensors)):
            return concrete._call_flat(tensors, captured_inputs=concrete.captured_inputs)
    return concrete(batch_in)


_RASAS_PREDICT = RasaModel._rasa_predict
