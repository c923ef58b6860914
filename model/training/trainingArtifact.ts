/**
 * The artifact stage of a training run: what its cache entry holds (the model as `model.json` +
 * `weights.bin`, `metadata.json`, `report.html`), writing the entry of a fresh model, reading a
 * cached one back, and the lines that report either.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import type { BackendName } from "./backend";
import { MODEL_JSON, loadLayersModel, saveLayersModel } from "./artifact";
import { commitEntry } from "./cache";
import type { MnistData, MnistSplit } from "./data";
import { Evaluation, checkQualityGate } from "./evaluate";
import { MODEL_ARCHITECTURE } from "./model";
import { formatSeconds } from "./progress";
import { ReportHistory, confusionMatrix, misclassifiedDigits, renderReport } from "./report";
import { sessionRuns } from "./trainers";
import type { FittedModel, TrainerChoice, TrainerName } from "./trainers";
import type { TrainingHyperparameters } from "./trainingCache";

export const METADATA_JSON = "metadata.json";
export const REPORT_HTML = "report.html";
/** Misclassified test digits the report shows. */
const MISCLASSIFIED_SHOWN = 60;

/** `metadata.json` of an artifact: how it was trained and how well it did. */
export interface TrainingMetadata {
    readonly key: string;
    readonly architecture: string;
    readonly parameterCount: number;
    readonly hyperparameters: TrainingHyperparameters;
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

/** A cache entry's model and record. */
export interface TrainedEntry {
    readonly model: tf.LayersModel;
    readonly metadata: TrainingMetadata;
    /** The cache entry holding `model.json`, `weights.bin`, `metadata.json` and `report.html`. */
    readonly dir: string;
}

/** What was settled before training: the cache key and what it was made of, the data aside. */
export interface TrainingRun {
    readonly key: string;
    readonly backend: BackendName;
    readonly trainer: Pick<TrainerChoice, "name" | "stepsPerRun">;
    readonly hyperparameters: TrainingHyperparameters;
}

/** The record of a freshly trained and evaluated model, its fields in metadata.json's order. */
export function trainingMetadata(
    run: TrainingRun,
    mnist: MnistData,
    fitted: FittedModel,
    evaluation: Evaluation,
): TrainingMetadata {
    const { history } = fitted;
    return {
        key: run.key,
        architecture: MODEL_ARCHITECTURE,
        parameterCount: fitted.model.countParams(),
        hyperparameters: run.hyperparameters,
        data: {
            sha256: mnist.sha256,
            trainExamples: run.hyperparameters.trainExamples,
            testExamples: mnist.test.count,
        },
        testAccuracy: evaluation.accuracy,
        testLoss: evaluation.loss,
        history: {
            loss: history.loss,
            accuracy: history.acc,
            testLoss: history.testLoss,
            testAccuracy: history.testAcc,
        },
        backend: run.backend,
        // Absent rather than undefined, as metadata.json reads back.
        trainer:
            run.trainer.stepsPerRun === undefined
                ? { name: run.trainer.name }
                : { name: run.trainer.name, stepsPerRun: run.trainer.stepsPerRun },
        libraries: { "@tensorflow/tfjs": tf.version.tfjs, node: process.version },
        trainingSeconds: fitted.trainingSeconds,
    };
}

/** `report.html` of an entry: the record's curves and settings, and the test-set mistakes. */
export function trainingReport(
    metadata: TrainingMetadata,
    test: MnistSplit,
    predicted: Int32Array,
): string {
    const { trainer, trainingSeconds, hyperparameters } = metadata;
    return renderReport({
        title: `MNIST classifier ${metadata.key}`,
        history: metadata.history,
        testAccuracy: metadata.testAccuracy,
        testLoss: metadata.testLoss,
        details: {
            trainer: [trainer.name, sessionRuns(trainer)].filter((t) => t !== undefined).join(", "),
            backend: metadata.backend,
            "training time": `${formatSeconds(trainingSeconds)} (${formatSeconds(trainingSeconds / hyperparameters.epochs)} per epoch)`,
            ...Object.fromEntries(Object.entries(hyperparameters).map(([k, v]) => [k, String(v)])),
            "data SHA-256": metadata.data.sha256,
        },
        confusion: confusionMatrix(test.labels, predicted),
        misclassified: misclassifiedDigits(
            test.images,
            test.labels,
            predicted,
            MISCLASSIFIED_SHOWN,
        ),
    });
}

/**
 * About how much a cache entry of a model of `parameterCount` parameters takes: its float32
 * weights plus the JSON files and the report, which took 46 KB together in an entry of the
 * default model (456 KB in all, by `du`).
 */
function cacheEntryMegabytes(parameterCount: number): string {
    return ((parameterCount * 4 + 50_000) / 1e6).toFixed(1);
}

/** The error of an entry that could not be written to `cacheDir`, with what to do about it. */
export function cacheWriteError(
    cacheDir: string,
    err: NodeJS.ErrnoException,
    parameterCount: number,
): Error {
    const advice =
        err.code === "ENOSPC"
            ? `free space there, or set cacheDir to a directory with room (about ${cacheEntryMegabytes(parameterCount)} MB per model), and run again`
            : "fix the cache directory, or set cacheDir to another one, and run again";
    return new Error(
        `the trained model could not be cached in ${cacheDir} (${err.message}); nothing was written there. To deploy it, ${advice}`,
    );
}

/** Commits the entry `metadata.key` of a freshly trained model to `cacheDir`, whole or not at all. */
export async function writeTrainedEntry(
    cacheDir: string,
    model: tf.LayersModel,
    metadata: TrainingMetadata,
    report: string,
): Promise<TrainedEntry> {
    const { dir } = await commitEntry(cacheDir, metadata.key, async (temp) => {
        // (A failure here leaves no entry: see commitEntry. The catch below names the cache.)
        await saveLayersModel(model, temp);
        fs.writeFileSync(path.join(temp, METADATA_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
        fs.writeFileSync(path.join(temp, REPORT_HTML), report);
    }).catch((err: NodeJS.ErrnoException) => {
        throw cacheWriteError(cacheDir, err, metadata.parameterCount);
    });
    return { model, metadata, dir };
}

/**
 * Reads the cached entry at `dir`, gated on `minAccuracy` before its model is loaded: a cached
 * model below the gate stays cached but is not used.
 */
export async function readTrainedEntry(dir: string, minAccuracy: number): Promise<TrainedEntry> {
    const metadata = JSON.parse(
        fs.readFileSync(path.join(dir, METADATA_JSON), "utf8"),
    ) as TrainingMetadata;
    checkQualityGate(metadata.testAccuracy, minAccuracy, dir);
    const model = await loadLayersModel(path.join(dir, MODEL_JSON));
    return { model, metadata, dir };
}

/** What a run prints once it has its entry: where it came from, the test metrics, the report. */
export function summaryLines(entry: TrainedEntry, fromCache: boolean): string[] {
    const { metadata: meta, dir } = entry;
    return [
        fromCache
            ? `cache hit: ${dir} (trained earlier in ${formatSeconds(meta.trainingSeconds)} by the ${meta.trainer.name} trainer on ${meta.backend})`
            : `trained in ${formatSeconds(meta.trainingSeconds)} by the ${meta.trainer.name} trainer on ${meta.backend}; cached at ${dir}`,
        `test accuracy: ${meta.testAccuracy.toFixed(4)}`,
        `test loss: ${meta.testLoss.toFixed(4)}`,
        `report: ${path.join(dir, REPORT_HTML)}`,
    ];
}
