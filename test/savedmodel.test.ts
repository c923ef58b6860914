import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_SIZE, PIXEL_SCALE } from "../model/savedmodel/contract";
import { createModel } from "../model/training/model";
import {
    AttrValue,
    DataType,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    SavedModel,
    attrText,
    decodeSavedModel,
    encodeSavedModel,
    tensorFloats,
    tensorInt32s,
} from "../model/savedmodel/proto/tensorflow";
import { readFields, toInt64 } from "../model/savedmodel/proto/wire";
import { ProtoWriter } from "../model/savedmodel/proto/writer";
import {
    describeServingSignatures,
    exportSavedModel,
    serializeSavedModel,
    writeVersionDir,
} from "../model/savedmodel/export";
import { GRAPH_PRODUCER } from "../model/savedmodel/graphBuilder";
import { PREDICT_METHOD, SAVED_MODEL_FILE } from "../model/savedmodel/contract";
import { SUPPORTED_ACTIVATIONS, SUPPORTED_LAYERS } from "../model/savedmodel/layers";
import { buildServingGraph } from "../model/savedmodel/servingGraph";
import { LAYER_CASES } from "./conformance/models";

function tmpDir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-savedmodel-"));
}

function hex(bytes: Uint8Array): string {
    return Buffer.from(bytes).toString("hex");
}

/** Three images of pixel values 0-255, fixed so failures reproduce. */
function pixels(n = 3): tf.Tensor3D {
    return tf
        .randomUniform([n, IMAGE_SIZE, IMAGE_SIZE], 0, 255, "float32", 42)
        .round() as tf.Tensor3D;
}

function ints(a: AttrValue | undefined): readonly number[] | undefined {
    return a?.kind === "list" ? a.value.i : undefined;
}

/**
 * Evaluates a decoded GraphDef with tfjs ops: enough of TensorFlow's semantics to show the nodes
 * are wired right (inputs, weight layout, attrs) without Python. Every attr TensorFlow requires
 * for an op must be present, or evaluation throws.
 */
function runGraph(graph: GraphDef, feeds: Record<string, tf.Tensor>, fetch: string): tf.Tensor {
    const nodes = new Map(graph.node.map((n) => [n.name, n]));
    const values = new Map<string, tf.Tensor>(Object.entries(feeds));
    const need = (n: NodeDef, key: string): AttrValue => {
        const a = n.attr[key];
        if (a === undefined) {
            throw new Error(`node ${n.name} (${n.op}) lacks attr ${key}`);
        }
        return a;
    };
    const floatT = (n: NodeDef): void => {
        const t = need(n, "T");
        assert.deepStrictEqual(t, { kind: "type", value: DataType.DT_FLOAT }, `${n.name} T`);
    };
    const evaluate = (ref: string): tf.Tensor => {
        const name = ref.replace(/:0$/, "");
        const known = values.get(`${name}:0`);
        if (known !== undefined) {
            return known;
        }
        const n = nodes.get(name);
        if (n === undefined) {
            throw new Error(`input ${ref} names no node`);
        }
        const args = () => n.input.map(evaluate);
        let out: tf.Tensor;
        switch (n.op) {
            case "Placeholder":
                throw new Error(`placeholder ${name} was not fed`);
            case "Const": {
                const v = need(n, "value");
                assert.strictEqual(v.kind, "tensor");
                if (v.kind !== "tensor") throw new Error("unreachable");
                assert.deepStrictEqual(need(n, "dtype"), { kind: "type", value: v.value.dtype });
                const data =
                    v.value.dtype === DataType.DT_INT32
                        ? tensorInt32s(v.value)
                        : tensorFloats(v.value);
                out = tf.tensor(
                    data,
                    [...v.value.shape.dim],
                    v.value.dtype === DataType.DT_INT32 ? "int32" : "float32",
                );
                break;
            }
            case "Mul":
                floatT(n);
                out = tf.mul(args()[0], args()[1]);
                break;
            case "AddV2":
            case "BiasAdd":
                floatT(n);
                if (n.op === "BiasAdd")
                    assert.strictEqual(attrText(need(n, "data_format")), "NHWC");
                out = tf.add(args()[0], args()[1]);
                break;
            case "Reshape": {
                floatT(n);
                assert.deepStrictEqual(need(n, "Tshape"), {
                    kind: "type",
                    value: DataType.DT_INT32,
                });
                const [x, shape] = args();
                out = tf.reshape(x, Array.from(shape.dataSync()));
                break;
            }
            case "MatMul":
                floatT(n);
                out = tf.matMul(
                    args()[0] as tf.Tensor2D,
                    args()[1] as tf.Tensor2D,
                    (need(n, "transpose_a") as { value: boolean }).value,
                    (need(n, "transpose_b") as { value: boolean }).value,
                );
                break;
            case "Conv2D": {
                floatT(n);
                assert.strictEqual(attrText(need(n, "data_format")), "NHWC");
                const strides = ints(need(n, "strides"))!;
                const dilations = ints(need(n, "dilations"))!;
                const pad = attrText(need(n, "padding"))!.toLowerCase() as "same" | "valid";
                out = tf.conv2d(
                    args()[0] as tf.Tensor4D,
                    args()[1] as tf.Tensor4D,
                    [strides[1], strides[2]],
                    pad,
                    "NHWC",
                    [dilations[1], dilations[2]],
                );
                break;
            }
            case "MaxPool": {
                floatT(n);
                const k = ints(need(n, "ksize"))!;
                const s = ints(need(n, "strides"))!;
                const pad = attrText(need(n, "padding"))!.toLowerCase() as "same" | "valid";
                out = tf.maxPool(args()[0] as tf.Tensor4D, [k[1], k[2]], [s[1], s[2]], pad);
                break;
            }
            case "Relu":
            case "Sigmoid":
            case "Tanh":
            case "Softmax":
            case "Identity": {
                floatT(n);
                const x = args()[0];
                const fn = {
                    Relu: tf.relu,
                    Sigmoid: tf.sigmoid,
                    Tanh: tf.tanh,
                    Softmax: tf.softmax,
                    Identity: tf.clone,
                };
                out = (fn[n.op] as (t: tf.Tensor) => tf.Tensor)(x);
                break;
            }
            default:
                throw new Error(`op ${n.op} (node ${name}) is not one the writer should emit`);
        }
        values.set(`${name}:0`, out);
        return out;
    };
    return evaluate(fetch);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
    assert.deepStrictEqual(a.shape, b.shape);
    return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
}

