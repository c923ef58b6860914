/**
 * Stand-ins for the photos and scans a user feeds the `predict` command: MNIST test digits
 * re-drawn at other sizes, positions and colours (dark ink on light paper, transparent canvases)
 * and written as real PNG and JPEG files, plus a pixel correlation to compare results with the
 * original digit.
 */
import * as fs from "fs";
import * as path from "path";
import * as jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { RgbaImage } from "../../client/image";

/** An RGB colour. */
export type Rgb = readonly [number, number, number];

/** How to re-draw a 28x28 digit. */
export interface Rendering {
    /** Canvas width. */
    readonly width: number;
    /** Canvas height. */
    readonly height: number;
    /** Canvas pixels per MNIST pixel (may be fractional). */
    readonly scale: number;
    /** Where the digit's 28x28 field starts on the canvas. */
    readonly left: number;
    /** Where the digit's 28x28 field starts on the canvas. */
    readonly top: number;
    /** Stroke colour. Defaults to white. */
    readonly ink?: Rgb;
    /** Background colour. Defaults to black. */
    readonly paper?: Rgb;
    /** Make the paper transparent (ink intensity becomes alpha). Defaults to false. */
    readonly transparentPaper?: boolean;
}

/** Draws `digit` (784 bytes, white on black) onto a canvas, bilinearly scaled. */
export function renderDigit(digit: ArrayLike<number>, r: Rendering): RgbaImage {
    const ink = r.ink ?? [255, 255, 255];
    const paper = r.paper ?? [0, 0, 0];
    const data = new Uint8Array(4 * r.width * r.height);
    const at = (x: number, y: number) =>
        x >= 0 && x < 28 && y >= 0 && y < 28 ? digit[y * 28 + x] / 255 : 0;
    for (let y = 0; y < r.height; y++) {
        for (let x = 0; x < r.width; x++) {
            // Sample the digit at this canvas pixel's centre, interpolating between MNIST pixels.
            const sx = (x + 0.5 - r.left) / r.scale - 0.5;
            const sy = (y + 0.5 - r.top) / r.scale - 0.5;
            const x0 = Math.floor(sx);
            const y0 = Math.floor(sy);
            const fx = sx - x0;
            const fy = sy - y0;
            const v =
                at(x0, y0) * (1 - fx) * (1 - fy) +
                at(x0 + 1, y0) * fx * (1 - fy) +
                at(x0, y0 + 1) * (1 - fx) * fy +
                at(x0 + 1, y0 + 1) * fx * fy;
            const o = 4 * (y * r.width + x);
            for (let c = 0; c < 3; c++) {
                data[o + c] = Math.round(
                    r.transparentPaper === true ? ink[c] : paper[c] * (1 - v) + ink[c] * v,
                );
            }
            data[o + 3] = r.transparentPaper === true ? Math.round(255 * v) : 255;
        }
    }
    return { width: r.width, height: r.height, data };
}

/** A 28x28 grayscale digit as RGBA, unchanged. */
export function grayToRgba(digit: ArrayLike<number>): RgbaImage {
    return renderDigit(digit, { width: 28, height: 28, scale: 1, left: 0, top: 0 });
}

/** PNG bytes; `colorType` 0 writes grayscale, 2 RGB, 6 RGBA. */
export function encodePng(image: RgbaImage, colorType: 0 | 2 | 6 = 6): Buffer {
    const png = new PNG({ width: image.width, height: image.height });
    Buffer.from(image.data).copy(png.data);
    return PNG.sync.write(png, { colorType, inputColorType: 6, inputHasAlpha: true });
}

/** JPEG bytes at `quality` (1-100). */
export function encodeJpeg(image: RgbaImage, quality = 85): Buffer {
    return jpeg.encode(
        { width: image.width, height: image.height, data: Buffer.from(image.data) },
        quality,
    ).data;
}

/** Writes `bytes` to `dir/name` and returns the path. */
export function writeFile(dir: string, name: string, bytes: Uint8Array): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
}

/** Pearson correlation of two equally long pixel arrays: 1 for identical images. */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
    const n = a.length;
    let ma = 0;
    let mb = 0;
    for (let i = 0; i < n; i++) {
        ma += a[i] / n;
        mb += b[i] / n;
    }
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < n; i++) {
        ab += (a[i] - ma) * (b[i] - mb);
        aa += (a[i] - ma) ** 2;
        bb += (b[i] - mb) ** 2;
    }
    return ab / Math.sqrt(aa * bb);
}

/** Renderings that stress the conversion: odd sizes, off-centre, colours, inverted, transparent. */
export const RENDERINGS: Readonly<Record<string, Rendering>> = {
    /** Blue ballpoint on yellow paper, 3.3x, off-centre on an odd-sized canvas. */
    bluePenOnYellow: {
        width: 131,
        height: 97,
        scale: 3.3,
        left: 17,
        top: 3,
        ink: [20, 30, 120],
        paper: [250, 240, 180],
    },
    /** Black marker on white, small and in a corner of a large landscape canvas. */
    markerInCorner: {
        width: 301,
        height: 157,
        scale: 2,
        left: 230,
        top: 95,
        ink: [0, 0, 0],
        paper: [255, 255, 255],
    },
    /** Red ink on a transparent canvas. */
    redOnTransparent: {
        width: 64,
        height: 80,
        scale: 2.1,
        left: 3,
        top: 14,
        ink: [200, 20, 20],
        transparentPaper: true,
    },
    /** Green chalk on a dark board: light digit, dark background, no inversion needed. */
    chalkOnBoard: {
        width: 45,
        height: 45,
        scale: 1.4,
        left: 2,
        top: 5,
        ink: [200, 255, 200],
        paper: [30, 50, 30],
    },
};
