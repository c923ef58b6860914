/**
 * Trains the classifier on the TensorFlow runtime in graph mode: the training run is one graph
 * (`trainingGraph/`), loaded through tfjs-node's SavedModel session. The data are uploaded into
 * the session once; each session run then does a whole epoch of Adam steps in C++, each step
 * gathering its batch in the graph, and one more run evaluates the resident test set.
 *
 * TypeScript keeps what decides the result: the seeded shuffle per epoch (fed as the epoch's
 * order of examples), the per-epoch metrics, and the final weights, which go back into the tfjs
 * model so the artifact, the cache and the SavedModel export do not change.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { SAVED_MODEL_FILE, SERVE_TAG } from "../savedmodel/contract";
import { encodeSavedModel } from "../savedmodel/proto/tensorflow";
import { MnistSplit } from "./data";
import { TrainingHistory } from "./layersTrainer";
import { EpochProgress } from "./progress";
import { loadTfjsNode } from "../tfjsNode";
import { seededRandom } from "./random";
import {
    PACKED_IMAGE_INTS,
    TRAINING_SIGNATURES,
    TrainingGraphOptions,
    WEIGHT_NAMES,
    buildTrainingGraph,
} from "./trainingGraph";

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
    /**
     * Steps per session run; the weights do not depend on it. Defaults to a whole epoch (its full
     * batches; a partial last batch takes a run of its own).
     */
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
 * Image bytes as int32s, four to one, for the `load` signature (tfjs has no uint8 tensors): a
 * view of the same memory when it is aligned, else a copy.
 */
function packedImages(split: MnistSplit): Int32Array {
    const { images } = split;
    const aligned = images.byteOffset % 4 === 0 ? images : images.slice();
    return new Int32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
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

    /** Uploads the training and test data into the session's variables, once per training. */
    load(train: MnistSplit, test: MnistSplit): void {
        const fed = tf.tidy(() => {
            const split = (name: string, data: MnistSplit) => ({
                [`${name}_images`]: tf.tensor2d(packedImages(data), [
                    data.count,
                    PACKED_IMAGE_INTS,
                ]),
                [`${name}_labels`]: tf.tensor1d(Int32Array.from(data.labels), "int32"),
            });
            return { ...split("train", train), ...split("test", test) };
        });
        try {
            tf.dispose(this.signatures.load.predict(fed));
        } finally {
            tf.dispose(Object.values(fed));
        }
    }

    /** Sets the weights (in `model.getWeights()` order) and resets Adam. */
    init(weights: readonly tf.Tensor[]): void {
        const fed = Object.fromEntries(WEIGHT_NAMES.map((n, k) => [n, weights[k]]));
        tf.dispose(this.signatures.init.predict(fed));
    }

    /**
     * Runs one Adam step per row of `order` (`steps` rows of `batchSize` training-example
     * indices) in one session run, numbering them from `firstStep`; returns each step's mean loss
     * and correct count, interleaved.
     */
    train(order: Int32Array, batchSize: number, firstStep: number): Float32Array {
        const out = tf.tidy(() =>
            this.signatures.train.predict({
                order: tf.tensor2d(order, [order.length / batchSize, batchSize], "int32"),
                first_step: tf.scalar(firstStep, "int32"),
            }),
        );
        const stats = out.stats.dataSync() as Float32Array;
        tf.dispose(out);
        return stats;
    }

    /** One Adam step on the examples `indices` (a partial batch) as step number `step`. */
    remainder(indices: Int32Array, step: number): { loss: number; correct: number } {
        const out = tf.tidy(() =>
            this.signatures.remainder.predict({
                indices: tf.tensor1d(indices, "int32"),
                step: tf.scalar(step, "int32"),
            }),
        );
        const result = { loss: out.loss.dataSync()[0], correct: out.correct.dataSync()[0] };
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

    /** Mean loss, correct count and predicted classes on the loaded test set at the current weights. */
    evaluate(): { loss: number; correct: number; predicted: Int32Array } {
        const out = this.signatures.evaluate.predict({});
        const result = {
            loss: out.loss.dataSync()[0],
            correct: out.correct.dataSync()[0],
            predicted: out.predicted.dataSync() as Int32Array,
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
    const { batchSize } = options;
    const session = await TrainingSession.open({
        hiddenUnits: options.hiddenUnits,
        dropoutRate: options.dropoutRate,
        learningRate: options.learningRate,
        batchSize,
        seed: options.seed,
    });
    try {
        // getWeights hands out the model's own variables: feed them, never dispose them.
        session.init(model.getWeights());
        // Without a test split the session's test set is empty and never evaluated.
        session.load(
            split,
            options.test ?? { count: 0, images: new Uint8Array(), labels: new Uint8Array() },
        );
        const history: TrainingHistory = { loss: [], acc: [], testLoss: [], testAcc: [] };
        const shuffle = options.shuffle ?? true;
        const orders = epochOrders(split.count, options.epochs, options.seed, shuffle);
        const fullBatches = Math.floor(split.count / batchSize);
        const stepsPerEpoch = Math.ceil(split.count / batchSize);
        const stepsPerRun = options.stepsPerRun ?? fullBatches;
        for (const [epoch, order] of orders.entries()) {
            options.progress?.beginEpoch(epoch);
            const firstStep = epoch * stepsPerEpoch;
            let lossSum = 0;
            let correct = 0;
            // Keras weighs each batch's mean loss by its size.
            for (let done = 0; done < fullBatches; done += stepsPerRun) {
                const steps = Math.min(stepsPerRun, fullBatches - done);
                const rows = order.subarray(done * batchSize, (done + steps) * batchSize);
                const stats = session.train(rows, batchSize, firstStep + done);
                for (let k = 0; k < steps; k++) {
                    lossSum += stats[2 * k] * batchSize;
                    correct += stats[2 * k + 1];
                }
            }
            if (fullBatches < stepsPerEpoch) {
                const rest = order.subarray(fullBatches * batchSize);
                const out = session.remainder(rest, firstStep + fullBatches);
                lossSum += out.loss * rest.length;
                correct += out.correct;
            }
            history.loss.push(lossSum / split.count);
            history.acc.push(correct / split.count);
            if (options.test !== undefined) {
                const measured = session.evaluate();
                const accuracy = measured.correct / options.test.count;
                history.testLoss.push(measured.loss);
                history.testAcc.push(accuracy);
                history.final = { loss: measured.loss, accuracy, predicted: measured.predicted };
            }
            options.progress?.endEpoch(epoch, lossSum / split.count, correct / split.count);
        }
        const trained = session.weights();
        model.setWeights(trained);
        tf.dispose(trained);
        return history;
    } finally {
        session.dispose();
    }
}
