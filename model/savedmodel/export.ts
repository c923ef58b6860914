/**
 * Writes a tfjs LayersModel as a TensorFlow SavedModel that TensorFlow Serving loads, without
 * Python and without TensorFlow itself.
 *
 * The SavedModel holds one frozen graph: weights are `Const` tensors, so there is no `variables/`
 * directory (TensorFlow's loader skips the restore when there is none). One meta graph tagged
 * `serve` carries three signatures:
 *
 * - `serving_default`: pixel intensities 0-255, `(n, 28, 28)` float, scaled inside the graph by
 *   `PIXEL_SCALE`; returns the logits `(n, 10)` as its single output `logits`.
 * - `probabilities`: the same input; returns `softmax(logits)`.
 * - `keras`: the model's own contract, inputs already scaled to 0-1 in the model's input shape;
 *   returns exactly what `model.predict` does.
 *
 * The layers appear twice, sharing one `Const` per weight: under `model/` fed by the `inputs`
 * placeholder (the `keras` signature), and under `serving/` fed by `images`, where the 1/255
 * scale is carried forward to the cheapest exact place rather than applied to every pixel (see
 * `scaleOnce`). TensorFlow runs only the subgraph a signature's tensors need.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES, PIXEL_SCALE } from "../training/data";
import {
    AttrValue,
    DataType,
    GraphDef,
    NodeDef,
    SavedModel,
    SignatureDef,
    TensorInfo,
    dataTypeName,
    encodeSavedModel,
} from "./proto/tensorflow";

/** The tag TF Serving loads by default. */
export const SERVE_TAG = "serve";
/** The method name of a Predict signature, which TF Serving's REST `:predict` dispatches to. */
export const PREDICT_METHOD = "tensorflow/serving/predict";
/** File name of the serialized SavedModel inside a version directory. */
export const SAVED_MODEL_FILE = "saved_model.pb";
/**
 * GraphDef `versions.producer`: the GraphDef version of TensorFlow 2.21, whose op definitions
 * the graph follows. `min_consumer` stays 0 so older runtimes (TF Serving images lag TensorFlow)
 * accept it; only attrs that have existed since TF 1.x are written for the same reason.
 */
export const GRAPH_PRODUCER = 2474;

/** Signature keys of an exported model. */
export const SIGNATURE_KEYS = {
    /** Pixels 0-255 in, logits out. */
    default: "serving_default",
    /** Pixels 0-255 in, softmax probabilities out. */
    probabilities: "probabilities",
    /** The tfjs/Keras model's own contract: inputs scaled to 0-1 in, model output out. */
    keras: "keras",
} as const;

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
type Activation = (typeof SUPPORTED_ACTIVATIONS)[number];

const ACTIVATION_OPS: Readonly<Record<Exclude<Activation, "linear">, string>> = {
    relu: "Relu",
    sigmoid: "Sigmoid",
    tanh: "Tanh",
    softmax: "Softmax",
};

/** One input or output of a signature, as documented in `metadata.json`. */
export interface TensorDescription {
    /** Graph tensor the signature maps this key to (`node:output`). */
    readonly tensor: string;
    /** TensorFlow dtype name, e.g. `DT_FLOAT`. */
    readonly dtype: string;
    /** Dimensions, -1 where any size is accepted; null when even the rank is unknown. */
    readonly shape: readonly number[] | null;
    /** What the values mean, when we know. */
    readonly description?: string;
}

/** One signature of the SavedModel, as documented in `metadata.json`. */
export interface SignatureDescription {
    /** Method name; `tensorflow/serving/predict` for every signature we write. */
    readonly method: string;
    /** Inputs by key, the names a TF Serving request uses. */
    readonly inputs: Readonly<Record<string, TensorDescription>>;
    /** Outputs by key. */
    readonly outputs: Readonly<Record<string, TensorDescription>>;
    /** What the signature is for, when we know. */
    readonly description?: string;
}

