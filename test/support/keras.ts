/**
 * Hands a tfjs model to Python Keras: a JSON spec of its layers plus one little-endian float32
 * file of weights, which `tf_support.build_keras_model` rebuilds and `make_keras_export.py`
 * exports with Keras' own `model.export()`. Only the layers of the MNIST classifier are covered.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";

/** Path of the spec JSON written by `writeKerasSpec`. */
export const KERAS_SPEC = "keras-spec.json";
const WEIGHTS = "keras-weights.f32";

/** Writes the spec and weights of `model` into `dir`; returns the spec file. */
export function writeKerasSpec(model: tf.LayersModel, dir: string): string {
    const chunks: Float32Array[] = [];
    let offset = 0;
    const layers = model.layers
        .filter((layer) => layer.getClassName() !== "InputLayer")
        .map((layer) => {
            const config = layer.getConfig();
            switch (layer.getClassName()) {
                case "Flatten":
                    return { type: "Flatten", name: layer.name };
                case "Dropout":
                    return { type: "Dropout", name: layer.name, rate: config.rate };
                case "Dense": {
                    const weights = layer.getWeights().map((w) => {
                        const values = Float32Array.from(w.dataSync() as Float32Array);
                        chunks.push(values);
                        const entry = { offset, shape: w.shape };
                        offset += values.length;
                        return entry;
                    });
                    return {
                        type: "Dense",
                        name: layer.name,
                        units: config.units,
                        activation: config.activation,
                        useBias: config.useBias !== false,
                        weights,
                    };
                }
                default:
                    throw new Error(
                        `layer "${layer.name}" (class ${layer.getClassName()}) is outside the Keras ` +
                            "spec subset (Flatten, Dense, Dropout)",
                    );
            }
        });
    // Little-endian whatever the host, as numpy's "<f4" reads it.
    const bytes = Buffer.alloc(offset * 4);
    let at = 0;
    for (const c of chunks) {
        c.forEach((v) => {
            bytes.writeFloatLE(v, at);
            at += 4;
        });
    }
    fs.writeFileSync(path.join(dir, WEIGHTS), bytes);
    const spec = {
        name: model.name,
        inputShape: model.inputs[0].shape.slice(1),
        inputName: "images",
        weightsFile: WEIGHTS,
        layers,
    };
    const file = path.join(dir, KERAS_SPEC);
    fs.writeFileSync(file, `${JSON.stringify(spec, null, 2)}\n`);
    return file;
}

/** Runs `make_keras_export.py` with `python`; throws with its output when it fails. */
export function exportWithKeras(python: string, specFile: string, outDir: string): void {
    const script = path.join(__dirname, "make_keras_export.py");
    const run = spawnSync(python, [script, specFile, outDir], { encoding: "utf8" });
    if (run.status !== 0) {
        throw new Error(`${script} exited with ${run.status}:\n${run.stdout}\n${run.stderr}`);
    }
}
