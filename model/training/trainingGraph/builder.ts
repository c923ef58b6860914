/**
 * The training graph's building blocks: its variables (weights, Adam's slots and step powers,
 * the resident data), its constants, and the few op shapes every signature uses.
 *
 * Variables are TF1 `VariableV2` refs; ops read them where they use them, which aliases the
 * variable's buffer (see `adamStep.ts` for the ordering that makes this safe).
 */
import * as contract from "../../savedmodel/contract";
import { GraphBuilder, T_FLOAT, T_INT32, attr } from "../../savedmodel/graphBuilder";
import { AttrValue, DataType, TensorInfo } from "../../savedmodel/proto/tensorflow";
import { LoopFrame } from "../graphLoop";
import { StepConstants } from "../trainingStep";
import { KERAS_ADAM, TrainingGraphOptions, WEIGHT_NAMES } from "./options";

export const { DT_FLOAT: FLOAT, DT_INT32: INT32, DT_UINT8: UINT8 } = DataType;

/** A signature's view of the node `name`'s first output. */
export function info(name: string, dtype: number, dim: readonly number[]): TensorInfo {
    return { name: `${name}:0`, dtype, shape: { dim } };
}

/** One variable: the `VariableV2` node, its dtype and its shape (undefined: set when assigned). */
export interface Variable {
    readonly node: string;
    readonly dtype: number;
    readonly shape?: readonly number[];
}

/**
 * Where a step's ops find what they take from outside: the constants and the variables, entered
 * into a loop's frame or used as they are outside any loop.
 */
export interface StepInputs {
    constant(name: keyof Constants): string;
    variable(v: Variable): string;
}

/** The graph's constants, made once outside every loop. */
export type Constants = StepConstants & {
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

/** The graph under construction with its variables and constants, for the signatures to use. */
export class TrainingGraphBuilder {
    readonly g = new GraphBuilder();
    readonly options: TrainingGraphOptions;
    /** The trained weights, in `WEIGHT_NAMES` order. */
    readonly weights: Variable[];
    /** Adam's first and second moment of each weight. */
    readonly slots: { m: Variable; v: Variable }[];
    /** β1^t and β2^t for the next step t. */
    readonly powers: { beta1: Variable; beta2: Variable };
    /** The resident data, and the logits of each step of the `train` loop. */
    readonly data: {
        trainImages: Variable;
        trainLabels: Variable;
        testImages: Variable;
        testLabels: Variable;
        stepLogits: Variable;
    };
    readonly constants: Constants;
    private readonly constantTypes = new Map<string, number>();

    constructor(o: TrainingGraphOptions) {
        this.options = o;
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
            stepLogits: this.variable("train/step_logits_variable", FLOAT),
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

    /** A step's inputs: entered into `frame` inside a loop, the nodes themselves outside one. */
    stepInputs(frame?: LoopFrame): StepInputs {
        if (frame === undefined) {
            return { constant: (name) => this.constants[name], variable: (v) => v.node };
        }
        return {
            constant: (name) => {
                const node = this.constants[name];
                return frame.invariant(node, this.constantTypes.get(node) as number);
            },
            variable: (v) => frame.variable(v.node, v.dtype),
        };
    }

    op(name: string, op: string, inputs: string[], attrs: Record<string, AttrValue> = {}) {
        return this.g.add(name, op, inputs, attrs);
    }

    /** An op on floats (`T` float32). */
    f(name: string, op: string, inputs: string[], extra: Record<string, AttrValue> = {}) {
        return this.op(name, op, inputs, { T: T_FLOAT, ...extra });
    }

    /** Assigns `value` to `v`; a variable declared without a shape takes the value's. */
    assign(name: string, v: Variable, value: string): string {
        return this.op(name, "Assign", [v.node, value], {
            T: attr.type(v.dtype),
            validate_shape: attr.bool(v.shape !== undefined),
        });
    }

    /** An output that is `value` once `after` ran. */
    finished(name: string, value: string, dtype: number, after: readonly string[]) {
        return this.op(name, "Identity", [value, ...after.map((a) => `^${a}`)], {
            T: attr.type(dtype),
        });
    }

    /** The number of `labels` as a float scalar, the mean of a batch whose size is fed. */
    sizeOf(s: string, labels: string): string {
        const size = this.op(`${s}/batch_size`, "Size", [labels], {
            T: T_INT32,
            out_type: T_INT32,
        });
        return this.op(`${s}/batch_size_float`, "Cast", [size], { SrcT: T_INT32, DstT: T_FLOAT });
    }
}
