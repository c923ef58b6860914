/**
 * The local model the smoke check compares the served one with: a tfjs artifact, a SavedModel
 * version directory (run in TensorFlow through tfjs-node), or `trainModel()` with its defaults,
 * which normally comes straight from the cache.
 */
import * as fs from "fs";
import * as path from "path";
import type { Tensor } from "@tensorflow/tfjs";
import { errorMessage } from "../errors";
import {
    IMAGE_SIZE,
    SAVED_MODEL_FILE,
    SERVE_TAG,
    SIGNATURE_KEYS,
} from "../model/savedmodel/contract";
import { loadTfjsNode } from "../model/tfjsNode";

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
 * Logits of a SavedModel's `serving_default` on raw pixels (0-255, as the client sends them),
 * computed by TensorFlow itself through tfjs-node.
 */
async function savedModelLogits(
    dir: string,
    pixels: Uint8Array,
    count: number,
): Promise<number[][]> {
    let tfn: typeof import("@tensorflow/tfjs-node");
    try {
        tfn = loadTfjsNode();
    } catch (err) {
        throw new Error(
            `comparing with the SavedModel ${dir} needs @tensorflow/tfjs-node, which did not load (${errorMessage(err)}); ` +
                "expected it built (bash scripts/build-tfjs-node.sh), or a tfjs artifact as --model-dir",
        );
    }
    const model = await tfn.node.loadSavedModel(dir, [SERVE_TAG], SIGNATURE_KEYS.default);
    try {
        const xs = tfn.tensor3d(Float32Array.from(pixels), [count, IMAGE_SIZE, IMAGE_SIZE]);
        return await predictedRows(xs, (x) => model.predict(x) as Tensor);
    } finally {
        model.dispose();
    }
}

/** The rows of `predict(xs)`; both tensors are disposed. */
async function predictedRows(xs: Tensor, predict: (xs: Tensor) => Tensor): Promise<number[][]> {
    try {
        const out = predict(xs);
        try {
            return (await out.array()) as number[][];
        } finally {
            out.dispose();
        }
    } finally {
        xs.dispose();
    }
}

/**
 * Logits of the local model on `pixels` (bytes 0-255, n x 28 x 28): the model at `modelDir`, or
 * `trainModel()` with its defaults and `cacheDir`.
 */
export async function localLogits(
    cacheDir: string | undefined,
    modelDir: string | undefined,
    pixels: Uint8Array,
    count: number,
    log: (l: string) => void,
): Promise<number[][]> {
    const local = modelDir === undefined ? undefined : localModelAt(modelDir);
    if (local?.kind === "savedmodel") {
        log(`local model: the SavedModel ${local.path}, in TensorFlow`);
        return savedModelLogits(local.path, pixels, count);
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