/**
 * The attrs TensorFlow's OpDef gives each op the writer emits: a NodeDef with any other attr
 * fails to load ("NodeDef mentions attr ... not in Op"). runGraph checks the required ones are set.
 */
const OP_ATTRS: Readonly<Record<string, readonly string[]>> = {
    Placeholder: ["dtype", "shape"],
    Const: ["dtype", "value"],
    Identity: ["T"],
    Reshape: ["T", "Tshape"],
    MatMul: ["T", "transpose_a", "transpose_b"],
    BiasAdd: ["T", "data_format"],
    Mul: ["T"],
    AddV2: ["T"],
    Relu: ["T"],
    Sigmoid: ["T"],
    Tanh: ["T"],
    Softmax: ["T"],
    Conv2D: [
        "T",
        "strides",
        "use_cudnn_on_gpu",
        "padding",
        "explicit_paddings",
        "data_format",
        "dilations",
    ],
    MaxPool: ["T", "ksize", "strides", "padding", "data_format"],
};

/**
 * What TensorFlow needs of a graph that evaluating a few signatures cannot show: unique node
 * names, inputs that name nodes, no cycles, only attrs the op defines, placeholders that are
 * signature inputs, and a batch dimension no Reshape fixes (the tests feed 3 images; clients send
 * any number). Every node also serves some signature output, so no weight ships unused.
 */
