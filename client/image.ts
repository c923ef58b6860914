/**
 * Reads a PNG or JPEG of any size and colour and turns it into a 28x28 MNIST-style image: a
 * white digit on black, cropped to the digit, its longer side scaled to 20 px and placed so its
 * centre of mass sits at the centre of the 28x28 field, which is how MNIST itself was made
 * (LeCun et al.: size-normalized into a 20x20 box with anti-aliasing, then centred by mass).
 *
 * Photos and scans are usually dark ink on light paper, the opposite of MNIST; the background
 * is recognised from the image's border and inverted when it is light.
 */
import * as fs from "fs";
import * as jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { errorMessage } from "../errors";
import { IMAGE_SIZE } from "../model/savedmodel/contract";

/** Formats `decodeImage` reads. */
export type ImageFormat = "png" | "jpeg";

/** Decoded pixels: `width * height` RGBA quadruples, row-major, 8 bits per channel. */
export interface RgbaImage {
    /** Width in pixels. */
    readonly width: number;
    /** Height in pixels. */
    readonly height: number;
    /** RGBA bytes, `4 * width * height` of them. */
    readonly data: Uint8Array;
}

/** A decoded file and the format it was in. */
export interface DecodedImage extends RgbaImage {
    /** The format recognised from the file's first bytes. */
    readonly format: ImageFormat;
}

/** The digit's bounding box in the source image. */
export interface Box {
    /** Left column. */
    readonly x: number;
    /** Top row. */
    readonly y: number;
    /** Columns. */
    readonly width: number;
    /** Rows. */
    readonly height: number;
}

/** A 28x28 image ready for the model, and what was done to get it. */
export interface MnistImage {
    /** 784 pixel intensities 0-255, row-major, white digit on black. */
    readonly pixels: Uint8Array;
    /** True when the background was light and the image was inverted. */
    readonly inverted: boolean;
    /** Where the digit was found in the source. */
    readonly box: Box;
}

/** Knobs of the MNIST conversion; the defaults reproduce MNIST's own geometry. */
export const MNIST_GEOMETRY = {
    /** Side of the output field. */
    size: IMAGE_SIZE,
    /** The digit's longer side after scaling. */
    box: 20,
    /**
     * Least difference, in levels of 255, between the brightest ink and the background for an
     * image to count as holding a digit at all.
     */
    minContrast: 32,
    /**
     * Ink below this fraction of the peak is treated as background when finding the digit's
     * bounding box, so JPEG ringing and paper grain do not widen it.
     */
    boxThreshold: 0.1,
    /** Ink below this fraction of the peak is dropped entirely (sensor and compression noise). */
    noiseFloor: 0.03,
} as const;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SOI = [0xff, 0xd8, 0xff];

/** The format of `bytes` from its signature, or undefined when it is neither PNG nor JPEG. */
export function detectFormat(bytes: Uint8Array): ImageFormat | undefined {
    const starts = (sig: number[]) =>
        bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b);
    if (starts(PNG_SIGNATURE)) return "png";
    if (starts(JPEG_SOI)) return "jpeg";
    return undefined;
}

/** Decodes a PNG or JPEG into RGBA; `source` names the input in errors. */
export function decodeImage(bytes: Uint8Array, source = "image"): DecodedImage {
    const format = detectFormat(bytes);
    if (format === undefined) {
        const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(
            " ",
        );
        throw new Error(
            `${source}: not a PNG or JPEG (first bytes: ${head || "none, the file is empty"}); ` +
                "expected a PNG (89 50 4e 47 …) or JPEG (ff d8 ff …) image",
        );
    }
    let decoded: { width: number; height: number; data: Uint8Array };
    try {
        decoded =
            format === "png"
                ? PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
                : jpeg.decode(bytes, {
                      useTArray: true,
                      formatAsRGBA: true,
                      // Bounds so a hostile or mistaken file cannot exhaust memory.
                      maxResolutionInMP: 100,
                      maxMemoryUsageInMB: 1024,
                  });
    } catch (err) {
        throw new Error(`${source}: corrupt ${format.toUpperCase()}: ${errorMessage(err)}`);
    }
    const { width, height, data } = decoded;
    if (width < 1 || height < 1 || data.length !== 4 * width * height) {
        throw new Error(
            `${source}: decoded to ${width}x${height} with ${data.length} bytes; expected a non-empty RGBA image`,
        );
    }
    return {
        format,
        width,
        height,
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
}

/**
 * Luminance (ITU-R BT.601) of each pixel. Transparent areas take the colour that contrasts with
 * the opaque ones, so a digit drawn in any colour on a transparent canvas stays visible.
 */
export function toGrayscale(image: RgbaImage): Float32Array {
    const n = image.width * image.height;
    const lum = new Float32Array(n);
    const alpha = new Float32Array(n);
    let translucent = false;
    let inkSum = 0;
    let alphaSum = 0;
    const d = image.data;
    for (let i = 0; i < n; i++) {
        lum[i] = 0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2];
        const a = d[4 * i + 3];
        alpha[i] = a / 255;
        translucent ||= a < 255;
        inkSum += lum[i] * alpha[i];
        alphaSum += alpha[i];
    }
    if (!translucent) return lum;
    const backdrop = alphaSum > 0 && inkSum / alphaSum < 128 ? 255 : 0;
    for (let i = 0; i < n; i++) {
        lum[i] = lum[i] * alpha[i] + backdrop * (1 - alpha[i]);
    }
    return lum;
}

