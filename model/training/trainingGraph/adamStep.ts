/**
 * One training step: gather the batch from the resident data, the forward pass with dropout, the
 * loss and its gradients (`trainingStep.ts`), then Keras' Adam update of every weight.
 *
 * Ops read the variables where they use them, which aliases the variable's buffer, so a step's
 * `ApplyAdam`s wait (control inputs) for every gradient of that step.
 *
 * Dropout masks come from `StatelessRandomUniform` seeded by (seed, step number), so the weights
 * depend on the seed alone: not on how steps are grouped into session runs.
 */
import { T_FLOAT, T_INT32, attr } from "../../savedmodel/graphBuilder";
import { DataType } from "../../savedmodel/proto/tensorflow";
import { LossAndGradients, lossAndGradients } from "../trainingStep";
import { StepInputs, TrainingGraphBuilder, UINT8, Variable } from "./builder";
import { WEIGHT_NAMES } from "./options";

/** What a step measured (its logits, loss, count) and the nodes that finish it. */
export interface StepResult {
    readonly measured: LossAndGradients;
    readonly done: string[];
}

/**
 * One Adam step under scope `s` on the training examples `indices`, gathered from the
 * resident data, with dropout drawn for step number `step`. A partial batch sizes its mask
 * and its mean from the batch; a full one uses the constants.
 */
export function adamStep(
    t: TrainingGraphBuilder,
    s: string,
    inputs: StepInputs,
    indices: string,
    step: string,
    partial: boolean,
): StepResult {
    const gather = (name: string, v: Variable) =>
        t.op(
            `${s}/${name}`,
            "GatherV2",
            [inputs.variable(v), indices, inputs.constant("gatherAxis")],
            { Tparams: attr.type(v.dtype), Tindices: T_INT32, Taxis: T_INT32 },
        );
    const pixels = t.op(`${s}/pixels`, "Cast", [gather("images", t.data.trainImages)], {
        SrcT: attr.type(UINT8),
        DstT: T_FLOAT,
    });
    const labels = gather("labels", t.data.trainLabels);
    const c = inputs.constant;
    const weights = t.weights.map((w) => inputs.variable(w));
    const seed = t.op(`${s}/dropout/seed`, "Pack", [c("seed"), step], {
        T: T_INT32,
        N: attr.int(2),
        axis: attr.int(0),
    });
    const measured = lossAndGradients(t.g, s, pixels, labels, weights, {
        pixelScale: c("pixelScale"),
        batchAxis: c("batchAxis"),
        classAxis: c("classAxis"),
        batchSize: partial ? t.sizeOf(s, labels) : c("batchSize"),
        dropoutMask:
            t.options.dropoutRate > 0
                ? (hidden) =>
                      dropoutMask(
                          t,
                          s,
                          partial ? shapeOf(t, s, hidden) : c("maskShape"),
                          seed,
                          inputs,
                      )
                : undefined,
    });
    return { measured, done: applyAdam(t, s, inputs, measured.grads) };
}

/**
 * Keras' Adam on every weight from the step's gradients, then the step powers times β. Returns
 * the nodes that finish the update.
 */
function applyAdam(
    t: TrainingGraphBuilder,
    s: string,
    inputs: StepInputs,
    grads: LossAndGradients["grads"],
): string[] {
    const c = inputs.constant;
    // Every op that reads a weight is an ancestor of some gradient: once all gradients exist,
    // no read of the old values is left.
    const computed = grads.map((n) => `^${n}`);
    const beta1Power = inputs.variable(t.powers.beta1);
    const beta2Power = inputs.variable(t.powers.beta2);
    const applies = grads.map((grad, k) =>
        t.f(`${s}/adam/${WEIGHT_NAMES[k]}`, "ApplyAdam", [
            inputs.variable(t.weights[k]),
            inputs.variable(t.slots[k].m),
            inputs.variable(t.slots[k].v),
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
        t.f(`${s}/adam/next_${name}_power`, "Assign", [
            power,
            t.f(`${s}/adam/${name}_power_times_beta`, "Mul", [power, c(name), ...computed]),
            ...applied,
        ]);
    return [...applies, nextPower("beta1", beta1Power), nextPower("beta2", beta2Power)];
}

function shapeOf(t: TrainingGraphBuilder, s: string, hidden: string): string {
    return t.op(`${s}/dropout/shape`, "Shape", [hidden], { T: T_FLOAT, out_type: T_INT32 });
}

/**
 * Keras' inverted dropout: keep where u >= rate, scaled by 1 / (1 - rate), u drawn uniformly
 * for the seed pair `seed` (the run's seed, the step number).
 */
function dropoutMask(
    t: TrainingGraphBuilder,
    s: string,
    shape: string,
    seed: string,
    inputs: StepInputs,
): string {
    const uniform = t.op(`${s}/dropout/uniform`, "StatelessRandomUniform", [shape, seed], {
        dtype: T_FLOAT,
        T: T_INT32,
        Tseed: T_INT32,
    });
    const keep = t.f(`${s}/dropout/keep`, "GreaterEqual", [uniform, inputs.constant("rate")]);
    const keepFloat = t.op(`${s}/dropout/keep_float`, "Cast", [keep], {
        SrcT: attr.type(DataType.DT_BOOL),
        DstT: T_FLOAT,
    });
    return t.f(`${s}/dropout/mask`, "Mul", [keepFloat, inputs.constant("keepScale")]);
}