function assertWellFormed(meta: MetaGraphDef): void {
    const graph = meta.graphDef!;
    const nodes = new Map(graph.node.map((n) => [n.name, n]));
    assert.strictEqual(nodes.size, graph.node.length, "node names are unique");
    const nodeOf = (ref: string): NodeDef => {
        const n = nodes.get(ref.replace(/:0$/, ""));
        assert.ok(n !== undefined, `${ref} names no node`);
        return n;
    };
    for (const n of graph.node) {
        assert.ok(n.op in OP_ATTRS, `node ${n.name}: op ${n.op} is not one the writer emits`);
        const unknown = Object.keys(n.attr).filter((a) => !OP_ATTRS[n.op].includes(a));
        assert.deepStrictEqual(unknown, [], `node ${n.name} (${n.op}) has attrs TF rejects`);
        if (n.op === "Reshape") {
            const shape = nodeOf(n.input[1]).attr.value;
            assert.ok(shape?.kind === "tensor", `${n.name} takes its shape from a Const`);
            assert.strictEqual(tensorInt32s(shape.value)[0], -1, `${n.name} keeps the batch free`);
        }
    }
    const signatures = Object.values(meta.signatureDef);
    const fed = new Set(signatures.flatMap((sig) => Object.values(sig.inputs).map((t) => t.name)));
    const placeholders = graph.node.filter((n) => n.op === "Placeholder").map((n) => `${n.name}:0`);
    assert.deepStrictEqual(
        placeholders.sort(),
        [...fed].sort(),
        "placeholders are signature inputs",
    );
    // Walks back from the signature outputs: a node met again while its inputs are being walked
    // closes a cycle; a node never met serves no signature.
    const done = new Set<string>();
    const walking = new Set<string>();
    const walk = (ref: string): void => {
        const n = nodeOf(ref);
        assert.ok(!walking.has(n.name), `a cycle runs through ${n.name}`);
        if (done.has(n.name)) return;
        walking.add(n.name);
        n.input.forEach(walk);
        walking.delete(n.name);
        done.add(n.name);
    };
    signatures.forEach((sig) => Object.values(sig.outputs).forEach((t) => walk(t.name)));
    assert.deepStrictEqual(
        graph.node.map((n) => n.name).filter((name) => !done.has(name)),
        [],
        "nodes no signature output needs",
    );
}

describe("protobuf wire format", () => {
    it("encodes varints, negative int64s, floats and nested messages as protobuf does", () => {
        const w = new ProtoWriter().varint(1, 150).int64(2, -1).float(3, 1.5).string(4, "hi");
        w.message(5, new ProtoWriter().varint(1, 2 ** 40));
        // Reference bytes from the protobuf encoding spec: 150 -> 96 01; -1 -> ten bytes.
        assert.strictEqual(
            hex(w.finish()),
            "089601" + "10ffffffffffffffffff01" + "1d0000c03f" + "22026869" + "2a0708808080808020",
        );
    });

    it("reads back what it wrote, including int64 -1, and rejects truncated input", () => {
        const bytes = new ProtoWriter()
            .int64(1, -1)
            .bytes(2, new Uint8Array([1, 2, 3]))
            .finish();
        const fields = readFields(bytes);
        assert.strictEqual(fields.length, 2);
        assert.strictEqual(fields[0].wireType, 0);
        assert.strictEqual(toInt64(fields[0].value as bigint, "f1"), -1);
        assert.deepStrictEqual(Array.from(fields[1].value as Uint8Array), [1, 2, 3]);
        assert.throws(
            () => readFields(bytes.subarray(0, bytes.length - 1)),
            /needs 3 bytes but only 2 remain/,
        );
        assert.throws(() => readFields(new Uint8Array([0x08, 0x80])), /truncated varint/);
        assert.throws(() => readFields(new Uint8Array([0x0b])), /wire type 3 .* not supported/);
    });

    it("writes map entries sorted by key whatever the object's key order", () => {
        const node = (attr: Record<string, AttrValue>): SavedModel => ({
            schemaVersion: 1,
            metaGraphs: [
                {
                    metaInfoDef: { tags: ["serve"] },
                    graphDef: { node: [{ name: "x", op: "Identity", input: [], attr }] },
                    signatureDef: {},
                },
            ],
        });
        const t: AttrValue = { kind: "type", value: 1 };
        const b: AttrValue = { kind: "b", value: false };
        const x = encodeSavedModel(node({ transpose_a: b, T: t }));
        const y = encodeSavedModel(node({ T: t, transpose_a: b }));
        assert.strictEqual(hex(x), hex(y));
        // A false bool in a oneof must still be on the wire, or the attr would read as unset.
        const decoded = decodeSavedModel(x).metaGraphs[0].graphDef!.node[0].attr;
        assert.deepStrictEqual(decoded.transpose_a, b);
    });
});

