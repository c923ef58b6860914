/**
 * The forward pass, the loss and its gradients for one batch of the MNIST classifier, as graph
 * nodes: Flatten > Dense(relu) > Dropout > Dense, sparse softmax cross-entropy on the logits,
 * averaged over the batch. The gradients are derived by hand (TensorFlow's C API has no
 * symbolic differentiation); a test checks each against `tf.grads`.
 */
import { IMAGE_PIXELS } from "../savedmodel/contract";
import { GraphBuilder, T_FLOAT, T_INT32, attr } from "../savedmodel/graphBuilder";
import { DataType } from "../savedmodel/proto/tensorflow";

/** The batch's mean loss, its correct count, and the gradients in weight order. */
export interface LossAndGradients {
    readonly loss: string;
    readonly correct: string;
    /** d(loss) / d(dense kernel, dense bias, logits kernel, logits bias). */
    readonly grads: readonly [string, string, string, string];
}

/** How the step sees its inputs. */
export interface StepOptions {
    /** Const node of the pixel scale: `x` holds 0-255. */
    readonly pixelScale: string;
    /** Builds the dropout mask for the hidden activations; no dropout when undefined. */
    readonly dropoutMask?: (hidden: string) => string;
}

const T_BOOL = attr.type(DataType.DT_BOOL);

/**
 * Emits the loss and gradients under scope `s` for pixels `x` `(n, 28, 28)` and labels `y`
 * `(n)` at the weights `[w1, b1, w2, b2]`.
 */
export function lossAndGradients(
    g: GraphBuilder,
    s: string,
    x: string,
    y: string,
    [w1, b1, w2, b2]: readonly string[],
    options: StepOptions,
): LossAndGradients {
    const f = (name: string, op: string, inputs: string[], extra = {}) =>
        g.add(`${s}/${name}`, op, inputs, { T: T_FLOAT, ...extra });
    const matmul = (name: string, a: string, b: string, ta = false, tb = false) =>
        f(name, "MatMul", [a, b], { transpose_a: attr.bool(ta), transpose_b: attr.bool(tb) });
    const nhwc = { data_format: attr.str("NHWC") };
    const sum = { Tidx: T_INT32, keep_dims: attr.bool(false) };
    const cast = (name: string, input: string, from: typeof T_BOOL) =>
        g.add(`${s}/${name}`, "Cast", [input], { SrcT: from, DstT: T_FLOAT });

    const flatShape = g.constInt32(`${s}/flat_shape`, [2], [-1, IMAGE_PIXELS]);
    const pixels = f("flatten", "Reshape", [x, flatShape], { Tshape: T_INT32 });
    const flat = f("scale", "Mul", [pixels, options.pixelScale]);
    const hidden = f("dense/relu", "Relu", [
        f("dense/bias_add", "BiasAdd", [matmul("dense/matmul", flat, w1), b1], nhwc),
    ]);
    const mask = options.dropoutMask?.(hidden);
    const dropped = mask === undefined ? hidden : f("dropout/mul", "Mul", [hidden, mask]);
    const logits = f(
        "logits/bias_add",
        "BiasAdd",
        [matmul("logits/matmul", dropped, w2), b2],
        nhwc,
    );

    const xent = f("xent", "SparseSoftmaxCrossEntropyWithLogits", [logits, y], {
        Tlabels: T_INT32,
    });
    const axis0 = g.constInt32(`${s}/axis0`, [1], [0]);
    const loss = f("loss", "Mean", [xent, axis0], sum);
    const axis1 = g.constInt32(`${s}/axis1`, [], [1]);
    const predicted = f("predicted", "ArgMax", [logits, axis1], {
        Tidx: T_INT32,
        output_type: T_INT32,
    });
    const hits = g.add(`${s}/hits`, "Equal", [predicted, y], { T: T_INT32 });
    const correct = f("correct", "Sum", [cast("hits_float", hits, T_BOOL), axis0], sum);

    // The op's second output is softmax - onehot per example; the mean divides it by n.
    const count = g.add(`${s}/batch_size`, "Size", [xent], { T: T_FLOAT, out_type: T_INT32 });
    const dLogits = f("grad/logits", "RealDiv", [
        `${xent}:1`,
        cast("batch_size_float", count, T_INT32),
    ]);
    const dW2 = matmul("grad/logits/kernel", dropped, dLogits, true, false);
    const db2 = f("grad/logits/bias", "BiasAddGrad", [dLogits], nhwc);
    const dDropped = matmul("grad/dropped", dLogits, w2, false, true);
    const dHidden = mask === undefined ? dDropped : f("grad/dropout", "Mul", [dDropped, mask]);
    // ReluGrad passes the gradient where the features are positive: relu's output works as well.
    const dPre = f("grad/relu", "ReluGrad", [dHidden, hidden]);
    const dW1 = matmul("grad/dense/kernel", flat, dPre, true, false);
    const db1 = f("grad/dense/bias", "BiasAddGrad", [dPre], nhwc);
    return { loss, correct, grads: [dW1, db1, dW2, db2] };
}
