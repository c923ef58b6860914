/**
 * The MNIST training step as one TensorFlow graph, written with the serving export's
 * `GraphBuilder`: forward pass, sparse softmax cross-entropy, the hand-derived gradients and
 * Adam, for the classifier `createModel` builds (Flatten > Dense(relu) > Dropout > Dense).
 *
 * It is saved as a SavedModel with four signatures that share one session's variables:
 * - `init`: the initial kernels and biases in (the tfjs model's, so both trainers start alike),
 *   Adam's slots and step powers reset;
 * - `train`: `K` batches in (`x` `(K, n, 28, 28)` pixels 0-255, `y` `(K, n)` labels), `K` Adam
 *   steps in order, each step's mean loss and correct count out;
 * - `step`: the same for one batch of any size (the remainder of an epoch);
 * - `weights`: the variables out;
 * - `gradients`: one batch's loss and gradients, with no update (for tests);
 * - `evaluate`: the mean loss and the correct count of a batch (the test set after each epoch).
 *
 * Variables are TF1 `VariableV2` refs, read through `Identity`, which aliases the variable's
 * buffer; so each step's `ApplyAdam`s wait (control inputs) for every gradient of that step, and
 * the next step's reads wait for the updates.
 */
import * as contract from "../savedmodel/contract";
import { GraphBuilder, T_FLOAT, T_INT32, attr } from "../savedmodel/graphBuilder";
import { lossAndGradients } from "./trainingStep";
import {
    AttrValue,
    DataType,
    SavedModel,
    SignatureDef,
    TensorInfo,
} from "../savedmodel/proto/tensorflow";

/** Signature keys of the training SavedModel. */
export const TRAINING_SIGNATURES = {
    init: "init",
    train: "train",
    step: "step",
    weights: "weights",
    gradients: "gradients",
    evaluate: "evaluate",
} as const;

/** The tfjs layer weights the graph trains, in `model.getWeights()` order. */
export const WEIGHT_NAMES = ["dense/kernel", "dense/bias", "logits/kernel", "logits/bias"];

/** What the training graph computes. */
export interface TrainingGraphOptions {
    /** Units of the hidden layer. */
    readonly hiddenUnits: number;
    /** Dropout rate after the hidden layer; 0 leaves dropout out. */
    readonly dropoutRate: number;
    /** Adam's learning rate. */
    readonly learningRate: number;
    /** Steps the `train` signature runs per call. */
    readonly stepsPerRun: number;
    /** Seed of the dropout masks. */
    readonly seed: number;
}

/** Keras' Adam: β1, β2 and ε (Keras uses 1e-7, TF1's AdamOptimizer 1e-8). */
export const KERAS_ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

function info(name: string, dtype: number, dim: readonly number[] | undefined): TensorInfo {
    return dim === undefined
        ? { name: `${name}:0`, dtype, shape: { dim: [], unknownRank: true } }
        : { name: `${name}:0`, dtype, shape: { dim } };
}

/** One variable: the `VariableV2` node and its shape. */
interface Variable {
    readonly node: string;
    readonly shape: readonly number[];
}

class TrainingGraph {
    readonly g = new GraphBuilder();
    private readonly o: TrainingGraphOptions;
    readonly weights: Variable[];
    private readonly slots: { m: Variable; v: Variable }[];
    private readonly powers: { beta1: Variable; beta2: Variable };
    private readonly scalars: Record<string, string>;
    private randomOps = 0;