describe("exportSavedModel on the MNIST model", () => {
    let model: tf.Sequential;
    let base: string;
    let decoded: SavedModel;
    let bytes: Buffer;

    before(async () => {
        model = createModel({ seed: 3 });
        // Fresh biases are zero; random ones make a bias in the wrong place or scale show.
        model.setWeights(
            model
                .getWeights()
                .map((w, k) => (k % 2 === 1 ? tf.randomNormal(w.shape, 0, 0.5, "float32", k) : w)),
        );
        base = tmpDir();
        await exportSavedModel(model, base, { name: "mnist", version: 1 });
        bytes = fs.readFileSync(path.join(base, "mnist", "1", SAVED_MODEL_FILE));
        decoded = decodeSavedModel(bytes);
    });

    after(() => {
        fs.rmSync(base, { recursive: true, force: true });
        model.dispose();
    });

    it("writes <base>/<name>/<version>/saved_model.pb and nothing else", () => {
        assert.deepStrictEqual(fs.readdirSync(base), ["mnist"]);
        assert.deepStrictEqual(fs.readdirSync(path.join(base, "mnist")), ["1"]);
        assert.deepStrictEqual(fs.readdirSync(path.join(base, "mnist", "1")), [SAVED_MODEL_FILE]);
    });

    it("leaves the version readable by others, for a non-root server in the image", () => {
        const dirMode = fs.statSync(path.join(base, "mnist", "1")).mode & 0o777;
        const fileMode = fs.statSync(path.join(base, "mnist", "1", SAVED_MODEL_FILE)).mode & 0o777;
        assert.strictEqual(dirMode & 0o005, 0o005, `directory mode ${dirMode.toString(8)}`);
        assert.strictEqual(fileMode & 0o004, 0o004, `file mode ${fileMode.toString(8)}`);
    });

    it("builds a frozen graph TensorFlow can load, with TensorFlow's attrs", () => {
        assert.strictEqual(decoded.schemaVersion, 1);
        assert.strictEqual(decoded.metaGraphs.length, 1);
        const meta = decoded.metaGraphs[0];
        assert.deepStrictEqual(meta.metaInfoDef.tags, ["serve"]);
        const graph = meta.graphDef!;
        assert.deepStrictEqual(graph.versions, {
            producer: GRAPH_PRODUCER,
            minConsumer: 0,
            badConsumers: [],
        });
        assertWellFormed(meta);
        const byName = new Map(graph.node.map((n) => [n.name, n]));
        const images = byName.get("images")!;
        assert.deepStrictEqual(images.attr, {
            dtype: { kind: "type", value: DataType.DT_FLOAT },
            shape: { kind: "shape", value: { dim: [-1, 28, 28] } },
        });
        assert.deepStrictEqual(byName.get("inputs")!.attr, images.attr);
        const scale = byName.get("images/scale")!.attr.value;
        assert.ok(scale.kind === "tensor");
        assert.deepStrictEqual(scale.value.shape, { dim: [] });
        assert.strictEqual(tensorFloats(scale.value)[0], Math.fround(PIXEL_SCALE));
    });

    it("stores each weight as a DT_FLOAT Const of the layer's exact values and shape", () => {
        const byName = new Map(decoded.metaGraphs[0].graphDef!.node.map((n) => [n.name, n]));
        const weights = model.getWeights();
        const names = [
            "model/dense/kernel",
            "model/dense/bias",
            "model/logits/kernel",
            "model/logits/bias",
        ];
        names.forEach((name, k) => {
            const value = byName.get(name)!.attr.value;
            assert.ok(value.kind === "tensor");
            assert.strictEqual(value.value.dtype, DataType.DT_FLOAT);
            assert.deepStrictEqual(value.value.shape.dim, weights[k].shape, name);
            assert.deepStrictEqual(tensorFloats(value.value), weights[k].dataSync(), name);
        });
        // The pixel path carries 1/255 past the biases, so it holds them multiplied by 255.
        for (const [layer, k] of [
            ["dense", 1],
            ["logits", 3],
        ] as const) {
            const value = byName.get(`serving/${layer}/bias_over_scale`)!.attr.value;
            assert.ok(value.kind === "tensor");
            const expected = (weights[k].dataSync() as Float32Array).map((b) => b / PIXEL_SCALE);
            assert.deepStrictEqual(tensorFloats(value.value), expected);
            assert.ok(
                expected.some((b) => Math.abs(b) > 1),
                "biases are not all ~0",
            );
        }
    });

    it("maps three signatures with documented keys, tensors, dtypes and shapes", () => {
        const sigs = decoded.metaGraphs[0].signatureDef;
        const info = (name: string, dim: number[]) => ({
            name,
            dtype: DataType.DT_FLOAT,
            shape: { dim },
        });
        assert.deepStrictEqual(sigs, {
            keras: {
                inputs: { inputs: info("inputs:0", [-1, 28, 28]) },
                outputs: { outputs: info("outputs:0", [-1, 10]) },
                methodName: PREDICT_METHOD,
            },
            probabilities: {
                inputs: { images: info("images:0", [-1, 28, 28]) },
                outputs: { probabilities: info("probabilities:0", [-1, 10]) },
                methodName: PREDICT_METHOD,
            },
            serving_default: {
                inputs: { images: info("images:0", [-1, 28, 28]) },
                outputs: { logits: info("logits:0", [-1, 10]) },
                methodName: PREDICT_METHOD,
            },
        });
        // The documented contract is derived from the same signature map.
        const described = describeServingSignatures(model);
        assert.deepStrictEqual(Object.keys(described.signatures), [
            "serving_default",
            "keras",
            "probabilities",
        ]);
        const dflt = described.signatures.serving_default;
        assert.deepStrictEqual(
            { ...dflt.inputs.images, description: undefined },
            { tensor: "images:0", dtype: "DT_FLOAT", shape: [-1, 28, 28], description: undefined },
        );
        assert.deepStrictEqual(dflt.outputs.logits.shape, [-1, 10]);
        assert.match(dflt.inputs.images.description!, /0-255/);
    });

    it("computes the model: logits from 0-255 pixels, the Keras contract on 0-1, softmax", () => {
        const graph = decoded.metaGraphs[0].graphDef!;
        tf.tidy(() => {
            const x = pixels();
            const expected = model.predict(x.mul(PIXEL_SCALE)) as tf.Tensor;
            const viaImages = runGraph(graph, { "images:0": x }, "logits:0");
            assert.ok(maxAbsDiff(viaImages, expected) < 1e-5);
            const viaInputs = runGraph(graph, { "inputs:0": x.mul(PIXEL_SCALE) }, "outputs:0");
            assert.ok(maxAbsDiff(viaInputs, expected) < 1e-5);
            const probs = runGraph(graph, { "images:0": x }, "probabilities:0");
            assert.ok(maxAbsDiff(probs, tf.softmax(expected)) < 1e-6);
        });
    });

    // The two subgraphs share one Const per kernel; a copy per subgraph would double the file.
    it("stores the weights once: the file is within 10% of the raw weight bytes", () => {
        const raw = model.countParams() * 4;
        assert.ok(
            bytes.length >= raw && bytes.length <= raw * 1.1,
            `${bytes.length} bytes for ${raw} of weights`,
        );
    });

    it("writes byte-identical files for the same weights, and different ones for others", async () => {
        const again = tmpDir();
        try {
            await exportSavedModel(model, again, { name: "mnist", version: 7 });
            const second = fs.readFileSync(path.join(again, "mnist", "7", SAVED_MODEL_FILE));
            assert.ok(second.equals(bytes));
            const copy = createModel({ seed: 99 });
            copy.setWeights(model.getWeights());
            assert.ok(Buffer.from(serializeSavedModel(copy)).equals(bytes));
            const other = createModel({ seed: 4 });
            assert.ok(!Buffer.from(serializeSavedModel(other)).equals(bytes));
        } finally {
            fs.rmSync(again, { recursive: true, force: true });
        }
    });

    it("refuses to replace an existing version unless told to, then replaces it whole", async () => {
        await assert.rejects(
            exportSavedModel(model, base, { name: "mnist", version: 1 }),
            /mnist\/1 already exists; pass `overwrite: true`/,
        );
        const other = createModel({ seed: 5 });
        await exportSavedModel(other, base, { name: "mnist", version: 1, overwrite: true });
        const replaced = fs.readFileSync(path.join(base, "mnist", "1", SAVED_MODEL_FILE));
        assert.ok(Buffer.from(serializeSavedModel(other)).equals(replaced));
        assert.deepStrictEqual(fs.readdirSync(path.join(base, "mnist")), ["1"]);
        await exportSavedModel(model, base, { name: "mnist", version: 1, overwrite: true });
    });

    it("rejects bad names and versions before writing", async () => {
        await assert.rejects(
            exportSavedModel(model, base, { name: "../x", version: 1 }),
            /`name` is "\.\.\/x"/,
        );
        await assert.rejects(
            exportSavedModel(model, base, { name: "m", version: 0 }),
            /`version` is 0/,
        );
        await assert.rejects(
            exportSavedModel(model, base, { name: "m", version: 1.5 }),
            /`version` is 1.5/,
        );
        assert.deepStrictEqual(fs.readdirSync(base), ["mnist"]);
    });
});

