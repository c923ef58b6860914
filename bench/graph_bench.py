"""Times TensorFlow inference of two SavedModels of the same weights, as TF Serving runs them.

Usage: graph_bench.py OURS_DIR KERAS_DIR RESULTS_JSON

Both load through the C API (TF_LoadSessionFromSavedModel) and run with TF_SessionRun, the
Session::Run path TF Serving's predict takes. Compared like for like: our `keras` signature and
Keras' `serving_default` both take 0-1 inputs and return logits. Our `serving_default` (which
also scales 0-255 pixels in the graph) is timed too. Rounds alternate between the models so
drift in machine load hits both; each figure is the median of single-call times.
"""

import json
import os
import statistics
import sys
import time

# No __pycache__ beside our sources: the repository would pick it up.
sys.dont_write_bytecode = True
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "support"))

import numpy as np  # noqa: E402

from tf_support import CApiModel  # noqa: E402

BATCHES = {1: {"rounds": 20, "calls": 25}, 1000: {"rounds": 10, "calls": 5}}
WARMUP_CALLS = 10


def single_input(model, signature):
    sig = model.meta_graph.signature_def[signature]
    (key,) = sig.inputs.keys()
    return key


def main(argv):
    ours_dir, keras_dir, results_file = argv[1], argv[2], argv[3]
    ours = CApiModel(ours_dir)
    keras = CApiModel(keras_dir)
    contenders = {
        "ours_keras_signature": (ours, "keras", 1.0),
        "keras_export": (keras, "serving_default", 1.0),
        "ours_serving_default": (ours, "serving_default", 255.0),
    }
    prepared = {name: (m, sig, m.prepare(sig), single_input(m, sig), scale)
                for name, (m, sig, scale) in contenders.items()}
    rng = np.random.default_rng(0)
    results = {}
    for batch, plan in BATCHES.items():
        unit = rng.random((batch, 28, 28), dtype=np.float32)
        times = {name: [] for name in prepared}
        outputs = {}
        for name, (m, sig, prep, key, scale) in prepared.items():
            feeds = {key: unit * scale}
            for _ in range(WARMUP_CALLS):
                out = m.run(sig, feeds, prep)
            outputs[name] = next(iter(out.values()))
        for _ in range(plan["rounds"]):
            for name, (m, sig, prep, key, scale) in prepared.items():
                feeds = {key: unit * scale}
                for _ in range(plan["calls"]):
                    start = time.perf_counter()
                    m.run(sig, feeds, prep)
                    times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) * 1000 for name, t in times.items()}
        diff = float(np.abs(outputs["ours_keras_signature"] - outputs["keras_export"]).max())
        results[str(batch)] = {
            "calls": len(times["keras_export"]),
            "medianMs": med,
            "ratio": med["keras_export"] / med["ours_keras_signature"],
            "ratioServingDefault": med["keras_export"] / med["ours_serving_default"],
            "maxAbsDiffOursVsKeras": diff,
        }
        print("batch %4d: ours %.3f ms, keras export %.3f ms, ratio %.2f "
              "(ours serving_default %.3f ms, ratio %.2f); outputs differ by %.2g" % (
                  batch, med["ours_keras_signature"], med["keras_export"],
                  results[str(batch)]["ratio"], med["ours_serving_default"],
                  results[str(batch)]["ratioServingDefault"], diff), flush=True)
    ours.close()
    keras.close()
    import tensorflow as tf
    with open(results_file, "w") as f:
        json.dump({"tensorflow": tf.__version__, "batches": results}, f, indent=2)


if __name__ == "__main__":
    main(sys.argv)