    constructor(o: TrainingGraphOptions) {
        this.o = o;
        const h = o.hiddenUnits;
        const shapes = [
            [contract.IMAGE_PIXELS, h],
            [h],
            [h, contract.NUM_CLASSES],
            [contract.NUM_CLASSES],
        ];
        this.weights = WEIGHT_NAMES.map((n, k) => this.variable(n, shapes[k]));
        this.slots = WEIGHT_NAMES.map((n, k) => ({
            m: this.variable(`${n}/adam_m`, shapes[k]),
            v: this.variable(`${n}/adam_v`, shapes[k]),
        }));
        this.powers = {
            beta1: this.variable("adam/beta1_power", []),
            beta2: this.variable("adam/beta2_power", []),
        };
        const scalar = (name: string, v: number) => this.g.constFloat(name, [], Float32Array.of(v));
        this.scalars = {
            lr: scalar("adam/learning_rate", o.learningRate),
            beta1: scalar("adam/beta1", KERAS_ADAM.beta1),
            beta2: scalar("adam/beta2", KERAS_ADAM.beta2),
            epsilon: scalar("adam/epsilon", KERAS_ADAM.epsilon),
            rate: scalar("dropout/rate", o.dropoutRate),
            keepScale: scalar("dropout/keep_scale", 1 / (1 - o.dropoutRate)),
            pixelScale: scalar("pixel_scale", contract.PIXEL_SCALE),
        };
    }

    private variable(name: string, shape: readonly number[]): Variable {
        const node = this.g.add(name, "VariableV2", [], {
            dtype: T_FLOAT,
            shape: attr.shape(shape),
        });
        return { node, shape };
    }

    private op(name: string, op: string, inputs: string[], attrs: Record<string, AttrValue> = {}) {
        return this.g.add(name, op, inputs, attrs);
    }

    private f(name: string, op: string, inputs: string[], extra: Record<string, AttrValue> = {}) {
        return this.op(name, op, inputs, { T: T_FLOAT, ...extra });
    }