describe("writeVersionDir", () => {
    it("leaves no version directory and no temporary files when filling fails", async () => {
        const base = tmpDir();
        try {
            await assert.rejects(
                writeVersionDir(base, { name: "m", version: 3 }, async (dir) => {
                    fs.writeFileSync(path.join(dir, SAVED_MODEL_FILE), "partial");
                    throw new Error("disk full");
                }),
                /disk full/,
            );
            assert.deepStrictEqual(fs.readdirSync(path.join(base, "m")), []);
        } finally {
            fs.rmSync(base, { recursive: true, force: true });
        }
    });
});

describe("exportSavedModel on every supported layer type", () => {
    for (const layerCase of LAYER_CASES) {
        it(`${layerCase.name}: ${layerCase.covers}`, () => {
            const model = layerCase.build();
            try {
                const graph = buildServingGraph(model).savedModel.metaGraphs[0].graphDef!;
                // Through the encoder and decoder, as TensorFlow would read it.
                const decoded = decodeSavedModel(serializeSavedModel(model)).metaGraphs[0];
                assert.deepStrictEqual(
                    decoded.graphDef!.node.map((n) => n.name),
                    graph.node.map((n) => n.name),
                );
                assertWellFormed(decoded);
                const keras = decoded.signatureDef.keras;
                const inputShape = [-1, ...(model.inputs[0].shape.slice(1) as number[])];
                assert.deepStrictEqual(keras.inputs.inputs.shape, { dim: inputShape });
                tf.tidy(() => {
                    const x = pixels();
                    const scaled = x.mul(PIXEL_SCALE).reshape([3, ...inputShape.slice(1)]);
                    const expected = model.predict(scaled) as tf.Tensor;
                    const out = runGraph(
                        decoded.graphDef!,
                        { "inputs:0": scaled },
                        keras.outputs.outputs.name,
                    );
                    assert.ok(
                        maxAbsDiff(out, expected) < 1e-5,
                        `keras signature differs by ${maxAbsDiff(out, expected)}`,
                    );
                    const probs = runGraph(decoded.graphDef!, { "images:0": x }, "probabilities:0");
                    const logits = runGraph(decoded.graphDef!, { "images:0": x }, "logits:0");
                    // A model ending in softmax has it peeled off for the logits; the Keras output
                    // puts it back.
                    const outputsOp = decoded.graphDef!.node.find((n) => n.name === "outputs")!.op;
                    assert.strictEqual(outputsOp, layerCase.endsInSoftmax ? "Softmax" : "Identity");
                    assert.ok(
                        maxAbsDiff(layerCase.endsInSoftmax ? probs : logits, expected) < 1e-5,
                    );
                    assert.ok(maxAbsDiff(probs, tf.softmax(logits)) < 1e-6);
                });
            } finally {
                model.dispose();
            }
        });
    }

    it("covers every supported layer class and activation", () => {
        const classes = new Set<string>();
        const activations = new Set<string>(["linear"]);
        for (const c of LAYER_CASES) {
            const model = c.build();
            for (const layer of model.layers) {
                classes.add(layer.getClassName());
                const act = layer.getConfig().activation;
                if (typeof act === "string") activations.add(act);
                for (const node of layer.inboundNodes) {
                    node.inboundLayers.forEach((l) => classes.add(l.getClassName()));
                }
            }
            model.dispose();
        }
        assert.deepStrictEqual([...classes].sort(), [...SUPPORTED_LAYERS].sort());
        assert.deepStrictEqual([...activations].sort(), [...SUPPORTED_ACTIVATIONS].sort());
    });
});

