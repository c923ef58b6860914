/**
 * The MNIST training run as one TensorFlow graph, written with the serving export's
 * `GraphBuilder`: the data resident in variables, each Adam step (forward pass, sparse softmax
 * cross-entropy, the hand-derived gradients, Keras' Adam) gathering its batch in the graph, a
 * whole epoch of steps in one `While` loop, and the test-set evaluation, for the classifier
 * `createModel` builds (Flatten > Dense(relu) > Dropout > Dense).
 *
 * It is saved as a SavedModel whose signatures share one session's variables:
 * - `load`: the training and test images (bytes, packed four to an int32) and labels in, once;
 * - `init`: the initial kernels and biases in (the tfjs model's, so both trainers start alike),
 *   Adam's slots and step powers reset;
 * - `train`: the batches of an epoch in, as rows of example indices (`order` `(steps, batch)`),
 *   and the number of the first step; that many Adam steps in one loop; each step's mean loss
 *   and correct count out (`stats` `(steps, 2)`);
 * - `remainder`: one step on the last, partial batch of an epoch (`indices`, `step`);
 * - `evaluate`: the mean loss and the correct count on the resident test set;
 * - `weights`: the variables out;
 * - `gradients`: one fed batch's loss and gradients, with no update (for tests).
 *
 * Variables are TF1 `VariableV2` refs; ops read them where they use them, which aliases the
 * variable's buffer, so each step's `ApplyAdam`s wait (control inputs) for every gradient of
 * that step, and the loop starts a step only once the step before has finished.
 *
 * Dropout masks come from `StatelessRandomUniform` seeded by (seed, step number), so the weights
 * depend on the seed alone: not on how steps are grouped into session runs.
 */
import * as contract from "../savedmodel/contract";
import { GraphBuilder, T_FLOAT, T_INT32, attr } from "../savedmodel/graphBuilder";
import { LoopFrame, countedLoop } from "./graphLoop";
import { StepConstants, lossAndGradients } from "./trainingStep";
import {
    AttrValue,
    DataType,
    SavedModel,
    SignatureDef,
    TensorInfo,
} from "../savedmodel/proto/tensorflow";

/** Signature keys of the training SavedModel. */
export const TRAINING_SIGNATURES = {
    load: "load",
    init: "init",
    train: "train",
    remainder: "remainder",
    evaluate: "evaluate",
    weights: "weights",
    gradients: "gradients",
} as const;

/** The tfjs layer weights the graph trains, in `model.getWeights()` order. */
export const WEIGHT_NAMES = ["dense/kernel", "dense/bias", "logits/kernel", "logits/bias"];

/** Image bytes are fed packed four to an int32 (tfjs has no uint8 tensors): int32s per image. */
export const PACKED_IMAGE_INTS = contract.IMAGE_PIXELS / 4;

/** What the training graph computes. */
export interface TrainingGraphOptions {
    /** Units of the hidden layer. */
    readonly hiddenUnits: number;
    /** Dropout rate after the hidden layer; 0 leaves dropout out. */
    readonly dropoutRate: number;
    /** Adam's learning rate. */
    readonly learningRate: number;
    /** Examples per step of the `train` loop. */
    readonly batchSize: number;
    /** Seed of the dropout masks. */
    readonly seed: number;
}

/** Keras' Adam: β1, β2 and ε (Keras uses 1e-7, TF1's AdamOptimizer 1e-8). */
export const KERAS_ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

const { DT_FLOAT: FLOAT, DT_INT32: INT32, DT_UINT8: UINT8 } = DataType;

function info(name: string, dtype: number, dim: readonly number[]): TensorInfo {
    return { name: `${name}:0`, dtype, shape: { dim } };
}

/** One variable: the `VariableV2` node, its dtype and its shape (undefined: set when assigned). */
interface Variable {
    readonly node: string;
    readonly dtype: number;
    readonly shape?: readonly number[];
}

/**
 * Where a step's ops find what they take from outside: the constants and the variables, entered
 * into a loop's frame or used as they are outside any loop.
 */
interface StepInputs {
    constant(name: keyof Constants): string;
    variable(v: Variable): string;
}

