/**
 * The forward pass, the loss and its gradients for one batch of the MNIST classifier, as graph
 * nodes: Flatten > Dense(relu) > Dropout > Dense, sparse softmax cross-entropy on the logits,
 * averaged over the batch. The gradients are derived by hand (TensorFlow's C API has no
 * symbolic differentiation); a test checks each against `tf.grads`.
 */
import { GraphBuilder, T_FLOAT, T_INT32, attr } from "../savedmodel/graphBuilder";
import { DataType } from "../savedmodel/proto/tensorflow";

/**
 * The batch's logits and predicted classes, its mean loss and correct count, and the gradients in
 * weight order. A caller uses what it needs; TensorFlow runs only what a fetch depends on.
 */
export interface LossAndGradients {
    /** Float `(n, 10)`. */
    readonly logits: string;
    /** Int32 `(n)`: the argmax of each row of the logits. */
    readonly predicted: string;
    readonly loss: string;
    readonly correct: string;
    /** d(loss) / d(dense kernel, dense bias, logits kernel, logits bias). */
    readonly grads: readonly [string, string, string, string];
}

/**
 * The constants a step uses, made by the caller: inside a loop they enter its frame once per run
 * instead of running as `Const` nodes every iteration.
 */
export interface StepConstants {
    /** Float scalar: `x` holds 0-255, the model sees x times this. */
    readonly pixelScale: string;
    /** Int32 `[0]`: the batch axis, for the mean loss and the correct count. */
    readonly batchAxis: string;
    /** Int32 scalar 1: the class axis of the logits. */
    readonly classAxis: string;
    /** Float scalar: the examples in the batch, which the mean loss divides by. */
    readonly batchSize: string;
}

/** How the step sees its inputs. */
export interface StepOptions extends StepConstants {
    /** Builds the dropout mask for the hidden activations; no dropout when undefined. */
    readonly dropoutMask?: (hidden: string) => string;
}

const T_BOOL = attr.type(DataType.DT_BOOL);

/**
 * Emits the loss and gradients under scope `s` for float pixels `x` `(n, 784)` (0-255) and int32
 * labels `y` `(n)` at the weights `[w1, b1, w2, b2]`.
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

    const flat = f("scale", "Mul", [x, options.pixelScale]);
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
    const loss = f("loss", "Mean", [xent, options.batchAxis], sum);
    const predicted = f("predicted", "ArgMax", [logits, options.classAxis], {
        Tidx: T_INT32,
        output_type: T_INT32,
    });
    const hits = g.add(`${s}/hits`, "Equal", [predicted, y], { T: T_INT32 });
    const hitsFloat = g.add(`${s}/hits_float`, "Cast", [hits], { SrcT: T_BOOL, DstT: T_FLOAT });
    const correct = f("correct", "Sum", [hitsFloat, options.batchAxis], sum);

    // The op's second output is softmax - onehot per example; the mean divides it by n.
    const dLogits = f("grad/logits", "RealDiv", [`${xent}:1`, options.batchSize]);
    const dW2 = matmul("grad/logits/kernel", dropped, dLogits, true, false);
    const db2 = f("grad/logits/bias", "BiasAddGrad", [dLogits], nhwc);
    const dDropped = matmul("grad/dropped", dLogits, w2, false, true);
    const dHidden = mask === undefined ? dDropped : f("grad/dropout", "Mul", [dDropped, mask]);
    // ReluGrad passes the gradient where the features are positive: relu's output works as well.
    const dPre = f("grad/relu", "ReluGrad", [dHidden, hidden]);
    const dW1 = matmul("grad/dense/kernel", flat, dPre, true, false);
    const db1 = f("grad/dense/bias", "BiasAddGrad", [dPre], nhwc);
    return { logits, predicted, loss, correct, grads: [dW1, db1, dW2, db2] };
}