    /** `init`: assigns the fed weights, zeroes Adam's slots, resets the step powers. */
    init(): SignatureDef {
        const inputs: Record<string, TensorInfo> = {};
        const assigns: string[] = [];
        this.weights.forEach((w, k) => {
            const fed = this.op(`init/${WEIGHT_NAMES[k]}`, "Placeholder", [], {
                dtype: T_FLOAT,
                shape: attr.shape(w.shape),
            });
            inputs[WEIGHT_NAMES[k]] = info(fed, DataType.DT_FLOAT, w.shape);
            assigns.push(this.f(`init/assign/${WEIGHT_NAMES[k]}`, "Assign", [w.node, fed]));
            const zeros = this.f(`init/zeros/${WEIGHT_NAMES[k]}`, "ZerosLike", [fed]);
            const slot = this.slots[k];
            assigns.push(
                this.f(`init/assign/${WEIGHT_NAMES[k]}/m`, "Assign", [slot.m.node, zeros]),
            );
            assigns.push(
                this.f(`init/assign/${WEIGHT_NAMES[k]}/v`, "Assign", [slot.v.node, zeros]),
            );
        });
        // Step t uses β^t; the powers start at β (t = 1) and are multiplied after each step.
        assigns.push(
            this.f("init/assign/beta1_power", "Assign", [
                this.powers.beta1.node,
                this.scalars.beta1,
            ]),
            this.f("init/assign/beta2_power", "Assign", [
                this.powers.beta2.node,
                this.scalars.beta2,
            ]),
        );
        const zero = this.g.constFloat("init/zero", [], Float32Array.of(0));
        const done = this.f("init/done", "Identity", [zero, ...assigns.map((a) => `^${a}`)]);
        return {
            inputs,
            outputs: { done: info(done, DataType.DT_FLOAT, []) },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** `weights`: the current variables. */
    weightsOut(): SignatureDef {
        const outputs: Record<string, TensorInfo> = {};
        this.weights.forEach((w, k) => {
            const read = this.f(`weights/${WEIGHT_NAMES[k]}`, "Identity", [w.node]);
            outputs[WEIGHT_NAMES[k]] = info(read, DataType.DT_FLOAT, w.shape);
        });
        return { inputs: {}, outputs, methodName: contract.PREDICT_METHOD };
    }

    /**
     * A signature running `steps` Adam steps in order on `steps` batches, named under `scope`.
     * Returns the per-step mean losses and correct counts, packed.
     */
    steps(scope: string, steps: number): SignatureDef {
        const x = this.op(`${scope}/x`, "Placeholder", [], {
            dtype: T_FLOAT,
            shape: attr.shape([steps, -1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]),
        });
        const y = this.op(`${scope}/y`, "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([steps, -1]),
        });
        // One output per step (Unpack also takes num = 1).
        const unpack = (name: string, input: string, T: AttrValue) => {
            const node = this.op(`${scope}/${name}_steps`, "Unpack", [input], {
                T,
                num: attr.int(steps),
                axis: attr.int(0),
            });
            return Array.from({ length: steps }, (_, k) => (k === 0 ? node : `${node}:${k}`));
        };
        const xs = unpack("x", x, T_FLOAT);
        const ys = unpack("y", y, T_INT32);
        const losses: string[] = [];
        const correct: string[] = [];
        let after: string[] = [];
        for (let k = 0; k < steps; k++) {
            const out = this.step(`${scope}/step${k}`, xs[k], ys[k], after);
            losses.push(out.loss);
            correct.push(out.correct);
            after = out.done;
        }
        // TensorFlow runs only what the fetched outputs need: the outputs wait for the last
        // step's updates, or that step would never be applied.
        const finished = after.map((a) => `^${a}`);
        const pack = (name: string, items: string[]) =>
            this.f(`${scope}/${name}`, "Identity", [
                this.f(`${scope}/${name}_steps`, "Pack", items, {
                    N: attr.int(steps),
                    axis: attr.int(0),
                }),
                ...finished,
            ]);
        return {
            inputs: {
                x: info(x, DataType.DT_FLOAT, [
                    steps,
                    -1,
                    contract.IMAGE_SIZE,
                    contract.IMAGE_SIZE,
                ]),
                y: info(y, DataType.DT_INT32, [steps, -1]),
            },
            outputs: {
                loss: info(pack("loss", losses), DataType.DT_FLOAT, [steps]),
                correct: info(pack("correct", correct), DataType.DT_FLOAT, [steps]),
            },
            methodName: contract.PREDICT_METHOD,
        };
    }

    /**
     * One Adam step on batch `x`, `y`, reading the variables only after `after` (the previous
     * step's updates). Returns its mean loss, its correct count and the nodes that finish it.
     */
    private step(
        s: string,
        x: string,
        y: string,
        after: readonly string[],
    ): { loss: string; correct: string; done: string[] } {
        const wait = after.map((a) => `^${a}`);
        const [w1, b1, w2, b2] = this.weights.map((w, k) =>
            this.f(`${s}/read/${WEIGHT_NAMES[k]}`, "Identity", [w.node, ...wait]),
        );
        const { loss, correct, grads } = lossAndGradients(this.g, s, x, y, [w1, b1, w2, b2], {
            pixelScale: this.scalars.pixelScale,
            dropoutMask:
                this.o.dropoutRate > 0 ? (hidden) => this.dropoutMask(s, hidden) : undefined,
        });
        const [dW1, db1, dW2, db2] = grads;
        // Every read is consumed once all gradients, the loss and the count exist.
        const computed = [dW1, db1, dW2, db2, loss, correct].map((n) => `^${n}`);
        const beta1Power = this.f(`${s}/read/beta1_power`, "Identity", [
            this.powers.beta1.node,
            ...wait,
        ]);
        const beta2Power = this.f(`${s}/read/beta2_power`, "Identity", [
            this.powers.beta2.node,
            ...wait,
        ]);
        const applies = [dW1, db1, dW2, db2].map((grad, k) =>
            this.f(`${s}/adam/${WEIGHT_NAMES[k]}`, "ApplyAdam", [
                this.weights[k].node,
                this.slots[k].m.node,
                this.slots[k].v.node,
                beta1Power,
                beta2Power,
                this.scalars.lr,
                this.scalars.beta1,
                this.scalars.beta2,
                this.scalars.epsilon,
                grad,
                ...computed,
            ]),
        );
        const applied = applies.map((a) => `^${a}`);
        const nextPower = (name: "beta1" | "beta2", read: string) =>
            this.f(`${s}/adam/next_${name}_power`, "Assign", [
                this.powers[name].node,
                this.f(`${s}/adam/${name}_power_times_beta`, "Mul", [read, this.scalars[name]]),
                ...applied,
            ]);
        return {
            loss,
            correct,
            done: [...applies, nextPower("beta1", beta1Power), nextPower("beta2", beta2Power)],
        };
    }

    /**
     * A signature over one batch at the current weights, without dropout or update: `gradients`
     * fetches the loss and its gradients (tests check them), `evaluate` the loss and the correct
     * count; TensorFlow computes only what a signature fetches.
     */
    measure(scope: "gradients" | "evaluate"): SignatureDef {
        const x = this.op(`${scope}/x`, "Placeholder", [], {
            dtype: T_FLOAT,
            shape: attr.shape([-1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]),
        });
        const y = this.op(`${scope}/y`, "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([-1]),
        });
        const reads = this.weights.map((w, k) =>
            this.f(`${scope}/read/${WEIGHT_NAMES[k]}`, "Identity", [w.node]),
        );
        const { loss, correct, grads } = lossAndGradients(this.g, scope, x, y, reads, {
            pixelScale: this.scalars.pixelScale,
        });
        const outputs: Record<string, TensorInfo> = { loss: info(loss, DataType.DT_FLOAT, []) };
        if (scope === "evaluate") {
            outputs.correct = info(correct, DataType.DT_FLOAT, []);
        } else {
            grads.forEach((g, k) => {
                outputs[WEIGHT_NAMES[k]] = info(g, DataType.DT_FLOAT, this.weights[k].shape);
            });
        }
        return {
            inputs: {
                x: info(x, DataType.DT_FLOAT, [-1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]),
                y: info(y, DataType.DT_INT32, [-1]),
            },
            outputs,
            methodName: contract.PREDICT_METHOD,
        };
    }

