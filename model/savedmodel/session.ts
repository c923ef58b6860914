/**
 * A SavedModel's `serving_default` run by TensorFlow itself, through tfjs-node's SavedModel
 * session: how the stack evaluates a model it did not train, and how `smoke --model-dir` computes
 * the local answer, on the inputs the model's own signature takes.
 */
import type { Tensor } from "@tensorflow/tfjs";
import { errorMessage } from "../../errors";
import { loadTfjsNode } from "../tfjsNode";
import { IMAGE_SIZE, SERVE_TAG, SIGNATURE_KEYS } from "./contract";

/** tfjs-node, which runs SavedModels, did not load on this machine. */
export class TfjsNodeUnavailableError extends Error {
    constructor(cause: unknown) {
        super(
            `@tensorflow/tfjs-node did not load (${errorMessage(cause)}), so no SavedModel can run here; ` +
                "expected it built (bash scripts/build-tfjs-node.sh)",
        );
        this.name = "TfjsNodeUnavailableError";
    }
}

/** Scores of a batch: `count` images of 28x28 floats in, one row of scores per image out. */
export type ScoreBatch = (inputs: Float32Array, count: number) => Promise<number[][]>;

/**
 * Loads the SavedModel at `dir` in a TensorFlow session, hands `use` a function scoring batches
 * through its `serving_default`, and frees the session when `use` settles.
 */
export async function withSavedModelSession<T>(
    dir: string,
    use: (score: ScoreBatch) => Promise<T>,
): Promise<T> {
    let tfn: typeof import("@tensorflow/tfjs-node");
    try {
        tfn = loadTfjsNode();
    } catch (err) {
        throw new TfjsNodeUnavailableError(err);
    }
    let model: Awaited<ReturnType<typeof tfn.node.loadSavedModel>>;
    try {
        model = await tfn.node.loadSavedModel(dir, [SERVE_TAG], SIGNATURE_KEYS.default);
    } catch (err) {
        // tfjs-node's own message can be as bare as "Assertion failed".
        throw new Error(
            `TensorFlow could not load the SavedModel ${dir} (tag ${SERVE_TAG}, signature ${SIGNATURE_KEYS.default}): ${errorMessage(err)}`,
        );
    }
    try {
        return await use((inputs, count) =>
            predictedRows(tfn.tensor3d(inputs, [count, IMAGE_SIZE, IMAGE_SIZE]), (xs) =>
                onlyOutput(model.predict(xs), dir),
            ),
        );
    } finally {
        model.dispose();
    }
}

/** The rows of `predict(xs)`; both tensors are disposed. */
export async function predictedRows(
    xs: Tensor,
    predict: (xs: Tensor) => Tensor,
): Promise<number[][]> {
    try {
        const out = predict(xs);
        try {
            return (await out.array()) as number[][];
        } finally {
            out.dispose();
        }
    } finally {
        xs.dispose();
    }
}

/** The one output tensor of a signature; several are disposed and refused, naming them. */
function onlyOutput(out: Tensor | Tensor[] | Record<string, Tensor>, dir: string): Tensor {
    if (!Array.isArray(out) && typeof (out as Tensor).dataSync === "function") return out as Tensor;
    const tensors = Object.entries(out as Record<string, Tensor>);
    if (tensors.length === 1) return tensors[0][1];
    for (const [, t] of tensors) t.dispose();
    throw new Error(
        `the ${SIGNATURE_KEYS.default} signature of ${dir} has ${tensors.length} outputs ` +
            `(${tensors.map(([k]) => k).join(", ")}); expected one, the scores of the 10 digits`,
    );
}
