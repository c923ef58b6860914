/**
 * Where the served model comes from when it is not trained here: an existing SavedModel
 * directory (for example one exported by Keras in Python), packaged exactly as it is, or a tfjs
 * `model.json` with its weights, converted by our SavedModel writer.
 *
 * A SavedModel is checked before it is packaged, against what TF Serving and our clients need:
 * `saved_model.pb` parses, a meta graph is tagged exactly `serve`, it has a `serving_default`
 * signature with one float input compatible with `(n, 28, 28)`, and the files it refers to are
 * there. Each failed check is a `SavedModelValidationError` saying which one.
 */
import * as fs from "fs";
import * as path from "path";
import { IMAGE_SIZE } from "../savedmodel/contract";
import { MODEL_JSON, loadLayersModel } from "../training/artifact";
import {
    DataType,
    MetaGraphDef,
    SavedModel,
    TensorShape,
    dataTypeName,
    decodeSavedModel,
} from "../savedmodel/proto/tensorflow";
import { ExportOptions, exportSavedModel, writeVersionDir } from "../savedmodel/export";
import {
    SAVED_MODEL_FILE,
    SERVE_TAG,
    SIGNATURE_KEYS,
    ServingSignatures,
} from "../savedmodel/contract";
import { describeSignatures } from "../savedmodel/signatures";
import { describeContents, versionDirOf, versionsIn } from "./baseDir";
import { errorMessage } from "../../errors";

/** The two kinds of model source besides training. */
export type ModelFileKind = "savedmodel" | "tfjs";

/** A model file on disk: a SavedModel directory or a tfjs `model.json` file. */
export interface ModelOnDisk {
    /** What the path holds. */
    readonly kind: ModelFileKind;
    /** The SavedModel directory, or the `model.json` file. */
    readonly path: string;
}

/** The checks `validateSavedModelDir` makes, in order; a failure names one of these. */
export const SAVED_MODEL_CHECKS = [
    "directory",
    "saved_model.pb",
    "parse",
    "tag-set",
    "serving_default",
    "input-count",
    "input-dtype",
    "input-shape",
    "outputs",
    "variables",
    "assets",
] as const;
/** One of `SAVED_MODEL_CHECKS`. */
export type SavedModelCheck = (typeof SAVED_MODEL_CHECKS)[number];

/** A SavedModel directory failed a check; `check` says which. */
export class SavedModelValidationError extends Error {
    /** The directory that was checked. */
    readonly dir: string;
    /** The check that failed. */
    readonly check: SavedModelCheck;

    constructor(dir: string, check: SavedModelCheck, detail: string) {
        super(`SavedModel ${dir} failed check "${check}": ${detail}`);
        this.name = "SavedModelValidationError";
        this.dir = dir;
        this.check = check;
    }
}

/** What validation learned about a SavedModel directory. */
export interface ValidatedSavedModel {
    /** The directory. */
    readonly dir: string;
    /** The decoded `saved_model.pb` (without graph nodes). */
    readonly savedModel: SavedModel;
    /** The meta graph TF Serving will load (tag set exactly `serve`). */
    readonly metaGraph: MetaGraphDef;
    /** Its signatures as `metadata.json` documents them. */
    readonly signatures: ServingSignatures;
    /** Key of the single `serving_default` input, the name a predict request uses. */
    readonly inputKey: string;
    /** Whether weights live in `variables/` (a Keras export) rather than in the graph. */
    readonly hasVariables: boolean;
}

/** What `packageModelSource` wrote. */
export interface PackagedModel {
    /** The version directory `<baseDir>/<name>/<version>`. */
    readonly dir: string;
    /** Where the model came from. */
    readonly source: ModelOnDisk;
    /** The packaged model's signatures, for `metadata.json`. */
    readonly signatures: ServingSignatures;
}

/**
 * Works out what `sourcePath` holds: a directory with `saved_model.pb` is a SavedModel; a
 * `.json` file, or a directory with `model.json`, is a tfjs model; a directory of numbered
 * version directories is TF Serving's model base directory, whose version `version` is taken.
 */
