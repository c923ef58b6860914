/**
 * The cache-and-lock stage of a training run: the key over everything that decides the weights,
 * and getting the entry of that key, from the cache or by training it once under its lock.
 */
import type { BackendName } from "./backend";
import { cacheKey, lookupEntry, withEntryLock } from "./cache";
import type { Hyperparameters } from "./graphTrainer";
import { tfRoundingSettings } from "../tfjsNode";
import { DEFAULT_MODEL_OPTIONS, MODEL_ARCHITECTURE } from "./model";
import type { TrainerChoice } from "./trainers";

/**
 * What decides the trained weights besides the options and the data: the trainer and a recipe
 * version. Bump `version` with any change to data handling, the model, the loss, the optimizer
 * or the training loop that changes what training produces, so cached artifacts are retrained;
 * a reformat or a comment leaves it, and the cache, alone.
 */
export const TRAINING_RECIPE = { version: 4 } as const;

/** The hyperparameters a run records and its key covers: the trainers' and the training-set size. */
export type TrainingHyperparameters = Hyperparameters & { readonly trainExamples: number };

/**
 * The hyperparameters of a run of the checked options on `trainExamples` images; the model's own
 * are its defaults. metadata.json lists them in this order (the key sorts them).
 */
export function trainingHyperparameters(
    options: Pick<Hyperparameters, "epochs" | "batchSize" | "seed" | "learningRate">,
    trainExamples: number,
): TrainingHyperparameters {
    return {
        epochs: options.epochs,
        batchSize: options.batchSize,
        seed: options.seed,
        learningRate: options.learningRate,
        hiddenUnits: DEFAULT_MODEL_OPTIONS.hiddenUnits,
        dropoutRate: DEFAULT_MODEL_OPTIONS.dropoutRate,
        trainExamples,
    };
}

/**
 * The cache key of a training run: everything that decides its weights. The trainer, the backend
 * and, on TensorFlow, its rounding settings are in it because they round differently; the source
 * text is not, `TRAINING_RECIPE` stands for it.
 */
export function trainingKey(
    trainer: Pick<TrainerChoice, "name">,
    backend: BackendName,
    hyperparameters: TrainingHyperparameters,
    dataSha256: string,
): string {
    return cacheKey({
        recipe: TRAINING_RECIPE,
        // Not the graph trainer's steps per session run: its dropout draws follow the step
        // number, so grouping steps into runs leaves the weights alone.
        trainer: { name: trainer.name },
        backend,
        ...(backend === "tensorflow" ? { runtime: tfRoundingSettings() } : {}),
        architecture: MODEL_ARCHITECTURE,
        hyperparameters,
        data: dataSha256,
    });
}

/** How the cache stage gets an entry: by loading a cached one, or by training and caching it. */
export interface EntrySources<T> {
    /** Loads the entry found at `dir`. */
    readonly load: (dir: string) => Promise<T>;
    /** Trains the model and commits its entry; runs holding the entry's lock. */
    readonly train: () => Promise<T>;
}

/**
 * The entry `key` of `cacheDir`: loaded when it is cached, else trained once under its lock. A run
 * that waited for another training the same key loads what that one cached.
 */
export async function cachedOrTrained<T>(
    cacheDir: string,
    key: string,
    log: (line: string) => void,
    sources: EntrySources<T>,
): Promise<T> {
    const cached = lookupEntry(cacheDir, key);
    if (cached !== undefined) return sources.load(cached);

    const waiting = (holder: number) =>
        log(`waiting for process ${holder}, which is training the same model (cache key ${key})`);
    return withEntryLock(cacheDir, key, waiting, async () => {
        // Another run may have trained this model while this one waited.
        const trainedMeanwhile = lookupEntry(cacheDir, key);
        if (trainedMeanwhile !== undefined) return sources.load(trainedMeanwhile);
        return sources.train();
    });
}
