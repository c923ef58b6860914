"""The model repository: one model's version directory found by polling, loaded with its warmup,
and looked up by version or label as TF Serving's manager does (`basic_manager.cc`,
`get_model_status_impl.cc`)."""

import os
import threading
import time

from .errors import ServingError
from .log import log
from .warmup import replay_warmup


class Version:
    """One version directory and its lifecycle: START, LOADING, then AVAILABLE or END."""

    def __init__(self, number, path):
        self.number = number
        self.path = path
        self.state = "START"
        self.error_code = "OK"
        self.error_message = ""
        self.loaded = None
        self.signature_defs = None


def serve_meta_graph(path):
    """The MetaGraphDef tagged exactly `serve` in the version's saved_model.pb, whose SignatureDefs
    TF Serving reports and checks requests against."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    serve = [m for m in proto.meta_graphs if list(m.meta_info_def.tags) == ["serve"]]
    if not serve:
        raise ValueError("no meta graph tagged exactly 'serve'")
    return serve[0]


class ModelRepository:
    """One model's served version, loaded as TF Serving's manager does."""

    def __init__(self, name, base_path, labels, warmup):
        self.name = name
        self.warmup = warmup
        self.base_path = base_path
        self.labels = labels
        self.lock = threading.Lock()
        self.versions = {}

    def wait_for_latest(self, poll_seconds=1.0):
        """Polls like FileSystemStoragePathSource until a numeric version directory exists; the
        highest one becomes the only version (the default `latest` policy serves one)."""
        polls = 0
        while True:
            try:
                numbers = [int(e) for e in os.listdir(self.base_path) if e.isdigit()]
                missing = None
            except OSError as err:
                numbers, missing = [], err.strerror
            if numbers:
                number = max(numbers)
                with self.lock:
                    self.versions[number] = Version(number, os.path.join(self.base_path, str(number)))
                return self.versions[number]
            if polls % 60 == 0:  # TF Serving repeats this every poll; once a minute is enough here
                if missing:
                    log(f"base path {self.base_path} of servable {self.name}: {missing}; polling")
                else:
                    log(
                        f"No versions of servable {self.name} found under base path {self.base_path}. "
                        "Did you forget to name your leaf directory as a number (eg. '/1/')?"
                    )
            polls += 1
            time.sleep(poll_seconds)

    def load(self, delay):
        """Finds and loads the version; returns it, AVAILABLE or END with its error."""
        version = self.wait_for_latest()
        time.sleep(delay)
        with self.lock:
            version.state = "LOADING"
        log(f"Loading servable: {{name: {self.name} version: {version.number}}}")
        import tensorflow as tf  # Imported here so a port opened before loading answers at once.

        try:
            meta_graph = serve_meta_graph(version.path)
            loaded = tf.saved_model.load(version.path, tags=["serve"])
            version.signature_defs = meta_graph.signature_def
            version.loaded = loaded
            if self.warmup:
                replay_warmup(version)
            with self.lock:
                version.state = "AVAILABLE"
            log(f"Successfully loaded servable version {{name: {self.name} version: {version.number}}}")
        except Exception as err:  # A failed load ends the version with its error, as TF Serving does.
            with self.lock:
                version.state = "END"
                version.error_code = "INVALID_ARGUMENT"
                version.error_message = f"{type(err).__name__}: {err}"
            log(f"version {version.number} failed to load: {err}")
        return version

    def resolve(self, name, version, label):
        """The requested version number (None for latest), or an error for an unknown label."""
        if label is None:
            return None if version is None else int(version)
        number = self.labels.get(label) if name == self.name else None
        if number is None:
            raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
        return number

    def status(self, name, number):
        """GetModelStatusResponse as the REST API prints it: the versions asked for, or NOT_FOUND."""
        with self.lock:
            known = list(self.versions.values()) if name == self.name else []
            chosen = known if number is None else [v for v in known if v.number == number]
            if not chosen:
                if number is None:
                    raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
                raise ServingError("NOT_FOUND", f"Could not find version {number} of model {name}")
            return {
                "model_version_status": [
                    {
                        "version": str(v.number),
                        "state": v.state,
                        "status": {"error_code": v.error_code, "error_message": v.error_message},
                    }
                    for v in chosen
                ]
            }

    def servable(self, name, number):
        """The AVAILABLE version a metadata or predict call reaches (basic_manager.cc's lookup)."""
        with self.lock:
            available = [v for v in self.versions.values() if v.state == "AVAILABLE"] if name == self.name else []
        if number is None:
            found = max(available, key=lambda v: v.number, default=None)
            request = f"Latest({name})"
        else:
            found = next((v for v in available if v.number == number), None)
            request = f"Specific({name}, {number})"
        if found is None:
            raise ServingError("NOT_FOUND", f"Servable not found for request: {request}")
        return found
