/**
 * Turns tfjs layers into graph nodes, one layer at a time, for a subgraph of the serving export.
 *
 * While a subgraph is fed raw pixels, the 1/255 pixel scale is carried forward to the cheapest
 * exact place rather than applied to every pixel (see `scaleOnce`).
 */
import * as tf from "@tensorflow/tfjs";
import { GraphBuilder, GraphTensor, T_FLOAT, attr, sameShape } from "./graphBuilder";
import { DataType } from "./proto/tensorflow";

/** Layer classes the writer turns into graph nodes. */
export const SUPPORTED_LAYERS = [
    "InputLayer",
    "Flatten",
    "Reshape",
    "Dense",
    "Dropout",
    "Rescaling",
    "Activation",
    "Conv2D",
    "MaxPooling2D",
] as const;

/** Activations the writer supports, inside Dense, Conv2D and Activation layers. */
export const SUPPORTED_ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax"] as const;
/** One of `SUPPORTED_ACTIVATIONS`. */
export type Activation = (typeof SUPPORTED_ACTIVATIONS)[number];

const ACTIVATION_OPS: Readonly<Record<Exclude<Activation, "linear">, string>> = {
    relu: "Relu",
    sigmoid: "Sigmoid",
    tanh: "Tanh",
    softmax: "Softmax",
};

/** Each layer's float32 weights, read from tfjs once however many subgraphs emit the layer. */
export class LayerWeights {
    private readonly weights = new Map<tf.layers.Layer, Float32Array[]>();

    /** The weights of `layer`, which must hold `expected` tensors. */
    of(layer: tf.layers.Layer, expected: number): Float32Array[] {
        let values = this.weights.get(layer);
        if (values === undefined) {
            values = readWeights(layer, expected);
            this.weights.set(layer, values);
        }
        return values;
    }
}

/** The pixel scale while it has not been multiplied in yet: its Const node and its value. */
export interface PendingScale {
    readonly node: string;
    readonly value: number;
}

/**
 * One copy of the model's layers in the graph. The graph holds two, sharing their weights: the
 * `model` subgraph behind the `keras` signature, and the `serving` subgraph behind the pixel
 * signatures, which multiplies by `PIXEL_SCALE` as late as it can (see `scaleOnce`).
 */
export interface Subgraph {
    readonly g: GraphBuilder;
    /** The model's weights, shared by every subgraph of one graph. */
    readonly weights: LayerWeights;
    /** Prefix of this subgraph's op nodes; shared weights live under `model/`. */
    readonly prefix: string;
    /** The pixel scale still to be multiplied in, until some layer needs it applied. */
    pendingScale?: PendingScale;
}

/** graph.proto allows `[A-Za-z0-9.][A-Za-z0-9_./]*` in node names; tfjs layer names, anything. */
function cleanName(layerName: string): string {
    return layerName.replace(/[^A-Za-z0-9_.]/g, "_");
}

/** Node-name prefixes of a layer: `ops` for its computation, `weights` for its shared Consts. */
export function scopes(sub: Subgraph, layer: tf.layers.Layer): { ops: string; weights: string } {
    const name = cleanName(layer.name);
    return { ops: `${sub.prefix}/${name}`, weights: `model/${name}` };
}

/**
 * Multiplies in the pending pixel scale s, once. Scaling every pixel would cost a pass over the
 * largest tensor and split the MatMul + BiasAdd + Relu that TensorFlow fuses, so the scale is
 * carried forward through every op f with f(s x) = s f(x) for s > 0: reshapes, MatMul,
 * convolution, max pooling, Relu, and a bias add whose bias is divided by s. For the MNIST model
 * it reaches the logits, a (n, 10) multiply. Anything else (sigmoid, tanh, softmax, Rescaling)
 * gets the scale applied just before it.
 */
