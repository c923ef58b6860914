"""The model calls both APIs and the warmup replay share: a signature looked up by name and run on
numpy inputs in TensorFlow, with TF Serving's errors."""

import re

from .errors import ServingError, code_name


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
        # Eager prefixes the runtime's message with "Graph execution error", a Python traceback and
        # a blank line, and appends " [Op:…]"; TF Serving returns only the runtime's own text.
        message = re.sub(r" \[Op:[^\]]*\]$", "", err.message.split("\n\n")[-1])
        raise ServingError(code_name(err.error_code), message)
    except (ValueError, TypeError) as err:
        raise ServingError("INVALID_ARGUMENT", str(err).strip().split("\n")[0])
    return {k: v.numpy() for k, v in outputs.items()}
