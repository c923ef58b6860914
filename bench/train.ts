/**
 * `npm run bench:train`: trains the default model on the active tfjs backend (no cache) and, when
 * the project venv has TensorFlow, the same model in Keras on the same files in the same run.
 * Writes `bench/results/train.json`.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { defaultMnistDir } from "../model/training/data";
import { DEFAULT_MODEL_OPTIONS } from "../model/training/model";
import { DEFAULT_TRAIN_OPTIONS, trainModel } from "../model/training/train";
import { venvPython } from "../test/support/venv";

interface Row {
    backend: string;
    secondsPerEpoch: number;
    totalSeconds: number;
    testAccuracy: number;
}

function line(r: Row): string {
    return `${r.backend.padEnd(28)} ${r.secondsPerEpoch.toFixed(2).padStart(8)} s/epoch ${r.totalSeconds.toFixed(1).padStart(8)} s total   test accuracy ${r.testAccuracy.toFixed(4)}`;
}

async function main(): Promise<void> {
    const { epochs, batchSize, seed } = DEFAULT_TRAIN_OPTIONS;
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-bench-"));
    const started = Date.now();
    const result = await trainModel({ cacheDir, minAccuracy: 0.5 });
    const ours: Row = {
        backend: `tfjs ${result.metadata.backend}`,
        secondsPerEpoch: result.metadata.trainingSeconds / epochs,
        totalSeconds: (Date.now() - started) / 1000,
        testAccuracy: result.metadata.testAccuracy,
    };
    fs.rmSync(cacheDir, { recursive: true, force: true });

    let keras: Row | { skipped: string };
    const python = venvPython();
    if (python === undefined) {
        keras = { skipped: "no Python TensorFlow in .venv (run scripts/tf-venv.sh)" };
    } else {
        const out = execFileSync(
            python,
            [
                path.join(__dirname, "keras_train.py"),
                "--data-dir",
                defaultMnistDir(),
                "--epochs",
                String(epochs),
                "--batch-size",
                String(batchSize),
                "--learning-rate",
                String(DEFAULT_MODEL_OPTIONS.learningRate),
                "--seed",
                String(seed),
            ],
            { encoding: "utf8" },
        );
        keras = JSON.parse(out.trim().split("\n").pop() as string) as Row;
    }

    console.log(
        `\ntraining ${epochs} epochs, batch ${batchSize}, 60,000 MNIST images, ${os.cpus().length} cores`,
    );
    console.log(line(ours));
    console.log("skipped" in keras ? `keras: skipped (${keras.skipped})` : line(keras));
    const out = path.join(__dirname, "results", "train.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(
        out,
        `${JSON.stringify({ date: new Date().toISOString(), epochs, batchSize, ours, keras }, null, 2)}\n`,
    );
    console.log(`written ${out}`);
}

main().catch((err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
});