/** The graph's constants, made once outside every loop. */
type Constants = StepConstants & {
    readonly lr: string;
    readonly beta1: string;
    readonly beta2: string;
    readonly epsilon: string;
    readonly rate: string;
    readonly keepScale: string;
    /** Int32 scalar 0: the axis batches are gathered along. */
    readonly gatherAxis: string;
    /** Int32 `(batch, hidden)`: a full batch's dropout mask shape. */
    readonly maskShape: string;
    /** Int32 scalar: the seed of the dropout masks. */
    readonly seed: string;
};

class TrainingGraph {
    readonly g = new GraphBuilder();
    private readonly o: TrainingGraphOptions;
    readonly weights: Variable[];
    private readonly slots: { m: Variable; v: Variable }[];
    private readonly powers: { beta1: Variable; beta2: Variable };
    private readonly data: {
        trainImages: Variable;
        trainLabels: Variable;
        testImages: Variable;
        testLabels: Variable;
        stats: Variable;
    };
    private readonly constants: Constants;
    private readonly constantTypes = new Map<string, number>();

    constructor(o: TrainingGraphOptions) {
        this.o = o;
        const h = o.hiddenUnits;
        const shapes = [
            [contract.IMAGE_PIXELS, h],
            [h],
            [h, contract.NUM_CLASSES],
            [contract.NUM_CLASSES],
        ];
        this.weights = WEIGHT_NAMES.map((n, k) => this.variable(n, FLOAT, shapes[k]));
        this.slots = WEIGHT_NAMES.map((n, k) => ({
            m: this.variable(`${n}/adam_m`, FLOAT, shapes[k]),
            v: this.variable(`${n}/adam_v`, FLOAT, shapes[k]),
        }));
        this.powers = {
            beta1: this.variable("adam/beta1_power", FLOAT, []),
            beta2: this.variable("adam/beta2_power", FLOAT, []),
        };
        this.data = {
            trainImages: this.variable("data/train_images", UINT8),
            trainLabels: this.variable("data/train_labels", INT32),
            testImages: this.variable("data/test_images", UINT8),
            testLabels: this.variable("data/test_labels", INT32),
            stats: this.variable("train/stats_variable", FLOAT),
        };
        const float = (name: string, v: number) =>
            this.constant(this.g.constFloat(name, [], Float32Array.of(v)), FLOAT);
        const int32 = (name: string, shape: number[], values: number[]) =>
            this.constant(this.g.constInt32(name, shape, values), INT32);
        this.constants = {
            lr: float("adam/learning_rate", o.learningRate),
            beta1: float("adam/beta1", KERAS_ADAM.beta1),
            beta2: float("adam/beta2", KERAS_ADAM.beta2),
            epsilon: float("adam/epsilon", KERAS_ADAM.epsilon),
            rate: float("dropout/rate", o.dropoutRate),
            keepScale: float("dropout/keep_scale", 1 / (1 - o.dropoutRate)),
            // The shuffle's generator takes the seed's low 32 bits too.
            seed: int32("dropout/seed", [], [o.seed | 0]),
            maskShape: int32("dropout/mask_shape", [2], [o.batchSize, h]),
            pixelScale: float("pixel_scale", contract.PIXEL_SCALE),
            batchAxis: int32("batch_axis", [1], [0]),
            classAxis: int32("class_axis", [], [1]),
            gatherAxis: int32("gather_axis", [], [0]),
            batchSize: float("batch_size", o.batchSize),
        };
    }

    /** Records a constant's dtype, which entering a loop's frame needs. */
    private constant(node: string, dtype: number): string {
        this.constantTypes.set(node, dtype);
        return node;
    }

    private variable(name: string, dtype: number, shape?: readonly number[]): Variable {
        const node = this.g.add(name, "VariableV2", [], {
            dtype: attr.type(dtype),
            shape: {
                kind: "shape",
                value: shape === undefined ? { dim: [], unknownRank: true } : { dim: shape },
            },
        });
        return { node, dtype, shape };
    }

    private op(name: string, op: string, inputs: string[], attrs: Record<string, AttrValue> = {}) {
        return this.g.add(name, op, inputs, attrs);
    }