export function scaleOnce(sub: Subgraph, x: GraphTensor, name: string): GraphTensor {
    if (sub.pendingScale === undefined) {
        return x;
    }
    const scaled = sub.g.add(name, "Mul", [x.name, sub.pendingScale.node], { T: T_FLOAT });
    sub.pendingScale = undefined;
    return { name: scaled, shape: x.shape };
}

/** Activations that commute with a positive scale. */
export function homogeneous(activation: Activation): boolean {
    return activation === "linear" || activation === "relu";
}

/** A tfjs shape with the batch dimension as -1; every other dimension must be known. */
export function batchShape(shape: readonly (number | null)[], what: string): number[] {
    return shape.map((d, k) => {
        if (k === 0) {
            return -1;
        }
        if (d === null || !Number.isInteger(d) || d < 1) {
            throw new Error(`${what} has dimension ${k} = ${d}; expected a known positive size`);
        }
        return d;
    });
}

function layerOutputShape(layer: tf.layers.Layer): number[] {
    const shape = layer.outputShape;
    if (shape.length > 0 && Array.isArray(shape[0])) {
        throw new Error(
            `layer "${layer.name}" (${layer.getClassName()}) has several outputs; expected one`,
        );
    }
    return batchShape(shape as (number | null)[], `the output of layer "${layer.name}"`);
}

function unsupportedLayer(layer: tf.layers.Layer, why?: string): Error {
    const detail = why === undefined ? "is not supported" : why;
    return new Error(
        `layer "${layer.name}" (class ${layer.getClassName()}) ${detail}; the SavedModel writer ` +
            `supports layers ${SUPPORTED_LAYERS.join(", ")} with activations ` +
            `${SUPPORTED_ACTIVATIONS.join(", ")}`,
    );
}

function activationOf(layer: tf.layers.Layer): Activation {
    const name = layer.getConfig().activation;
    if (typeof name !== "string" || !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(name)) {
        throw unsupportedLayer(layer, `uses activation "${String(name)}", which is not supported`);
    }
    return name as Activation;
}

function readWeights(layer: tf.layers.Layer, expected: number): Float32Array[] {
    const weights = layer.getWeights();
    if (weights.length !== expected) {
        throw new Error(
            `layer "${layer.name}" (${layer.getClassName()}) has ${weights.length} weight tensors; ` +
                `expected ${expected}`,
        );
    }
    return weights.map((w, k) => {
        if (w.dtype !== "float32") {
            throw new Error(`layer "${layer.name}" weight ${k} is ${w.dtype}; expected float32`);
        }
        // A copy: some backends hand out their own storage, and the writer keeps a reference.
        return Float32Array.from(w.dataSync() as Float32Array);
    });
}

function pair(value: unknown, field: string, layer: tf.layers.Layer): [number, number] {
    const v = Array.isArray(value) ? value : [value, value];
    if (v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 1)) {
        throw unsupportedLayer(
            layer,
            `has ${field} ${JSON.stringify(value)}, expected two positive integers`,
        );
    }
    return [v[0], v[1]];
}

function channelsLast(layer: tf.layers.Layer): void {
    const format = layer.getConfig().dataFormat;
    if (format !== undefined && format !== "channelsLast") {
        throw unsupportedLayer(
            layer,
            `has dataFormat "${String(format)}", only channelsLast is supported`,
        );
    }
}

function padding(layer: tf.layers.Layer): "VALID" | "SAME" {
    const p = layer.getConfig().padding;
    if (p === "valid") {
        return "VALID";
    }
    if (p === "same") {
        return "SAME";
    }
    throw unsupportedLayer(layer, `has padding "${String(p)}", only valid and same are supported`);
}

/** What one layer produced: its value before activation, and the activation still to apply. */
export interface LayerOutput {
    readonly pre: GraphTensor;
    readonly activation: Activation;
}

