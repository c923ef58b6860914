/**
 * Trains the classifier on the TensorFlow runtime in graph mode: the whole Adam step is one graph
 * (`trainingGraph.ts`), loaded through tfjs-node's SavedModel session, so each session run does
 * `stepsPerRun` steps in C++ instead of some 80 eager ops per step through N-API.
 *
 * TypeScript keeps what decides the result: the seeded shuffle per epoch, the batches, the
 * per-epoch metrics, and the final weights, which go back into the tfjs model so the artifact,
 * the cache and the SavedModel export do not change.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, IMAGE_SIZE, SAVED_MODEL_FILE, SERVE_TAG } from "../savedmodel/contract";
import { encodeSavedModel } from "../savedmodel/proto/tensorflow";
import { MnistSplit } from "./data";
import { TrainingHistory } from "./layersTrainer";
import { EpochProgress } from "./progress";
import { loadTfjsNode } from "../tfjsNode";
import { seededRandom } from "./random";
import {
    TRAINING_SIGNATURES,
    TrainingGraphOptions,
    WEIGHT_NAMES,
    buildTrainingGraph,
} from "./trainingGraph";

/** Steps per session run, picked by measurement (see docs/training.md, "Two trainers"). */
export const DEFAULT_STEPS_PER_RUN = 8;

/** The hyperparameters a training run records and the graph trainer takes. */
export interface Hyperparameters {
    readonly epochs: number;
    readonly batchSize: number;
    readonly seed: number;
    readonly learningRate: number;
    readonly hiddenUnits: number;
    readonly dropoutRate: number;
}

/** What one graph training run needs besides the data. */
export interface GraphFitOptions extends Hyperparameters {
    /** Steps per session run. Defaults to `DEFAULT_STEPS_PER_RUN`. */
    readonly stepsPerRun?: number;
    /** Shuffle the training set each epoch. Defaults to true. */
    readonly shuffle?: boolean;
    /** Told about each epoch; its loss and accuracy are the ones Keras reports. */
    readonly progress?: EpochProgress;
    /** Evaluated after each epoch, into the history's test metrics. Defaults to none. */
    readonly test?: MnistSplit;
}

/** tfjs-node's SavedModel session, as far as we use it. */
interface SessionModel {
    predict(inputs: tf.NamedTensorMap): tf.NamedTensorMap;
    dispose(): void;
}

/** The order of the training examples in each epoch: seeded Fisher-Yates shuffles. */
export function epochOrders(
    count: number,
    epochs: number,
    seed: number,
    shuffle: boolean,
): Int32Array[] {
    const random = seededRandom(seed);
    return Array.from({ length: epochs }, () => {
        const order = Int32Array.from({ length: count }, (_, k) => k);
        if (shuffle) {
            for (let k = count - 1; k > 0; k--) {
                const j = Math.floor(random() * (k + 1));
                [order[k], order[j]] = [order[j], order[k]];
            }
        }
        return order;
    });
}

/**
 * Pixels (0-255, scaled in the graph) and labels of the examples `order[from, to)`, batch after
 * batch. `Float32Array.set` converts the bytes in native code, which a per-pixel loop is not.
 */
function gather(
    split: MnistSplit,
    order: Int32Array,
    from: number,
    to: number,
): { pixels: Float32Array; labels: Int32Array } {
    const pixels = new Float32Array((to - from) * IMAGE_PIXELS);
    const labels = new Int32Array(to - from);
    for (let k = from; k < to; k++) {
        const i = order[k];
        pixels.set(
            split.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS),
            (k - from) * IMAGE_PIXELS,
        );
        labels[k - from] = split.labels[i];
    }
    return { pixels, labels };
}

/** A whole split as tensors: pixels 0-255 `(n, 28, 28)` and labels `(n)`. */
function splitTensors(split: MnistSplit): { pixels: tf.Tensor3D; labels: tf.Tensor1D } {
    return {
        pixels: tf.tensor3d(Float32Array.from(split.images), [split.count, IMAGE_SIZE, IMAGE_SIZE]),
        labels: tf.tensor1d(Int32Array.from(split.labels), "int32"),
    };
}

/**
 * The training graph loaded into one tfjs-node session: a signature handle each, sharing the
 * variables. Written to a fresh directory, because tfjs-node keeps one session per path.
 */
export class TrainingSession {
    private constructor(
        private readonly dir: string,
        private readonly signatures: Record<keyof typeof TRAINING_SIGNATURES, SessionModel>,
    ) {}

    /** Builds the graph for `options`, writes it and loads every signature. */
    static async open(options: TrainingGraphOptions): Promise<TrainingSession> {
        const { node } = loadTfjsNode();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-train-graph-"));
        const loaded: SessionModel[] = [];
        try {
            const bytes = encodeSavedModel(buildTrainingGraph(options));
            fs.writeFileSync(path.join(dir, SAVED_MODEL_FILE), bytes);
            const handles: Partial<Record<keyof typeof TRAINING_SIGNATURES, SessionModel>> = {};
            for (const [key, signature] of Object.entries(TRAINING_SIGNATURES)) {
                // Our training signatures take and give named maps of tensors.
                const handle = (await node.loadSavedModel(
                    dir,
                    [SERVE_TAG],
                    signature,
                )) as unknown as SessionModel;
                loaded.push(handle);
                handles[key as keyof typeof TRAINING_SIGNATURES] = handle;
            }
            return new TrainingSession(
                dir,
                handles as Record<keyof typeof TRAINING_SIGNATURES, SessionModel>,
            );
        } catch (err) {
            loaded.forEach((h) => h.dispose());
            fs.rmSync(dir, { recursive: true, force: true });
            throw err;
        }
    }