    /** Keras' inverted dropout: keep where u >= rate, scaled by 1 / (1 - rate). */
    private dropoutMask(s: string, hidden: string): string {
        const shape = this.op(`${s}/dropout/shape`, "Shape", [hidden], {
            T: T_FLOAT,
            out_type: T_INT32,
        });
        // A distinct, fixed seed pair per random op keeps a seeded run repeatable per session.
        this.randomOps += 1;
        const uniform = this.op(`${s}/dropout/uniform`, "RandomUniform", [shape], {
            T: T_INT32,
            dtype: T_FLOAT,
            seed: attr.int(this.o.seed + 1),
            seed2: attr.int(this.randomOps),
        });
        const keep = this.f(`${s}/dropout/keep`, "GreaterEqual", [uniform, this.scalars.rate]);
        const keepFloat = this.op(`${s}/dropout/keep_float`, "Cast", [keep], {
            SrcT: attr.type(DataType.DT_BOOL),
            DstT: T_FLOAT,
        });
        return this.f(`${s}/dropout/mask`, "Mul", [keepFloat, this.scalars.keepScale]);
    }
}

/** The training SavedModel for `options`: one meta graph tagged `serve`, four signatures. */
export function buildTrainingGraph(options: TrainingGraphOptions): SavedModel {
    const graph = new TrainingGraph(options);
    const signatureDef: Record<string, SignatureDef> = {
        [TRAINING_SIGNATURES.init]: graph.init(),
        [TRAINING_SIGNATURES.train]: graph.steps("train", options.stepsPerRun),
        [TRAINING_SIGNATURES.step]: graph.steps("step", 1),
        [TRAINING_SIGNATURES.weights]: graph.weightsOut(),
        [TRAINING_SIGNATURES.gradients]: graph.measure("gradients"),
        [TRAINING_SIGNATURES.evaluate]: graph.measure("evaluate"),
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
