/**
 * The signatures that move the session's state in and out: `load` (the data, once), `init` (the
 * starting weights, Adam reset) and `weights` (the trained weights out).
 */
import * as contract from "../../savedmodel/contract";
import { T_FLOAT, T_INT32, attr } from "../../savedmodel/graphBuilder";
import { SignatureDef, TensorInfo } from "../../savedmodel/proto/tensorflow";
import { FLOAT, INT32, TrainingGraphBuilder, UINT8, info } from "./builder";
import { PACKED_IMAGE_INTS, WEIGHT_NAMES } from "./options";

/** `load`: the data into their variables; images arrive packed four bytes to an int32. */
export function loadSignature(t: TrainingGraphBuilder): SignatureDef {
    const inputs: Record<string, TensorInfo> = {};
    const assigns: string[] = [];
    const rowShape = t.g.constInt32("load/image_shape", [2], [-1, contract.IMAGE_PIXELS]);
    for (const split of ["train", "test"] as const) {
        const packed = t.op(`load/${split}_images`, "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([-1, PACKED_IMAGE_INTS]),
        });
        // Bitcast reads the int32s' memory as bytes, as JavaScript wrote them.
        const bytes = t.op(`load/${split}_bytes`, "Bitcast", [packed], {
            T: T_INT32,
            type: attr.type(UINT8),
        });
        const images = t.op(`load/${split}_rows`, "Reshape", [bytes, rowShape], {
            T: attr.type(UINT8),
            Tshape: T_INT32,
        });
        const labels = t.op(`load/${split}_labels`, "Placeholder", [], {
            dtype: T_INT32,
            shape: attr.shape([-1]),
        });
        inputs[`${split}_images`] = info(packed, INT32, [-1, PACKED_IMAGE_INTS]);
        inputs[`${split}_labels`] = info(labels, INT32, [-1]);
        assigns.push(
            t.assign(`load/assign_${split}_images`, t.data[`${split}Images`], images),
            t.assign(`load/assign_${split}_labels`, t.data[`${split}Labels`], labels),
        );
    }
    return assignSignature(t, "load", inputs, assigns);
}

/** `init`: assigns the fed weights, zeroes Adam's slots, resets the step powers. */
export function initSignature(t: TrainingGraphBuilder): SignatureDef {
    const inputs: Record<string, TensorInfo> = {};
    const assigns: string[] = [];
    t.weights.forEach((w, k) => {
        const shape = w.shape as readonly number[];
        const fed = t.op(`init/${WEIGHT_NAMES[k]}`, "Placeholder", [], {
            dtype: T_FLOAT,
            shape: attr.shape(shape),
        });
        inputs[WEIGHT_NAMES[k]] = info(fed, FLOAT, shape);
        assigns.push(t.assign(`init/assign/${WEIGHT_NAMES[k]}`, w, fed));
        const zeros = t.f(`init/zeros/${WEIGHT_NAMES[k]}`, "ZerosLike", [fed]);
        const slot = t.slots[k];
        assigns.push(t.assign(`init/assign/${WEIGHT_NAMES[k]}/m`, slot.m, zeros));
        assigns.push(t.assign(`init/assign/${WEIGHT_NAMES[k]}/v`, slot.v, zeros));
    });
    // Step t uses β^t; the powers start at β (t = 1) and are multiplied after each step.
    assigns.push(
        t.assign("init/assign/beta1_power", t.powers.beta1, t.constants.beta1),
        t.assign("init/assign/beta2_power", t.powers.beta2, t.constants.beta2),
    );
    return assignSignature(t, "init", inputs, assigns);
}

/** A signature that runs `assigns` on its `inputs`; its `done` output (0) says they ran. */
function assignSignature(
    t: TrainingGraphBuilder,
    scope: string,
    inputs: Record<string, TensorInfo>,
    assigns: readonly string[],
): SignatureDef {
    const zero = t.g.constFloat(`${scope}/zero`, [], Float32Array.of(0));
    const done = t.finished(`${scope}/done`, zero, FLOAT, assigns);
    return {
        inputs,
        outputs: { done: info(done, FLOAT, []) },
        methodName: contract.PREDICT_METHOD,
    };
}

/** `weights`: the current variables. */
export function weightsSignature(t: TrainingGraphBuilder): SignatureDef {
    const outputs: Record<string, TensorInfo> = {};
    t.weights.forEach((w, k) => {
        const read = t.f(`weights/${WEIGHT_NAMES[k]}`, "Identity", [w.node]);
        outputs[WEIGHT_NAMES[k]] = info(read, FLOAT, w.shape as readonly number[]);
    });
    return { inputs: {}, outputs, methodName: contract.PREDICT_METHOD };
}
