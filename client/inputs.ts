/**
 * Checks on what a caller hands the client, made before anything is sent: each failure is a
 * `ServingInputError` naming the bad field. Model names follow the serving contract's rule, the
 * one the stack names its models by; image shapes are the contract's too.
 */
import {
    IMAGE_PIXELS,
    IMAGE_SIZE,
    MODEL_NAME_EXPECTED,
    MODEL_NAME_PATTERN,
    SIGNATURE_KEYS,
} from "../model/savedmodel/contract";
import { ServingInputError } from "./servingErrors";
import { ImageBatch } from "./types";

/**
 * TF Serving's path syntax for a label (`[^/:]+`). Labels are the operator's, not names the
 * stack gives, so only what the URL grammar needs is asked of them.
 */
const PATH_SEGMENT = /^[^/:]+$/;

/** Throws unless `value` is a safe integer ≥ 1 (≥ 0 with `allowZero`); `field` names it. */
export function checkPositiveInteger(field: string, value: number, allowZero = false): void {
    const ok = Number.isSafeInteger(value) && (allowZero ? value >= 0 : value >= 1);
    if (!ok) {
        const wanted = allowZero ? "a non-negative integer" : "a positive integer";
        throw new ServingInputError(field, `is ${value}`, wanted);
    }
}

/** Throws unless `model` is a model name as the serving contract defines them. */
export function checkModelName(model: string): void {
    if (!MODEL_NAME_PATTERN.test(model)) {
        throw new ServingInputError("model", `is "${model}"`, MODEL_NAME_EXPECTED);
    }
}

/** Throws unless `label` fits in one segment of TF Serving's REST paths. */
export function checkLabel(label: string): void {
    if (!PATH_SEGMENT.test(label)) {
        throw new ServingInputError("label", `is "${label}"`, "a non-empty label without / or :");
    }
}

/** Parses `url` into a base URL without trailing slash; `http://` is assumed without a scheme. */
export function normalizeBaseUrl(url: string): string {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
    let parsed: URL;
    try {
        parsed = new URL(withScheme);
    } catch {
        throw new ServingInputError(
            "url",
            `is "${url}"`,
            "an http(s) URL such as http://10.0.0.5:30111",
        );
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        throw new ServingInputError("url", `is "${url}"`, "an http:// or https:// URL");
    }
    if (/\/v1(\/|$)/.test(parsed.pathname)) {
        throw new ServingInputError(
            "url",
            `is "${url}", a model URL`,
            `the server's base URL (${parsed.origin}); the client adds /v1/models/<name> itself`,
        );
    }
    parsed.search = "";
    parsed.hash = "";
    return parsed.toString().replace(/\/+$/, "");
}

/**
 * Checks a batch and copies it into plain nested arrays (typed arrays would serialize as
 * objects). Every value must be a finite number within 0-255: the pixel signatures
 * (`serving_default`, `probabilities`) take raw intensities and scale them themselves.
 */
export function checkImages(images: ImageBatch, maxBatchSize: number): number[][][] {
    const size = IMAGE_SIZE;
    const shape = `(n, ${size}, ${size}) pixel values`;
    if (images === null || typeof images !== "object" || typeof images.length !== "number") {
        throw new ServingInputError("images", `is ${describe(images)}`, `an array of ${shape}`);
    }
    if (images.length === 0) {
        throw new ServingInputError("images", "holds 0 images", "at least 1");
    }
    if (images.length > maxBatchSize) {
        throw new ServingInputError(
            "images",
            `holds ${images.length} images`,
            `at most ${maxBatchSize} per request (\`maxBatchSize\`); split the batch`,
        );
    }
    const out: number[][][] = [];
    for (let i = 0; i < images.length; i++) {
        const image = images[i];
        if (image === null || typeof image !== "object" || typeof image.length !== "number") {
            throw new ServingInputError(
                `images[${i}]`,
                `is ${describe(image)}`,
                `${size} rows of ${size} pixels`,
            );
        }
        if (image.length !== size) {
            throw new ServingInputError(
                `images[${i}]`,
                `has ${image.length} rows`,
                `${size} (shape ${shape})`,
            );
        }
        const rows: number[][] = [];
        for (let r = 0; r < size; r++) {
            const row = image[r];
            if (row === null || typeof row !== "object" || typeof row.length !== "number") {
                throw new ServingInputError(
                    `images[${i}][${r}]`,
                    `is ${describe(row)}`,
                    `a row of ${size} pixels`,
                );
            }
            if (row.length !== size) {
                throw new ServingInputError(
                    `images[${i}][${r}]`,
                    `has ${row.length} values`,
                    `${size} (shape ${shape})`,
                );
            }
            const values: number[] = new Array(size);
            for (let c = 0; c < size; c++) {
                const v = row[c];
                if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 255) {
                    throw new ServingInputError(
                        `images[${i}][${r}][${c}]`,
                        `is ${describe(v)}`,
                        `a finite pixel value in 0-255 (${SIGNATURE_KEYS.default} scales by 1/255 itself)`,
                    );
                }
                values[c] = v;
            }
            rows.push(values);
        }
        out.push(rows);
    }
    return out;
}

/** `v` in a few words for an error message, without dumping a whole array. */
function describe(v: unknown): string {
    if (typeof v === "string") return `the string "${v.length > 20 ? `${v.slice(0, 20)}…` : v}"`;
    if (typeof v === "number") return String(v);
    if (v === null) return "null";
    if (v === undefined) return "undefined";
    if (typeof v === "object" && typeof (v as { length?: unknown }).length !== "number")
        return "an object";
    return `a ${typeof v}`;
}

/** Reshapes flat row-major pixels (n × 784) into the nested `(n, 28, 28)` form `predict` takes. */
export function imagesFromPixels(pixels: ArrayLike<number>, count?: number): number[][][] {
    const per = IMAGE_PIXELS;
    const n = count ?? pixels.length / per;
    if (!Number.isInteger(n) || n < 0 || n * per > pixels.length) {
        throw new ServingInputError(
            "pixels",
            `holds ${pixels.length} values${count === undefined ? "" : ` for count ${count}`}`,
            `a multiple of ${per} (${IMAGE_SIZE}x${IMAGE_SIZE} per image)`,
        );
    }
    const out: number[][][] = [];
    for (let i = 0; i < n; i++) {
        const image: number[][] = [];
        for (let r = 0; r < IMAGE_SIZE; r++) {
            const start = i * per + r * IMAGE_SIZE;
            image.push(Array.from({ length: IMAGE_SIZE }, (_, c) => pixels[start + c]));
        }
        out.push(image);
    }
    return out;
}
