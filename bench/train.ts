/**
 * `npm run bench:train`: trains the default model (no cache) with the graph trainer and with
 * tfjs-layers on the same backend, and, when the project venv has TensorFlow, in Keras, on the
 * same files with the same hyperparameters, in one run. Each trainer runs in a process of its own,
 * so each peak RSS is its own. Then it profiles whole-epoch runs of the graph trainer
 * (`trainProfile.ts`: compute, data movement and executor, the compute limit beside them), times
 * the one-core floor of an epoch (`kernelFloor.ts`: only the kernels no step can do without), and
 * trains 2 epochs with the graph trainer under each of `RUNTIME_SETTINGS` (TensorFlow's intra-
 * and inter-op thread counts, oneDNN's graph rewrites on or off), in `SETTING_ROUNDS` rounds that
 * take the settings in turn (a burst of other work on the machine then hits each alike), which is
 * how `TF_RUNTIME_DEFAULTS` was picked; each setting's row is its median run. Writes
 * `bench/results/train.json`.
 *
 * `--sweep` also trains 2 epochs with the graph trainer at each of `SWEEP` steps per session run
 * (a whole epoch is the default); the sweep is written beside the rows.
 *
 * `bench/train.ts --row graph|layers [--epochs N] [--steps-per-run K]` runs one trainer and prints
 * its row as JSON; `bench/train.ts --floor` times the floor and prints it as JSON.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { defaultMnistDir, loadMnist } from "../model/training/data";
import { DEFAULT_MODEL_OPTIONS } from "../model/training/model";
import { DEFAULT_TRAIN_OPTIONS, trainModel } from "../model/training/train";
import { TrainerName, parseTrainerName } from "../model/training/trainers";
import { venvPython } from "../test/support/venv";
import { runCommand } from "../verdict";
import { kernelFloorSeconds } from "./kernelFloor";
import { lastJson, profileEpochs } from "./trainProfile";

/**
 * One trainer's run. Every trainer's epochs are timed alike, from the start of an epoch to its end
 * (Keras' by a callback, ours by the progress report): `secondsPerEpoch` is their mean, and
 * `setupSeconds` the rest of the training call (model, session and data upload for ours; for
 * Keras, `fit`'s own preparation).
 */
interface Row {
    trainer: string;
    backend: string;
    secondsPerEpoch: number;
    epochSeconds: number[];
    setupSeconds: number;
    totalSeconds: number;
    testAccuracy: number;
    peakRssMb: number;
    stepsPerRun?: number;
}

function line(r: Row): string {
    const name = `${r.trainer} (${r.backend})`;
    return `${name.padEnd(34)} ${r.secondsPerEpoch.toFixed(2).padStart(7)} s/epoch ${r.setupSeconds.toFixed(2).padStart(6)} s set-up ${r.totalSeconds.toFixed(1).padStart(7)} s total  accuracy ${r.testAccuracy.toFixed(4)}  peak RSS ${r.peakRssMb.toFixed(0)} MB`;
}

/** Steps per session run the sweep tries (a full-MNIST epoch has 1,875). */
const SWEEP = [8, 64, 512];

/**
 * TensorFlow's runtime settings the graph trainer is timed with: intra- and inter-op threads,
 * oneDNN's graph rewrites on ("1") or off ("0").
 */
const RUNTIME_SETTINGS = [
    [1, 1, "0"],
    [1, 1, "1"],
    [1, 2, "0"],
    [2, 1, "0"],
    [2, 2, "0"],
] as const;
/** Rounds over `RUNTIME_SETTINGS`; odd, so that each setting's median is one of its runs. */
const SETTING_ROUNDS = 3;