/** The serving contract of a SavedModel: the tag set and its signatures by key. */
export interface ServingSignatures {
    /** Tag set of the meta graph TF Serving loads. */
    readonly tags: readonly string[];
    /** Signatures by key; `serving_default` is what a request without a signature gets. */
    readonly signatures: Readonly<Record<string, SignatureDescription>>;
}

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
}

/** What `exportSavedModel` wrote. */
export interface ExportResult {
    /** The version directory, `<baseDir>/<name>/<version>`. */
    readonly dir: string;
    /** Size of `saved_model.pb` in bytes. */
    readonly bytes: number;
    /** The signatures, as `describeServingSignatures` reports them. */
    readonly signatures: ServingSignatures;
}

// ---------------------------------------------------------------------------------------------
// Attr helpers: small constructors so node definitions read like TensorFlow's text format.

const attr = {
    type: (value: number): AttrValue => ({ kind: "type", value }),
    shape: (dim: readonly number[]): AttrValue => ({ kind: "shape", value: { dim } }),
    bool: (value: boolean): AttrValue => ({ kind: "b", value }),
    str: (value: string): AttrValue => ({ kind: "s", value: Buffer.from(value, "utf8") }),
    ints: (i: readonly number[]): AttrValue => ({ kind: "list", value: { i } }),
};
const T_FLOAT = attr.type(DataType.DT_FLOAT);

/** A tensor flowing through the graph under construction: its name and static shape. */
interface GraphTensor {
    readonly name: string;
    /** -1 for the batch dimension. */
    readonly shape: readonly number[];
}

function littleEndian(values: Float32Array | Int32Array): Uint8Array {
    const bytes = new Uint8Array(values.byteLength);
    if (os.endianness() === "LE") {
        bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
        return bytes;
    }
    const view = new DataView(bytes.buffer);
    values.forEach((v, k) =>
        values instanceof Float32Array
            ? view.setFloat32(4 * k, v, true)
            : view.setInt32(4 * k, v, true),
    );
    return bytes;
}

/**
 * Accumulates nodes, refusing duplicate names (TensorFlow would reject the graph later), and
 * keeps each layer's weights as one `Const` however many subgraphs use it.
 */
class GraphBuilder {
    readonly nodes: NodeDef[] = [];
    private readonly names = new Set<string>();
    private readonly weights = new Map<tf.layers.Layer, Float32Array[]>();

    add(
        name: string,
        op: string,
        input: readonly string[],
        attrs: Record<string, AttrValue>,
    ): string {
        if (this.names.has(name)) {
            throw new Error(`graph node name "${name}" is used twice; layer names must be unique`);
        }
        this.names.add(name);
        this.nodes.push({ name, op, input, attr: attrs });
        return name;
    }

    constFloat(name: string, shape: readonly number[], values: Float32Array): string {
        return this.constant(name, DataType.DT_FLOAT, shape, littleEndian(values));
    }

    constInt32(name: string, shape: readonly number[], values: readonly number[]): string {
        return this.constant(name, DataType.DT_INT32, shape, littleEndian(Int32Array.from(values)));
    }

    /** A weight Const, created by the first subgraph that asks for it and shared afterwards. */
    weight(name: string, shape: readonly number[], values: Float32Array): string {
        return this.names.has(name) ? name : this.constFloat(name, shape, values);
    }

    /** The float32 weights of `layer`, read once. */
    weightsOf(layer: tf.layers.Layer, expected: number): Float32Array[] {
        let values = this.weights.get(layer);
        if (values === undefined) {
            values = readWeights(layer, expected);
            this.weights.set(layer, values);
        }
        return values;
    }

    private constant(
        name: string,
        dtype: number,
        shape: readonly number[],
        content: Uint8Array,
    ): string {
        return this.add(name, "Const", [], {
            dtype: attr.type(dtype),
            value: { kind: "tensor", value: { dtype, shape: { dim: shape }, content } },
        });
    }
}

/** The pixel scale while it has not been multiplied in yet: its Const node and its value. */
interface PendingScale {
    readonly node: string;
    readonly value: number;
}

