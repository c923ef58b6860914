/**
 * Turns the stack's model source into a TF Serving version directory on disk: trains through the
 * cache and exports a SavedModel, or packages a SavedModel directory or tfjs model.json.
 */
import * as fs from "fs";
import * as path from "path";
import { packageModelSource } from "./fromDisk";
import { describeServingSignatures, exportSavedModel } from "../savedmodel/export";
import { timedStage } from "../stageTimes";
import { TrainOptions, trainModel } from "../training/train";

/** File under the version's `assets.extra/` (which TF Serving ignores) describing the model. */
export const SERVING_METADATA = path.posix.join("assets.extra", "tfk8s-metadata.json");

/** Where the served model comes from: training through the cache, or a path on disk. */
export type ModelSource =
    | { readonly kind: "train"; readonly training: TrainOptions }
    | { readonly kind: "path"; readonly path: string };

/** A version directory ready to be packaged into an image. */
export interface ResolvedModel {
    /** `<exportDir>/<name>/<version>`, holding `saved_model.pb`. */
    readonly versionDir: string;
    /**
     * Test accuracy when we trained the model, or when a loaded one is our own export (another
     * stack's, handed on): its metadata file records it. Unknown for other loaded models.
     */
    readonly accuracy?: number;
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
): Promise<ResolvedModel> {
    const options = { name, version, overwrite: true, warmupBatchSizes };
    if (source.kind === "path") {
        const packaged = await packageModelSource(source.path, exportDir, options);
        return { versionDir: packaged.dir, accuracy: recordedAccuracy(packaged.dir) };
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
    };
}

/** The test accuracy our export's metadata file in `versionDir` records, if it is there. */
function recordedAccuracy(versionDir: string): number | undefined {
    const file = path.join(versionDir, SERVING_METADATA);
    if (!fs.existsSync(file)) return undefined;
    const accuracy = (
        JSON.parse(fs.readFileSync(file, "utf8")) as { training?: { testAccuracy?: unknown } }
    ).training?.testAccuracy;
    return typeof accuracy === "number" && accuracy >= 0 && accuracy <= 1 ? accuracy : undefined;
}
