/**
 * The local model the smoke check compares the served one with: a tfjs artifact, a SavedModel
 * version directory (run in TensorFlow through tfjs-node), or `trainModel()` with its defaults,
 * which normally comes straight from the cache.
 */
import * as fs from "fs";
import * as path from "path";
import type { Tensor } from "@tensorflow/tfjs";
import { IMAGE_SIZE, SAVED_MODEL_FILE } from "../model/savedmodel/contract";
import { InputScale, OWN_INPUT_SCALE, scalePixels } from "../model/savedmodel/inputScale";
import {
    TfjsNodeUnavailableError,
    predictedRows,
    withSavedModelSession,
} from "../model/savedmodel/session";

/** A tfjs artifact's `model.json`, or a SavedModel version directory, at `dir`. */
export function localModelAt(dir: string): { kind: "tfjs" | "savedmodel"; path: string } {
    if (fs.existsSync(path.join(dir, SAVED_MODEL_FILE))) return { kind: "savedmodel", path: dir };
    const file = dir.endsWith(".json") ? dir : path.join(dir, "model.json");
    if (!fs.existsSync(file)) {
        throw new Error(
            `\`--model-dir\` is ${dir}, which holds neither model.json nor ${SAVED_MODEL_FILE}; ` +
                "expected a tfjs artifact directory or a SavedModel version directory",
        );
    }
    return { kind: "tfjs", path: file };
}

/**
 * Logits of a SavedModel's `serving_default` on `pixels` (0-255) sent as `scale` takes them,
 * computed by TensorFlow itself through tfjs-node.
 */
async function savedModelLogits(
    dir: string,
    pixels: Uint8Array,
    count: number,
    scale: InputScale,
): Promise<number[][]> {
    try {
        return await withSavedModelSession(dir, (score) =>
            score(scalePixels(pixels, scale), count),
        );
    } catch (err) {
        if (!(err instanceof TfjsNodeUnavailableError)) throw err;
        throw new Error(
            `comparing with the SavedModel ${dir}: ${err.message}, or a tfjs artifact as --model-dir`,
        );
    }
}

/**
 * Logits of the local model on `pixels` (bytes 0-255, n x 28 x 28): the model at `modelDir`, or
 * `trainModel()` with its defaults and `cacheDir`. A SavedModel gets them as `scale` says (what
 * the served copy is sent); a tfjs model scales them itself.
 */
export async function localLogits(
    cacheDir: string | undefined,
    modelDir: string | undefined,
    pixels: Uint8Array,
    count: number,
    log: (l: string) => void,
    scale: InputScale = OWN_INPUT_SCALE,
): Promise<number[][]> {
    const local = modelDir === undefined ? undefined : localModelAt(modelDir);
    if (local?.kind === "savedmodel") {
        log(`local model: the SavedModel ${local.path}, in TensorFlow, sent pixels as ${scale}`);
        return savedModelLogits(local.path, pixels, count, scale);
    }
    const tf = await import("@tensorflow/tfjs");
    const { initBackend } = await import("../model/training/backend");
    const { normalizePixels } = await import("../model/training/data");
    await initBackend(undefined, log);
    let model;
    if (local !== undefined) {
        const { loadLayersModel } = await import("../model/training/artifact");
        model = await loadLayersModel(local.path);
        log(`local model: ${local.path}`);
    } else {
        const { trainModel } = await import("../model/training/train");
        // Defaults, as the stack trains unless configured otherwise; a cache hit makes this quick.
        const trained = await trainModel({
            cacheDir,
            log: (l) => log(`  ${l}`),
            progressBar: false,
        });
        model = trained.model;
        log(
            `local model: ${trained.dir} (trainModel defaults, ${trained.fromCache ? "from the cache" : "just trained"})`,
        );
    }
    const xs = tf.tensor3d(normalizePixels(pixels), [count, IMAGE_SIZE, IMAGE_SIZE]);
    return predictedRows(xs, (x) => model.predict(x) as Tensor);
}