export function resolveModelSource(sourcePath: string, version?: number): ModelOnDisk {
    let stat: fs.Stats;
    try {
        stat = fs.statSync(sourcePath);
    } catch {
        throw new Error(`model source ${sourcePath} does not exist`);
    }
    if (stat.isFile()) {
        if (!sourcePath.endsWith(".json")) {
            throw new Error(
                `model source ${sourcePath} is a file but not a tfjs model.json; expected a ` +
                    "SavedModel directory, a directory holding model.json, or a model.json file",
            );
        }
        return { kind: "tfjs", path: sourcePath };
    }
    if (fs.existsSync(path.join(sourcePath, SAVED_MODEL_FILE))) {
        return { kind: "savedmodel", path: sourcePath };
    }
    if (fs.existsSync(path.join(sourcePath, MODEL_JSON))) {
        return { kind: "tfjs", path: path.join(sourcePath, MODEL_JSON) };
    }
    const versions = versionsIn(sourcePath);
    if (versions.length > 0) {
        if (version === undefined) {
            throw new Error(
                `model source ${sourcePath} is a model base directory holding versions ${versions.join(", ")}; ` +
                    "expected the version to take, or a path to one version directory",
            );
        }
        const versionDir = versionDirOf(sourcePath, versions, version);
        if (!fs.existsSync(path.join(versionDir, SAVED_MODEL_FILE))) {
            throw new Error(
                `model source ${sourcePath} is a model base directory, but its version ${version} ` +
                    `holds no ${SAVED_MODEL_FILE} (${describeContents(versionDir)}); expected a SavedModel there`,
            );
        }
        return { kind: "savedmodel", path: versionDir };
    }
    throw new Error(
        `model source ${sourcePath} holds neither ${SAVED_MODEL_FILE} (a SavedModel), ` +
            `${MODEL_JSON} (a tfjs model) nor numbered version directories (a TF Serving model base ` +
            `directory); ${describeContents(sourcePath)}. Expected the model source to point at one of those`,
    );
}

function formatShape(shape: TensorShape | undefined): string {
    if (shape === undefined || shape.unknownRank === true) {
        return "unknown rank";
    }
    return `(${shape.dim.join(", ")})`;
}

/**
 * Why `shape` cannot take a batch of 28x28 images, or undefined when it can. TensorFlow's rule
 * applies: -1 matches any size, and an unknown rank matches any shape. The batch dimension must
 * be -1 because clients send any number of images.
 */
function imageShapeProblem(shape: TensorShape | undefined): string | undefined {
    if (shape === undefined || shape.unknownRank === true) {
        return undefined;
    }
    const dims = shape.dim;
    const wanted = `(n, ${IMAGE_SIZE}, ${IMAGE_SIZE})`;
    if (dims.length !== 3) {
        return `shape ${formatShape(shape)} has rank ${dims.length}; expected ${wanted}`;
    }
    if (dims[0] !== -1) {
        return `shape ${formatShape(shape)} fixes the batch size at ${dims[0]}; expected -1 so any n works`;
    }
    if (!dims.slice(1).every((d) => d === -1 || d === IMAGE_SIZE)) {
        return `shape ${formatShape(shape)} is not compatible with ${wanted}`;
    }
    return undefined;
}

/**
 * Checks that `dir` is a SavedModel TF Serving can load and our clients can call; throws a
 * `SavedModelValidationError` naming the first check that fails.
 */
export function validateSavedModelDir(dir: string): ValidatedSavedModel {
    const fail: Refuse = (check, detail) => {
        throw new SavedModelValidationError(dir, check, detail);
    };
    const savedModel = readSavedModel(dir, fail);
    // TensorFlow's loader picks the meta graph whose tag set equals the requested one exactly.
    const metaGraph = savedModel.metaGraphs.find(
        (m) => m.metaInfoDef.tags.length > 0 && m.metaInfoDef.tags.every((t) => t === SERVE_TAG),
    );
    if (metaGraph === undefined) {
        const found = savedModel.metaGraphs
            .map((m) => `{${m.metaInfoDef.tags.join(", ")}}`)
            .join(", ");
        return fail("tag-set", `no meta graph has the tag set {${SERVE_TAG}}; found ${found}`);
    }
    const inputKey = servingDefaultInput(metaGraph, fail);
    const hasVariables = metaGraph.hasSaverDef === true;
    const index = path.join(dir, "variables", "variables.index");
    if (hasVariables && !fs.existsSync(index)) {
        fail(
            "variables",
            "the graph restores variables from a checkpoint but variables/variables.index is missing",
        );
    }
    if ((metaGraph.assetFileCount ?? 0) > 0 && !fs.existsSync(path.join(dir, "assets"))) {
        fail(
            "assets",
            `the graph lists ${metaGraph.assetFileCount} asset files but assets/ is missing`,
        );
    }
    return {
        dir,
        savedModel,
        metaGraph,
        signatures: describeSignatures(metaGraph.metaInfoDef.tags, metaGraph.signatureDef),
        inputKey,
        hasVariables,
    };
}