describe("exportSavedModel errors", () => {
    const flatInput = () => tf.layers.flatten({ inputShape: [IMAGE_SIZE, IMAGE_SIZE] });
    const supportedList = new RegExp(
        `supports layers ${SUPPORTED_LAYERS.join(", ")} with activations ${SUPPORTED_ACTIVATIONS.join(", ")}`,
    );

    async function rejects(model: tf.LayersModel, pattern: RegExp): Promise<void> {
        const base = tmpDir();
        try {
            await assert.rejects(exportSavedModel(model, base, { name: "m", version: 1 }), pattern);
            // Nothing may be written for a model that cannot be exported.
            assert.deepStrictEqual(fs.readdirSync(base), []);
        } finally {
            fs.rmSync(base, { recursive: true, force: true });
            model.dispose();
        }
    }

    it("names an unsupported layer, its class and the supported list", async () => {
        const model = tf.sequential({
            layers: [
                flatInput(),
                tf.layers.batchNormalization({ name: "bn" }),
                tf.layers.dense({ units: 10 }),
            ],
        });
        await rejects(model, /layer "bn" \(class BatchNormalization\) is not supported/);
        const again = tf.sequential({
            layers: [
                flatInput(),
                tf.layers.batchNormalization({ name: "bn2" }),
                tf.layers.dense({ units: 10 }),
            ],
        });
        await rejects(again, supportedList);
    });

    it("names an unsupported activation in a Dense layer", async () => {
        const model = tf.sequential({
            layers: [
                flatInput(),
                tf.layers.dense({ units: 10, activation: "elu", name: "hidden" }),
            ],
        });
        await rejects(
            model,
            /layer "hidden" \(class Dense\) uses activation "elu", which is not supported.*activations linear, relu, sigmoid, tanh, softmax/,
        );
    });

    it("names an unsupported activation in Conv2D and Activation layers", async () => {
        const conv = tf.sequential({
            layers: [
                tf.layers.conv2d({
                    inputShape: [28, 28, 1],
                    filters: 1,
                    kernelSize: 3,
                    activation: "selu",
                    name: "c",
                }),
                tf.layers.flatten(),
                tf.layers.dense({ units: 10 }),
            ],
        });
        await rejects(conv, /layer "c" \(class Conv2D\) uses activation "selu"/);
        const act = tf.sequential({
            layers: [
                flatInput(),
                tf.layers.dense({ units: 10 }),
                tf.layers.activation({ activation: "softplus", name: "a" }),
            ],
        });
        await rejects(act, /layer "a" \(class Activation\) uses activation "softplus"/);
    });

    it("rejects channels-first convolution and pooling", async () => {
        const conv = tf.sequential({
            layers: [
                tf.layers.reshape({ inputShape: [28, 28], targetShape: [1, 28, 28] }),
                tf.layers.conv2d({
                    filters: 1,
                    kernelSize: 3,
                    dataFormat: "channelsFirst",
                    name: "cf",
                }),
                tf.layers.flatten(),
                tf.layers.dense({ units: 10 }),
            ],
        });
        await rejects(conv, /layer "cf" \(class Conv2D\) has dataFormat "channelsFirst"/);
        const pool = tf.sequential({
            layers: [
                tf.layers.reshape({ inputShape: [28, 28], targetShape: [1, 28, 28] }),
                tf.layers.maxPooling2d({ poolSize: 2, dataFormat: "channelsFirst", name: "pf" }),
                tf.layers.flatten(),
                tf.layers.dense({ units: 10 }),
            ],
        });
        await rejects(pool, /layer "pf" \(class MaxPooling2D\) has dataFormat "channelsFirst"/);
    });

    it("rejects a model that does not end in logits or softmax", async () => {
        const model = tf.sequential({
            layers: [
                flatInput(),
                tf.layers.dense({ units: 10, activation: "sigmoid", name: "out" }),
            ],
        });
        await rejects(
            model,
            /final layer "out" \(class Dense\) ends in sigmoid; serving_default returns logits/,
        );
    });

    it("rejects a model whose output is not one score per digit", async () => {
        const model = tf.sequential({ layers: [flatInput(), tf.layers.dense({ units: 5 })] });
        await rejects(model, /output shape is \[-1,5\]; expected \[-1, 10\]/);
    });

    it("rejects a model whose input is not one 28x28 image", async () => {
        const model = tf.sequential({
            layers: [tf.layers.dense({ inputShape: [100], units: 10 })],
        });
        await rejects(
            model,
            /input shape \[100\] holds 100 values per example; serving_default feeds one 28x28 image/,
        );
    });

    it("rejects branching models", async () => {
        const input = tf.input({ shape: [28, 28] });
        const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
        const a = tf.layers.dense({ units: 10, name: "a" }).apply(flat) as tf.SymbolicTensor;
        const b = tf.layers.dense({ units: 10, name: "b" }).apply(flat) as tf.SymbolicTensor;
        const sum = tf.layers.add({ name: "sum" }).apply([a, b]) as tf.SymbolicTensor;
        await rejects(
            tf.model({ inputs: input, outputs: sum }),
            /layer "b" \(class Dense\) does not simply follow layer "a"/,
        );
    });
});