    private f(name: string, op: string, inputs: string[], extra: Record<string, AttrValue> = {}) {
        return this.op(name, op, inputs, { T: T_FLOAT, ...extra });
    }

    /** Assigns `value` to `v`; a variable declared without a shape takes the value's. */
    private assign(name: string, v: Variable, value: string): string {
        return this.op(name, "Assign", [v.node, value], {
            T: attr.type(v.dtype),
            validate_shape: attr.bool(v.shape !== undefined),
        });
    }

    /** An output that is `value` once `after` ran. */
    private finished(name: string, value: string, dtype: number, after: readonly string[]) {
        return this.op(name, "Identity", [value, ...after.map((a) => `^${a}`)], {
            T: attr.type(dtype),
        });
    }

    /** `load`: the data into their variables; images arrive packed four bytes to an int32. */
    load(): SignatureDef {
        const inputs: Record<string, TensorInfo> = {};
        const assigns: string[] = [];
        const rowShape = this.g.constInt32("load/image_shape", [2], [-1, contract.IMAGE_PIXELS]);
        for (const split of ["train", "test"] as const) {
            const packed = this.op(`load/${split}_images`, "Placeholder", [], {
                dtype: T_INT32,
                shape: attr.shape([-1, PACKED_IMAGE_INTS]),
            });
            // Bitcast reads the int32s' memory as bytes, as JavaScript wrote them.
            const bytes = this.op(`load/${split}_bytes`, "Bitcast", [packed], {
                T: T_INT32,
                type: attr.type(UINT8),
            });
            const images = this.op(`load/${split}_rows`, "Reshape", [bytes, rowShape], {
                T: attr.type(UINT8),
                Tshape: T_INT32,
            });
            const labels = this.op(`load/${split}_labels`, "Placeholder", [], {
                dtype: T_INT32,
                shape: attr.shape([-1]),
            });
            inputs[`${split}_images`] = info(packed, INT32, [-1, PACKED_IMAGE_INTS]);
            inputs[`${split}_labels`] = info(labels, INT32, [-1]);
            assigns.push(
                this.assign(`load/assign_${split}_images`, this.data[`${split}Images`], images),
                this.assign(`load/assign_${split}_labels`, this.data[`${split}Labels`], labels),
            );
        }
        const zero = this.g.constFloat("load/zero", [], Float32Array.of(0));
        return {
            inputs,
            outputs: { done: info(this.finished("load/done", zero, FLOAT, assigns), FLOAT, []) },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** `init`: assigns the fed weights, zeroes Adam's slots, resets the step powers. */
    init(): SignatureDef {
        const inputs: Record<string, TensorInfo> = {};
        const assigns: string[] = [];
        this.weights.forEach((w, k) => {
            const shape = w.shape as readonly number[];
            const fed = this.op(`init/${WEIGHT_NAMES[k]}`, "Placeholder", [], {
                dtype: T_FLOAT,
                shape: attr.shape(shape),
            });
            inputs[WEIGHT_NAMES[k]] = info(fed, FLOAT, shape);
            assigns.push(this.assign(`init/assign/${WEIGHT_NAMES[k]}`, w, fed));
            const zeros = this.f(`init/zeros/${WEIGHT_NAMES[k]}`, "ZerosLike", [fed]);
            const slot = this.slots[k];
            assigns.push(this.assign(`init/assign/${WEIGHT_NAMES[k]}/m`, slot.m, zeros));
            assigns.push(this.assign(`init/assign/${WEIGHT_NAMES[k]}/v`, slot.v, zeros));
        });
        // Step t uses β^t; the powers start at β (t = 1) and are multiplied after each step.
        assigns.push(
            this.assign("init/assign/beta1_power", this.powers.beta1, this.constants.beta1),
            this.assign("init/assign/beta2_power", this.powers.beta2, this.constants.beta2),
        );
        const zero = this.g.constFloat("init/zero", [], Float32Array.of(0));
        return {
            inputs,
            outputs: { done: info(this.finished("init/done", zero, FLOAT, assigns), FLOAT, []) },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** `weights`: the current variables. */
    weightsOut(): SignatureDef {
        const outputs: Record<string, TensorInfo> = {};
        this.weights.forEach((w, k) => {
            const read = this.f(`weights/${WEIGHT_NAMES[k]}`, "Identity", [w.node]);
            outputs[WEIGHT_NAMES[k]] = info(read, FLOAT, w.shape as readonly number[]);
        });
        return { inputs: {}, outputs, methodName: contract.PREDICT_METHOD };
    }

    /**
     * `train`: a loop of Adam steps, one per row of `order`, each on the training examples its
     * row names; step k's dropout draws from (seed, `first_step` + k).
     */
    train(): SignatureDef {
        const bs = this.o.batchSize;
        const order = this.op("train/order", "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([-1, bs]),
        });
        const firstStep = this.op("train/first_step", "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([]),
        });
        const orderShape = this.op("train/order_shape", "Shape", [order], {
            T: T_INT32,
            out_type: T_INT32,
        });
        const first = (name: string, values: number[]) =>
            this.g.constInt32(`train/${name}`, [1], values);
        const steps = this.op(
            "train/steps",
            "StridedSlice",
            [orderShape, first("begin", [0]), first("end", [1]), first("stride", [1])],
            { T: T_INT32, Index: T_INT32, shrink_axis_mask: attr.int(1) },
        );
        const statsShape = this.op(
            "train/stats_shape",
            "Pack",
            [steps, this.g.constInt32("train/stats_columns", [], [2])],
            { T: T_INT32, N: attr.int(2), axis: attr.int(0) },
        );
        const zeros = this.op(
            "train/stats_zeros",
            "Fill",
            [statsShape, this.g.constFloat("train/stats_zero", [], Float32Array.of(0))],
            { T: T_FLOAT, index_type: T_INT32 },
        );
        const reset = this.assign("train/reset_stats", this.data.stats, zeros);

        const exit = countedLoop(
            this.g,
            "train/loop",
            steps,
            (frame: LoopFrame) => {
                const s = "train/loop/step";
                const inputs: StepInputs = {
                    constant: (name) => {
                        const node = this.constants[name];
                        return frame.invariant(node, this.constantTypes.get(node) as number);
                    },
                    variable: (v) => frame.variable(v.node, v.dtype),
                };
                const indices = this.op(
                    `${s}/indices`,
                    "GatherV2",
                    [frame.invariant(order, INT32), frame.index, inputs.constant("gatherAxis")],
                    { Tparams: T_INT32, Tindices: T_INT32, Taxis: T_INT32 },
                );
                const step = this.op(
                    `${s}/number`,
                    "Add",
                    [frame.index, frame.invariant(firstStep, INT32)],
                    { T: T_INT32 },
                );
                const { loss, correct, done } = this.adamStep(s, inputs, indices, step, false);
                const stat = this.op(`${s}/stat`, "Pack", [loss, correct], {
                    T: T_FLOAT,
                    N: attr.int(2),
                    axis: attr.int(0),
                });
                const record = this.op(
                    `${s}/record`,
                    "ScatterUpdate",
                    [frame.variable(this.data.stats.node, FLOAT), frame.index, stat],
                    { T: T_FLOAT, Tindices: T_INT32, use_locking: attr.bool(false) },
                );
                return [...done, record];
            },
            [reset],
        );
        const stats = this.finished("train/stats", this.data.stats.node, FLOAT, [exit]);
        return {
            inputs: {
                order: info(order, INT32, [-1, bs]),
                first_step: info(firstStep, INT32, []),
            },
            outputs: { stats: info(stats, FLOAT, [-1, 2]) },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** `remainder`: one Adam step on the training examples `indices`, as step number `step`. */
    remainder(): SignatureDef {
        const indices = this.op("remainder/indices", "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([-1]),
        });
        const step = this.op("remainder/step", "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([]),
        });
        const inputs: StepInputs = {
            constant: (name) => this.constants[name],
            variable: (v) => v.node,
        };
        const out = this.adamStep("remainder/step", inputs, indices, step, true);
        return {
            inputs: { indices: info(indices, INT32, [-1]), step: info(step, INT32, []) },
            outputs: {
                loss: info(this.finished("remainder/loss", out.loss, FLOAT, out.done), FLOAT, []),
                correct: info(
                    this.finished("remainder/correct", out.correct, FLOAT, out.done),
                    FLOAT,
                    [],
                ),
            },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /**
     * One Adam step under scope `s` on the training examples `indices`, gathered from the
     * resident data, with dropout drawn for step number `step`. A partial batch sizes its mask
     * and its mean from the batch; a full one uses the constants. Returns the mean loss, the
     * correct count and the nodes that finish the step.
     */
    private adamStep(
        s: string,
        inputs: StepInputs,
        indices: string,
        step: string,
        partial: boolean,
    ): { loss: string; correct: string; done: string[] } {
        const gather = (name: string, v: Variable) =>
            this.op(
                `${s}/${name}`,
                "GatherV2",
                [inputs.variable(v), indices, inputs.constant("gatherAxis")],
                { Tparams: attr.type(v.dtype), Tindices: T_INT32, Taxis: T_INT32 },
            );
        const pixels = this.op(`${s}/pixels`, "Cast", [gather("images", this.data.trainImages)], {
            SrcT: attr.type(UINT8),
            DstT: T_FLOAT,
        });
        const labels = gather("labels", this.data.trainLabels);
        const c = inputs.constant;
        const [w1, b1, w2, b2] = this.weights.map((w) => inputs.variable(w));
        const seed = this.op(`${s}/dropout/seed`, "Pack", [c("seed"), step], {
            T: T_INT32,
            N: attr.int(2),
            axis: attr.int(0),
        });
        const { loss, correct, grads } = lossAndGradients(
            this.g,
            s,
            pixels,
            labels,
            [w1, b1, w2, b2],
            {
                pixelScale: c("pixelScale"),
                batchAxis: c("batchAxis"),
                classAxis: c("classAxis"),
                batchSize: partial ? this.sizeOf(s, labels) : c("batchSize"),
                dropoutMask:
                    this.o.dropoutRate > 0
                        ? (hidden) =>
                              this.dropoutMask(
                                  s,
                                  partial ? this.shapeOf(s, hidden) : c("maskShape"),
                                  seed,
                                  inputs,
                              )
                        : undefined,
            },
        );
        // Every use of the weights is over once all gradients, the loss and the count exist.
        const computed = [...grads, loss, correct].map((n) => `^${n}`);
        const beta1Power = inputs.variable(this.powers.beta1);
        const beta2Power = inputs.variable(this.powers.beta2);
        const applies = grads.map((grad, k) =>
            this.f(`${s}/adam/${WEIGHT_NAMES[k]}`, "ApplyAdam", [
                inputs.variable(this.weights[k]),
                inputs.variable(this.slots[k].m),
                inputs.variable(this.slots[k].v),
                beta1Power,
                beta2Power,
                c("lr"),
                c("beta1"),
                c("beta2"),
                c("epsilon"),
                grad,
                ...computed,
            ]),
        );
        const applied = applies.map((a) => `^${a}`);
        // The next power is computed before the step's ApplyAdams read the power and assigned
        // after them.
        const nextPower = (name: "beta1" | "beta2", power: string) =>
            this.f(`${s}/adam/next_${name}_power`, "Assign", [
                power,
                this.f(`${s}/adam/${name}_power_times_beta`, "Mul", [power, c(name), ...computed]),
                ...applied,
            ]);
        return {
            loss,
            correct,
            done: [...applies, nextPower("beta1", beta1Power), nextPower("beta2", beta2Power)],
        };
    }

    private sizeOf(s: string, labels: string): string {
        const size = this.op(`${s}/batch_size`, "Size", [labels], {
            T: T_INT32,
            out_type: T_INT32,
        });
        return this.op(`${s}/batch_size_float`, "Cast", [size], { SrcT: T_INT32, DstT: T_FLOAT });
    }

    private shapeOf(s: string, hidden: string): string {
        return this.op(`${s}/dropout/shape`, "Shape", [hidden], { T: T_FLOAT, out_type: T_INT32 });
    }

    /**
     * Keras' inverted dropout: keep where u >= rate, scaled by 1 / (1 - rate), u drawn uniformly
     * for the seed pair `seed` (the run's seed, the step number).
     */
    private dropoutMask(s: string, shape: string, seed: string, inputs: StepInputs): string {
        const uniform = this.op(`${s}/dropout/uniform`, "StatelessRandomUniform", [shape, seed], {
            dtype: T_FLOAT,
            T: T_INT32,
            Tseed: T_INT32,
        });
        const keep = this.f(`${s}/dropout/keep`, "GreaterEqual", [
            uniform,
            inputs.constant("rate"),
        ]);
        const keepFloat = this.op(`${s}/dropout/keep_float`, "Cast", [keep], {
            SrcT: attr.type(DataType.DT_BOOL),
            DstT: T_FLOAT,
        });
        return this.f(`${s}/dropout/mask`, "Mul", [keepFloat, inputs.constant("keepScale")]);
    }

    /** `evaluate`: the mean loss and the correct count on the resident test set. */
    evaluate(): SignatureDef {
        const s = "evaluate";
        const pixels = this.op(`${s}/pixels`, "Cast", [this.data.testImages.node], {
            SrcT: attr.type(UINT8),
            DstT: T_FLOAT,
        });
        const labels = this.op(`${s}/labels`, "Identity", [this.data.testLabels.node], {
            T: T_INT32,
        });
        const { loss, correct } = this.measure(s, pixels, labels);
        return {
            inputs: {},
            outputs: { loss: info(loss, FLOAT, []), correct: info(correct, FLOAT, []) },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** `gradients`: one fed batch's mean loss and its gradients at the current weights. */
    gradients(): SignatureDef {
        const s = "gradients";
        const x = this.op(`${s}/x`, "Placeholder", [], {
            dtype: T_FLOAT,
            shape: attr.shape([-1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]),
        });
        const y = this.op(`${s}/y`, "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([-1]),
        });
        const flat = this.f(
            `${s}/flatten`,
            "Reshape",
            [x, this.g.constInt32(`${s}/flat_shape`, [2], [-1, contract.IMAGE_PIXELS])],
            { Tshape: T_INT32 },
        );
        const { loss, grads } = this.measure(s, flat, y);
        const outputs: Record<string, TensorInfo> = { loss: info(loss, FLOAT, []) };
        grads.forEach((g, k) => {
            outputs[WEIGHT_NAMES[k]] = info(g, FLOAT, this.weights[k].shape as readonly number[]);
        });
        return {
            inputs: {
                x: info(x, FLOAT, [-1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]),
                y: info(y, INT32, [-1]),
            },
            outputs,
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** Loss, correct count and gradients at the current weights, without dropout or update. */
    private measure(s: string, pixels: string, labels: string) {
        const c = this.constants;
        return lossAndGradients(
            this.g,
            s,
            pixels,
            labels,
            this.weights.map((w) => w.node),
            {
                pixelScale: c.pixelScale,
                batchAxis: c.batchAxis,
                classAxis: c.classAxis,
                batchSize: this.sizeOf(s, labels),
            },
        );
    }
}

/** The training SavedModel for `options`: one meta graph tagged `serve`. */
export function buildTrainingGraph(options: TrainingGraphOptions): SavedModel {
    const graph = new TrainingGraph(options);
    const signatureDef: Record<string, SignatureDef> = {
        [TRAINING_SIGNATURES.load]: graph.load(),
        [TRAINING_SIGNATURES.init]: graph.init(),
        [TRAINING_SIGNATURES.train]: graph.train(),
        [TRAINING_SIGNATURES.remainder]: graph.remainder(),
        [TRAINING_SIGNATURES.evaluate]: graph.evaluate(),
        [TRAINING_SIGNATURES.weights]: graph.weightsOut(),
        [TRAINING_SIGNATURES.gradients]: graph.gradients(),
    };
    return {
        schemaVersion: 1,
        metaGraphs: [
            {
                metaInfoDef: { tags: [contract.SERVE_TAG] },
                graphDef: graph.g.graphDef(),
                signatureDef,
            },
        ],
    };
}
