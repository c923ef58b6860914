/**
 * `npm run bench:bad-canaries`: makes the three bad canaries (`bench/bad_canaries.py`) and shows,
 * against the TF Serving stand-in on the loopback (`test/doubles/tfServingDouble.ts`, with the
 * serving image's monitoring config), that each fails the rollout check it is meant for, beside
 * the stable model our trainer exports:
 *
 * - each model passes the checks a brought SavedModel must pass (`validateSavedModelDir`);
 * - CALLS single-image predicts of real MNIST test images, 0-255, through `TfServingClient`:
 *   HTTP statuses, the error of a failure, the answers' accuracy, client p50 and p99;
 * - the Prometheus page after them: `request_count` by status and the `request_latency` p50 and
 *   p99 as the rollout reads them (`rollout/prometheus.ts`), with the raw lines of both.
 *
 * Usage: npm run bench:bad-canaries [-- OUT_DIR]. Prints one JSON object. Needs `.venv` with
 * TensorFlow (`scripts/tf-venv.sh`).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { argMax } from "../client/scores";
import { imagesFromPixels } from "../client/inputs";
import { ServingHttpError } from "../client/servingErrors";
import { TfServingClient } from "../client/tfServingClient";
import { PROMETHEUS_PATH } from "../components/servingImage";
import { nearestRankP99 } from "../rollout/figures";
import {
    REQUEST_COUNT,
    REQUEST_LATENCY,
    countsDelta,
    histogram,
    histogramDelta,
    histogramQuantile,
    parsePrometheusText,
    requestCounts,
    Sample,
} from "../rollout/prometheus";
import { validateSavedModelDir } from "../model/sources/fromDisk";
import { IMAGE_PIXELS } from "../model/savedmodel/contract";
import { exportSavedModel } from "../model/savedmodel/export";
import { initBackend } from "../model/training/backend";
import { loadMnist } from "../model/training/data";
import { quickModel } from "../test/doubles/quickModel";
import { TfServingDouble } from "../test/doubles/tfServingDouble";
import { badCanaries } from "../test/support/badCanaries";
import { percentile } from "../test/support/clientLoop";
import { findTensorFlowPython } from "../test/support/venv";
import { runCommand } from "../verdict";

/** Measured predicts per model, one image each, as the rollout's clients send them. */
const CALLS = 50;
/** Predicts before the measured ones (first calls of a loaded function), left out of the figures. */
const WARMUP_CALLS = 5;
const round = (value: number) => Math.round(value * 100) / 100;

async function scrape(url: string): Promise<{ samples: Sample[]; page: string }> {
    const page = await (await fetch(`${url}${PROMETHEUS_PATH}`)).text();
    return { samples: parsePrometheusText(page), page };
}

/** Serves the model of `versionDir` and measures CALLS predicts against it. */
async function measure(python: string, name: string, versionDir: string) {
    const validated = validateSavedModelDir(versionDir);
    const mnist = loadMnist();
    const image = (i: number) =>
        imagesFromPixels(mnist.test.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), 1);
    const double = await TfServingDouble.start({
        python,
        modelBasePath: path.dirname(versionDir),
        modelName: name,
        monitoring: true,
    });
    try {
        const client = new TfServingClient({ url: double.url, model: name, timeoutMs: 60_000 });
        await client.waitUntilAvailable({ timeoutMs: 180_000, intervalMs: 250 });
        for (let i = 0; i < WARMUP_CALLS; i++) {
            await client.predict(image(CALLS + i)).catch(() => undefined);
        }
        const before = await scrape(double.url);
        const statuses: Record<string, number> = {};
        const errors = new Set<string>();
        const latencies: number[] = [];
        let correct = 0;
        for (let i = 0; i < CALLS; i++) {
            const started = process.hrtime.bigint();
            let status = 200;
            try {
                const [row] = await client.predict(image(i));
                if (argMax(row) === mnist.test.labels[i]) correct++;
            } catch (err) {
                if (!(err instanceof ServingHttpError)) throw err;
                status = err.status;
                errors.add(err.serverMessage);
            }
            latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            statuses[status] = (statuses[status] ?? 0) + 1;
        }
        const after = await scrape(double.url);
        const match = { model_name: name };
        const latency = histogramDelta(
            histogram(before.samples, REQUEST_LATENCY, { ...match, API: "predict" }),
            histogram(after.samples, REQUEST_LATENCY, { ...match, API: "predict" }) ?? {
                buckets: [],
                sum: 0,
                count: 0,
            },
        );
        const served = (statuses[200] ?? 0) > 0;
        return {
            inputKey: validated.inputKey,
            httpStatuses: statuses,
            errors: [...errors],
            accuracy: served ? correct / (statuses[200] ?? 0) : null,
            clientP50Ms: round(percentile(latencies, 50)),
            clientP99Ms: round(nearestRankP99(latencies)),
            requestCount: Object.fromEntries(
                countsDelta(
                    requestCounts(before.samples, match),
                    requestCounts(after.samples, match),
                ),
            ),
            servedLatencyCount: latency.count,
            servedP50Ms: latency.count > 0 ? round(histogramQuantile(0.5, latency) / 1000) : null,
            servedP99Ms: latency.count > 0 ? round(histogramQuantile(0.99, latency) / 1000) : null,
            metricLines: after.page
                .split("\n")
                .filter(
                    (l) =>
                        l.startsWith(`${REQUEST_COUNT}{`) ||
                        l.startsWith(`${REQUEST_LATENCY}_count{`) ||
                        l.startsWith(`${REQUEST_LATENCY}_sum{`),
                ),
        };
    } finally {
        await double.stop();
    }
}

async function main(): Promise<number> {
    const found = findTensorFlowPython();
    if (found.python === undefined) {
        console.error(`bench:bad-canaries needs Python TensorFlow: ${found.reason}`);
        return 1;
    }
    const outDir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-bad-canaries-"));
    const started = Date.now();
    const description = badCanaries(outDir);
    const makeSeconds = (Date.now() - started) / 1000;
    // The stable track's model: what our trainer exports, trained briefly (test/doubles/quickModel).
    await initBackend(undefined, () => undefined);
    const stable = await quickModel();
    const exported = await exportSavedModel(stable.model, path.join(outDir, ".stable"), {
        name: "stable",
        version: 1,
        warmupBatchSizes: [1],
    });
    const dirs: Record<string, string> = { stable: exported.dir };
    for (const [name, model] of Object.entries(description.models)) dirs[name] = model.dir;
    const results: Record<string, unknown> = {};
    for (const [name, dir] of Object.entries(dirs)) {
        results[name] = await measure(found.python, name, dir);
    }
    console.log(JSON.stringify({ makeSeconds, made: description, calls: CALLS, results }));
    return 0;
}

runCommand(main, undefined, { exitAtVerdict: true });
