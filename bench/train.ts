/**
 * `npm run bench:train`: trains the default model (no cache) with the graph trainer and with
 * tfjs-layers on the same backend, and, when the project venv has TensorFlow, in Keras, on the
 * same files with the same hyperparameters, in one run. Each trainer runs in a process of its own,
 * so each peak RSS is its own. Writes `bench/results/train.json`.
 *
 * `--sweep` first trains 2 epochs with the graph trainer at each of `SWEEP` steps per session run,
 * which is how `DEFAULT_STEPS_PER_RUN` was picked; the sweep is written beside the rows.
 *
 * `bench/train.ts --row graph|layers [--epochs N] [--steps-per-run K]` runs one trainer and prints
 * its row as JSON.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { defaultMnistDir } from "../model/training/data";
import { DEFAULT_MODEL_OPTIONS } from "../model/training/model";
import { DEFAULT_TRAIN_OPTIONS, trainModel } from "../model/training/train";
import { TrainerName, parseTrainerName } from "../model/training/trainers";
import { venvPython } from "../test/support/venv";
import { runCommand } from "../verdict";

interface Row {
    trainer: string;
    backend: string;
    secondsPerEpoch: number;
    totalSeconds: number;
    testAccuracy: number;
    peakRssMb: number;
    stepsPerRun?: number;
}

function line(r: Row): string {
    const name = `${r.trainer} (${r.backend})`;
    return `${name.padEnd(34)} ${r.secondsPerEpoch.toFixed(2).padStart(7)} s/epoch ${r.totalSeconds.toFixed(1).padStart(7)} s total  accuracy ${r.testAccuracy.toFixed(4)}  peak RSS ${r.peakRssMb.toFixed(0)} MB`;
}

/** Steps per session run the sweep tries. */
const SWEEP = [1, 2, 4, 8, 16, 32];

/** Trains once with `trainer` into a throwaway cache; the row of this process. */
async function row(trainer: TrainerName, epochs?: number, stepsPerRun?: number): Promise<Row> {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-bench-"));
    try {
        const started = Date.now();
        const result = await trainModel({
            cacheDir,
            minAccuracy: 0.5,
            trainer,
            epochs,
            stepsPerRun,
            log: () => {},
        });
        const meta = result.metadata;
        return {
            trainer: meta.trainer.name,
            backend: meta.backend,
            secondsPerEpoch: meta.trainingSeconds / meta.hyperparameters.epochs,
            totalSeconds: (Date.now() - started) / 1000,
            testAccuracy: meta.testAccuracy,
            // maxRSS is in kilobytes.
            peakRssMb: process.resourceUsage().maxRSS / 1024,
            stepsPerRun: meta.trainer.stepsPerRun,
        };
    } finally {
        fs.rmSync(cacheDir, { recursive: true, force: true });
    }
}

function childRow(trainer: TrainerName, extra: string[] = []): Row {
    const args = [...process.execArgv, __filename, "--row", trainer, ...extra];
    const out = execFileSync(process.execPath, args, {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    return JSON.parse(out.trim().split("\n").pop() as string) as Row;
}

function kerasRow(): Row | { skipped: string } {
    const python = venvPython();
    if (python === undefined) {
        return { skipped: "no Python TensorFlow in .venv (run scripts/tf-venv.sh)" };
    }
    const { epochs, batchSize, seed } = DEFAULT_TRAIN_OPTIONS;
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
    return JSON.parse(out.trim().split("\n").pop() as string) as Row;
}

async function main(): Promise<void> {
    const at = process.argv.indexOf("--row");
    const flag = (name: string) => {
        const k = process.argv.indexOf(name);
        return k >= 0 ? Number(process.argv[k + 1]) : undefined;
    };
    if (at >= 0) {
        const trainer = parseTrainerName(process.argv[at + 1], "--row") ?? "graph";
        console.log(JSON.stringify(await row(trainer, flag("--epochs"), flag("--steps-per-run"))));
        return;
    }
    const { epochs, batchSize } = DEFAULT_TRAIN_OPTIONS;
    const sweep = process.argv.includes("--sweep")
        ? SWEEP.map((k) => childRow("graph", ["--epochs", "2", "--steps-per-run", String(k)]))
        : undefined;
    sweep?.forEach((r) =>
        console.log(`steps per run ${String(r.stepsPerRun).padStart(2)}: ${line(r)}`),
    );
    const graph = childRow("graph");
    const layers = childRow("layers");
    const keras = kerasRow();
    console.log(
        `\ntraining ${epochs} epochs, batch ${batchSize}, 60,000 MNIST images, ${os.cpus().length} cores`,
    );
    console.log(line(graph));
    console.log(line(layers));
    console.log("skipped" in keras ? `keras: skipped (${keras.skipped})` : line(keras));
    const ratio = "skipped" in keras ? undefined : graph.secondsPerEpoch / keras.secondsPerEpoch;
    if (ratio !== undefined) {
        console.log(`graph / keras seconds per epoch: ${ratio.toFixed(2)}`);
    }
    const out = path.join(__dirname, "results", "train.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const result = {
        date: new Date().toISOString(),
        epochs,
        batchSize,
        graph,
        layers,
        keras,
        ratio,
        sweep,
    };
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${out}`);
}

runCommand(main);