/**
 * One copy of the model's layers in the graph. The graph holds two, sharing their weights: the
 * `model` subgraph behind the `keras` signature, and the `serving` subgraph behind the pixel
 * signatures, which multiplies by `PIXEL_SCALE` as late as it can (see `scaleOnce`).
 */
interface Subgraph {
    readonly g: GraphBuilder;
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
function scopes(sub: Subgraph, layer: tf.layers.Layer): { ops: string; weights: string } {
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
function scaleOnce(sub: Subgraph, x: GraphTensor, name: string): GraphTensor {
    if (sub.pendingScale === undefined) {
        return x;
    }
    const scaled = sub.g.add(name, "Mul", [x.name, sub.pendingScale.node], { T: T_FLOAT });
    sub.pendingScale = undefined;
    return { name: scaled, shape: x.shape };
}

/** Activations that commute with a positive scale. */
function homogeneous(activation: Activation): boolean {
    return activation === "linear" || activation === "relu";
}

function batchShape(shape: readonly (number | null)[], what: string): number[] {
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

function product(dims: readonly number[]): number {
    return dims.reduce((a, b) => a * b, 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
    return a.length === b.length && a.every((d, k) => d === b[k]);
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
interface LayerOutput {
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

function emitReshape(
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
    const [kernel, bias] = sub.g.weightsOf(layer, useBias ? 2 : 1);
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
    const [kernel, bias] = sub.g.weightsOf(layer, useBias ? 2 : 1);
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
function emitLayer(sub: Subgraph, layer: tf.layers.Layer, x: GraphTensor): LayerOutput | undefined {
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

function applyActivation(sub: Subgraph, out: LayerOutput, ops: string): GraphTensor {
    if (out.activation === "linear") {
        return out.pre;
    }
    const op = ACTIVATION_OPS[out.activation];
    return {
        name: sub.g.add(`${ops}/${op}`, op, [out.pre.name], { T: T_FLOAT }),
        shape: out.pre.shape,
    };
}

/**
 * The layers of `model` in execution order, checked to form one chain: each layer takes the
 * previous one's single output. Branching models would need a topological walk we do not have.
 */
function layerChain(model: tf.LayersModel): tf.layers.Layer[] {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
        throw new Error(
            `model "${model.name}" has ${model.inputs.length} inputs and ${model.outputs.length} ` +
                "outputs; the SavedModel writer expects exactly one of each",
        );
    }
    const layers = model.layers;
    let previous: tf.layers.Layer | undefined;
    for (const layer of layers) {
        if (layer.getClassName() === "InputLayer") {
            previous = layer;
            continue;
        }
        const nodes = layer.inboundNodes;
        const sources = nodes.length === 1 ? nodes[0].inboundLayers : [];
        const chained =
            sources.length === 1 &&
            (previous === undefined
                ? sources[0].getClassName() === "InputLayer"
                : sources[0] === previous);
        if (!chained) {
            throw new Error(
                `layer "${layer.name}" (class ${layer.getClassName()}) does not simply follow ` +
                    `${previous === undefined ? "the model input" : `layer "${previous.name}"`}; ` +
                    "the SavedModel writer supports single-chain models (Sequential-like) only",
            );
        }
        previous = layer;
    }
    const last = layers[layers.length - 1];
    if (last === undefined || model.outputs[0].sourceLayer !== last) {
        throw new Error(`model "${model.name}": its output is not produced by its last layer`);
    }
    return layers;
}

/** A subgraph's result: the model's pre-softmax output, and whether the model ends in softmax. */
interface Emitted {
    readonly logits: GraphTensor;
    readonly endsInSoftmax: boolean;
}

/**
 * Emits all layers into `sub` from `input`. The last layer that computes something (trailing
 * Dropout does not) decides whether the model ends in logits or in a softmax that is peeled off,
 * so `serving_default` can return logits either way.
 */
function emitSubgraph(
    sub: Subgraph,
    layers: readonly tf.layers.Layer[],
    input: GraphTensor,
): Emitted {
    const computing = layers.filter((l) => !["InputLayer", "Dropout"].includes(l.getClassName()));
    const finalLayer = computing[computing.length - 1];
    let x = input;
    let endsInSoftmax = false;
    for (const layer of layers) {
        const emitted = emitLayer(sub, layer, x);
        if (emitted === undefined) {
            continue;
        }
        const ops = scopes(sub, layer).ops;
        const out = homogeneous(emitted.activation)
            ? emitted
            : { ...emitted, pre: scaleOnce(sub, emitted.pre, `${ops}/pixel_scale`) };
        if (layer === finalLayer && out.activation !== "linear") {
            if (out.activation !== "softmax") {
                throw new Error(
                    `final layer "${layer.name}" (class ${layer.getClassName()}) ends in ` +
                        `${out.activation}; serving_default returns logits, so the model must end ` +
                        "in a linear or softmax activation",
                );
            }
            endsInSoftmax = true;
            x = out.pre;
            continue;
        }
        x = applyActivation(sub, out, ops);
    }
    x = scaleOnce(sub, x, `${sub.prefix}/pixel_scale`);
    return { logits: x, endsInSoftmax };
}

/** The SavedModel proto for `model` plus the documentation of its signatures. */
interface Plan {
    readonly savedModel: SavedModel;
    readonly signatures: ServingSignatures;
}

function tensorInfo(t: GraphTensor): TensorInfo {
    return { name: `${t.name}:0`, dtype: DataType.DT_FLOAT, shape: { dim: t.shape } };
}

const NOTES = {
    images: `pixel intensities 0-255 of ${IMAGE_SIZE}x${IMAGE_SIZE} images; scaled by 1/255 in the graph`,
    inputs: "the model's own input: pixel intensities already scaled to 0-1",
    logits: `unnormalized scores of the ${NUM_CLASSES} digits; argmax is the prediction`,
    probabilities: `softmax of the logits: one probability per digit, summing to 1`,
    servingDefault: "pixels 0-255 in, logits out",
    probabilitiesSignature: "pixels 0-255 in, softmax probabilities out",
    keras: "the tfjs/Keras model contract: inputs scaled to 0-1 in, the model's output out",
};

function plan(model: tf.LayersModel): Plan {
    const layers = layerChain(model);
    const input = model.inputs[0];
    if (input.dtype !== "float32") {
        throw new Error(`model "${model.name}" input dtype is ${input.dtype}; expected float32`);
    }
    const inputShape = batchShape(input.shape, `model "${model.name}" input`);
    if (product(inputShape.slice(1)) !== IMAGE_PIXELS) {
        throw new Error(
            `model "${model.name}" input shape [${inputShape.slice(1)}] holds ` +
                `${product(inputShape.slice(1))} values per example; serving_default feeds one ` +
                `${IMAGE_SIZE}x${IMAGE_SIZE} image (${IMAGE_PIXELS} values)`,
        );
    }

    const g = new GraphBuilder();
    const pixelShape = [-1, IMAGE_SIZE, IMAGE_SIZE];
    const images: GraphTensor = {
        name: g.add("images", "Placeholder", [], { dtype: T_FLOAT, shape: attr.shape(pixelShape) }),
        shape: pixelShape,
    };
    const inputs: GraphTensor = {
        name: g.add("inputs", "Placeholder", [], { dtype: T_FLOAT, shape: attr.shape(inputShape) }),
        shape: inputShape,
    };
    const direct = emitSubgraph({ g, prefix: "model" }, layers, inputs);
    if (!sameShape(direct.logits.shape, [-1, NUM_CLASSES])) {
        throw new Error(
            `model "${model.name}" output shape is [${direct.logits.shape}]; expected ` +
                `[-1, ${NUM_CLASSES}] (one score per digit)`,
        );
    }
    const scale = g.constFloat("images/scale", [], Float32Array.of(PIXEL_SCALE));
    const entry = sameShape(pixelShape, inputShape)
        ? images
        : emitReshape(g, "images/reshaped", images, inputShape);
    const pendingScale = { node: scale, value: PIXEL_SCALE };
    const served = emitSubgraph({ g, prefix: "serving", pendingScale }, layers, entry);

    const logits: GraphTensor = {
        name: g.add("logits", "Identity", [served.logits.name], { T: T_FLOAT }),
        shape: served.logits.shape,
    };
    const probabilities: GraphTensor = {
        name: g.add("probabilities", "Softmax", [logits.name], { T: T_FLOAT }),
        shape: logits.shape,
    };
    // The Keras contract returns whatever model.predict does: the softmax when the model has one.
    const outputsOp = direct.endsInSoftmax ? "Softmax" : "Identity";
    const outputs: GraphTensor = {
        name: g.add("outputs", outputsOp, [direct.logits.name], { T: T_FLOAT }),
        shape: direct.logits.shape,
    };

    const predict = (
        inKey: string,
        inT: GraphTensor,
        outKey: string,
        outT: GraphTensor,
    ): SignatureDef => ({
        inputs: { [inKey]: tensorInfo(inT) },
        outputs: { [outKey]: tensorInfo(outT) },
        methodName: PREDICT_METHOD,
    });
    const signatureDef: Record<string, SignatureDef> = {
        [SIGNATURE_KEYS.default]: predict("images", images, "logits", logits),
        [SIGNATURE_KEYS.probabilities]: predict("images", images, "probabilities", probabilities),
        [SIGNATURE_KEYS.keras]: predict("inputs", inputs, "outputs", outputs),
    };
    const graphDef: GraphDef = {
        node: g.nodes,
        versions: { producer: GRAPH_PRODUCER, minConsumer: 0 },
    };
    const savedModel: SavedModel = {
        schemaVersion: 1,
        metaGraphs: [{ metaInfoDef: { tags: [SERVE_TAG] }, graphDef, signatureDef }],
    };
    const notes: Record<string, string> = {
        images: NOTES.images,
        inputs: NOTES.inputs,
        logits: NOTES.logits,
        probabilities: NOTES.probabilities,
        outputs: direct.endsInSoftmax ? NOTES.probabilities : NOTES.logits,
    };
    const signatureNotes: Record<string, string> = {
        [SIGNATURE_KEYS.default]: NOTES.servingDefault,
        [SIGNATURE_KEYS.probabilities]: NOTES.probabilitiesSignature,
        [SIGNATURE_KEYS.keras]: NOTES.keras,
    };
    return {
        savedModel,
        signatures: describeSignatures([SERVE_TAG], signatureDef, notes, signatureNotes),
    };
}

/**
 * Documents a signature map as `metadata.json` carries it. `notes` describe tensors by key and
 * `signatureNotes` signatures by key; both are optional (a loaded SavedModel has none).
 */
export function describeSignatures(
    tags: readonly string[],
    signatureDef: Readonly<Record<string, SignatureDef>>,
    notes: Readonly<Record<string, string>> = {},
    signatureNotes: Readonly<Record<string, string>> = {},
): ServingSignatures {
    const tensors = (
        infos: Readonly<Record<string, TensorInfo>>,
    ): Record<string, TensorDescription> =>
        Object.fromEntries(
            Object.keys(infos)
                .sort()
                .map((key) => {
                    const t = infos[key];
                    const shape =
                        t.shape === undefined || t.shape.unknownRank === true
                            ? null
                            : [...t.shape.dim];
                    const description = notes[key];
                    return [
                        key,
                        {
                            tensor: t.name,
                            dtype: dataTypeName(t.dtype),
                            shape,
                            ...(description !== undefined ? { description } : {}),
                        },
                    ];
                }),
        );
    // serving_default first: it is the one most readers look for; the rest alphabetically.
    const rank = (key: string): string => (key === SIGNATURE_KEYS.default ? "" : key);
    const keys = Object.keys(signatureDef).sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
    return {
        tags: [...tags],
        signatures: Object.fromEntries(
            keys.map((key) => {
                const s = signatureDef[key];
                const description = signatureNotes[key];
                return [
                    key,
                    {
                        method: s.methodName,
                        inputs: tensors(s.inputs),
                        outputs: tensors(s.outputs),
                        ...(description !== undefined ? { description } : {}),
                    },
                ];
            }),
        ),
    };
}

/**
 * The signatures `exportSavedModel` writes for `model`: keys, tensor names, dtypes and shapes,
 * for `metadata.json`. Throws the same errors the export would for an unsupported model.
 */
export function describeServingSignatures(model: tf.LayersModel): ServingSignatures {
    return plan(model).signatures;
}

/** The SavedModel proto `exportSavedModel` would write (for inspection and tests). */
export function buildSavedModel(model: tf.LayersModel): SavedModel {
    return plan(model).savedModel;
}

/** The bytes of `saved_model.pb` for `model`; the same weights always give the same bytes. */
export function serializeSavedModel(model: tf.LayersModel): Uint8Array {
    return encodeSavedModel(plan(model).savedModel);
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The version directory `<baseDir>/<name>/<version>`, after checking name and version. */
export function versionDir(baseDir: string, name: string, version: number): string {
    if (!MODEL_NAME.test(name)) {
        throw new Error(
            `model \`name\` is "${name}"; expected letters, digits, ".", "_" or "-", not starting ` +
                'with "." (it becomes a directory and a TF Serving URL segment)',
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
 * Fills a fresh version directory atomically: `fill` writes into a hidden temporary directory
 * beside it (TF Serving only picks up numeric names), which is renamed into place once complete.
 * If `fill` throws, the temporary directory is removed and no version directory appears.
 */
export async function writeVersionDir(
    baseDir: string,
    options: ExportOptions,
    fill: (dir: string) => Promise<void>,
): Promise<string> {
    const final = versionDir(baseDir, options.name, options.version);
    const parent = path.dirname(final);
    await fs.promises.mkdir(parent, { recursive: true });
    const exists = fs.existsSync(final);
    if (exists && options.overwrite !== true) {
        throw new Error(`${final} already exists; pass \`overwrite: true\` to replace it`);
    }
    const tmp = await fs.promises.mkdtemp(path.join(parent, `.tmp-${options.version}-`));
    try {
        // mkdtemp makes the directory private (0700); the image's non-root server must read it.
        await fs.promises.chmod(tmp, 0o755);
        await fill(tmp);
        if (exists) {
            // A directory cannot be renamed over a non-empty one: move the old one aside first,
            // and back if the swap fails, so the previous version survives a failed replace.
            const old = `${tmp}.old`;
            await fs.promises.rename(final, old);
            try {
                await fs.promises.rename(tmp, final);
            } catch (err) {
                await fs.promises.rename(old, final);
                throw err;
            }
            await fs.promises.rm(old, { recursive: true, force: true });
        } else {
            await fs.promises.rename(tmp, final);
        }
    } catch (err) {
        await fs.promises.rm(tmp, { recursive: true, force: true });
        throw err;
    }
    return final;
}

/** Writes `bytes` to `file` and flushes it to disk before returning. */
async function writeDurably(file: string, bytes: Uint8Array): Promise<void> {
    const handle = await fs.promises.open(file, "wx");
    try {
        await handle.writeFile(bytes);
        await handle.sync();
    } finally {
        await handle.close();
    }
}

/**
 * Exports `model` as a SavedModel at `<baseDir>/<name>/<version>/saved_model.pb`, the layout TF
 * Serving polls. Unsupported layers or activations are errors naming the layer; nothing is
 * written unless the whole graph could be built.
 */
export async function exportSavedModel(
    model: tf.LayersModel,
    baseDir: string,
    options: ExportOptions,
): Promise<ExportResult> {
    versionDir(baseDir, options.name, options.version);
    const { savedModel, signatures } = plan(model);
    const bytes = encodeSavedModel(savedModel);
    const dir = await writeVersionDir(baseDir, options, async (tmp) => {
        await writeDurably(path.join(tmp, SAVED_MODEL_FILE), bytes);
        for (const [rel, content] of Object.entries(options.extraFiles ?? {})) {
            await fs.promises.mkdir(path.dirname(path.join(tmp, rel)), { recursive: true });
            await writeDurably(path.join(tmp, rel), Buffer.from(content));
        }
    });
    return { dir, bytes: bytes.length, signatures };
}