/** Throws the SavedModelValidationError of `check`. */
type Refuse = (check: SavedModelCheck, detail: string) => never;

/** The SavedModel of `dir`'s `saved_model.pb`, holding at least one meta graph. */
function readSavedModel(dir: string, fail: Refuse): SavedModel {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        fail("directory", "does not exist or is not a directory");
    }
    const pbFile = path.join(dir, SAVED_MODEL_FILE);
    if (!fs.existsSync(pbFile)) {
        const text = fs.existsSync(path.join(dir, "saved_model.pbtxt"));
        fail(
            "saved_model.pb",
            text
                ? "has saved_model.pbtxt only; the text format is not supported, expected saved_model.pb"
                : `has no ${SAVED_MODEL_FILE}`,
        );
    }
    let savedModel: SavedModel;
    try {
        savedModel = decodeSavedModel(fs.readFileSync(pbFile), SAVED_MODEL_FILE, { graph: false });
    } catch (err) {
        return fail(
            "parse",
            `${SAVED_MODEL_FILE} is not a valid SavedModel protobuf: ${errorMessage(err)}`,
        );
    }
    if (savedModel.metaGraphs.length === 0) {
        fail("parse", `${SAVED_MODEL_FILE} decodes but holds no meta graph`);
    }
    return savedModel;
}

/**
 * The key of the one input of the meta graph's `serving_default`: float images of 28x28 values,
 * with at least one output.
 */
function servingDefaultInput(metaGraph: MetaGraphDef, fail: Refuse): string {
    const signature = metaGraph.signatureDef[SIGNATURE_KEYS.default];
    if (signature === undefined) {
        const keys = Object.keys(metaGraph.signatureDef).sort();
        return fail(
            "serving_default",
            `the "${SERVE_TAG}" meta graph has no ${SIGNATURE_KEYS.default} signature; it has ` +
                (keys.length > 0 ? keys.join(", ") : "none"),
        );
    }
    const inputKeys = Object.keys(signature.inputs);
    if (inputKeys.length !== 1) {
        fail(
            "input-count",
            `${SIGNATURE_KEYS.default} has ${inputKeys.length} inputs (${inputKeys.join(", ")}); ` +
                "expected exactly one, the images",
        );
    }
    const inputKey = inputKeys[0];
    const input = signature.inputs[inputKey];
    if (input.dtype !== DataType.DT_FLOAT) {
        fail(
            "input-dtype",
            `${SIGNATURE_KEYS.default} input "${inputKey}" is ${dataTypeName(input.dtype)}; expected DT_FLOAT`,
        );
    }
    const shapeProblem = imageShapeProblem(input.shape);
    if (shapeProblem !== undefined) {
        fail("input-shape", `${SIGNATURE_KEYS.default} input "${inputKey}": ${shapeProblem}`);
    }
    if (Object.keys(signature.outputs).length === 0) {
        fail("outputs", `${SIGNATURE_KEYS.default} has no outputs`);
    }
    return inputKey;
}

/**
 * Packages a model source as version `options.version` of `options.name` under `baseDir`: a
 * SavedModel is validated and copied as it is (variables/, assets/ and all), a tfjs model is
 * loaded and exported by our writer. The version directory appears atomically or not at all.
 */
export async function packageModelSource(
    source: string | ModelOnDisk,
    baseDir: string,
    options: ExportOptions,
): Promise<PackagedModel> {
    const resolved =
        typeof source === "string" ? resolveModelSource(source, options.version) : source;
    if (resolved.kind === "tfjs") {
        const model = await loadLayersModel(resolved.path);
        try {
            const result = await exportSavedModel(model, baseDir, options);
            return { dir: result.dir, source: resolved, signatures: result.signatures };
        } finally {
            model.dispose();
        }
    }
    const validated = validateSavedModelDir(resolved.path);
    const dir = await writeVersionDir(baseDir, options, async (tmp) => {
        // dereference: a symlinked variables/ must arrive as files inside the image.
        await fs.promises.cp(resolved.path, tmp, { recursive: true, dereference: true });
        // The copy is what ships; check it too, so a file that vanished mid-copy fails here.
        validateSavedModelDir(tmp);
    });
    return { dir, source: resolved, signatures: validated.signatures };
}
