"""Shared helpers for the conformance suite and the graph benchmark.

- CApiModel: loads a SavedModel through TensorFlow's C API (TF_LoadSessionFromSavedModel, the
  loader TF Serving's C++ code also uses) via ctypes on the wheel's libtensorflow_cc.so.2, and
  runs a signature with TF_SessionRun.
- parse_show_all: reads the text `saved_model_cli show --all` prints into a dict.
- build_keras_model: rebuilds a Dense/Flatten/Dropout chain in Keras from a spec and weights
  written by test/conformance/keras.ts, for Keras' own `model.export()`.
"""

import ctypes
import importlib.util
import json
import os
import re

# Quiet TensorFlow's C++ logging before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TF_FLOAT = 1  # DataType DT_FLOAT (types.proto); TF_DataType uses the same numbers.


class _Buffer(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("length", ctypes.c_size_t),
        ("data_deallocator", ctypes.c_void_p),
    ]


class _Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def tensorflow_dir():
    """The installed tensorflow package directory, found without importing tensorflow."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the tensorflow package is not installed in this Python")
    return list(spec.submodule_search_locations)[0]


def _load_c_api():
    path = os.path.join(tensorflow_dir(), "libtensorflow_cc.so.2")
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    p, i, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    sigs = {
        "TF_NewGraph": ([], p),
        "TF_DeleteGraph": ([p], None),
        "TF_NewSessionOptions": ([], p),
        "TF_DeleteSessionOptions": ([p], None),
        "TF_NewStatus": ([], p),
        "TF_DeleteStatus": ([p], None),
        "TF_GetCode": ([p], i),
        "TF_Message": ([p], ctypes.c_char_p),
        "TF_NewBuffer": ([], ctypes.POINTER(_Buffer)),
        "TF_DeleteBuffer": ([ctypes.POINTER(_Buffer)], None),
        "TF_LoadSessionFromSavedModel": (
            [p, p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), i, p,
             ctypes.POINTER(_Buffer), p],
            p,
        ),
        "TF_GraphOperationByName": ([p, ctypes.c_char_p], p),
        "TF_AllocateTensor": ([i, ctypes.POINTER(ctypes.c_int64), i, s], p),
        "TF_TensorData": ([p], p),
        "TF_TensorByteSize": ([p], s),
        "TF_TensorType": ([p], i),
        "TF_NumDims": ([p], i),
        "TF_Dim": ([p, i], ctypes.c_int64),
        "TF_DeleteTensor": ([p], None),
        "TF_SessionRun": (
            [p, p, ctypes.POINTER(_Output), ctypes.POINTER(p), i, ctypes.POINTER(_Output),
             ctypes.POINTER(p), i, p, i, p, p],
            None,
        ),
        "TF_CloseSession": ([p, p], None),
        "TF_DeleteSession": ([p, p], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


_lib = None


def c_api():
    """The C API library, loaded once."""
    global _lib
    if _lib is None:
        _lib = _load_c_api()
    return _lib


class CApiModel:
    """A SavedModel loaded with TF_LoadSessionFromSavedModel; `run` executes one signature."""

    def __init__(self, export_dir, tags=("serve",)):
        from tensorflow.core.protobuf import meta_graph_pb2

        lib = c_api()
        self._lib = lib
        self._status = lib.TF_NewStatus()
        self._graph = lib.TF_NewGraph()
        opts = lib.TF_NewSessionOptions()
        meta = lib.TF_NewBuffer()
        tag_array = (ctypes.c_char_p * len(tags))(*[t.encode() for t in tags])
        self._session = lib.TF_LoadSessionFromSavedModel(
            opts, None, export_dir.encode(), tag_array, len(tags), self._graph, meta,
            self._status)
        lib.TF_DeleteSessionOptions(opts)
        self._check("TF_LoadSessionFromSavedModel(%s)" % export_dir)
        raw = ctypes.string_at(meta.contents.data, meta.contents.length)
        lib.TF_DeleteBuffer(meta)
        # The MetaGraphDef the C loader read: signatures come from it, not from our own files.
        self.meta_graph = meta_graph_pb2.MetaGraphDef.FromString(raw)

    def _check(self, what):
        code = self._lib.TF_GetCode(self._status)
        if code != 0:
            raise RuntimeError("%s failed with code %d: %s" % (
                what, code, self._lib.TF_Message(self._status).decode()))

    def _output(self, tensor_name):
        op, _, index = tensor_name.partition(":")
        oper = self._lib.TF_GraphOperationByName(self._graph, op.encode())
        if not oper:
            raise RuntimeError("no operation %r in the loaded graph" % op)
        return _Output(oper, int(index or 0))

    def prepare(self, signature_key):
        """Resolves a signature's input and output operations once, for repeated runs."""
        sig = self.meta_graph.signature_def[signature_key]
        in_keys = sorted(sig.inputs)
        out_keys = sorted(sig.outputs)
        inputs = (_Output * len(in_keys))(*[self._output(sig.inputs[k].name) for k in in_keys])
        outputs = (_Output * len(out_keys))(*[self._output(sig.outputs[k].name) for k in out_keys])
        return in_keys, inputs, out_keys, outputs

    def run(self, signature_key, feeds, prepared=None):
        """Runs `signature_key` on float32 arrays keyed like the signature's inputs."""
        lib = self._lib
        in_keys, inputs, out_keys, outputs = prepared or self.prepare(signature_key)
        tensors = []
        for key in in_keys:
            arr = np.ascontiguousarray(feeds[key], dtype=np.float32)
            dims = (ctypes.c_int64 * arr.ndim)(*arr.shape)
            t = lib.TF_AllocateTensor(TF_FLOAT, dims, arr.ndim, arr.nbytes)
            ctypes.memmove(lib.TF_TensorData(t), arr.ctypes.data, arr.nbytes)
            tensors.append(t)
        in_values = (ctypes.c_void_p * len(tensors))(*tensors)
        out_values = (ctypes.c_void_p * len(out_keys))()
        lib.TF_SessionRun(self._session, None, inputs, in_values, len(tensors), outputs,
                          out_values, len(out_keys), None, 0, None, self._status)
        for t in tensors:
            lib.TF_DeleteTensor(t)
        self._check("TF_SessionRun(%s)" % signature_key)
        result = {}
        for key, t in zip(out_keys, out_values):
            if lib.TF_TensorType(t) != TF_FLOAT:
                raise RuntimeError("output %s is not DT_FLOAT" % key)
            shape = [lib.TF_Dim(t, d) for d in range(lib.TF_NumDims(t))]
            size = lib.TF_TensorByteSize(t)
            buf = ctypes.string_at(lib.TF_TensorData(t), size)
            result[key] = np.frombuffer(buf, dtype=np.float32).reshape(shape).copy()
            lib.TF_DeleteTensor(t)
        return result

    def close(self):
        if self._session:
            self._lib.TF_CloseSession(self._session, self._status)
            self._lib.TF_DeleteSession(self._session, self._status)
            self._session = None
        self._lib.TF_DeleteGraph(self._graph)
        self._lib.TF_DeleteStatus(self._status)


