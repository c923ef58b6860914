/**
 * Models a user brings, made outside our trainer: Keras models trained and exported by Python
 * TensorFlow (`make_keras_mnist.py`), in TF Serving's base-directory layout, and a tfjs model of
 * other layers than ours carrying the Keras MLP's weights.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { saveLayersModel } from "../../model/training/artifact";
import { defaultMnistDir } from "../../model/training/data";

/** The models, each a model source. */
export interface BroughtModels {
    /** Keras MLP trained on pixels / 255 (takes 0-1): a base directory holding version 1. */
    readonly mlp: string;
    /** Keras CNN with its own Rescaling (takes 0-255): a base directory holding version 1. */
    readonly cnn: string;
    /** The MLP's layers with random initial weights: a base directory holding version 1. */
    readonly random: string;
    /** A tfjs model.json of Flatten-Dense(64)-Dense(10) with the Keras MLP's weights. */
    readonly tfjs: string;
}

/** The line each Keras run printed: the kind, its Keras test accuracy and where it went. */
export type KerasReport = string;

/**
 * Runs `make_keras_mnist.py` (kind, MNIST directory, base directory, version[, weights file]);
 * returns its report line, or throws with its output.
 */
export function makeKerasModel(python: string, args: readonly string[]): KerasReport {
    const script = path.join(__dirname, "make_keras_mnist.py");
    const run = spawnSync(python, [script, ...args], {
        encoding: "utf8",
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3" },
    });
    if (run.status !== 0) {
        throw new Error(
            `${script} ${args[0]} exited with ${run.status}:\n${run.stdout}\n${run.stderr}`,
        );
    }
    return run.stdout.trim();
}

/** A tfjs Flatten-Dense(64, relu)-Dense(10, softmax) with the weights in `file`. */
function tfjsMlp(file: string): tf.LayersModel {
    const model = tf.sequential({
        layers: [
            tf.layers.flatten({ inputShape: [28, 28] }),
            tf.layers.dense({ units: 64, activation: "relu" }),
            tf.layers.dense({ units: 10, activation: "softmax" }),
        ],
    });
    const bytes = fs.readFileSync(file);
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    let at = 0;
    model.setWeights(
        model.getWeights().map((w) => {
            const size = w.size;
            at += size;
            return tf.tensor(values.slice(at - size, at), w.shape);
        }),
    );
    if (at !== values.length) {
        throw new Error(`${file} holds ${values.length} weights; the tfjs MLP takes ${at}`);
    }
    return model;
}

/** Makes the models under `dir` with `python` (TensorFlow's); `log` gets each Keras report. */
export async function makeBroughtModels(
    dir: string,
    python: string,
    log: (line: string) => void,
): Promise<BroughtModels> {
    const mnist = defaultMnistDir();
    const weights = path.join(dir, "mlp-weights.f32");
    const models = {
        mlp: path.join(dir, "keras-mlp"),
        cnn: path.join(dir, "keras-cnn"),
        random: path.join(dir, "keras-random"),
    };
    log(makeKerasModel(python, ["mlp", mnist, models.mlp, "1", weights]));
    log(makeKerasModel(python, ["cnn", mnist, models.cnn, "1"]));
    log(makeKerasModel(python, ["random", mnist, models.random, "1"]));
    const tfjs = path.join(dir, "tfjs-mlp");
    fs.mkdirSync(tfjs);
    const model = tfjsMlp(weights);
    await saveLayersModel(model, tfjs);
    model.dispose();
    return { ...models, tfjs: path.join(tfjs, "model.json") };
}
