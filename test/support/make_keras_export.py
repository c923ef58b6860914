"""Exports a Keras rebuild of a tfjs model with Keras' own `model.export()`.

Usage: make_keras_export.py SPEC_JSON OUT_DIR

SPEC_JSON and its weights file come from test/support/keras.ts. OUT_DIR must not exist.
The result is the SavedModel a Python user would hand us; the conformance suite validates and
packages it with model/sources/fromDisk.ts, and the graph benchmark times it against our writer's.
"""

import os
import sys

# No __pycache__ beside our sources: the repository would pick it up.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tf_support import build_keras_model  # noqa: E402


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: make_keras_export.py SPEC_JSON OUT_DIR")
    spec_file, out_dir = argv[1], argv[2]
    if os.path.exists(out_dir):
        sys.exit("%s already exists; expected a fresh path" % out_dir)
    model = build_keras_model(spec_file)
    model.export(out_dir, verbose=False)
    print("keras export written to %s" % out_dir)


if __name__ == "__main__":
    main(sys.argv)
