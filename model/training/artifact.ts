/**
 * Reads and writes a tfjs LayersModel as `model.json` + `weights.bin` in a directory: the same
 * layout `tfjs-node`'s `file://` handler uses, done with plain `fs` so it also works on the WASM
 * and CPU backends, where `file://` is not registered.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { errorMessage } from "../../errors";

export const MODEL_JSON = "model.json";
export const WEIGHTS_BIN = "weights.bin";

/** Writes `model` into the existing directory `dir`. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
    await model.save(
        tf.io.withSaveHandler(async (artifacts) => {
            const weights = artifacts.weightData;
            if (weights === undefined || artifacts.weightSpecs === undefined) {
                throw new Error("tfjs produced a model without weights");
            }
            const bytes = Buffer.concat(
                (Array.isArray(weights) ? weights : [weights]).map((b) => Buffer.from(b)),
            );
            fs.writeFileSync(path.join(dir, WEIGHTS_BIN), bytes);
            const modelJson = {
                format: artifacts.format,
                generatedBy: artifacts.generatedBy,
                convertedBy: artifacts.convertedBy,
                modelTopology: artifacts.modelTopology,
                weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs }],
            };
            fs.writeFileSync(path.join(dir, MODEL_JSON), JSON.stringify(modelJson));
            return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
        }),
    );
}

interface WeightsGroup {
    readonly paths: string[];
    readonly weights: tf.io.WeightsManifestEntry[];
}

/**
 * Loads a LayersModel from `jsonPath` (a tfjs `model.json`) and the weight files it lists,
 * which must sit beside it. Errors name the file and what is wrong with it.
 */
export async function loadLayersModel(jsonPath: string): Promise<tf.LayersModel> {
    let parsed: { modelTopology?: unknown; weightsManifest?: WeightsGroup[] };
    try {
        parsed = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
    } catch (err) {
        throw new Error(`${jsonPath}: not a readable tfjs model.json: ${errorMessage(err)}`);
    }
    if (typeof parsed.modelTopology !== "object" || parsed.modelTopology === null) {
        throw new Error(`${jsonPath}: has no modelTopology; expected a tfjs Layers model`);
    }
    const groups = parsed.weightsManifest ?? [];
    const buffers: Buffer[] = [];
    for (const group of groups) {
        for (const p of group.paths) {
            const file = path.join(path.dirname(jsonPath), p);
            if (!fs.existsSync(file)) {
                throw new Error(`${jsonPath}: lists weight file ${p}, which is missing`);
            }
            buffers.push(fs.readFileSync(file));
        }
    }
    const data = Buffer.concat(buffers);
    return tf.loadLayersModel(
        tf.io.fromMemory({
            modelTopology: parsed.modelTopology as tf.io.ModelArtifacts["modelTopology"],
            weightSpecs: groups.flatMap((g) => g.weights),
            weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
        }),
    );
}
