/**
 * A quickly trained stand-in for the production classifier (3,000 images, one epoch, about 87%
 * test accuracy), for tests that need real predictions rather than a fixed function. It goes
 * through `trainModel`'s cache in a temp directory shared by the client suites, so only the
 * first suite of a run (or of a machine, until the temp directory is cleaned) pays for training.
 */
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { normalizePixels } from "../../model/training/data";
import { IMAGE_SIZE } from "../../model/savedmodel/contract";
import { TrainResult, trainModel } from "../../model/training/train";

/** Where the quick model is cached. */
export const QUICK_CACHE_DIR = path.join(os.tmpdir(), "tfk8s-client-tests-cache");

/** The quick model, trained on first use and cached afterwards. */
export function quickModel(): Promise<TrainResult> {
    return trainModel({
        trainSubset: 3000,
        epochs: 1,
        minAccuracy: 0.5,
        cacheDir: QUICK_CACHE_DIR,
        log: () => undefined,
    });
}

/** Logits of `model` for `count` images of raw bytes 0-255, scaled as in training. */
export function logitsOf(
    model: tf.LayersModel,
    pixels: ArrayLike<number>,
    count: number,
): number[][] {
    return tf.tidy(() => {
        const xs = tf.tensor3d(normalizePixels(pixels), [count, IMAGE_SIZE, IMAGE_SIZE]);
        return (model.predict(xs) as tf.Tensor).arraySync() as number[][];
    });
}
