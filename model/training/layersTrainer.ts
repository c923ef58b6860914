/**
 * Trains the classifier with tfjs-layers' `fit`, eagerly on whichever backend runs: the trainer
 * for WASM and pure JavaScript, and the reference the graph trainer is checked against.
 */
import * as tf from "@tensorflow/tfjs";
import { MnistSplit, toTensors } from "./data";
import type { Evaluation } from "./evaluate";
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
    /** Evaluated after each epoch, into the history's test metrics. Defaults to none. */
    readonly test?: MnistSplit;
}

/** Per-epoch training loss and accuracy (as Keras reports them), and test metrics if asked. */
export interface TrainingHistory {
    readonly loss: number[];
    readonly acc: number[];
    readonly testLoss: number[];
    readonly testAcc: number[];
    /**
     * The trained weights' evaluation on the test split with each predicted class, when the
     * trainer made it on the way (the graph trainer); otherwise the evaluate stage makes it.
     */
    final?: Evaluation;
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
    const test = options.test === undefined ? undefined : toTensors(options.test);
    const testTargets = test === undefined ? undefined : oneHotLabels(test.ys);
    const progress = options.progress;
    const testLoss: number[] = [];
    const testAcc: number[] = [];
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
                    // Only for a bar: fit reads each batch's loss back when this is set.
                    onBatchEnd:
                        progress?.showsSteps === true
                            ? async (batch, logs) => progress.step(batch, logs?.loss)
                            : undefined,
                    onEpochEnd: async (epoch, logs) => {
                        if (test !== undefined && testTargets !== undefined) {
                            const [loss, acc] = model.evaluate(test.xs, testTargets, {
                                batchSize: 1000,
                            }) as tf.Scalar[];
                            testLoss.push(loss.dataSync()[0]);
                            testAcc.push(acc.dataSync()[0]);
                            tf.dispose([loss, acc]);
                        }
                        progress?.endEpoch(epoch, Number(logs?.loss), Number(logs?.acc));
                    },
                },
            }),
        );
        const { loss, acc } = history.history;
        return { loss: loss.map(Number), acc: acc.map(Number), testLoss, testAcc };
    } finally {
        tf.dispose([xs, ys, targets]);
        tf.dispose(test === undefined ? [] : [test.xs, test.ys, testTargets as tf.Tensor]);
    }
}
