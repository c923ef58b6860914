/** Turning the model's ten scores into a digit and its probability, without TensorFlow.js. */

/** Softmax of `logits`, shifted by their maximum so large scores do not overflow `exp`. */
export function softmax(logits: readonly number[]): number[] {
    if (logits.length === 0) {
        throw new Error("softmax of 0 logits; expected at least one score");
    }
    const max = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
}

/** Index of the largest value; the first one on ties, as `tf.argMax` does. */
export function argMax(values: readonly number[]): number {
    if (values.length === 0) {
        throw new Error("argMax of 0 values; expected at least one");
    }
    let best = 0;
    for (let i = 1; i < values.length; i++) {
        if (values[i] > values[best]) best = i;
    }
    return best;
}

/**
 * Whether `row` already is a probability distribution: a model whose last layer is a softmax
 * (Keras' usual) returns one from `serving_default`, where ours returns logits.
 */
export function isDistribution(row: readonly number[]): boolean {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
}

/** `row` as probabilities: itself when it already is a distribution, else its softmax. */
export function asProbabilities(row: readonly number[]): readonly number[] {
    return isDistribution(row) ? row : softmax(row);
}