    /** Sets the weights (in `model.getWeights()` order) and resets Adam. */
    init(weights: readonly tf.Tensor[]): void {
        const fed = Object.fromEntries(WEIGHT_NAMES.map((n, k) => [n, weights[k]]));
        tf.dispose(this.signatures.init.predict(fed));
    }

    /**
     * Runs `steps` Adam steps on `steps` batches of `size` examples, laid out one after another
     * in `pixels` (0-255) and `labels`; returns each step's mean loss and correct count.
     */
    train(
        steps: number,
        size: number,
        pixels: Float32Array,
        labels: Int32Array,
    ): { loss: Float32Array; correct: Float32Array } {
        const session = steps === 1 ? this.signatures.step : this.signatures.train;
        const out = tf.tidy(() =>
            session.predict({
                x: tf.tensor4d(pixels, [steps, size, IMAGE_SIZE, IMAGE_SIZE]),
                y: tf.tensor2d(labels, [steps, size], "int32"),
            }),
        );
        const result = {
            loss: out.loss.dataSync() as Float32Array,
            correct: out.correct.dataSync() as Float32Array,
        };
        tf.dispose(out);
        return result;
    }

    /** One batch's mean loss and gradients at the current weights, without dropout or update. */
    gradients(pixels: tf.Tensor3D, labels: tf.Tensor1D): { loss: number; grads: tf.Tensor[] } {
        const out = this.signatures.gradients.predict({ x: pixels, y: labels });
        const loss = out.loss.dataSync()[0];
        out.loss.dispose();
        return { loss, grads: WEIGHT_NAMES.map((n) => out[n]) };
    }

    /** Mean loss and accuracy on `pixels` (0-255) and `labels` at the current weights. */
    evaluate(pixels: tf.Tensor3D, labels: tf.Tensor1D): { loss: number; accuracy: number } {
        const out = this.signatures.evaluate.predict({ x: pixels, y: labels });
        const result = {
            loss: out.loss.dataSync()[0],
            accuracy: out.correct.dataSync()[0] / labels.shape[0],
        };
        tf.dispose(out);
        return result;
    }

    /** The current weights, in `model.getWeights()` order; the caller disposes them. */
    weights(): tf.Tensor[] {
        const out = this.signatures.weights.predict({});
        return WEIGHT_NAMES.map((n) => out[n]);
    }

    /** Closes the session and removes its directory. */
    dispose(): void {
        Object.values(this.signatures).forEach((h) => h.dispose());
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/**
 * Trains `model` (as `createModel` builds it) on `split` in graph mode, starting from the model's
 * current weights, and writes the trained weights back into it.
 */
export async function fitWithGraph(
    model: tf.LayersModel,
    split: MnistSplit,
    options: GraphFitOptions,
): Promise<TrainingHistory> {
    const stepsPerRun = options.stepsPerRun ?? DEFAULT_STEPS_PER_RUN;
    const session = await TrainingSession.open({
        hiddenUnits: options.hiddenUnits,
        dropoutRate: options.dropoutRate,
        learningRate: options.learningRate,
        stepsPerRun,
        seed: options.seed,
    });
    const test = options.test === undefined ? undefined : splitTensors(options.test);
    try {
        // getWeights hands out the model's own variables: feed them, never dispose them.
        session.init(model.getWeights());
        const history: TrainingHistory = { loss: [], acc: [], testLoss: [], testAcc: [] };
        const { batchSize } = options;
        const shuffle = options.shuffle ?? true;
        const orders = epochOrders(split.count, options.epochs, options.seed, shuffle);
        for (const [epoch, order] of orders.entries()) {
            options.progress?.beginEpoch(epoch);
            let lossSum = 0;
            let correct = 0;
            const run = (from: number, steps: number, size: number) => {
                const { pixels, labels } = gather(split, order, from, from + steps * size);
                const out = session.train(steps, size, pixels, labels);
                for (let k = 0; k < steps; k++) {
                    // Keras weighs each batch's mean loss by its size.
                    lossSum += out.loss[k] * size;
                    correct += out.correct[k];
                }
            };
            // Whole runs of `stepsPerRun` batches, then single steps, then the partial batch.
            const fullBatches = Math.floor(split.count / batchSize);
            let done = 0;
            for (; done + stepsPerRun <= fullBatches; done += stepsPerRun) {
                run(done * batchSize, stepsPerRun, batchSize);
            }
            for (; done < fullBatches; done++) {
                run(done * batchSize, 1, batchSize);
            }
            const rest = split.count - fullBatches * batchSize;
            if (rest > 0) {
                run(fullBatches * batchSize, 1, rest);
            }
            history.loss.push(lossSum / split.count);
            history.acc.push(correct / split.count);
            if (test !== undefined) {
                const measured = session.evaluate(test.pixels, test.labels);
                history.testLoss.push(measured.loss);
                history.testAcc.push(measured.accuracy);
            }
            options.progress?.endEpoch(epoch, lossSum / split.count, correct / split.count);
        }
        const trained = session.weights();
        model.setWeights(trained);
        tf.dispose(trained);
        return history;
    } finally {
        session.dispose();
        tf.dispose(test === undefined ? [] : [test.pixels, test.labels]);
    }
}
