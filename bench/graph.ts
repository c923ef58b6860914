/**
 * `npm run bench:graph`: TensorFlow inference of our SavedModel against Keras' `model.export()`
 * of the same weights, in one run, through the C API session TF Serving uses. Also records how
 * long our export takes and how its size compares with the raw weights. Writes
 * `bench/results/graph.json`; the target is a ratio (Keras time / our time) of at least 1.0.
 *
 * Set TFK8S_BENCH_MODEL to a trained tfjs model.json to time that instead of a quick model.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { loadLayersModel } from "../model/training/artifact";
import { initBackend } from "../model/training/backend";
import { loadMnist, takeSplit, toTensors } from "../model/training/data";
import { createModel, oneHotLabels } from "../model/training/model";
import { resolveModelSource } from "../model/sources/fromDisk";
import { exportSavedModel } from "../model/savedmodel/export";
import { SAVED_MODEL_FILE } from "../model/savedmodel/contract";
import { exportWithKeras, writeKerasSpec } from "../test/support/keras";

import { findTensorFlowPython, withoutTensorFlowBanner } from "../test/support/venv";
import { runCommand } from "../verdict";

interface BatchResult {
    readonly calls: number;
    readonly medianMs: Record<string, number>;
    readonly ratio: number;
    readonly ratioServingDefault: number;
    readonly maxAbsDiffOursVsKeras: number;
}

async function benchModel(): Promise<{ model: tf.LayersModel; source: string }> {
    const source = process.env.TFK8S_BENCH_MODEL;
    if (source !== undefined) {
        return { model: await loadLayersModel(resolveModelSource(source).path), source };
    }
    // Speed does not depend on the weights' values, but trained ones keep the numbers honest.
    const model = createModel({ seed: 1 });
    const { xs, ys } = toTensors(takeSplit(loadMnist().train, 3000));
    const labels = oneHotLabels(ys);
    await model.fit(xs, labels, { epochs: 1, batchSize: 64, verbose: 0 });
    tf.dispose([xs, ys, labels]);
    return { model, source: "createModel({ seed: 1 }), 1 epoch on 3,000 images" };
}

function dirBytes(dir: string): number {
    return fs.readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
        const p = path.join(dir, entry.name);
        return sum + (entry.isDirectory() ? dirBytes(p) : fs.statSync(p).size);
    }, 0);
}

async function main(): Promise<number> {
    const found = findTensorFlowPython();
    if (found.python === undefined) {
        console.error(
            `bench:graph needs Python TensorFlow: ${found.reason}; run scripts/tf-venv.sh`,
        );
        return 1;
    }
    await initBackend();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-bench-graph-"));
    try {
        const { model, source } = await benchModel();
        // Export a few times: the first call pays for JIT warm-up, the median is what users see.
        const exportMs: number[] = [];
        let oursDir = "";
        for (let k = 1; k <= 5; k++) {
            const started = performance.now();
            oursDir = (
                await exportSavedModel(model, path.join(work, "ours"), {
                    name: "mnist",
                    version: k,
                })
            ).dir;
            exportMs.push(performance.now() - started);
        }
        const medianExportMs = [...exportMs].sort((a, b) => a - b)[2];
        const rawWeightBytes = model.countParams() * 4;
        const savedModelBytes = fs.statSync(path.join(oursDir, SAVED_MODEL_FILE)).size;

        const kerasDir = path.join(work, "keras-export");
        exportWithKeras(found.python, writeKerasSpec(model, work), kerasDir);

        const resultsFile = path.join(work, "graph.json");
        const run = spawnSync(
            found.python,
            [path.join(__dirname, "graph_bench.py"), oursDir, kerasDir, resultsFile],
            {
                stdio: ["ignore", "inherit", "pipe"],
                encoding: "utf8",
                env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" },
            },
        );
        const stderr = withoutTensorFlowBanner(run.stderr ?? "");
        if (run.status !== 0) {
            console.error(`graph_bench.py exited with ${run.status}\n${stderr}`);
            return 1;
        }
        const timing = JSON.parse(fs.readFileSync(resultsFile, "utf8")) as {
            tensorflow: string;
            batches: Record<string, BatchResult>;
        };
        const result = {
            date: new Date().toISOString(),
            tensorflow: timing.tensorflow,
            cores: os.cpus().length,
            runtime:
                "TF C API: TF_LoadSessionFromSavedModel + TF_SessionRun (TF Serving's Session::Run path)",
            model: source,
            compared:
                "ours: `keras` signature (0-1 in, logits out); keras: Keras 3 model.export() serving_default",
            ratio: "median Keras ms / median ours ms; >= 1.0 means ours is at least as fast",
            export: {
                medianMs: medianExportMs,
                runsMs: exportMs,
                savedModelBytes,
                rawWeightBytes,
                sizeRatio: savedModelBytes / rawWeightBytes,
                kerasExportBytes: dirBytes(kerasDir),
            },
            batches: timing.batches,
        };
        console.log(
            `export: median ${medianExportMs.toFixed(1)} ms; saved_model.pb ${savedModelBytes} bytes for ` +
                `${rawWeightBytes} bytes of weights (x${result.export.sizeRatio.toFixed(4)}); ` +
                `Keras export ${result.export.kerasExportBytes} bytes`,
        );
        const out = path.join(__dirname, "results", "graph.json");
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
        console.log(`wrote ${path.relative(process.cwd(), out)}`);
        model.dispose();
        return 0;
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

runCommand(
    main,
    (err) => {
        console.error((err as Error).stack ?? err);
        return 1;
    },
    { exitAtVerdict: true },
);
