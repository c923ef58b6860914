/**
 * The tutorial's Keras classifier, rebuilt layer for layer in TensorFlow.js:
 * Flatten(28x28) -> Dense(128, relu) -> Dropout(0.2) -> Dense(10), the last layer emitting logits.
 */
import * as tf from "@tensorflow/tfjs";
import { checkOption } from "../../errors";
import { IMAGE_SIZE, NUM_CLASSES } from "../savedmodel/contract";

/** Hyperparameters of the architecture and optimizer; all have the tutorial's defaults. */
export interface ModelOptions {
    /** Units of the hidden Dense layer. Defaults to 128. */
    readonly hiddenUnits?: number;
    /** Dropout rate after the hidden layer. Defaults to 0.2. */
    readonly dropoutRate?: number;
    /** Adam learning rate. Defaults to 0.001 (Keras' default). */
    readonly learningRate?: number;
    /** Seed of the weight initializers; unseeded when undefined. */
    readonly seed?: number;
}

export const DEFAULT_MODEL_OPTIONS = {
    hiddenUnits: 128,
    dropoutRate: 0.2,
    learningRate: 0.001,
} as const;

/**
 * The architecture `createModel` builds with its defaults, as training records it and its cache
 * key covers it (the text is part of every key: changing it retrains every cached model).
 */
export const MODEL_ARCHITECTURE =
    "Flatten(28x28) > Dense(128, relu) > Dropout(0.2) > Dense(10, logits)";

/**
 * Keras' `SparseCategoricalCrossentropy(from_logits=True)`, averaged over the batch. tfjs-layers
 * only accepts targets shaped like the output for a custom loss, so the class ids arrive one-hot
 * (`[n, 10]`, see `oneHotLabels`); the value is the same as the sparse form on the ids.
 */
export function crossentropyFromLogits(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
    return tf.losses.softmaxCrossEntropy(yTrue, yPred);
}

/** Class ids `[n]` as the one-hot targets `[n, 10]` the loss expects. */
export function oneHotLabels(ids: tf.Tensor1D): tf.Tensor2D {
    return tf.oneHot(tf.cast(ids, "int32") as tf.Tensor1D, NUM_CLASSES).toFloat() as tf.Tensor2D;
}

/** Builds and compiles a fresh classifier (101,770 parameters with the defaults). */
export function createModel(options: ModelOptions = {}): tf.Sequential {
    const hiddenUnits = options.hiddenUnits ?? DEFAULT_MODEL_OPTIONS.hiddenUnits;
    const dropoutRate = options.dropoutRate ?? DEFAULT_MODEL_OPTIONS.dropoutRate;
    const learningRate = options.learningRate ?? DEFAULT_MODEL_OPTIONS.learningRate;
    checkOption(
        "hiddenUnits",
        hiddenUnits,
        Number.isInteger(hiddenUnits) && hiddenUnits > 0,
        "a positive integer",
    );
    checkOption(
        "dropoutRate",
        dropoutRate,
        dropoutRate >= 0 && dropoutRate < 1,
        "a number in [0, 1)",
    );
    checkOption(
        "learningRate",
        learningRate,
        learningRate > 0 && Number.isFinite(learningRate),
        "a positive number",
    );
    const seed = options.seed;
    // Each initializer gets its own seed so the two Dense layers do not start from the same stream.
    const kernel = (offset: number) =>
        tf.initializers.glorotUniform({ seed: seed === undefined ? undefined : seed + offset });

    const model = tf.sequential({ name: "mnist_classifier" });
    model.add(tf.layers.flatten({ inputShape: [IMAGE_SIZE, IMAGE_SIZE], name: "flatten" }));
    model.add(
        tf.layers.dense({
            units: hiddenUnits,
            activation: "relu",
            kernelInitializer: kernel(0),
            biasInitializer: "zeros",
            name: "dense",
        }),
    );
    model.add(tf.layers.dropout({ rate: dropoutRate, name: "dropout" }));
    model.add(
        tf.layers.dense({
            units: NUM_CLASSES,
            kernelInitializer: kernel(1),
            biasInitializer: "zeros",
            name: "logits",
        }),
    );
    model.compile({
        optimizer: tf.train.adam(learningRate),
        loss: crossentropyFromLogits,
        // With one-hot targets tfjs maps "accuracy" to argmax agreement, Keras' sparse accuracy.
        metrics: ["accuracy"],
    });
    return model;
}
