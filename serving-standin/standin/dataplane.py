"""The model calls both APIs and the warmup replay share: a signature looked up by name and run on
numpy inputs in TensorFlow, with TF Serving's errors."""

import re

from .errors import ServingError, code_name

# What TensorFlow's Python wraps around the runtime's message when a function call fails
# (InterpolateRuntimeError in tensorflow/python/eager/polymorphic_function/atomic_function.py):
# "Graph execution error:", a blank line, then for each node of the error "Detected at node N
# defined at (most recent call last):" and its Python frames, or "<stack traces unavailable>" when
# the SavedModel kept none, each element ended by a newline. TF Serving's Session::Run has none of it.
PYTHON_INTERPOLATION = re.compile(
    r"^Graph execution error:\n\n"
    r"(?:Detected at node .* defined at \(most recent call last\):\n"
    r"(?:<stack traces unavailable>\n|(?:  File .*\n(?: {4}.*\n)*\n)*))*"
)
# What eager execution appends to the message: the operation or function it ran.
EAGER_OP_SUFFIX = re.compile(r" \[Op:[^\]]*\]$")


def signature_of(version, signature_name):
    """The SignatureDef a request names, or TF Serving's error for an unknown one."""
    if signature_name not in version.signature_defs:
        raise ServingError(
            "INVALID_ARGUMENT", f'Serving signature name: "{signature_name}" not found in signature def'
        )
    return version.signature_defs[signature_name]


def run_signature(version, signature_name, arrays):
    """Runs a signature on numpy inputs by key; its outputs as numpy arrays, or a ServingError. REST,
    gRPC and the warmup replay all predict through here."""
    import tensorflow as tf

    signature = signature_of(version, signature_name)
    missing = [k for k in signature.inputs if k not in arrays]
    extra = [k for k in arrays if k not in signature.inputs]
    if missing or extra:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input keys {sorted(arrays)} do not match the signature's {sorted(signature.inputs)}",
        )
    function = version.loaded.signatures[signature_name]
    try:
        tensors = {
            k: tf.constant(a, dtype=tf.dtypes.as_dtype(signature.inputs[k].dtype)) for k, a in arrays.items()
        }
        outputs = function(**tensors)
    except tf.errors.OpError as err:
        # TF Serving returns only the runtime's own text.
        message = EAGER_OP_SUFFIX.sub("", PYTHON_INTERPOLATION.sub("", err.message))
        raise ServingError(code_name(err.error_code), message)
    except (ValueError, TypeError) as err:
        raise ServingError("INVALID_ARGUMENT", str(err).strip().split("\n")[0])
    return {k: v.numpy() for k, v in outputs.items()}
