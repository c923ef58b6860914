/**
 * The quality gate of a loaded model: its test accuracy, sent pixels the way it is served, must
 * reach `minAccuracy`, as a trained model's must. Which way is served: the one config names
 * (`inputScale`), else the one that passes; when both pass, the one with the lower loss, since
 * that is the range the model was trained on (`evaluation.ts`).
 */
import { INPUT_SCALES, InputScale } from "../savedmodel/inputScale";
import type { ScaleEvaluations } from "./evaluation";

/** What the gate decided: how the model is sent pixels, and its accuracy that way. */
export interface GateVerdict {
    readonly inputScale: InputScale;
    readonly accuracy: number;
}

/** Both accuracies, as every message states them. */
export function describeAccuracies(evaluations: ScaleEvaluations): string {
    return INPUT_SCALES.map(
        (s) =>
            `${evaluations[s].accuracy.toFixed(4)} sent pixels as ${s} (loss ${evaluations[s].loss.toFixed(3)})`,
    ).join(", ");
}

/**
 * The verdict on a model `source` whose evaluation gave `evaluations`; throws naming both
 * accuracies and `minAccuracy` when the served way is below it.
 */
export function gateLoadedModel(
    source: string,
    evaluations: ScaleEvaluations,
    minAccuracy: number,
    configured?: InputScale,
): GateVerdict {
    const both = describeAccuracies(evaluations);
    if (configured !== undefined) {
        const accuracy = evaluations[configured].accuracy;
        if (accuracy < minAccuracy) {
            throw new Error(
                `quality gate: model source ${source} scores ${both} on the MNIST test set; ` +
                    `inputScale ${configured} gives ${accuracy.toFixed(4)}, below minAccuracy ${minAccuracy}. ` +
                    "Nothing was created; expected a better model, another inputScale, or a lower minAccuracy",
            );
        }
        return { inputScale: configured, accuracy };
    }
    const passing = INPUT_SCALES.filter((s) => evaluations[s].accuracy >= minAccuracy);
    if (passing.length === 0) {
        throw new Error(
            `quality gate: model source ${source} scores ${both} on the MNIST test set, ` +
                `both below minAccuracy ${minAccuracy}. Nothing was created; expected a model ` +
                "that classifies MNIST digits, or a lower minAccuracy",
        );
    }
    const inputScale = passing.reduce((best, s) =>
        evaluations[s].loss < evaluations[best].loss ? s : best,
    );
    return { inputScale, accuracy: evaluations[inputScale].accuracy };
}
