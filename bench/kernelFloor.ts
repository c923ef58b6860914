/**
 * The one-core floor of a graph-trainer epoch, for `npm run bench:train`: an epoch's worth of
 * loop iterations (one per batch) that run only the kernels no step can do without, at the
 * step's shapes: the hidden layer's product `x W` (batch x 784 by 784 x hidden), its kernel's
 * gradient `xᵀ d` and Adam's update of that kernel (`ApplyAdam`, as the trainer runs it). The rest
 * of a real step (the logits layer, dropout, the loss, gathering the batch) is left out, and so
 * is whatever the executor spends on it.
 *
 * Run with the trainer's TensorFlow settings (`TF_RUNTIME_DEFAULTS`) in a process of its own; it
 * prints `{ "secondsPerEpoch": … }`, the median of `EPOCHS` timed epochs after one that warms the
 * session up.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import {
    IMAGE_PIXELS,
    PREDICT_METHOD,
    SAVED_MODEL_FILE,
    SERVE_TAG,
} from "../model/savedmodel/contract";
import { GraphBuilder, T_FLOAT, T_INT32, attr } from "../model/savedmodel/graphBuilder";
import { DataType, encodeSavedModel } from "../model/savedmodel/proto/tensorflow";
import { countedLoop } from "../model/training/graphLoop";
import { DEFAULT_MODEL_OPTIONS } from "../model/training/model";
import { KERAS_ADAM } from "../model/training/trainingGraph";
import { info } from "../model/training/trainingGraph/builder";
import { loadTfjsNode } from "../model/tfjsNode";
import { seededRandom } from "../model/training/random";

/** Timed epochs; odd, so the median is one of them. */
const EPOCHS = 5;

/** The floor graph: `init` sets the kernel and Adam's slots, `epoch` runs `steps` iterations. */
function floorGraph(batch: number, hidden: number) {
    const g = new GraphBuilder();
    const random = seededRandom(1);
    const values = (n: number, scale: number) =>
        Float32Array.from({ length: n }, () => (random() - 0.5) * scale);
    const variable = (name: string) =>
        g.add(name, "VariableV2", [], {
            dtype: T_FLOAT,
            shape: attr.shape([IMAGE_PIXELS, hidden]),
        });
    const [kernel, m, v] = ["kernel", "m", "v"].map(variable);
    const shape = [IMAGE_PIXELS, hidden];
    const start = g.constFloat("start", shape, values(IMAGE_PIXELS * hidden, 0.1));
    const zeros = g.constFloat("zeros", shape, new Float32Array(IMAGE_PIXELS * hidden));
    const assign = (name: string, ref: string, value: string) =>
        g.add(name, "Assign", [ref, value], { T: T_FLOAT });
    const assigned = [assign("init/kernel", kernel, start), assign("init/m", m, zeros)];
    assigned.push(assign("init/v", v, zeros));
    const initDone = g.add("init/done", "Identity", [zeros, ...assigned.map((a) => `^${a}`)], {
        T: T_FLOAT,
    });

    // A batch of pixels in 0-1, as the trainer's scaled batches are.
    const x = g.constFloat("x", [batch, IMAGE_PIXELS], values(batch * IMAGE_PIXELS, 2));
    const scalar = (name: string, value: number) => g.constFloat(name, [], Float32Array.of(value));
    const adamInputs = [
        scalar("beta1_power", KERAS_ADAM.beta1),
        scalar("beta2_power", KERAS_ADAM.beta2),
        scalar("lr", DEFAULT_MODEL_OPTIONS.learningRate),
        scalar("beta1", KERAS_ADAM.beta1),
        scalar("beta2", KERAS_ADAM.beta2),
        scalar("epsilon", KERAS_ADAM.epsilon),
    ];
    const steps = g.add("epoch/steps", "Placeholder", [], {
        dtype: T_INT32,
        shape: attr.shape([]),
    });
    const exit = countedLoop(g, "epoch/loop", steps, (frame) => {
        const s = "epoch/loop/step";
        const xIn = frame.invariant(x, DataType.DT_FLOAT);
        const ref = (node: string) => frame.variable(node, DataType.DT_FLOAT);
        const product = g.add(`${s}/product`, "MatMul", [xIn, ref(kernel)], { T: T_FLOAT });
        // The gradient needs the product, so Adam's write follows every read of the kernel.
        const upstream = g.add(`${s}/upstream`, "Relu", [product], { T: T_FLOAT });
        const grad = g.add(`${s}/grad`, "MatMul", [xIn, upstream], {
            T: T_FLOAT,
            transpose_a: attr.bool(true),
        });
        const apply = g.add(
            `${s}/adam`,
            "ApplyAdam",
            [
                ref(kernel),
                ref(m),
                ref(v),
                ...adamInputs.map((c) => frame.invariant(c, DataType.DT_FLOAT)),
                grad,
            ],
            { T: T_FLOAT },
        );
        return [apply];
    });
    const epochDone = g.add("epoch/done", "Identity", [exit], { T: T_INT32 });
    return encodeSavedModel({
        schemaVersion: 1,
        metaGraphs: [
            {
                metaInfoDef: { tags: [SERVE_TAG] },
                graphDef: g.graphDef(),
                signatureDef: {
                    init: {
                        inputs: {},
                        outputs: { done: info(initDone, DataType.DT_FLOAT, shape) },
                        methodName: PREDICT_METHOD,
                    },
                    epoch: {
                        inputs: { steps: info(steps, DataType.DT_INT32, []) },
                        outputs: { done: info(epochDone, DataType.DT_INT32, []) },
                        methodName: PREDICT_METHOD,
                    },
                },
            },
        ],
    });
}

/** Seconds per epoch of `stepsPerEpoch` floor iterations at `batch` and `hidden`. */
export async function kernelFloorSeconds(
    stepsPerEpoch: number,
    batch: number,
    hidden: number,
): Promise<number> {
    const { node } = loadTfjsNode();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-kernel-floor-"));
    try {
        fs.writeFileSync(path.join(dir, SAVED_MODEL_FILE), floorGraph(batch, hidden));
        const load = (signature: string) => node.loadSavedModel(dir, [SERVE_TAG], signature);
        const [init, epoch] = [await load("init"), await load("epoch")];
        tf.dispose(init.predict({}) as tf.NamedTensorMap);
        const steps = tf.scalar(stepsPerEpoch, "int32");
        const run = () => {
            const started = process.hrtime.bigint();
            const out = epoch.predict({ steps }) as tf.NamedTensorMap;
            out.done.dataSync();
            tf.dispose(out);
            return Number(process.hrtime.bigint() - started) / 1e9;
        };
        run();
        const seconds = Array.from({ length: EPOCHS }, run).sort((a, b) => a - b);
        steps.dispose();
        init.dispose();
        epoch.dispose();
        return seconds[(EPOCHS - 1) / 2];
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