function borderMedian(gray: Float32Array, width: number, height: number): number {
    const values: number[] = [];
    for (let x = 0; x < width; x++) {
        values.push(gray[x], gray[(height - 1) * width + x]);
    }
    for (let y = 1; y < height - 1; y++) {
        values.push(gray[y * width], gray[y * width + width - 1]);
    }
    values.sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)];
}

/**
 * Weights of a triangle filter resampling `inSize` samples to `outSize`, widened when
 * shrinking so every source pixel contributes (anti-aliasing, as MNIST's normalisation did).
 */
function filterWeights(inSize: number, outSize: number): { start: number; weights: number[] }[] {
    const scale = inSize / outSize;
    const support = Math.max(1, scale);
    const out: { start: number; weights: number[] }[] = [];
    for (let i = 0; i < outSize; i++) {
        const center = (i + 0.5) * scale;
        const lo = Math.max(0, Math.floor(center - support));
        const hi = Math.min(inSize, Math.ceil(center + support));
        const weights: number[] = [];
        for (let j = lo; j < hi; j++) {
            weights.push(Math.max(0, 1 - Math.abs((j + 0.5 - center) / support)));
        }
        const sum = weights.reduce((a, b) => a + b, 0);
        out.push({ start: lo, weights: weights.map((w) => (sum > 0 ? w / sum : 0)) });
    }
    return out;
}

/** Separable resampling of a `w`x`h` single-channel image to `outW`x`outH`. */
export function resize(
    src: Float32Array,
    w: number,
    h: number,
    outW: number,
    outH: number,
): Float32Array {
    const wx = filterWeights(w, outW);
    const wy = filterWeights(h, outH);
    const rows = new Float32Array(outW * h);
    for (let y = 0; y < h; y++) {
        for (let x = 0; x < outW; x++) {
            const { start, weights } = wx[x];
            let acc = 0;
            for (let k = 0; k < weights.length; k++) acc += weights[k] * src[y * w + start + k];
            rows[y * outW + x] = acc;
        }
    }
    const out = new Float32Array(outW * outH);
    for (let y = 0; y < outH; y++) {
        const { start, weights } = wy[y];
        for (let x = 0; x < outW; x++) {
            let acc = 0;
            for (let k = 0; k < weights.length; k++)
                acc += weights[k] * rows[(start + k) * outW + x];
            out[y * outW + x] = acc;
        }
    }
    return out;
}

/** Converts a decoded image to MNIST's format; `source` names it in errors. */
export function toMnist(image: RgbaImage, source = "image"): MnistImage {
    const { width, height } = image;
    const { size, box, minContrast, boxThreshold, noiseFloor } = MNIST_GEOMETRY;
    const gray = toGrayscale(image);
    const background = borderMedian(gray, width, height);
    const inverted = background > 127.5;
    const level = inverted ? 255 - background : background;

    // Ink is what rises above the background, stretched so the strongest stroke is 255 as in MNIST.
    const ink = new Float32Array(gray.length);
    let peak = 0;
    for (let i = 0; i < gray.length; i++) {
        const v = (inverted ? 255 - gray[i] : gray[i]) - level;
        ink[i] = v > 0 ? v : 0;
        if (ink[i] > peak) peak = ink[i];
    }
    if (peak < minContrast) {
        throw new Error(
            `${source}: no digit found: the strongest stroke differs from the ${inverted ? "light" : "dark"} ` +
                `background (level ${Math.round(background)}) by ${Math.round(peak)} levels; expected at least ${minContrast}`,
        );
    }
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
            const i = y * width + x;
            const v = (ink[i] * 255) / peak;
            ink[i] = v < noiseFloor * 255 ? 0 : v;
            if (v >= boxThreshold * 255) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
        }
    }
    const cw = x1 - x0 + 1;
    const ch = y1 - y0 + 1;
    const crop = new Float32Array(cw * ch);
    for (let y = 0; y < ch; y++) {
        crop.set(ink.subarray((y0 + y) * width + x0, (y0 + y) * width + x0 + cw), y * cw);
    }
    const scale = box / Math.max(cw, ch);
    const outW = Math.max(1, Math.min(box, Math.round(cw * scale)));
    const outH = Math.max(1, Math.min(box, Math.round(ch * scale)));
    const digit = resize(crop, cw, ch, outW, outH);

    let mass = 0;
    let mx = 0;
    let my = 0;
    for (let y = 0; y < outH; y++) {
        for (let x = 0; x < outW; x++) {
            const v = digit[y * outW + x];
            mass += v;
            mx += v * x;
            my += v * y;
        }
    }
    // MNIST puts the mass-weighted mean pixel index at 14: on all 10,000 test images it lies in
    // [13.5, 14.5], exact halves rounded down (ceil(x - 0.5)). Never push the digit off the field.
    const shift = (centre: number, extent: number) =>
        Math.min(size - extent, Math.max(0, Math.ceil(size / 2 - centre - 0.5)));
    const left = shift(mx / mass, outW);
    const top = shift(my / mass, outH);
    const pixels = new Uint8Array(size * size);
    for (let y = 0; y < outH; y++) {
        for (let x = 0; x < outW; x++) {
            const v = Math.round(digit[y * outW + x]);
            pixels[(top + y) * size + left + x] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
    }
    return { pixels, inverted, box: { x: x0, y: y0, width: cw, height: ch } };
}

/** Reads a PNG or JPEG file and converts it to MNIST's format. */
export function readMnistImage(file: string): MnistImage {
    let bytes: Buffer;
    try {
        bytes = fs.readFileSync(file);
    } catch (err) {
        throw new Error(
            `${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`,
        );
    }
    return toMnist(decodeImage(bytes, file), file);
}
