import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { commitEntry, lookupEntry, withEntryLock } from "../model/training/cache";
import { TrainOptions, trainModel } from "../model/training/train";
import { trainingKey } from "../model/training/trainingCache";
import { chooseTrainer, parseTrainerName } from "../model/training/trainers";
import { USAGE, parseArguments } from "../model/training/trainCli";
import { deadPid } from "./support/processes";

function tempDir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-cache-"));
}

/** A fast run: one epoch on the first 2,000 training images, gate lowered to fit. */
function quick(
    cacheDir: string,
    extra: TrainOptions = {},
): { options: TrainOptions; lines: string[] } {
    const lines: string[] = [];
    return {
        lines,
        options: {
            epochs: 1,
            trainSubset: 2000,
            minAccuracy: 0.5,
            cacheDir,
            log: (l) => lines.push(l),
            ...extra,
        },
    };
}

describe("trainModel", () => {
    const cacheDir = tempDir();

    it("trains on a 2,000-image subset to at least 80% on the 10k held-out test images and caches the artifact", async () => {
        const { options, lines } = quick(cacheDir);
        const result = await trainModel(options);
        assert.strictEqual(result.fromCache, false);
        assert.ok(
            result.metadata.testAccuracy >= 0.8,
            `test accuracy ${result.metadata.testAccuracy}`,
        );
        assert.deepStrictEqual(fs.readdirSync(result.dir).sort(), [
            "metadata.json",
            "model.json",
            "report.html",
            "weights.bin",
        ]);
        const meta = JSON.parse(fs.readFileSync(path.join(result.dir, "metadata.json"), "utf8"));
        assert.strictEqual(meta.parameterCount, 101770);
        assert.strictEqual(meta.hyperparameters.trainExamples, 2000);
        assert.strictEqual(meta.data.testExamples, 10000);
        assert.match(meta.data.sha256, /^[0-9a-f]{64}$/);
        assert.strictEqual(meta.history.loss.length, 1);
        assert.ok(
            lines.some((l) => /^test accuracy: 0\.\d{4}$/.test(l)),
            lines.join("\n"),
        );
        // The graph trainer wherever tfjs-node runs, as the program would choose.
        const graph = tf.getBackend() === "tensorflow";
        assert.deepStrictEqual(meta.trainer, graph ? { name: "graph" } : { name: "layers" });
        // The test set after the last epoch is the model the artifact holds.
        assert.strictEqual(meta.history.testAccuracy.length, 1);
        assert.ok(Math.abs(meta.history.testAccuracy[0] - meta.testAccuracy) < 1e-3);
        assert.ok(Math.abs(meta.history.testLoss[0] - meta.testLoss) < 1e-3);
        const report = fs.readFileSync(path.join(result.dir, "report.html"), "utf8");
        // 100 shaded confusion counts that add up to the test set.
        const counts = [...report.matchAll(/<td style="background[^"]*">(\d+)<\/td>/g)].map((m) =>
            Number(m[1]),
        );
        assert.strictEqual(counts.length, 100);
        assert.strictEqual(
            counts.reduce((a, b) => a + b, 0),
            10000,
        );
        // The digits shown as misclassified are misclassified: true label differs from predicted.
        const shown = [...report.matchAll(/<figcaption>#(\d+): (\d) → (\d)<\/figcaption>/g)];
        const errors = 10000 - counts.filter((_, k) => k % 11 === 0).reduce((a, b) => a + b, 0);
        assert.strictEqual(shown.length, Math.min(60, errors));
        assert.ok(shown.every((m) => m[2] !== m[3]));
        assert.ok(
            report.includes(
                `<th>trainer</th><td>${graph ? "graph, an epoch per session run" : "layers"}</td>`,
            ),
        );
    });

    it("loads the same inputs from the cache without training and reports the same numbers", async () => {
        const first = quick(cacheDir);
        const trained = await trainModel(first.options);
        const again = quick(cacheDir);
        const cached = await trainModel(again.options);
        assert.strictEqual(cached.fromCache, true);
        assert.strictEqual(cached.dir, trained.dir);
        assert.ok(
            again.lines.some((l) => l.startsWith("cache hit:")),
            again.lines.join("\n"),
        );
        assert.ok(
            !again.lines.some((l) => l.startsWith("training ")),
            "a cache hit must not train",
        );
        assert.ok(
            again.lines.includes(`test accuracy: ${trained.metadata.testAccuracy.toFixed(4)}`),
        );
        const x = tf.randomUniform([3, 28, 28], 0, 1, "float32", 2);
        const a = (trained.model.predict(x) as tf.Tensor).dataSync();
        const b = (cached.model.predict(x) as tf.Tensor).dataSync();
        assert.ok(Array.from(a).every((v, i) => Math.abs(v - b[i]) <= 1e-6));
    });

    it("repeats a seeded run exactly, and a new seed is a new cache entry", async () => {
        const other = tempDir();
        const a = await trainModel(quick(cacheDir).options);
        const b = await trainModel(quick(other).options);
        assert.strictEqual(b.fromCache, false);
        assert.strictEqual(b.metadata.key, a.metadata.key);
        assert.strictEqual(b.metadata.testAccuracy, a.metadata.testAccuracy);
        const c = await trainModel(quick(cacheDir, { seed: 7 }).options);
        assert.strictEqual(c.fromCache, false);
        assert.notStrictEqual(c.metadata.key, a.metadata.key);
    });

    it("fails the quality gate with both numbers and caches nothing", async () => {
        const dir = tempDir();
        const { options } = quick(dir, { trainSubset: 300, minAccuracy: 0.99 });
        await assert.rejects(
            trainModel(options),
            /test accuracy 0\.\d{4} is below minAccuracy 0\.99; the model was not cached$/,
        );
        assert.deepStrictEqual(fs.readdirSync(dir), []);
    });

    it("refuses a cached model that a raised gate no longer accepts, without training, and keeps the entry", async () => {
        const own = tempDir();
        const trained = await trainModel(quick(own).options);
        const raised = quick(own, { minAccuracy: 0.999 });
        await assert.rejects(
            trainModel(raised.options),
            new RegExp(
                `test accuracy ${trained.metadata.testAccuracy.toFixed(4)} is below minAccuracy 0\\.999; ` +
                    `the cached model at ${trained.dir} was not used`,
            ),
        );
        assert.ok(
            !raised.lines.some((l) => l.startsWith("training ")),
            `a cached model must not be retrained:\n${raised.lines.join("\n")}`,
        );
        assert.deepStrictEqual(fs.readdirSync(own), [path.basename(trained.dir)]);
    });

    it("rejects bad options by name before loading anything", async () => {
        await assert.rejects(
            trainModel({ epochs: 0 }),
            /`epochs` is 0; expected a positive integer/,
        );
        await assert.rejects(
            trainModel({ minAccuracy: 1.5 }),
            /`minAccuracy` is 1.5; expected a number in \(0, 1\]/,
        );
        await assert.rejects(trainModel({ trainSubset: -5 }), /`trainSubset` is -5/);
        await assert.rejects(
            trainModel({ trainSubset: 60001, cacheDir: tempDir() }),
            /`trainSubset` is 60001; expected at most 60000, the training images in /,
        );
        const dir = tempDir();
        await assert.rejects(
            trainModel({ stepsPerRun: 2.5, cacheDir: dir }),
            /`stepsPerRun` is 2.5; expected a positive integer/,
        );
        assert.deepStrictEqual(fs.readdirSync(dir), [], "nothing is cached");
    });
});

describe("artifact cache", () => {
    it("leaves neither entry nor temp directory when the producer fails", async () => {
        const dir = tempDir();
        await assert.rejects(
            commitEntry(dir, "k1", async (temp) => {
                fs.writeFileSync(path.join(temp, "half.bin"), "partial");
                throw new Error("interrupted");
            }),
            /interrupted/,
        );
        assert.deepStrictEqual(fs.readdirSync(dir), []);
        assert.strictEqual(lookupEntry(dir, "k1"), undefined);
    });

    it("publishes an entry only once the producer finished", async () => {
        const dir = tempDir();
        const { dir: entry } = await commitEntry(dir, "k2", async (temp) => {
            assert.strictEqual(lookupEntry(dir, "k2"), undefined, "visible before it was complete");
            fs.writeFileSync(path.join(temp, "done.txt"), "ok");
        });
        assert.strictEqual(lookupEntry(dir, "k2"), entry);
        assert.strictEqual(fs.readFileSync(path.join(entry, "done.txt"), "utf8"), "ok");
    });
});

describe("entry lock", () => {
    it("lets one run produce an entry while another waits for it, then frees the lock", async () => {
        const dir = tempDir();
        const events: string[] = [];
        const waits: number[] = [];
        const first = withEntryLock(
            dir,
            "k",
            () => events.push("first waited"),
            async () => {
                events.push("first in");
                await new Promise((r) => setTimeout(r, 700));
                events.push("first out");
            },
        );
        await new Promise((r) => setTimeout(r, 50));
        const second = withEntryLock(
            dir,
            "k",
            (holder) => waits.push(holder),
            async () => {
                events.push("second in");
            },
        );
        await Promise.all([first, second]);
        assert.deepStrictEqual(events, ["first in", "first out", "second in"]);
        assert.deepStrictEqual(waits, [process.pid], "the waiter is told the holder once");
        assert.deepStrictEqual(fs.readdirSync(dir), [], "the lock file was left behind");
    });

    it("takes over the lock of a holder that died, and frees it when the work fails", async () => {
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, ".lock-k"), `${deadPid()}\n`);
        const waited: number[] = [];
        await assert.rejects(
            withEntryLock(
                dir,
                "k",
                (h) => waited.push(h),
                async () => {
                    throw new Error("training failed");
                },
            ),
            /training failed/,
        );
        assert.deepStrictEqual(waited, [], "waited for a dead holder");
        assert.deepStrictEqual(fs.readdirSync(dir), []);
    });

    it("finding an entry, removes the lock of a dead holder killed after publishing it, and keeps a live one's", () => {
        const dir = tempDir();
        fs.mkdirSync(path.join(dir, "k"));
        fs.writeFileSync(path.join(dir, ".lock-k"), `${deadPid()}\n`);
        assert.strictEqual(lookupEntry(dir, "k"), path.join(dir, "k"));
        assert.deepStrictEqual(fs.readdirSync(dir), ["k"]);
        fs.writeFileSync(path.join(dir, ".lock-k"), `${process.pid}\n`);
        assert.strictEqual(lookupEntry(dir, "k"), path.join(dir, "k"));
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), [".lock-k", "k"]);
    });
});