/** The run with the median seconds per epoch, of an odd number of runs. */
function medianRun(runs: readonly Row[]): Row {
    const sorted = [...runs].sort((a, b) => a.secondsPerEpoch - b.secondsPerEpoch);
    return sorted[Math.floor(sorted.length / 2)];
}

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
        const epochSeconds = [...(result.epochSeconds ?? [])];
        if (epochSeconds.length !== meta.hyperparameters.epochs) {
            throw new Error(
                `${trainer}: timed ${epochSeconds.length} epochs of ${meta.hyperparameters.epochs}`,
            );
        }
        const epochsTotal = epochSeconds.reduce((a, b) => a + b, 0);
        return {
            trainer: meta.trainer.name,
            backend: meta.backend,
            secondsPerEpoch: epochsTotal / epochSeconds.length,
            epochSeconds,
            setupSeconds: meta.trainingSeconds - epochsTotal,
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

function childRow(trainer: TrainerName, extra: string[] = [], env = process.env): Row {
    const args = [...process.execArgv, __filename, "--row", trainer, ...extra];
    const out = execFileSync(process.execPath, args, {
        encoding: "utf8",
        env,
        stdio: ["ignore", "pipe", "inherit"],
    });
    return lastJson<Row>(out);
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
    return lastJson<Row>(out);
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
    if (process.argv.includes("--floor")) {
        const { batchSize } = DEFAULT_TRAIN_OPTIONS;
        const steps = Math.ceil(loadMnist().train.count / batchSize);
        const seconds = await kernelFloorSeconds(
            steps,
            batchSize,
            DEFAULT_MODEL_OPTIONS.hiddenUnits,
        );
        console.log(JSON.stringify({ secondsPerEpoch: seconds, steps }));
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
    const profile = profileEpochs();
    const floor = lastJson<{ secondsPerEpoch: number; steps: number }>(
        execFileSync(process.execPath, [...process.execArgv, __filename, "--floor"], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "inherit"],
        }),
    );
    const rounds = Array.from({ length: SETTING_ROUNDS }, () =>
        RUNTIME_SETTINGS.map(([intra, inter, oneDnn]) =>
            childRow("graph", ["--epochs", "2"], {
                ...process.env,
                TF_NUM_INTRAOP_THREADS: String(intra),
                TF_NUM_INTEROP_THREADS: String(inter),
                TF_ENABLE_ONEDNN_OPTS: oneDnn,
            }),
        ),
    );
    const runtime = RUNTIME_SETTINGS.map(([intra, inter, oneDnn], k) => ({
        ...medianRun(rounds.map((round) => round[k])),
        setting: `${intra}/${inter}${oneDnn === "1" ? " oneDNN" : ""}`,
        intraOp: intra,
        interOp: inter,
        oneDnnOpts: oneDnn,
        secondsPerEpochByRound: rounds.map((round) => round[k].secondsPerEpoch),
    }));
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
    if ("skipped" in profile) {
        console.log(`epoch profile: skipped (${profile.skipped})`);
    } else {
        const { cpuSeconds: cpu, shares } = profile;
        const part = (name: keyof typeof shares) =>
            `${name} ${cpu[name].toFixed(3)} s (${(shares[name] * 100).toFixed(0)}%)`;
        console.log(
            `\none epoch (${profile.epochSeconds.toFixed(3)} s in one session run, ${cpu.total.toFixed(3)} s on a CPU): ` +
                `${part("compute")}, ${part("dataMovement")}, ${part("executor")}`,
        );
        console.log(
            `compute limit: ${profile.matmulGflopPerEpoch.toFixed(1)} GFLOP of products at ${profile.peakGflops.toFixed(0)} GFLOP/s = ${profile.computeLimitSeconds.toFixed(3)} s; ` +
                `upload once ${profile.uploadSeconds.toFixed(3)} s, test evaluation ${profile.evaluateSeconds.toFixed(3)} s`,
        );
    }
    console.log(
        `one-core floor: the hidden product, its gradient and Adam on its kernel, ${floor.steps} times: ${floor.secondsPerEpoch.toFixed(3)} s per epoch`,
    );
    console.log("");
    for (const t of runtime) {
        const byRound = t.secondsPerEpochByRound.map((x) => x.toFixed(2)).join(", ");
        const oneDnn = t.oneDnnOpts === "1" ? "on" : "off";
        console.log(
            `threads intra ${t.intraOp} inter ${t.interOp}, oneDNN ${oneDnn}: ${line(t)} (rounds ${byRound})`,
        );
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
        profile,
        floor,
        runtime,
        sweep,
    };
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written ${out}`);
}

runCommand(main);
