/**
 * The signatures that train: `train`, an epoch's full batches as Adam steps in one `While` loop
 * (each step's mean loss and correct count recorded), and `remainder`, one step on the last,
 * partial batch. The loop starts a step only once the step before has finished.
 */
import * as contract from "../../savedmodel/contract";
import { T_FLOAT, T_INT32, attr } from "../../savedmodel/graphBuilder";
import { SignatureDef } from "../../savedmodel/proto/tensorflow";
import { LoopFrame, countedLoop } from "../graphLoop";
import { adamStep } from "./adamStep";
import { FLOAT, INT32, TrainingGraphBuilder, info } from "./builder";

/**
 * `train`: a loop of Adam steps, one per row of `order`, each on the training examples its
 * row names; step k's dropout draws from (seed, `first_step` + k).
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
    const { steps, reset } = resetStats(t, order);
    const exit = countedLoop(
        t.g,
        "train/loop",
        steps,
        (frame) => loopStep(t, frame, order, firstStep),
        [reset],
    );
    const stats = t.finished("train/stats", t.data.stats.node, FLOAT, [exit]);
    return {
        inputs: {
            order: info(order, INT32, [-1, bs]),
            first_step: info(firstStep, INT32, []),
        },
        outputs: { stats: info(stats, FLOAT, [-1, 2]) },
        methodName: contract.PREDICT_METHOD,
    };
}

/** The number of steps (rows of `order`), and the stats variable reset to that many zero rows. */
function resetStats(t: TrainingGraphBuilder, order: string): { steps: string; reset: string } {
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
    const statsShape = t.op(
        "train/stats_shape",
        "Pack",
        [steps, t.g.constInt32("train/stats_columns", [], [2])],
        { T: T_INT32, N: attr.int(2), axis: attr.int(0) },
    );
    const zeros = t.op(
        "train/stats_zeros",
        "Fill",
        [statsShape, t.g.constFloat("train/stats_zero", [], Float32Array.of(0))],
        { T: T_FLOAT, index_type: T_INT32 },
    );
    return { steps, reset: t.assign("train/reset_stats", t.data.stats, zeros) };
}

/** The loop's body: the step on row i of `order`, its loss and count recorded in row i of stats. */
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
    const { loss, correct, done } = adamStep(t, s, inputs, indices, step, false);
    const stat = t.op(`${s}/stat`, "Pack", [loss, correct], {
        T: T_FLOAT,
        N: attr.int(2),
        axis: attr.int(0),
    });
    const record = t.op(
        `${s}/record`,
        "ScatterUpdate",
        [frame.variable(t.data.stats.node, FLOAT), frame.index, stat],
        { T: T_FLOAT, Tindices: T_INT32, use_locking: attr.bool(false) },
    );
    return [...done, record];
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
    const out = adamStep(t, "remainder/step", t.stepInputs(), indices, step, true);
    return {
        inputs: { indices: info(indices, INT32, [-1]), step: info(step, INT32, []) },
        outputs: {
            loss: info(t.finished("remainder/loss", out.loss, FLOAT, out.done), FLOAT, []),
            correct: info(t.finished("remainder/correct", out.correct, FLOAT, out.done), FLOAT, []),
        },
        methodName: contract.PREDICT_METHOD,
    };
}