function emitBias(
    sub: Subgraph,
    ops: string,
    weights: string,
    x: GraphTensor,
    bias: Float32Array,
): GraphTensor {
    // While the pixel scale s is pending, x stands for (true value) / s, so the bias must too:
    // x + b / s, scaled later, equals the model's (x s) + b. That bias is this subgraph's own.
    const pending = sub.pendingScale;
    const b =
        pending === undefined
            ? sub.g.weight(`${weights}/bias`, [bias.length], bias)
            : sub.g.constFloat(
                  `${ops}/bias_over_scale`,
                  [bias.length],
                  bias.map((v) => v / pending.value),
              );
    return {
        name: sub.g.add(`${ops}/BiasAdd`, "BiasAdd", [x.name, b], {
            T: T_FLOAT,
            data_format: attr.str("NHWC"),
        }),
        shape: x.shape,
    };
}

/** A Reshape of `x` to the static `shape` (-1 for the batch). */
export function emitReshape(
    g: GraphBuilder,
    name: string,
    x: GraphTensor,
    shape: readonly number[],
): GraphTensor {
    const s = g.constInt32(`${name}/shape`, [shape.length], shape);
    return {
        name: g.add(name, "Reshape", [x.name, s], {
            T: T_FLOAT,
            Tshape: attr.type(DataType.DT_INT32),
        }),
        shape,
    };
}

function emitDense(sub: Subgraph, layer: tf.layers.Layer, x: GraphTensor): LayerOutput {
    const { ops, weights } = scopes(sub, layer);
    const config = layer.getConfig();
    const units = config.units as number;
    const useBias = config.useBias !== false;
    const [kernel, bias] = sub.weights.of(layer, useBias ? 2 : 1);
    const inDim = x.shape[x.shape.length - 1];
    if (kernel.length !== inDim * units) {
        throw new Error(
            `layer "${layer.name}" kernel holds ${kernel.length} values; expected ${inDim}x${units}`,
        );
    }
    // Keras applies Dense to the last axis of any rank; MatMul wants a matrix, so fold the
    // leading axes into the batch and unfold them afterwards.
    const folded = x.shape.length > 2 ? emitReshape(sub.g, `${ops}/fold`, x, [-1, inDim]) : x;
    const k = sub.g.weight(`${weights}/kernel`, [inDim, units], kernel);
    let y: GraphTensor = {
        name: sub.g.add(`${ops}/MatMul`, "MatMul", [folded.name, k], {
            T: T_FLOAT,
            transpose_a: attr.bool(false),
            transpose_b: attr.bool(false),
        }),
        shape: [-1, units],
    };
    if (useBias) {
        y = emitBias(sub, ops, weights, y, bias);
    }
    if (x.shape.length > 2) {
        y = emitReshape(sub.g, `${ops}/unfold`, y, [...x.shape.slice(0, -1), units]);
    }
    return { pre: y, activation: activationOf(layer) };
}

function emitConv2D(sub: Subgraph, layer: tf.layers.Layer, x: GraphTensor): LayerOutput {
    const { ops, weights } = scopes(sub, layer);
    channelsLast(layer);
    const config = layer.getConfig();
    const filters = config.filters as number;
    const [kh, kw] = pair(config.kernelSize, "kernelSize", layer);
    const [sh, sw] = pair(config.strides ?? 1, "strides", layer);
    const [dh, dw] = pair(config.dilationRate ?? 1, "dilationRate", layer);
    const useBias = config.useBias !== false;
    const [kernel, bias] = sub.weights.of(layer, useBias ? 2 : 1);
    if (x.shape.length !== 4) {
        throw unsupportedLayer(
            layer,
            `gets input of rank ${x.shape.length}, expected (n, h, w, c)`,
        );
    }
    const channels = x.shape[3];
    const k = sub.g.weight(`${weights}/kernel`, [kh, kw, channels, filters], kernel);
    let y: GraphTensor = {
        name: sub.g.add(`${ops}/Conv2D`, "Conv2D", [x.name, k], {
            T: T_FLOAT,
            data_format: attr.str("NHWC"),
            dilations: attr.ints([1, dh, dw, 1]),
            padding: attr.str(padding(layer)),
            strides: attr.ints([1, sh, sw, 1]),
            use_cudnn_on_gpu: attr.bool(true),
        }),
        shape: layerOutputShape(layer),
    };
    if (useBias) {
        y = emitBias(sub, ops, weights, y, bias);
    }
    return { pre: y, activation: activationOf(layer) };
}

