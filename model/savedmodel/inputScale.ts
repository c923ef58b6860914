/**
 * The pixel range a model's `serving_default` takes. Nothing in a SavedModel says it: our exports
 * (and Keras models with their own `Rescaling`) take intensities 0-255, a Keras export of a model
 * trained on `x / 255` takes 0-1. The stack finds out by evaluating both, outputs the answer, and
 * the clients scale what they send by it.
 */
import { PIXEL_SCALE } from "./contract";

/** The ranges, by the name config (`inputScale`), the stack output and `--input-scale` use. */
export const INPUT_SCALES = ["0-255", "0-1"] as const;
/** One of `INPUT_SCALES`. */
export type InputScale = (typeof INPUT_SCALES)[number];

/** What our exports take: raw intensities, scaled inside the graph. */
export const OWN_INPUT_SCALE: InputScale = "0-255";

/** Whether `text` names an input scale. */
export function isInputScale(text: string): text is InputScale {
    return (INPUT_SCALES as readonly string[]).includes(text);
}

/** Intensities 0-255 as the floats a model of `scale` takes. */
export function scalePixels(pixels: ArrayLike<number>, scale: InputScale): Float32Array {
    const factor = scale === "0-1" ? PIXEL_SCALE : 1;
    const out = new Float32Array(pixels.length);
    for (let i = 0; i < pixels.length; i++) {
        out[i] = pixels[i] * factor;
    }
    return out;
}
