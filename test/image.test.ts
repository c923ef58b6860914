/**
 * Image files to MNIST input: real PNG and JPEG files written here (grey, colour, transparent,
 * odd sizes, dark-on-light), checked against the MNIST digit they were drawn from.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { argMax } from "../client/scores";
import { MNIST_GEOMETRY, decodeImage, readMnistImage, toMnist } from "../client/image";
import { MnistData, loadMnist } from "../model/training/data";
import {
    RENDERINGS,
    correlation,
    encodeJpeg,
    encodePng,
    grayToRgba,
    renderDigit,
    writeFile,
} from "./doubles/digitImages";
import { logitsOf, quickModel } from "./doubles/quickModel";

const PIXELS = 28 * 28;

/** Bounding box and mass-weighted mean pixel index of a 28x28 image. */
function geometry(p: ArrayLike<number>): { width: number; height: number; cx: number; cy: number } {
    let [x0, y0, x1, y1, m, mx, my] = [28, 28, -1, -1, 0, 0, 0];
    for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
            const v = p[y * 28 + x];
            if (v > 0)
                [x0, x1, y0, y1] = [
                    Math.min(x0, x),
                    Math.max(x1, x),
                    Math.min(y0, y),
                    Math.max(y1, y),
                ];
            [m, mx, my] = [m + v, mx + v * x, my + v * y];
        }
    }
    return { width: x1 - x0 + 1, height: y1 - y0 + 1, cx: mx / m, cy: my / m };
}