_SIG = re.compile(r"^signature_def\['(.+)'\]:$")
_TENSOR = re.compile(r"^(inputs|outputs)\['(.+)'\] tensor_info:$")
_TAGS = re.compile(r"^MetaGraphDef with tag-set: '(.*)' contains the following SignatureDefs:$")


def parse_show_all(text):
    """{tag_set: {signature: {method, inputs: {key: {dtype, shape, name}}, outputs: {...}}}}."""
    result = {}
    sigs = sig = tensor = None
    for raw in text.splitlines():
        line = raw.strip()
        m = _TAGS.match(line)
        if m:
            sigs = result.setdefault(m.group(1), {})
            continue
        m = _SIG.match(line)
        if m and sigs is not None:
            sig = sigs.setdefault(m.group(1), {"method": None, "inputs": {}, "outputs": {}})
            continue
        m = _TENSOR.match(line)
        if m and sig is not None:
            tensor = sig[m.group(1)].setdefault(m.group(2), {})
            continue
        if sig is not None and line.startswith("Method name is:"):
            sig["method"] = line.split(":", 1)[1].strip()
            tensor = None
            continue
        if tensor is not None:
            key, _, value = line.partition(":")
            if key == "dtype":
                tensor["dtype"] = value.strip()
            elif key == "name":
                tensor["name"] = value.strip()
            elif key == "shape":
                value = value.strip()
                if value == "unknown_rank":
                    tensor["shape"] = None
                else:
                    inner = value.strip("()").replace(" ", "")
                    tensor["shape"] = [int(d) for d in inner.split(",") if d]
    return result


def build_keras_model(spec_file):
    """A Keras Sequential rebuilt from the spec and weights test/conformance/keras.ts writes."""
    import keras

    with open(spec_file) as f:
        spec = json.load(f)
    weights = np.fromfile(os.path.join(os.path.dirname(spec_file), spec["weightsFile"]),
                          dtype="<f4")
    layers = [keras.Input(shape=tuple(spec["inputShape"]), name=spec.get("inputName", "images"))]
    to_set = []
    for layer in spec["layers"]:
        kind = layer["type"]
        if kind == "Flatten":
            layers.append(keras.layers.Flatten(name=layer["name"]))
        elif kind == "Dropout":
            layers.append(keras.layers.Dropout(layer["rate"], name=layer["name"]))
        elif kind == "Dense":
            dense = keras.layers.Dense(layer["units"], activation=layer["activation"],
                                       use_bias=layer["useBias"], name=layer["name"])
            layers.append(dense)
            values = []
            for w in layer["weights"]:
                n = int(np.prod(w["shape"]))
                values.append(weights[w["offset"]:w["offset"] + n].reshape(w["shape"]))
            to_set.append((dense, values))
        else:
            raise ValueError("layer type %r is not in the Keras spec subset" % kind)
    model = keras.Sequential(layers, name=spec.get("name", "model"))
    for layer, values in to_set:
        layer.set_weights(values)
    return model
