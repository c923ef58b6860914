/**
 * The serving graph of a tfjs LayersModel: one frozen graph (weights are `Const` tensors, so
 * there is no `variables/` directory) with three signatures:
 *
 * - `serving_default`: pixel intensities 0-255, `(n, 28, 28)` float, scaled inside the graph by
 *   `PIXEL_SCALE`; returns the logits `(n, 10)` as its single output `logits`.
 * - `probabilities`: the same input; returns `softmax(logits)`.
 * - `keras`: the model's own contract, inputs already scaled to 0-1 in the model's input shape;
 *   returns exactly what `model.predict` does.
 *
 * The layers appear twice, sharing one `Const` per weight: under `model/` fed by the `inputs`
 * placeholder (the `keras` signature), and under `serving/` fed by `images`, where the pixel
 * scale is carried forward (see `scaleOnce` in `layers.ts`). TensorFlow runs only the subgraph a
 * signature's tensors need.
 */
import * as tf from "@tensorflow/tfjs";
import {
    IMAGE_PIXELS,
    IMAGE_SIZE,
    NUM_CLASSES,
    PIXEL_SCALE,
    PREDICT_METHOD,
    SERVE_TAG,
    SIGNATURE_KEYS,
    ServingSignatures,
    TENSOR_KEYS,
} from "./contract";
import {
    GraphBuilder,
    GraphTensor,
    T_FLOAT,
    attr,
    product,
    sameShape,
    tensorInfo,
} from "./graphBuilder";
import {
    LayerWeights,
    Subgraph,
    applyActivation,
    batchShape,
    emitLayer,
    emitReshape,
    homogeneous,
    scaleOnce,
    scopes,
} from "./layers";
import { SavedModel, SignatureDef } from "./proto/tensorflow";
import { describeSignatures } from "./signatures";

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
export interface ServingGraph {
    readonly savedModel: SavedModel;
    readonly signatures: ServingSignatures;
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

/**
 * Builds the serving graph of `model`. Unsupported layers, activations or shapes are errors
 * naming the layer; nothing is half-built on the way.
 */
export function buildServingGraph(model: tf.LayersModel): ServingGraph {
    const layers = layerChain(model);
    const inputShape = servingInputShape(model);
    const g = new GraphBuilder();
    const weights = new LayerWeights();
    const pixelShape = [-1, IMAGE_SIZE, IMAGE_SIZE];
    const images: GraphTensor = {
        name: g.add(TENSOR_KEYS.images, "Placeholder", [], {
            dtype: T_FLOAT,
            shape: attr.shape(pixelShape),
        }),
        shape: pixelShape,
    };
    const inputs: GraphTensor = {
        name: g.add("inputs", "Placeholder", [], { dtype: T_FLOAT, shape: attr.shape(inputShape) }),
        shape: inputShape,
    };
    const direct = emitSubgraph({ g, weights, prefix: "model" }, layers, inputs);
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
    const served = emitSubgraph({ g, weights, prefix: "serving", pendingScale }, layers, entry);

    const logits: GraphTensor = {
        name: g.add(TENSOR_KEYS.logits, "Identity", [served.logits.name], { T: T_FLOAT }),
        shape: served.logits.shape,
    };
    const probabilities: GraphTensor = {
        name: g.add(TENSOR_KEYS.probabilities, "Softmax", [logits.name], { T: T_FLOAT }),
        shape: logits.shape,
    };
    // The Keras contract returns whatever model.predict does: the softmax when the model has one.
    const outputsOp = direct.endsInSoftmax ? "Softmax" : "Identity";
    const outputs: GraphTensor = {
        name: g.add("outputs", outputsOp, [direct.logits.name], { T: T_FLOAT }),
        shape: direct.logits.shape,
    };

    return servingSavedModel(
        g,
        { images, inputs, logits, probabilities, outputs },
        direct.endsInSoftmax,
    );
}

/** The batch shape of `model`'s input: float32, one 28x28 image's values per example. */
function servingInputShape(model: tf.LayersModel): number[] {
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
    return inputShape;
}

/**
 * The SavedModel of the finished graph `g`: its three signatures over the named tensors, and
 * their description. `endsInSoftmax` says what the Keras contract's `outputs` hold.
 */
function servingSavedModel(
    g: GraphBuilder,
    t: Record<"images" | "inputs" | "logits" | "probabilities" | "outputs", GraphTensor>,
    endsInSoftmax: boolean,
): ServingGraph {
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
        [SIGNATURE_KEYS.default]: predict(
            TENSOR_KEYS.images,
            t.images,
            TENSOR_KEYS.logits,
            t.logits,
        ),
        [SIGNATURE_KEYS.probabilities]: predict(
            TENSOR_KEYS.images,
            t.images,
            TENSOR_KEYS.probabilities,
            t.probabilities,
        ),
        [SIGNATURE_KEYS.keras]: predict("inputs", t.inputs, "outputs", t.outputs),
    };
    const savedModel: SavedModel = {
        schemaVersion: 1,
        metaGraphs: [{ metaInfoDef: { tags: [SERVE_TAG] }, graphDef: g.graphDef(), signatureDef }],
    };
    const notes: Record<string, string> = {
        images: NOTES.images,
        inputs: NOTES.inputs,
        logits: NOTES.logits,
        probabilities: NOTES.probabilities,
        outputs: endsInSoftmax ? NOTES.probabilities : NOTES.logits,
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