describe("training cache key", () => {
    const hyperparameters = {
        epochs: 5,
        batchSize: 32,
        seed: 42,
        learningRate: 0.001,
        hiddenUnits: 128,
        dropoutRate: 0.2,
        trainExamples: 60000,
    };
    const sha = "a".repeat(64);
    const graph = { name: "graph" } as const;

    it("changes with the trainer, the backend, each hyperparameter and the data, and nothing else", () => {
        const base = trainingKey(graph, "tensorflow", hyperparameters, sha);
        assert.strictEqual(
            trainingKey({ ...graph }, "tensorflow", { ...hyperparameters }, sha),
            base,
        );
        assert.notStrictEqual(
            trainingKey({ name: "layers" }, "tensorflow", hyperparameters, sha),
            base,
        );
        // The graph trainer's steps per session run do not change its weights.
        assert.strictEqual(
            trainingKey(
                chooseTrainer("tensorflow", "graph", 4),
                "tensorflow",
                hyperparameters,
                sha,
            ),
            base,
        );
        assert.notStrictEqual(trainingKey(graph, "wasm", hyperparameters, sha), base);
        assert.notStrictEqual(
            trainingKey(graph, "tensorflow", hyperparameters, "b".repeat(64)),
            base,
        );
        for (const field of Object.keys(hyperparameters) as (keyof typeof hyperparameters)[]) {
            const changed = { ...hyperparameters, [field]: hyperparameters[field] + 1 };
            assert.notStrictEqual(trainingKey(graph, "tensorflow", changed, sha), base, field);
        }
    });
});

