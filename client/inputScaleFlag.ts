/**
 * `--input-scale`, shared by `predict` and `smoke`: the pixels the served model takes, which a
 * stack outputs as `inputScale` (see model/savedmodel/inputScale.ts).
 */
import { INPUT_SCALES, InputScale, isInputScale } from "../model/savedmodel/inputScale";
import { UsageError } from "./cliSupport";

/** The flag's usage lines. */
export const INPUT_SCALE_USAGE = [
    `  --input-scale <r>    send pixels as the model takes them: ${INPUT_SCALES.join(" or ")}`,
    "                       (default: the stack's inputScale with --stack, else 0-255)",
].join("\n");

/** `--input-scale`, or undefined when absent. */
export function inputScaleFlag(raw: string | undefined): InputScale | undefined {
    if (raw === undefined) return undefined;
    if (!isInputScale(raw)) {
        throw new UsageError(
            `\`--input-scale\` is "${raw}"; expected ${INPUT_SCALES.join(" or ")}`,
        );
    }
    return raw;
}
