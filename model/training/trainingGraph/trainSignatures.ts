/**
 * The signatures that train: `train`, an epoch's full batches as Adam steps in one `While` loop,
 * and `remainder`, one step on the last, partial batch. The loop starts a step only once the step
 * before has finished.
 *
 * A step in the loop only records its logits; each step's mean loss and correct count are worked
 * out from them after the loop, in a few ops over the whole run, instead of six small ops per
 * step. They do not feed back into training, so the weights are the same either way.
 */
import * as contract from "../../savedmodel/contract";
import { T_FLOAT, T_INT32, attr } from "../../savedmodel/graphBuilder";
import { DataType, SignatureDef } from "../../savedmodel/proto/tensorflow";
import { LoopFrame, countedLoop } from "../graphLoop";
import { adamStep } from "./adamStep";
import { FLOAT, INT32, TrainingGraphBuilder, info } from "./builder";

/**
 * `train`: a loop of Adam steps, one per row of `order`, each on the training examples its
 * row names; step k's dropout draws from (seed, `first_step` + k). Out: each step's mean loss and
 * correct count (`stats` `(steps, 2)`).
 */
export function trainSignature(t: TrainingGraphBuilder): SignatureDef {
    const bs = t.options.batchSize;
    const order = t.op("train/order", "Placeholder", [], {
        dtype: T_INT32,
        shape: attr.shape([-1, bs]),
    });
    const firstStep = t.op("train/first_step", "Placeholder", [], {
        dtype: T_INT32,
        shape: attr.shape([]),
    });
    const { steps, reset } = resetStepLogits(t, order);
    const exit = countedLoop(
        t.g,
        "train/loop",
        steps,
        (frame) => loopStep(t, frame, order, firstStep),
        [reset],
    );
    const stats = stepStats(t, order, exit);
    return {
        inputs: {
            order: info(order, INT32, [-1, bs]),
            first_step: info(firstStep, INT32, []),
        },
        outputs: { stats: info(stats, FLOAT, [-1, 2]) },
        methodName: contract.PREDICT_METHOD,
    };
}

/** The number of steps (rows of `order`), and the step logits variable reset to that many rows. */
function resetStepLogits(t: TrainingGraphBuilder, order: string): { steps: string; reset: string } {
    const orderShape = t.op("train/order_shape", "Shape", [order], {
        T: T_INT32,
        out_type: T_INT32,
    });
    const first = (name: string, values: number[]) => t.g.constInt32(`train/${name}`, [1], values);
    const steps = t.op(
        "train/steps",
        "StridedSlice",
        [orderShape, first("begin", [0]), first("end", [1]), first("stride", [1])],
        { T: T_INT32, Index: T_INT32, shrink_axis_mask: attr.int(1) },
    );
    const logitsShape = t.op(
        "train/step_logits_shape",
        "Pack",
        [
            steps,
            t.g.constInt32("train/batch_rows", [], [t.options.batchSize]),
            t.g.constInt32("train/classes", [], [contract.NUM_CLASSES]),
        ],
        { T: T_INT32, N: attr.int(3), axis: attr.int(0) },
    );
    const zeros = t.op(
        "train/step_logits_zeros",
        "Fill",
        [logitsShape, t.g.constFloat("train/step_logits_zero", [], Float32Array.of(0))],
        { T: T_FLOAT, index_type: T_INT32 },
    );
    return { steps, reset: t.assign("train/reset_step_logits", t.data.stepLogits, zeros) };
}

/** The loop's body: the step on row i of `order`, its logits recorded in row i. */
function loopStep(
    t: TrainingGraphBuilder,
    frame: LoopFrame,
    order: string,
    firstStep: string,
): string[] {
    const s = "train/loop/step";
    const inputs = t.stepInputs(frame);
    const indices = t.op(
        `${s}/indices`,
        "GatherV2",
        [frame.invariant(order, INT32), frame.index, inputs.constant("gatherAxis")],
        { Tparams: T_INT32, Tindices: T_INT32, Taxis: T_INT32 },
    );
    const step = t.op(`${s}/number`, "Add", [frame.index, frame.invariant(firstStep, INT32)], {
        T: T_INT32,
    });
    const { measured, done } = adamStep(t, s, inputs, indices, step, false);
    const record = t.op(
        `${s}/record`,
        "ScatterUpdate",
        [frame.variable(t.data.stepLogits.node, FLOAT), frame.index, measured.logits],
        { T: T_FLOAT, Tindices: T_INT32, use_locking: attr.bool(false) },
    );
    return [...done, record];
}

