/**
 * The `predict` and `smoke` commands as a user runs them: spawned through tsx against
 * `FakeTfServing`, checking the printed table, the `--json` document, exit codes and messages.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { argMax } from "../client/scores";
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
import { FakeTfServing } from "./doubles/fakeTfServing";
import { logitsOf, quickModel } from "./doubles/quickModel";
import { failedSmokeLines, runCli } from "./doubles/runCli";

const PIXELS = 28 * 28;
/** Softmax probability of a logit of 4 among nine zeros. */
const PROBABILITY_4 = Math.exp(4) / (Math.exp(4) + 9);
/** `PROBABILITY_4` as the table prints it. */
const P4 = PROBABILITY_4.toFixed(4);

describe("predict and smoke commands", function () {
    // Each case spawns a fresh process (tsx compile, TensorFlow.js start-up).
    this.timeout(120_000);
    let mnist: MnistData;
    let dir: string;
    let fake: FakeTfServing;
    const digit = (k: number) => mnist.test.images.subarray(k * PIXELS, (k + 1) * PIXELS);
    const label = (k: number) => mnist.test.labels[k];

    /**
     * A model that recognises the first 30 test digits by nearest neighbour (so it answers the
     * true label when the command sent a faithful MNIST image) and gets image 8 wrong on purpose.
     */
    const nearestNeighbour = (xs: number[][][]) =>
        xs.map((x) => {
            const flat = x.flat();
            let best = 0;
            for (let k = 1; k < 30; k++) {
                if (correlation(flat, digit(k)) > correlation(flat, digit(best))) best = k;
            }
            const d = best === 8 ? (label(8) + 1) % 10 : label(best);
            return Array.from({ length: 10 }, (_, c) => (c === d ? 4 : 0));
        });

    before(() => {
        mnist = loadMnist();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-cli-"));
    });
    after(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(async () => {
        fake = await FakeTfServing.start({ predict: nearestNeighbour });
    });
    afterEach(async () => {
        await fake.close();
    });

    /** Three files a user might have: a saved MNIST PNG, a photo-like JPEG, a transparent PNG. */
    function userFiles(): string[] {
        return [
            writeFile(dir, "scan.png", encodePng(grayToRgba(digit(0)), 0)),
            writeFile(
                dir,
                "photo.jpg",
                encodeJpeg(renderDigit(digit(1), RENDERINGS.bluePenOnYellow), 80),
            ),
            writeFile(
                dir,
                "sticker.png",
                encodePng(renderDigit(digit(2), RENDERINGS.redOnTransparent)),
            ),
        ];
    }

    it("prints a table of file, digit and probability, then the MNIST accuracy and misclassified images", async () => {
        const files = userFiles();
        const run = await runCli("client/cli.ts", [
            "--url",
            fake.url,
            ...files,
            "--mnist",
            "20",
            "--batch-size",
            "8",
        ]);
        assert.strictEqual(run.code, 0, run.stderr);
        const lines = run.stdout.trimEnd().split("\n");
        assert.match(lines[0], /^file\s+digit\s+probability$/);
        files.forEach((file, k) => {
            assert.match(
                lines[k + 1],
                new RegExp(`^${file}\\s+${label(k)}\\s+${P4}$`),
                `row of ${path.basename(file)}`,
            );
        });
        assert.strictEqual(lines[4], "");
        assert.strictEqual(
            lines[5],
            `MNIST test images 0-19: 19/20 correct, accuracy 0.9500 (${fake.url}/v1/models/mymodel)`,
        );
        assert.strictEqual(lines[7], "misclassified:");
        assert.deepStrictEqual(lines[8].trim().split(/\s+/), [
            "index",
            "label",
            "predicted",
            "probability",
        ]);
        assert.deepStrictEqual(lines[9].trim().split(/\s+/), [
            "8",
            String(label(8)),
            String((label(8) + 1) % 10),
            P4,
        ]);
        assert.strictEqual(lines.length, 10, "one misclassified image");
        // One request for the three files, then 20 MNIST images in batches of at most 8.
        const sizes = fake.requests.map((r) => JSON.parse(r.body).instances.length);
        assert.deepStrictEqual(sizes, [3, 8, 8, 4]);
    });

    it("prints the same results as JSON with --json, honouring --model, --version and --signature", async () => {
        const named = await FakeTfServing.start({
            model: "digits",
            versions: [{ version: 3, state: "AVAILABLE" }],
            predict: nearestNeighbour,
        });
        try {
            const [scan] = userFiles();
            const args = [
                "--url",
                named.url,
                "--model",
                "digits",
                "--version",
                "3",
                "--signature",
                "probabilities",
                "--json",
                scan,
            ];
            const run = await runCli("client/cli.ts", [...args, "--mnist", "10"]);
            assert.strictEqual(run.code, 0, run.stderr);
            const report = JSON.parse(run.stdout);
            assert.strictEqual(report.endpoint, `${named.url}/v1/models/digits/versions/3`);
            assert.strictEqual(report.signature, "probabilities");
            assert.strictEqual(report.predictions.length, 1);
            const [p] = report.predictions;
            assert.deepStrictEqual(
                [p.file, p.digit, p.probability.toFixed(4)],
                [scan, label(0), P4],
            );
            assert.ok(
                Math.abs(p.probabilities.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-9,
            );
            const { misclassified, ...summary } = report.mnist;
            assert.deepStrictEqual(summary, { count: 10, correct: 9, accuracy: 0.9 });
            assert.strictEqual(misclassified.length, 1);
            const [{ probability, ...wrong }] = misclassified;
            assert.deepStrictEqual(wrong, {
                index: 8,
                label: label(8),
                digit: (label(8) + 1) % 10,
            });
            // The fake's softmax sums in another order than PROBABILITY_4; allow for that only.
            assert.ok(
                Math.abs(probability - PROBABILITY_4) < 1e-12,
                `probability ${probability}; expected ${PROBABILITY_4}`,
            );
            assert.strictEqual(JSON.parse(named.requests[0].body).signature_name, "probabilities");
            assert.ok(
                named.requests.every((r) => r.path === "/v1/models/digits/versions/3:predict"),
            );
        } finally {
            await named.close();
        }
    });

    it("sends pixels as --input-scale says: 0-1 divides each by 255, and the digits are the same", async () => {
        const sent = fake.requests.length;
        const run = await runCli("client/cli.ts", [
            "--url",
            fake.url,
            "--input-scale",
            "0-1",
            "--json",
            "--mnist",
            "10",
        ]);
        assert.strictEqual(run.code, 0, run.stderr);
        const { instances } = JSON.parse(fake.requests[sent].body) as {
            instances: number[][][];
        };
        assert.strictEqual(instances.length, 10);
        const first = instances[0].flat();
        const expected = Array.from(digit(0), (v) => v / 255);
        assert.ok(
            first.every((v, i) => Math.abs(v - expected[i]) < 1e-6),
            "image 0 was not sent as pixels / 255",
        );
        assert.strictEqual(Math.max(...instances.flat(2)), 1);
        assert.strictEqual(JSON.parse(run.stdout).mnist.correct, 9);
        const bad = await runCli("client/cli.ts", [
            "--url",
            fake.url,
            "--input-scale",
            "255",
            "--mnist",
            "1",
        ]);
        assert.strictEqual(bad.code, 2);
        assert.match(bad.stderr, /^error: `--input-scale` is "255"; expected 0-255 or 0-1/);
    });

    it("exits 1 with TF Serving's message when the server refuses, and 2 with the usage on a bad command line", async () => {
        const [scan] = userFiles();
        const refused = await runCli("client/cli.ts", ["--url", fake.url, "--model", "nope", scan]);
        assert.strictEqual(refused.code, 1);
        assert.strictEqual(refused.stdout, "");
        assert.strictEqual(
            refused.stderr.trim(),
            `error: ${fake.url}/v1/models/nope:predict returned HTTP 404: TF Serving says: Servable not found for request: Latest(nope)`,
        );
        const usage = await runCli("client/cli.ts", [scan]);
        assert.strictEqual(usage.code, 2);
        assert.match(
            usage.stderr,
            /^error: `--url` is missing; expected TF Serving's REST base URL/,
        );
        assert.match(usage.stderr, /usage: npm run predict -- --url <endpoint>/);
    });

    it("exits 1 naming an unreadable image before sending anything", async () => {
        const [scan] = userFiles();
        const bogus = writeFile(dir, "notes.jpg", Buffer.from("just text"));
        const run = await runCli("client/cli.ts", ["--url", fake.url, scan, bogus]);
        assert.strictEqual(run.code, 1);
        assert.match(run.stderr, new RegExp(`^error: ${bogus}: not a PNG or JPEG`));
        assert.strictEqual(fake.requests.length, 0);
    });

    describe("smoke", () => {
        let modelDir: string;
        let local: number[][];
        const count = 30;

        before(async () => {
            const quick = await quickModel();
            modelDir = quick.dir;
            local = logitsOf(quick.model, mnist.test.images.subarray(0, count * PIXELS), count);
        });

        /** Serves the local model's logits, found by exact image match, overriding some classes. */
        function serveLocal(overrides: Record<number, number> = {}): void {
            const index = new Map<string, number>();
            for (let k = 0; k < count; k++) index.set(Array.from(digit(k)).join(","), k);
            fake.predict = (xs) =>
                xs.map((x) => {
                    const k = index.get(x.flat().join(","));
                    if (k === undefined)
                        throw new Error(
                            "smoke sent an image that is not one of the first test images",
                        );
                    const d = overrides[k];
                    return d === undefined
                        ? local[k]
                        : Array.from({ length: 10 }, (_, c) => (c === d ? 9 : 0));
                });
        }

        it("waits through LOADING and passes when every class matches the local model", async () => {
            serveLocal();
            fake.versions = [{ version: 1, state: "LOADING" }];
            fake.onRequest = () => {
                if (fake.requests.length === 2)
                    fake.versions = [{ version: 1, state: "AVAILABLE" }];
            };
            const run = await runCli("client/smoke.ts", [
                "--url",
                fake.url,
                "--model-dir",
                modelDir,
                "--count",
                String(count),
            ]);
            assert.strictEqual(run.code, 0, run.stdout + run.stderr);
            assert.match(run.stdout, /not yet: version 1 is LOADING\n/);
            assert.match(run.stdout, /version 1 is AVAILABLE \(after \d+\.\ds\)/);
            const verdict = run.stdout.trimEnd().split("\n").pop() ?? "";
            assert.match(
                verdict,
                /^smoke: OK: version 1 agrees with the local model on all 30 MNIST test images 0-29 \(/,
            );
            const diff = Number(/largest logit difference (\S+)\)/.exec(verdict)?.[1]);
            assert.ok(
                diff < 1e-4,
                `served logits are the local ones, yet the difference is ${diff}`,
            );
        });

        it("fails with a table of index, expected and got when served classes differ", async () => {
            const wrong = (k: number) => (argMax(local[k]) + 3) % 10;
            serveLocal({ 4: wrong(4), 17: wrong(17) });
            const run = await runCli("client/smoke.ts", [
                "--url",
                fake.url,
                "--model-dir",
                modelDir,
                "--count",
                String(count),
            ]);
            const lines = failedSmokeLines(run);
            assert.match(
                lines[0],
                /^smoke: FAILED: version 1 disagrees with the local model on 2 of 30 MNIST test images 0-29/,
            );
            assert.deepStrictEqual(lines[2].trim().split(/\s+/), [
                "index",
                "expected",
                "got",
                "label",
            ]);
            for (const [row, k] of [
                [3, 4],
                [4, 17],
            ]) {
                assert.deepStrictEqual(
                    lines[row].trim().split(/\s+/),
                    [k, argMax(local[k]), wrong(k), label(k)].map(String),
                );
            }
            assert.strictEqual(lines.length, 5, "exactly two differences listed");
        });

        it("fails below --min-accuracy with a table of the misclassified images, even when the classes agree", async () => {
            serveLocal();
            const misses = Array.from({ length: count }, (_, k) => k).filter(
                (k) => argMax(local[k]) !== label(k),
            );
            assert.ok(misses.length > 0, "the quick model gets every one of the images right");
            const accuracy = (count - misses.length) / count;
            const args = ["--url", fake.url, "--model-dir", modelDir, "--count", String(count)];
            const passing = await runCli("client/smoke.ts", [
                ...args,
                "--min-accuracy",
                String(accuracy),
            ]);
            assert.strictEqual(passing.code, 0, passing.stdout + passing.stderr);
            assert.match(passing.stdout, new RegExp(`at least minAccuracy ${accuracy}\\)`));

            const gate = Math.min(1, accuracy + 0.01);
            const run = await runCli("client/smoke.ts", [...args, "--min-accuracy", String(gate)]);
            const lines = failedSmokeLines(run);
            assert.match(
                lines[0],
                new RegExp(
                    `^smoke: FAILED: served accuracy ${accuracy.toFixed(4)} on MNIST test images 0-29 is below minAccuracy ${gate} \\(`,
                ),
            );
            assert.deepStrictEqual(
                lines.slice(3).map((l) => l.trim().split(/\s+/)),
                misses.map((k) => [k, argMax(local[k]), argMax(local[k]), label(k)].map(String)),
            );
        });

        it("refuses --track without --stack, an unknown track and a bad --min-accuracy, with the usage", async () => {
            for (const [args, message] of [
                [
                    ["--url", fake.url, "--track", "canary"],
                    /^error: `--track` is "canary" without --stack; expected --stack <stack>/,
                ],
                [
                    ["--stack", "dev", "--track", "blue"],
                    /^error: `--track` is "blue"; expected one of stable, canary/,
                ],
                [
                    ["--url", fake.url, "--min-accuracy", "1.5"],
                    /^error: `--min-accuracy` is "1.5"; expected a decimal in \(0, 1\]/,
                ],
                [["--count", "3"], /^error: `--url` is missing; expected .* or --stack <stack>/],
            ] as const) {
                const run = await runCli("client/smoke.ts", [...args]);
                assert.strictEqual(run.code, 2, run.stdout + run.stderr);
                assert.match(run.stderr, message);
                assert.match(run.stderr, /--track <track>/);
            }
            assert.strictEqual(fake.requests.length, 0);
        });

        it("fails with a clear timeout when the model never becomes AVAILABLE", async () => {
            fake.versions = [{ version: 1, state: "LOADING" }];
            const started = Date.now();
            const run = await runCli("client/smoke.ts", [
                "--url",
                fake.url,
                "--wait",
                "2",
                "--model-dir",
                modelDir,
            ]);
            assert.strictEqual(run.code, 1);
            assert.match(
                run.stderr,
                new RegExp(
                    `^error: model "mymodel" at ${fake.url}/v1/models/mymodel is not AVAILABLE after waiting 2000 ms \\(\\d+ polls\\); last seen: version 1 is LOADING`,
                ),
            );
            assert.ok(
                fake.requests.every((r) => r.method === "GET"),
                "nothing may be predicted before AVAILABLE",
            );
            assert.ok(Date.now() - started < 30_000);
        });
    });
});
