/**
 * Writes a tfjs LayersModel as a TensorFlow SavedModel that TensorFlow Serving loads, without
 * Python and without TensorFlow itself: `<baseDir>/<name>/<version>/saved_model.pb`, the layout
 * TF Serving polls. The graph and its signatures are `servingGraph.ts`'s; this module encodes
 * them and writes the version directory atomically.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { writeDirAtomically, writeFileDurably } from "../atomicDir";
import {
    MODEL_NAME_EXPECTED,
    MODEL_NAME_PATTERN,
    SAVED_MODEL_FILE,
    ServingSignatures,
} from "./contract";
import { encodeSavedModel } from "./proto/tensorflow";
import { buildServingGraph } from "./servingGraph";
import { WARMUP_FILE, warmupFile } from "./warmup";

/** Where and how to write the SavedModel. */
export interface ExportOptions {
    /** Model name: the directory under `baseDir`, and the name in TF Serving URLs. */
    readonly name: string;
    /** Version: the numeric directory TF Serving polls for. */
    readonly version: number;
    /** Replace an existing version directory. Defaults to false (an existing one is an error). */
    readonly overwrite?: boolean;
    /**
     * Extra files to place in the version directory, by relative path (such as
     * `assets.extra/…`, which TF Serving ignores). Written before the directory appears.
     */
    readonly extraFiles?: Readonly<Record<string, string>>;
    /**
     * Batch sizes of the warmup requests written to `WARMUP_FILE`; none when undefined or
     * empty.
     */
    readonly warmupBatchSizes?: readonly number[];
}

/** What `exportSavedModel` wrote. */
export interface ExportResult {
    /** The version directory, `<baseDir>/<name>/<version>`. */
    readonly dir: string;
    /** The signatures, as `describeServingSignatures` reports them. */
    readonly signatures: ServingSignatures;
}

/**
 * The signatures `exportSavedModel` writes for `model`: keys, tensor names, dtypes and shapes,
 * for `metadata.json`. Throws the same errors the export would for an unsupported model.
 */
export function describeServingSignatures(model: tf.LayersModel): ServingSignatures {
    return buildServingGraph(model).signatures;
}

/** The bytes of `saved_model.pb` for `model`; the same weights always give the same bytes. */
export function serializeSavedModel(model: tf.LayersModel): Uint8Array {
    return encodeSavedModel(buildServingGraph(model).savedModel);
}

/** The version directory `<baseDir>/<name>/<version>`, after checking name and version. */
export function versionDir(baseDir: string, name: string, version: number): string {
    if (!MODEL_NAME_PATTERN.test(name)) {
        throw new Error(
            `model \`name\` is "${name}"; expected ${MODEL_NAME_EXPECTED} (it becomes a directory ` +
                "and a TF Serving URL segment)",
        );
    }
    if (!Number.isSafeInteger(version) || version < 1) {
        throw new Error(
            `model \`version\` is ${version}; expected a positive integer (TF Serving's version directory)`,
        );
    }
    return path.join(baseDir, name, String(version));
}

/**
 * Fills the version directory for `options` atomically (see `writeDirAtomically`): its hidden
 * temporary name is never a number, so TF Serving never picks up a partial version. If `fill`
 * throws, no version directory appears and an existing one is untouched.
 */
export async function writeVersionDir(
    baseDir: string,
    options: ExportOptions,
    fill: (dir: string) => Promise<void>,
): Promise<string> {
    const target = versionDir(baseDir, options.name, options.version);
    const overwrite = options.overwrite === true;
    if (!overwrite && fs.existsSync(target)) {
        throw new Error(`${target} already exists; pass \`overwrite: true\` to replace it`);
    }
    await writeDirAtomically(target, overwrite ? "replace" : "fail", fill);
    return target;
}

/**
 * Exports `model` as a SavedModel at `<baseDir>/<name>/<version>/saved_model.pb`. Unsupported
 * layers or activations are errors naming the layer; nothing is written unless the whole graph
 * could be built.
 */
export async function exportSavedModel(
    model: tf.LayersModel,
    baseDir: string,
    options: ExportOptions,
): Promise<ExportResult> {
    versionDir(baseDir, options.name, options.version);
    const { savedModel, signatures } = buildServingGraph(model);
    const bytes = encodeSavedModel(savedModel);
    const dir = await writeVersionDir(baseDir, options, async (tmp) => {
        await writeFileDurably(path.join(tmp, SAVED_MODEL_FILE), bytes);
        const warmup = options.warmupBatchSizes ?? [];
        const files: Record<string, string | Uint8Array> = {
            ...options.extraFiles,
            ...(warmup.length === 0
                ? {}
                : { [WARMUP_FILE]: warmupFile(options.name, signatures, warmup) }),
        };
        for (const [rel, content] of Object.entries(files)) {
            await fs.promises.mkdir(path.dirname(path.join(tmp, rel)), { recursive: true });
            await writeFileDurably(path.join(tmp, rel), content);
        }
    });
    return { dir, signatures };
}
