/** Writers of small IDX files for loader tests. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, MNIST_FILES } from "../model/training/data";
import { IMAGE_SIZE } from "../model/savedmodel/contract";

/** IDX image bytes: `count` images of `rows` x `cols`, pixel value = (image index + pixel) % 256. */
export function idxImages(
    count: number,
    rows = IMAGE_SIZE,
    cols = IMAGE_SIZE,
    magic = IDX_IMAGES_MAGIC,
): Buffer {
    const buf = Buffer.alloc(16 + count * rows * cols);
    buf.writeUInt32BE(magic, 0);
    buf.writeUInt32BE(count, 4);
    buf.writeUInt32BE(rows, 8);
    buf.writeUInt32BE(cols, 12);
    for (let i = 16; i < buf.length; i++) buf[i] = i % 256;
    return buf;
}

/** IDX label bytes holding `labels`. */
export function idxLabels(labels: number[], magic = IDX_LABELS_MAGIC): Buffer {
    const buf = Buffer.alloc(8 + labels.length);
    buf.writeUInt32BE(magic, 0);
    buf.writeUInt32BE(labels.length, 4);
    labels.forEach((l, i) => (buf[8 + i] = l));
    return buf;
}

/** A temp directory holding a small, valid MNIST set (3 train, 2 test), optionally gzipped. */
export function writeMnistDir(gzip = false): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-idx-"));
    const files: Record<string, Buffer> = {
        [MNIST_FILES.train.images]: idxImages(3),
        [MNIST_FILES.train.labels]: idxLabels([1, 2, 3]),
        [MNIST_FILES.test.images]: idxImages(2),
        [MNIST_FILES.test.labels]: idxLabels([7, 0]),
    };
    for (const [name, bytes] of Object.entries(files)) {
        if (gzip) fs.writeFileSync(path.join(dir, `${name}.gz`), zlib.gzipSync(bytes));
        else fs.writeFileSync(path.join(dir, name), bytes);
    }
    return dir;
}