/**
 * Each step's mean loss and correct count `(steps, 2)`, from the logits the loop recorded and the
 * labels of `order`'s rows, once the loop has exited: the same cross-entropy and argmax the step
 * ran, over all steps at once.
 */
function stepStats(t: TrainingGraphBuilder, order: string, exit: string): string {
    const s = "train/stats";
    const logits = t.finished(`${s}/logits`, t.data.stepLogits.node, FLOAT, [exit]);
    const labels = t.op(
        `${s}/labels`,
        "GatherV2",
        [t.data.trainLabels.node, order, t.constants.gatherAxis],
        { Tparams: T_INT32, Tindices: T_INT32, Taxis: T_INT32 },
    );
    const rows = (name: string, x: string, dtype: number, dims: number[]) =>
        t.op(
            `${s}/${name}`,
            "Reshape",
            [x, t.g.constInt32(`${s}/${name}_shape`, [dims.length], dims)],
            {
                T: attr.type(dtype),
                Tshape: T_INT32,
            },
        );
    const xent = t.f(
        `${s}/xent`,
        "SparseSoftmaxCrossEntropyWithLogits",
        [
            rows("flat_logits", logits, FLOAT, [-1, contract.NUM_CLASSES]),
            rows("flat_labels", labels, INT32, [-1]),
        ],
        { Tlabels: T_INT32 },
    );
    const bs = t.options.batchSize;
    const perStep = { Tidx: T_INT32, keep_dims: attr.bool(false) };
    const stepAxis = t.g.constInt32(`${s}/example_axis`, [], [1]);
    const loss = t.f(
        `${s}/loss`,
        "Mean",
        [rows("step_xent", xent, FLOAT, [-1, bs]), stepAxis],
        perStep,
    );
    const predicted = t.op(
        `${s}/predicted`,
        "ArgMax",
        [logits, t.g.constInt32(`${s}/class_axis`, [], [2])],
        { T: T_FLOAT, Tidx: T_INT32, output_type: T_INT32 },
    );
    const hits = t.op(`${s}/hits`, "Equal", [predicted, labels], { T: T_INT32 });
    const hitsFloat = t.op(`${s}/hits_float`, "Cast", [hits], {
        SrcT: attr.type(DataType.DT_BOOL),
        DstT: T_FLOAT,
    });
    const correct = t.f(`${s}/correct`, "Sum", [hitsFloat, stepAxis], perStep);
    return t.op(`${s}/pack`, "Pack", [loss, correct], {
        T: T_FLOAT,
        N: attr.int(2),
        axis: attr.int(1),
    });
}

/** `remainder`: one Adam step on the training examples `indices`, as step number `step`. */
export function remainderSignature(t: TrainingGraphBuilder): SignatureDef {
    const indices = t.op("remainder/indices", "Placeholder", [], {
        dtype: T_INT32,
        shape: attr.shape([-1]),
    });
    const step = t.op("remainder/step", "Placeholder", [], {
        dtype: T_INT32,
        shape: attr.shape([]),
    });
    const { measured: out, done } = adamStep(
        t,
        "remainder/step",
        t.stepInputs(),
        indices,
        step,
        true,
    );
    return {
        inputs: { indices: info(indices, INT32, [-1]), step: info(step, INT32, []) },
        outputs: {
            loss: info(t.finished("remainder/loss", out.loss, FLOAT, done), FLOAT, []),
            correct: info(t.finished("remainder/correct", out.correct, FLOAT, done), FLOAT, []),
        },
        methodName: contract.PREDICT_METHOD,
    };
}
