/**
 * Random-weight models that together use every layer type and activation the SavedModel writer
 * supports, shared by the unit tests (checked against a tfjs interpretation of the graph) and the
 * conformance suite (checked against TensorFlow).
 *
 * Weights are seeded and biases non-zero, so a bias or kernel wired to the wrong place shows up.
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_SIZE, NUM_CLASSES } from "../../model/savedmodel/contract";

/** A named model factory. */
export interface LayerCase {
    /** Short name, used for directories and reports. */
    readonly name: string;
    /** What the case exercises. */
    readonly covers: string;
    /** The model's output is a softmax, which the writer peels off to return logits. */
    readonly endsInSoftmax: boolean;
    /** Builds the model with fixed seeds. */
    readonly build: () => tf.LayersModel;
}

const kernel = (seed: number) => tf.initializers.glorotUniform({ seed });
const bias = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed });

/** A Dense layer with a seeded kernel and, when `useBias`, a seeded non-zero bias. */
function dense(
    name: string,
    units: number,
    activation: "linear" | "relu" | "sigmoid" | "tanh" | "softmax",
    seed: number,
    useBias = true,
): tf.layers.Layer {
    return tf.layers.dense({
        name,
        units,
        activation,
        useBias,
        kernelInitializer: kernel(seed),
        biasInitializer: bias(seed + 1),
    });
}

function conv(
    name: string,
    args: Omit<Parameters<typeof tf.layers.conv2d>[0], "name" | "kernelInitializer">,
    seed: number,
): tf.layers.Layer {
    return tf.layers.conv2d({
        ...args,
        name,
        kernelInitializer: kernel(seed),
        biasInitializer: bias(seed + 1),
    });
}

function chain(input: tf.SymbolicTensor, layers: readonly tf.layers.Layer[]): tf.SymbolicTensor {
    return layers.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);
}

const IMAGE: [number, number] = [IMAGE_SIZE, IMAGE_SIZE];

/** Every supported layer class and activation, spread over four small models. */
export const LAYER_CASES: readonly LayerCase[] = [
    {
        name: "dense_activations",
        endsInSoftmax: true,
        covers: "Flatten, Dense with relu/sigmoid/tanh/linear, no-bias Dense, Dropout, final softmax",
        build: () =>
            tf.sequential({
                name: "dense_activations",
                layers: [
                    tf.layers.flatten({ inputShape: IMAGE, name: "flatten" }),
                    dense("d_relu", 32, "relu", 1),
                    dense("d_sigmoid", 24, "sigmoid", 3),
                    dense("d_tanh", 16, "tanh", 5),
                    tf.layers.dropout({ rate: 0.5, name: "dropout" }),
                    dense("d_nobias", 12, "linear", 7, false),
                    dense("d_softmax", NUM_CLASSES, "softmax", 9),
                ],
            }),
    },
    {
        name: "functional_rescaling",
        endsInSoftmax: true,
        covers: "InputLayer, Rescaling with offset, Reshape, Dense on rank 3, Activation layers",
        build: () => {
            const input = tf.input({ shape: IMAGE, name: "pixels" });
            const output = chain(input, [
                tf.layers.rescaling({ scale: 2, offset: -1, name: "rescale" }),
                tf.layers.reshape({ targetShape: [14, 56], name: "reshape" }),
                dense("rank3_dense", 6, "tanh", 11),
                tf.layers.flatten({ name: "flatten" }),
                dense("hidden", 20, "linear", 13),
                tf.layers.activation({ activation: "relu", name: "act_relu" }),
                dense("scores", NUM_CLASSES, "linear", 15),
                tf.layers.activation({ activation: "softmax", name: "act_softmax" }),
            ]);
            return tf.model({ inputs: input, outputs: output, name: "functional_rescaling" });
        },
    },
    {
        name: "conv",
        endsInSoftmax: false,
        covers: "Reshape to NHWC, Conv2D valid/same/strided/dilated, MaxPooling2D valid/same",
        build: () =>
            tf.sequential({
                name: "conv",
                layers: [
                    tf.layers.reshape({
                        targetShape: [...IMAGE, 1],
                        inputShape: IMAGE,
                        name: "to_nhwc",
                    }),
                    conv("conv_valid", { filters: 4, kernelSize: 3, activation: "relu" }, 21),
                    tf.layers.maxPooling2d({ poolSize: 2, name: "pool_valid" }),
                    conv(
                        "conv_strided",
                        {
                            filters: 6,
                            kernelSize: [3, 2],
                            strides: 2,
                            padding: "same",
                            activation: "tanh",
                        },
                        23,
                    ),
                    tf.layers.maxPooling2d({
                        poolSize: 3,
                        strides: 2,
                        padding: "same",
                        name: "pool_same",
                    }),
                    conv(
                        "conv_dilated",
                        {
                            filters: 4,
                            kernelSize: 2,
                            dilationRate: 2,
                            padding: "same",
                            activation: "sigmoid",
                        },
                        25,
                    ),
                    tf.layers.flatten({ name: "flatten" }),
                    dense("logits", NUM_CLASSES, "linear", 27),
                ],
            }),
    },
    {
        name: "conv_nhwc_input",
        endsInSoftmax: false,
        covers: "a model whose own input is (n, 28, 28, 1), so images are reshaped; no-bias Conv2D",
        build: () =>
            tf.sequential({
                name: "conv_nhwc_input",
                layers: [
                    conv(
                        "conv",
                        {
                            inputShape: [...IMAGE, 1],
                            filters: 3,
                            kernelSize: 5,
                            strides: 3,
                            useBias: false,
                        },
                        31,
                    ),
                    tf.layers.flatten({ name: "flatten" }),
                    tf.layers.dropout({ rate: 0.3, name: "dropout" }),
                    dense("logits", NUM_CLASSES, "linear", 33),
                ],
            }),
    },
];
