/**
 * The signatures that measure without training: `evaluate` on the resident test set, and
 * `gradients` on a fed batch (for the tests that check the hand-derived gradients).
 */
import * as contract from "../../savedmodel/contract";
import { T_FLOAT, T_INT32, attr } from "../../savedmodel/graphBuilder";
import { SignatureDef, TensorInfo } from "../../savedmodel/proto/tensorflow";
import { lossAndGradients } from "../trainingStep";
import { FLOAT, INT32, TrainingGraphBuilder, UINT8, info } from "./builder";
import { WEIGHT_NAMES } from "./options";

/** `evaluate`: the mean loss, the correct count and each predicted class on the resident test set. */
export function evaluateSignature(t: TrainingGraphBuilder): SignatureDef {
    const s = "evaluate";
    const pixels = t.op(`${s}/pixels`, "Cast", [t.data.testImages.node], {
        SrcT: attr.type(UINT8),
        DstT: T_FLOAT,
    });
    const labels = t.op(`${s}/labels`, "Identity", [t.data.testLabels.node], { T: T_INT32 });
    const { loss, correct, predicted } = measure(t, s, pixels, labels);
    return {
        inputs: {},
        outputs: {
            loss: info(loss, FLOAT, []),
            correct: info(correct, FLOAT, []),
            predicted: info(predicted, INT32, [-1]),
        },
        methodName: contract.PREDICT_METHOD,
    };
}

/** `gradients`: one fed batch's mean loss and its gradients at the current weights. */
export function gradientsSignature(t: TrainingGraphBuilder): SignatureDef {
    const s = "gradients";
    const x = t.op(`${s}/x`, "Placeholder", [], {
        dtype: T_FLOAT,
        shape: attr.shape([-1, contract.IMAGE_SIZE, contract.IMAGE_SIZE]),
    });
    const y = t.op(`${s}/y`, "Placeholder", [], {
        dtype: T_INT32,
        shape: attr.shape([-1]),
    });
    const flat = t.f(
        `${s}/flatten`,
        "Reshape",
        [x, t.g.constInt32(`${s}/flat_shape`, [2], [-1, contract.IMAGE_PIXELS])],
        { Tshape: T_INT32 },
    );
    const { loss, grads } = measure(t, s, flat, y);
    const outputs: Record<string, TensorInfo> = { loss: info(loss, FLOAT, []) };
    grads.forEach((g, k) => {
        outputs[WEIGHT_NAMES[k]] = info(g, FLOAT, t.weights[k].shape as readonly number[]);
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
function measure(t: TrainingGraphBuilder, s: string, pixels: string, labels: string) {
    const c = t.constants;
    return lossAndGradients(
        t.g,
        s,
        pixels,
        labels,
        t.weights.map((w) => w.node),
        {
            pixelScale: c.pixelScale,
            batchAxis: c.batchAxis,
            classAxis: c.classAxis,
            batchSize: t.sizeOf(s, labels),
        },
    );
}
