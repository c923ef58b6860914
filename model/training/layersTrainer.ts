/**
 * Trains the classifier with tfjs-layers' `fit`, eagerly on whichever backend runs: the trainer
 * for WASM and pure JavaScript, and the reference the graph trainer is checked against.
 */
import * as tf from "@tensorflow/tfjs";
import { MnistSplit, toTensors } from "./data";
import { oneHotLabels } from "./model";
import { EpochProgress } from "./progress";
import { seededRandom } from "./random";

/** What one layers training run needs besides the data. */
export interface LayersFitOptions {
    readonly epochs: number;
    readonly batchSize: number;
    readonly seed: number;
    /** Shuffle the training set each epoch. Defaults to true. */
    readonly shuffle?: boolean;
    /** Told about each step and epoch. Defaults to nothing. */
    readonly progress?: EpochProgress;
}

/** Per-epoch loss and accuracy, like `tf.History.history`. */
export interface TrainingHistory {
    readonly loss: number[];
    readonly acc: number[];
}

/**
 * tfjs draws unseeded randomness (fit's shuffle, dropout masks) from `Math.random`; swapping in a
 * seeded generator for the duration of training makes a run repeatable.
 */
async function withSeededMathRandom<T>(seed: number, fn: () => Promise<T>): Promise<T> {
    const original = Math.random;
    Math.random = seededRandom(seed);
    try {
        return await fn();
    } finally {
        Math.random = original;
    }
}

/** Trains the compiled `model` on `split` with `fit`; returns the per-epoch metrics. */
export async function fitWithLayers(
    model: tf.LayersModel,
    split: MnistSplit,
    options: LayersFitOptions,
): Promise<TrainingHistory> {
    const { xs, ys } = toTensors(split);
    const targets = oneHotLabels(ys);
    const progress = options.progress;
    try {
        const history = await withSeededMathRandom(options.seed, () =>
            model.fit(xs, targets, {
                epochs: options.epochs,
                batchSize: options.batchSize,
                shuffle: options.shuffle ?? true,
                verbose: 0,
                yieldEvery: "never",
                callbacks: {
                    onEpochBegin: async (epoch) => progress?.beginEpoch(epoch),
                    onBatchEnd: async (batch, logs) => progress?.step(batch, logs?.loss),
                    onEpochEnd: async (epoch, logs) =>
                        progress?.endEpoch(epoch, Number(logs?.loss), Number(logs?.acc)),
                },
            }),
        );
        return { loss: history.history.loss.map(Number), acc: history.history.acc.map(Number) };
    } finally {
        tf.dispose([xs, ys, targets]);
    }
}