describe("image files to MNIST input", () => {
    let mnist: MnistData;
    let dir: string;
    const digit = (k: number) => mnist.test.images.subarray(k * PIXELS, (k + 1) * PIXELS);

    before(() => {
        mnist = loadMnist();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-images-"));
    });
    after(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("reads an MNIST digit saved as a greyscale PNG back as the same pixels", () => {
        const scores: number[] = [];
        let identical = 0;
        for (let k = 0; k < 50; k++) {
            const file = writeFile(dir, `mnist-${k}.png`, encodePng(grayToRgba(digit(k)), 0));
            const image = readMnistImage(file);
            assert.strictEqual(image.inverted, false, "a black background must not be inverted");
            scores.push(correlation(digit(k), image.pixels));
            if (Buffer.from(image.pixels).equals(Buffer.from(digit(k)))) identical++;
        }
        assert.ok(Math.min(...scores) > 0.98, `lowest correlation ${Math.min(...scores)}`);
        assert.ok(identical >= 5, `only ${identical} of 50 came back byte-identical`);
    });

    for (const [name, rendering] of Object.entries(RENDERINGS)) {
        const formats = rendering.transparentPaper === true ? ["png"] : ["png", "jpeg"];
        for (const format of formats) {
            it(`recovers digits drawn as ${name} (${rendering.width}x${rendering.height} ${format.toUpperCase()})`, () => {
                // Dark ink on a transparent canvas is composited onto white, so it is inverted too.
                const lum = ([r, g, b]: readonly number[]) => 0.299 * r + 0.587 * g + 0.114 * b;
                const light =
                    rendering.transparentPaper === true
                        ? lum(rendering.ink ?? [255, 255, 255]) < 128
                        : lum(rendering.paper ?? [0, 0, 0]) > 128;
                const scores: number[] = [];
                for (let k = 0; k < 10; k++) {
                    const image = renderDigit(digit(k), rendering);
                    const bytes =
                        format === "png"
                            ? encodePng(image, rendering.transparentPaper === true ? 6 : 2)
                            : encodeJpeg(image, 80);
                    const out = readMnistImage(writeFile(dir, `${name}-${k}.${format}`, bytes));
                    assert.strictEqual(
                        out.inverted,
                        light,
                        `digit ${k}: inverted should be ${light}`,
                    );
                    assert.strictEqual(
                        out.pixels[0] + out.pixels[27] + out.pixels[PIXELS - 1],
                        0,
                        "corners must be background (0)",
                    );
                    const g = geometry(out.pixels);
                    assert.strictEqual(
                        Math.max(g.width, g.height),
                        MNIST_GEOMETRY.box,
                        `digit ${k}: longer side`,
                    );
                    assert.ok(
                        g.cx >= 13.5 && g.cx <= 14.5 && g.cy >= 13.5 && g.cy <= 14.5,
                        `digit ${k}: centre ${g.cx}, ${g.cy}`,
                    );
                    // The digit was drawn at (left, top), scaled: its box must be found there.
                    assert.ok(
                        out.box.x >= rendering.left - 1 && out.box.y >= rendering.top - 1,
                        JSON.stringify(out.box),
                    );
                    assert.ok(
                        out.box.x + out.box.width <= rendering.left + 28 * rendering.scale + 1,
                    );
                    scores.push(correlation(digit(k), out.pixels));
                }
                const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
                assert.ok(
                    mean > 0.9 && Math.min(...scores) > 0.7,
                    `correlations ${scores.map((s) => s.toFixed(2))}`,
                );
            });
        }
    }

    it("stretches contrast: faint blue ink on white gives the same digit as black ink", () => {
        const at = {
            width: 56,
            height: 56,
            scale: 2,
            left: 0,
            top: 0,
            paper: [255, 255, 255] as const,
        };
        const black = toMnist(renderDigit(digit(0), { ...at, ink: [0, 0, 0] }));
        const blue = toMnist(renderDigit(digit(0), { ...at, ink: [90, 90, 255] }));
        const diff = Math.max(...black.pixels.map((v, i) => Math.abs(v - blue.pixels[i])));
        assert.ok(diff <= 2, `largest difference ${diff}`);
        assert.ok(
            Math.max(...blue.pixels) > 240,
            "the strongest stroke is stretched towards 255 as in MNIST",
        );
    });

    it("refuses a blank image, a non-image and a truncated PNG, naming the file", () => {
        const blank = writeFile(
            dir,
            "blank.png",
            encodePng(renderDigit(new Uint8Array(PIXELS), RENDERINGS.markerInCorner)),
        );
        assert.throws(
            () => readMnistImage(blank),
            new RegExp(`^Error: ${blank}: no digit found: .* by 0 levels; expected at least 32`),
        );
        const text = writeFile(dir, "notes.png", Buffer.from("hello, not an image"));
        assert.throws(
            () => readMnistImage(text),
            new RegExp(`${text}: not a PNG or JPEG \\(first bytes: 68 65 6c 6c`),
        );
        const png = encodePng(grayToRgba(digit(0)));
        const cut = writeFile(dir, "cut.png", png.subarray(0, png.length - 40));
        assert.throws(() => readMnistImage(cut), new RegExp(`${cut}: corrupt PNG`));
        assert.throws(
            () => readMnistImage(path.join(dir, "missing.jpg")),
            /missing\.jpg: cannot read: ENOENT/,
        );
        assert.throws(
            () => decodeImage(encodeJpeg(grayToRgba(digit(0))).subarray(0, 200), "x.jpg"),
            /^Error: x\.jpg: corrupt JPEG/,
        );
    });

    it("predicts the same class for an MNIST digit read back from PNG (and from a coloured JPEG) as for the original tensor", async () => {
        const { model } = await quickModel();
        const count = 50;
        const originals = mnist.test.images.subarray(0, count * PIXELS);
        const fromPng = new Uint8Array(count * PIXELS);
        const fromJpeg = new Uint8Array(count * PIXELS);
        for (let k = 0; k < count; k++) {
            fromPng.set(
                readMnistImage(writeFile(dir, `round-${k}.png`, encodePng(grayToRgba(digit(k)), 0)))
                    .pixels,
                k * PIXELS,
            );
            const photo = encodeJpeg(renderDigit(digit(k), RENDERINGS.bluePenOnYellow), 80);
            fromJpeg.set(
                readMnistImage(writeFile(dir, `round-${k}.jpg`, photo)).pixels,
                k * PIXELS,
            );
        }
        const expected = logitsOf(model, originals, count).map(argMax);
        const png = logitsOf(model, fromPng, count).map(argMax);
        const jpg = logitsOf(model, fromJpeg, count).map(argMax);
        assert.deepStrictEqual(png, expected);
        const agree = jpg.filter((c, k) => c === expected[k]).length;
        assert.ok(
            agree >= 45,
            `the coloured JPEGs agree with the originals on ${agree} of ${count}`,
        );
    });
});
