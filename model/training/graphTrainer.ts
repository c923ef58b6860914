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
import { IMAGE_PIXELS, IMAGE_SIZE, SAVED_MODEL_FILE } from "../savedmodel/contract";
import { encodeSavedModel } from "../savedmodel/proto/tensorflow";
import { MnistSplit } from "./data";
import { TrainingHistory } from "./layersTrainer";
import { EpochProgress } from "./progress";
import { seededRandom } from "./random";
import { TRAINING_SIGNATURES, WEIGHT_NAMES, buildTrainingGraph } from "./trainingGraph";

/** Steps per session run, picked by measurement (see README, "Backends and speed"). */
export const DEFAULT_STEPS_PER_RUN = 8;

/** What one graph training run needs besides the data. */
export interface GraphFitOptions {
    readonly epochs: number;
    readonly batchSize: number;
    readonly seed: number;
    readonly learningRate: number;
    readonly hiddenUnits: number;
    readonly dropoutRate: number;
    /** Steps per session run. Defaults to `DEFAULT_STEPS_PER_RUN`. */
    readonly stepsPerRun?: number;
    /** Shuffle the training set each epoch. Defaults to true. */
    readonly shuffle?: boolean;
    /** Told about each epoch; its loss and accuracy are the ones Keras reports. */
    readonly progress?: EpochProgress;
}

/** tfjs-node's SavedModel session, as far as we use it. */
interface SessionModel {
    predict(inputs: tf.NamedTensorMap): tf.NamedTensorMap;
    dispose(): void;
}

interface TfjsNode {
    node: { loadSavedModel(dir: string, tags: string[], signature: string): Promise<SessionModel> };
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
    const tfnode = require("@tensorflow/tfjs-node") as TfjsNode;
    // A fresh directory per run: tfjs-node keeps one session per path, with its variables.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-train-graph-"));
    const sessions: SessionModel[] = [];
    try {
        const savedModel = buildTrainingGraph({
            hiddenUnits: options.hiddenUnits,
            dropoutRate: options.dropoutRate,
            learningRate: options.learningRate,
            stepsPerRun,
            seed: options.seed,
        });
        fs.writeFileSync(path.join(dir, SAVED_MODEL_FILE), encodeSavedModel(savedModel));
        const load = async (signature: string) => {
            const session = await tfnode.node.loadSavedModel(dir, ["serve"], signature);
            sessions.push(session);
            return session;
        };
        const init = await load(TRAINING_SIGNATURES.init);
        const train = await load(TRAINING_SIGNATURES.train);
        const step = await load(TRAINING_SIGNATURES.step);
        const weights = await load(TRAINING_SIGNATURES.weights);

        // getWeights hands out the model's own variables: feed them, never dispose them.
        const initial = model.getWeights();
        tf.dispose(init.predict(Object.fromEntries(WEIGHT_NAMES.map((n, k) => [n, initial[k]]))));

        const history: TrainingHistory = { loss: [], acc: [] };
        const { batchSize } = options;
        const orders = epochOrders(
            split.count,
            options.epochs,
            options.seed,
            options.shuffle ?? true,
        );
        for (const [epoch, order] of orders.entries()) {
            options.progress?.beginEpoch(epoch);
            let lossSum = 0;
            let correct = 0;
            const run = (session: SessionModel, from: number, steps: number, size: number) => {
                const { pixels, labels } = gather(split, order, from, from + steps * size);
                const out = tf.tidy(() => {
                    const x = tf.tensor4d(pixels, [steps, size, IMAGE_SIZE, IMAGE_SIZE]);
                    const y = tf.tensor2d(labels, [steps, size], "int32");
                    return session.predict({ x, y });
                });
                const losses = out.loss.dataSync();
                const hits = out.correct.dataSync();
                tf.dispose(out);
                for (let k = 0; k < steps; k++) {
                    // Keras weighs each batch's mean loss by its size.
                    lossSum += losses[k] * size;
                    correct += hits[k];
                }
            };
            const fullBatches = Math.floor(split.count / batchSize);
            let done = 0;
            for (; done + stepsPerRun <= fullBatches; done += stepsPerRun) {
                run(train, done * batchSize, stepsPerRun, batchSize);
            }
            for (; done < fullBatches; done++) {
                run(step, done * batchSize, 1, batchSize);
            }
            const rest = split.count - fullBatches * batchSize;
            if (rest > 0) {
                run(step, fullBatches * batchSize, 1, rest);
            }
            history.loss.push(lossSum / split.count);
            history.acc.push(correct / split.count);
            options.progress?.endEpoch(epoch, lossSum / split.count, correct / split.count);
        }

        const trained = weights.predict({});
        model.setWeights(WEIGHT_NAMES.map((n) => trained[n]));
        tf.dispose(trained);
        return history;
    } finally {
        sessions.forEach((s) => s.dispose());
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
