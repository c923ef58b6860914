/**
 * The evaluate stage of a training run: the trained model's loss, accuracy and predictions on the
 * test split, and the accuracy gate a model must pass to be cached or used.
 */
import * as tf from "@tensorflow/tfjs";
import { MnistSplit, toTensors } from "./data";
import type { TrainingHistory } from "./layersTrainer";
import { oneHotLabels } from "./model";

/** How a model did on the test split. */
export interface Evaluation {
    /** Mean cross-entropy. */
    readonly loss: number;
    /** Share of test images classified right, in [0, 1]. */
    readonly accuracy: number;
    /** The predicted class of each test image, in the split's order. */
    readonly predicted: Int32Array;
}

/**
 * The evaluate stage: the trainer's own evaluation of the final weights when it made one (the
 * graph trainer evaluates the resident test set after each epoch), else `evaluateClassifier`'s.
 */
export function evaluateTrained(
    fitted: { model: tf.LayersModel; history: TrainingHistory },
    test: MnistSplit,
): Evaluation {
    return fitted.history.final ?? evaluateClassifier(fitted.model, test);
}

/** Evaluates `model` on `test`: mean loss, accuracy and predicted classes. */
export function evaluateClassifier(model: tf.LayersModel, test: MnistSplit): Evaluation {
    const { xs, ys } = toTensors(test);
    const targets = oneHotLabels(ys);
    try {
        const [loss, acc] = model.evaluate(xs, targets, { batchSize: 1000 }) as tf.Scalar[];
        const logits = model.predict(xs, { batchSize: 1000 }) as tf.Tensor;
        const classes = tf.argMax(logits, -1);
        const result = {
            loss: loss.dataSync()[0],
            accuracy: acc.dataSync()[0],
            predicted: classes.dataSync() as Int32Array,
        };
        tf.dispose([loss, acc, logits, classes]);
        return result;
    } finally {
        tf.dispose([xs, ys, targets]);
    }
}

/**
 * Fails with both numbers when the model is below the accuracy gate. A freshly trained model is
 * then not cached; a cached one stays cached (other gates may accept it) but is not returned.
 */
export function checkQualityGate(
    testAccuracy: number,
    minAccuracy: number,
    cachedAt?: string,
): void {
    if (testAccuracy < minAccuracy) {
        const outcome =
            cachedAt === undefined
                ? "the model was not cached"
                : `the cached model at ${cachedAt} was not used; retrain with other options or lower minAccuracy`;
        throw new Error(
            `quality gate: test accuracy ${testAccuracy.toFixed(4)} is below minAccuracy ${minAccuracy}; ${outcome}`,
        );
    }
}
