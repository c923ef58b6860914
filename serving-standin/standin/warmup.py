"""Warmup: the version's `assets.extra/tf_serving_warmup_requests` replayed at load, before the
version is AVAILABLE, as TF Serving's `saved_model_warmup_util.cc` does; a bad record fails the load."""

import os
import time

from .dataplane import run_signature
from .errors import ServingError
from .log import log
from .protos import message_class

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # kMaxNumRecords in saved_model_warmup_util.cc


def warmup_request(record):
    """The signature name and numpy inputs of one PredictionLog record's PredictRequest."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    try:
        prediction_log = message_class("PredictionLog").FromString(record)
    except DecodeError as err:
        raise ValueError(f"a warmup record is not a PredictionLog: {err}")
    if not prediction_log.HasField("predict_log"):
        raise ValueError("a warmup record holds no PredictLog; the stand-in replays Predict only")
    request = prediction_log.predict_log.request
    inputs = {key: tf.make_ndarray(tensor) for key, tensor in request.inputs.items()}
    return request.model_spec.signature_name or "serving_default", inputs


def replay_warmup(version):
    """Runs each warmup request as TF Serving does at load; any failure fails the load."""
    import tensorflow as tf

    path = os.path.join(version.path, WARMUP_FILE)
    if not os.path.exists(path):
        return
    started = time.monotonic()
    count = 0
    for record in tf.data.TFRecordDataset(path):  # TF's reader checks both CRCs of each record
        count += 1
        if count > MAX_WARMUP_RECORDS:
            raise ValueError(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
        signature_name, inputs = warmup_request(record.numpy())
        try:
            run_signature(version, signature_name, inputs)
        except ServingError as err:
            raise ValueError(f"warmup record {count} of {path}: {err.code}: {err.message}")
    micros = int((time.monotonic() - started) * 1e6)
    log(
        f"Finished reading warmup data for model at {path}. Number of warmup records read: {count}. "
        f"Elapsed time (microseconds): {micros}."
    )
