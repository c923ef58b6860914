"""Trains a small MNIST classifier with Keras itself and exports it as TF Serving lays models out.

Usage: make_keras_mnist.py KIND MNIST_DIR BASE_DIR VERSION [WEIGHTS_FILE]

KIND is one of:
  mlp     Flatten-Dense-Dense, trained on pixels / 255: its signature takes 0-1.
  cnn     Reshape-Rescaling(1/255)-Conv2D-MaxPool-Dense, trained on raw pixels: it takes 0-255.
  random  the mlp's layers with their initial (random) weights: a model the gate must stop.

The export is BASE_DIR/VERSION, written by Keras' own `model.export()`: the models a user
brings, which the suites do not train themselves. With WEIGHTS_FILE, the trained weights are also
written there, little-endian float32 layer by layer (kernel, then bias), for test/support/
broughtModels.ts to load into a tfjs model of the same layers. Prints one line with the Keras test
accuracy.
"""

import os
import sys

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402


def read_idx(path, header):
    with open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=header)


def load(mnist_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(mnist_dir, "%s-images-idx3-ubyte" % prefix), 16)
    labels = read_idx(os.path.join(mnist_dir, "%s-labels-idx1-ubyte" % prefix), 8)
    return images.reshape(-1, 28, 28).astype("float32"), labels.astype("int64")


def build(kind, keras):
    inputs = keras.Input(shape=(28, 28), name="images")
    if kind == "cnn":
        x = keras.layers.Reshape((28, 28, 1))(inputs)
        # The model's own scaling: callers send intensities 0-255.
        x = keras.layers.Rescaling(1.0 / 255)(x)
        x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Flatten()(x)
    else:
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="brought_%s" % kind)


def main(argv):
    if len(argv) not in (5, 6) or argv[1] not in ("mlp", "cnn", "random"):
        sys.exit("usage: make_keras_mnist.py mlp|cnn|random MNIST_DIR BASE_DIR VERSION [WEIGHTS_FILE]")
    kind, mnist_dir, base_dir, version = argv[1:5]
    import keras

    keras.utils.set_random_seed(1)
    model = build(kind, keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_train, y_train = load(mnist_dir, "train")
    x_test, y_test = load(mnist_dir, "test")
    # What the model is trained on is what it takes: the mlp 0-1, the cnn raw pixels.
    scale = 1.0 / 255 if kind != "cnn" else 1.0
    if kind != "random":
        model.fit(x_train[:20000] * scale, y_train[:20000], epochs=1, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test * scale, y_test, verbose=0)
    model.export(os.path.join(base_dir, version), verbose=False)
    if len(argv) == 6:
        weights = [w.astype("<f4").ravel() for w in model.get_weights()]
        np.concatenate(weights).tofile(argv[5])
    print("keras %s: test accuracy %.4f, exported to %s/%s" % (kind, accuracy, base_dir, version))


if __name__ == "__main__":
    main(sys.argv)