function emitMaxPool(sub: Subgraph, layer: tf.layers.Layer, x: GraphTensor): LayerOutput {
    const { ops } = scopes(sub, layer);
    channelsLast(layer);
    const config = layer.getConfig();
    const [ph, pw] = pair(config.poolSize, "poolSize", layer);
    const [sh, sw] = pair(config.strides ?? config.poolSize, "strides", layer);
    const name = sub.g.add(`${ops}/MaxPool`, "MaxPool", [x.name], {
        T: T_FLOAT,
        data_format: attr.str("NHWC"),
        ksize: attr.ints([1, ph, pw, 1]),
        padding: attr.str(padding(layer)),
        strides: attr.ints([1, sh, sw, 1]),
    });
    return { pre: { name, shape: layerOutputShape(layer) }, activation: "linear" };
}

function emitRescaling(sub: Subgraph, layer: tf.layers.Layer, x: GraphTensor): LayerOutput {
    const { ops, weights } = scopes(sub, layer);
    const config = layer.getConfig();
    const scale = Number(config.scale);
    const offset = Number(config.offset ?? 0);
    const input = scaleOnce(sub, x, `${ops}/pixel_scale`);
    const s = sub.g.weight(`${weights}/scale`, [], Float32Array.of(scale));
    let y: GraphTensor = {
        name: sub.g.add(`${ops}/Mul`, "Mul", [input.name, s], { T: T_FLOAT }),
        shape: x.shape,
    };
    if (offset !== 0) {
        const o = sub.g.weight(`${weights}/offset`, [], Float32Array.of(offset));
        y = {
            name: sub.g.add(`${ops}/AddV2`, "AddV2", [y.name, o], { T: T_FLOAT }),
            shape: x.shape,
        };
    }
    return { pre: y, activation: "linear" };
}

/** Emits one layer, or returns undefined for layers that are the identity at inference. */
export function emitLayer(
    sub: Subgraph,
    layer: tf.layers.Layer,
    x: GraphTensor,
): LayerOutput | undefined {
    const { ops } = scopes(sub, layer);
    switch (layer.getClassName()) {
        case "InputLayer":
        case "Dropout":
            return undefined;
        case "Flatten": {
            channelsLast(layer);
            const shape = layerOutputShape(layer);
            return {
                pre: sameShape(shape, x.shape) ? x : emitReshape(sub.g, `${ops}/Reshape`, x, shape),
                activation: "linear",
            };
        }
        case "Reshape":
            return {
                pre: emitReshape(sub.g, `${ops}/Reshape`, x, layerOutputShape(layer)),
                activation: "linear",
            };
        case "Dense":
            return emitDense(sub, layer, x);
        case "Conv2D":
            return emitConv2D(sub, layer, x);
        case "MaxPooling2D":
            return emitMaxPool(sub, layer, x);
        case "Rescaling":
            return emitRescaling(sub, layer, x);
        case "Activation":
            return { pre: x, activation: activationOf(layer) };
        default:
            throw unsupportedLayer(layer);
    }
}

/** Applies the activation a layer left pending, under the layer's op scope. */
export function applyActivation(sub: Subgraph, out: LayerOutput, ops: string): GraphTensor {
    if (out.activation === "linear") {
        return out.pre;
    }
    const op = ACTIVATION_OPS[out.activation];
    return {
        name: sub.g.add(`${ops}/${op}`, op, [out.pre.name], { T: T_FLOAT }),
        shape: out.pre.shape,
    };
}