describe("trainer choice", () => {
    it("runs the graph trainer on the tensorflow backend and the layers trainer elsewhere", () => {
        assert.deepStrictEqual(
            [
                chooseTrainer("tensorflow").name,
                chooseTrainer("wasm").name,
                chooseTrainer("cpu").name,
            ],
            ["graph", "layers", "layers"],
        );
        assert.strictEqual(chooseTrainer("tensorflow", "layers").name, "layers");
    });

    it("refuses a forced graph trainer without the tensorflow backend, and an unknown name", () => {
        assert.throws(
            () => chooseTrainer("wasm", "graph"),
            /trainer "graph" needs the tensorflow backend/,
        );
        assert.throws(
            () => parseTrainerName("keras", "--trainer"),
            /`--trainer` is "keras"; expected one of auto, graph, layers/,
        );
    });
});

describe("train CLI arguments", () => {
    it("parses flags into options", () => {
        const o = parseArguments([
            "--epochs",
            "3",
            "--batch-size",
            "64",
            "--backend",
            "cpu",
            "--out",
            "x",
        ]);
        assert.deepStrictEqual([o.epochs, o.batchSize, o.backend, o.out], [3, 64, "cpu", "x"]);
    });

    it("answers --help with the usage, which names every flag it parses", () => {
        assert.strictEqual(parseArguments(["--help"]).help, true);
        assert.strictEqual(parseArguments([]).help, undefined);
        for (const flag of [
            "epochs",
            "batch-size",
            "seed",
            "learning-rate",
            "subset",
            "data-dir",
            "cache-dir",
            "min-accuracy",
            "backend",
            "trainer",
            "steps-per-run",
            "out",
        ]) {
            assert.ok(USAGE.includes(`--${flag} `), `usage lacks --${flag}`);
        }
    });

    it("names a flag whose value is not a number", () => {
        assert.throws(
            () => parseArguments(["--epochs", "five"]),
            /`--epochs` is "five"; expected a number/,
        );
        assert.throws(
            () => parseArguments(["--backend", "gpu"]),
            /`--backend` is "gpu"; expected one of auto, tensorflow, wasm, cpu/,
        );
    });
});
