/**
 * The evaluation of a model the stack did not train: the packaged SavedModel, run by TensorFlow
 * through tfjs-node's session, classifies every MNIST test image, sent once as intensities 0-255
 * and once as 0-1, since nothing in the model says which it takes (`inputScale.ts`).
 */
import { argMax, asProbabilities } from "../../client/scores";
import { IMAGE_PIXELS } from "../savedmodel/contract";
import { INPUT_SCALES, InputScale, scalePixels } from "../savedmodel/inputScale";
import { withSavedModelSession } from "../savedmodel/session";
import type { MnistSplit } from "../training/data";

/** How a model did on the test split, sent pixels one way. */
export interface ScaleEvaluation {
    /** Share of test images classified right, in [0, 1]. */
    readonly accuracy: number;
    /**
     * Mean cross-entropy of the true digits. The range a model was trained on gives calibrated
     * scores; the other, even where argmax mostly survives it (a ReLU network is nearly blind to
     * a uniform scale), saturates them, and this rises by orders of magnitude.
     */
    readonly loss: number;
}

/** The evaluation each way of sending pixels. */
export type ScaleEvaluations = Readonly<Record<InputScale, ScaleEvaluation>>;

/** Images per session run: bounded memory, few calls. */
const BATCH = 1000;
/** Least probability a true digit is given in the loss, so one certain miss stays finite. */
const MIN_PROBABILITY = 1e-7;

/** Evaluates the SavedModel version directory `dir` on `test`, both ways of sending pixels. */
export async function evaluateSavedModel(dir: string, test: MnistSplit): Promise<ScaleEvaluations> {
    return withSavedModelSession(dir, async (score) => {
        const sums = { "0-255": { correct: 0, loss: 0 }, "0-1": { correct: 0, loss: 0 } };
        for (let start = 0; start < test.count; start += BATCH) {
            const count = Math.min(BATCH, test.count - start);
            const pixels = test.images.subarray(
                start * IMAGE_PIXELS,
                (start + count) * IMAGE_PIXELS,
            );
            for (const scale of INPUT_SCALES) {
                const rows = await score(scalePixels(pixels, scale), count);
                rows.forEach((row, i) => {
                    const label = test.labels[start + i];
                    if (argMax(row) === label) sums[scale].correct++;
                    const p = asProbabilities(row)[label];
                    sums[scale].loss -= Math.log(Math.max(p, MIN_PROBABILITY));
                });
            }
        }
        const of = (scale: InputScale): ScaleEvaluation => ({
            accuracy: sums[scale].correct / test.count,
            loss: sums[scale].loss / test.count,
        });
        return { "0-255": of("0-255"), "0-1": of("0-1") };
    });
}
