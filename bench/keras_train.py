"""Keras reference for `npm run bench:train`: the tutorial's model, trained on the same IDX files
with the same hyperparameters, timed per epoch. Prints one JSON object on stdout."""
import argparse
import json
import os
import resource
import time

import numpy as np


def read_idx(path, header):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(a.seed)
    d = a.data_dir
    x_train = read_idx(f"{d}/train-images-idx3-ubyte", 16).reshape(-1, 28, 28) / 255.0
    y_train = read_idx(f"{d}/train-labels-idx1-ubyte", 8)
    x_test = read_idx(f"{d}/t10k-images-idx3-ubyte", 16).reshape(-1, 28, 28) / 255.0
    y_test = read_idx(f"{d}/t10k-labels-idx1-ubyte", 8)

    model = tf.keras.models.Sequential([
        tf.keras.Input(shape=(28, 28)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=tf.keras.optimizers.Adam(a.learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    epoch_seconds = []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.t)

    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=a.epochs, batch_size=a.batch_size, verbose=0, callbacks=[Timer()])
    total = time.perf_counter() - start
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({
        "trainer": "keras",
        "backend": f"tensorflow {tf.__version__}",
        "epochSeconds": epoch_seconds,
        "secondsPerEpoch": sum(epoch_seconds) / len(epoch_seconds),
        "setupSeconds": total - sum(epoch_seconds),
        "totalSeconds": total,
        "testAccuracy": acc,
        "testLoss": loss,
        # ru_maxrss is in kilobytes on Linux.
        "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
