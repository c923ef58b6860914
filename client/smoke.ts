/**
 * `npm run smoke -- --url <endpoint>`: after a deploy, checks that the served model is the model
 * we trained. It waits (bounded) for the version to be `AVAILABLE`, classifies a fixed set of
 * MNIST test images through the endpoint and compares each class with the local model's class
 * for the same image. Any disagreement fails with a table of index, expected and got.
 *
 * The local model is `trainModel()` with its defaults (what the stack trains unless its config
 * says otherwise), which normally comes straight from the cache, or the tfjs artifact in
 * `--model-dir`.
 */
import * as fs from "fs";
import * as path from "path";
import { IMAGE_SIZE } from "../model/savedmodel/contract";
import { parseFlags, chunks, formatTable, intFlag, runMain, usageText } from "./cliSupport";
import { argMax } from "./digits";
import { imagesFromPixels } from "./inputs";
import { mnistTestSample } from "./mnist";
import { TfServingClient } from "./tfServingClient";
import { ClientOptions } from "./types";

/** Defaults of the smoke check. */
export const SMOKE_DEFAULTS = {
    /** MNIST test images compared (indices 0 to count-1). */
    count: 100,
    /** Seconds to wait for the version to become AVAILABLE. */
    waitSeconds: 120,
    /** Seconds between status polls while waiting. */
    pollSeconds: 1,
} as const;

/** Usage text of the command. */
export const SMOKE_USAGE = usageText(
    [
        "usage: npm run smoke -- --url <endpoint> [options]",
        "",
        "Waits for the served model to be AVAILABLE, classifies MNIST test images through it and",
        "compares every class with the local model's. Exits 1 with a table of differences if any.",
    ],
    [
        `  --count <N>          MNIST test images to compare (default ${SMOKE_DEFAULTS.count})`,
        `  --wait <seconds>     how long to wait for AVAILABLE (default ${SMOKE_DEFAULTS.waitSeconds})`,
        "  --model-dir <dir>    compare with this tfjs artifact (a directory holding model.json)",
        "                       instead of trainModel() with default options (from the cache)",
        "  --cache-dir <dir>    trainModel's cache directory (default .model-cache)",
    ],
);

/** `smoke`'s own flags, besides the connection flags. */
const SMOKE_FLAGS = {
    count: { type: "string" },
    wait: { type: "string" },
    "model-dir": { type: "string" },
    "cache-dir": { type: "string" },
} as const;

/** Parsed command line of `smoke`. */
export interface SmokeArguments {
    /** How to reach the server. */
    readonly client: ClientOptions;
    /** Images compared. */
    readonly count: number;
    /** Wait budget for AVAILABLE, in seconds. */
    readonly waitSeconds: number;
    /** Pause between polls, in milliseconds. */
    readonly pollMs: number;
    /** A tfjs artifact directory to compare with instead of the trained default. */
    readonly modelDir?: string;
    /** trainModel's cache directory. */
    readonly cacheDir?: string;
}

/** Parses `smoke`'s flags; returns "help" for `--help`. Throws `UsageError` on mistakes. */
export function parseSmokeArguments(argv: readonly string[]): SmokeArguments | "help" {
    const parsed = parseFlags(argv, SMOKE_FLAGS, false);
    if (parsed === "help") return parsed;
    const { client, values } = parsed;
    return {
        client,
        count: intFlag("count", values.count, 1) ?? SMOKE_DEFAULTS.count,
        waitSeconds: intFlag("wait", values.wait, 1) ?? SMOKE_DEFAULTS.waitSeconds,
        pollMs: SMOKE_DEFAULTS.pollSeconds * 1000,
        modelDir: values["model-dir"],
        cacheDir: values["cache-dir"],
    };
}

/** One image on which the served and the local model disagree. */
export interface SmokeDifference {
    /** Index in the MNIST test set. */
    readonly index: number;
    /** The local model's class. */
    readonly expected: number;
    /** The served model's class. */
    readonly got: number;
    /** The true digit. */
    readonly label: number;
}

/** What the smoke check found. */
export interface SmokeResult {
    /** The version that answered. */
    readonly version: number;
    /** Images compared. */
    readonly count: number;
    /** Images where the classes differ. */
    readonly differences: readonly SmokeDifference[];
    /** Accuracy of the served model on the compared images. */
    readonly servedAccuracy: number;
    /** Accuracy of the local model on the same images. */
    readonly localAccuracy: number;
    /** Largest absolute difference between served and local logits. */
    readonly maxLogitDifference: number;
}

/** `model.json` in `dir` (or `dir` itself when it names the file); throws when it is missing. */
function modelJsonOf(dir: string): string {
    const file = dir.endsWith(".json") ? dir : path.join(dir, "model.json");
    if (!fs.existsSync(file)) {
        throw new Error(
            `\`--model-dir\` is ${dir}, which holds no model.json; expected a tfjs artifact directory`,
        );
    }
    return file;
}

/** Classes and logits of the local model on `pixels` (bytes 0-255, n x 28 x 28). */
async function localLogits(
    args: SmokeArguments,
    pixels: Uint8Array,
    count: number,
    log: (l: string) => void,
): Promise<number[][]> {
    const tf = await import("@tensorflow/tfjs");
    const { initBackend } = await import("../model/training/backend");
    const { normalizePixels } = await import("../model/training/data");
    await initBackend(undefined, log);
    let model;
    if (args.modelDir !== undefined) {
        const { loadLayersModel } = await import("../model/training/artifact");
        const file = modelJsonOf(args.modelDir);
        model = await loadLayersModel(file);
        log(`local model: ${file}`);
    } else {
        const { trainModel } = await import("../model/training/train");
        // Defaults, as the stack trains unless configured otherwise; a cache hit makes this quick.
        const trained = await trainModel({
            cacheDir: args.cacheDir,
            log: (l) => log(`  ${l}`),
            progressBar: false,
        });
        model = trained.model;
        log(
            `local model: ${trained.dir} (trainModel defaults, ${trained.fromCache ? "from the cache" : "just trained"})`,
        );
    }
    const xs = tf.tensor3d(normalizePixels(pixels), [count, IMAGE_SIZE, IMAGE_SIZE]);
    try {
        const out = model.predict(xs) as import("@tensorflow/tfjs").Tensor;
        const rows = (await out.array()) as number[][];
        out.dispose();
        return rows;
    } finally {
        xs.dispose();
    }
}

/** Runs the check and returns what it found; `log` gets progress lines. */
export async function runSmoke(
    args: SmokeArguments,
    log: (line: string) => void,
): Promise<SmokeResult> {
    const client = new TfServingClient(args.client);
    // A wrong --model-dir should fail now, not after a long wait.
    if (args.modelDir !== undefined) modelJsonOf(args.modelDir);
    log(`waiting up to ${args.waitSeconds}s for ${client.modelUrl} to be AVAILABLE`);
    const started = Date.now();
    let lastSeen = "";
    const available = await client.waitUntilAvailable({
        timeoutMs: args.waitSeconds * 1000,
        intervalMs: args.pollMs,
        onPoll: (seen) => {
            if (seen !== lastSeen) log(`  not yet: ${seen}`);
            lastSeen = seen;
        },
    });
    log(
        `version ${available.version} is AVAILABLE (after ${((Date.now() - started) / 1000).toFixed(1)}s)`,
    );

    const sample = await mnistTestSample(args.count);
    const served: number[][] = [];
    for (const batch of chunks(imagesFromPixels(sample.pixels, sample.count), 100)) {
        served.push(...(await client.predict(batch)));
    }
    const local = await localLogits(args, sample.pixels, sample.count, log);

    const differences: SmokeDifference[] = [];
    let servedCorrect = 0;
    let localCorrect = 0;
    let maxLogitDifference = 0;
    for (let i = 0; i < sample.count; i++) {
        if (served[i].length !== local[i].length) {
            throw new Error(
                `served model returned ${served[i].length} scores per image; the local model returns ${local[i].length}`,
            );
        }
        const expected = argMax(local[i]);
        const got = argMax(served[i]);
        const label = sample.labels[i];
        if (got === label) servedCorrect++;
        if (expected === label) localCorrect++;
        if (expected !== got) differences.push({ index: sample.start + i, expected, got, label });
        served[i].forEach((v, k) => {
            maxLogitDifference = Math.max(maxLogitDifference, Math.abs(v - local[i][k]));
        });
    }
    return {
        version: available.version,
        count: sample.count,
        differences,
        servedAccuracy: servedCorrect / sample.count,
        localAccuracy: localCorrect / sample.count,
        maxLogitDifference,
    };
}

/** The verdict as a person reads it; the first line starts with `smoke: OK` or `smoke: FAILED`. */
export function formatSmokeResult(result: SmokeResult): string {
    const range = `MNIST test images 0-${result.count - 1}`;
    const accuracies =
        `served accuracy ${result.servedAccuracy.toFixed(4)}, local ${result.localAccuracy.toFixed(4)}, ` +
        `largest logit difference ${result.maxLogitDifference.toExponential(2)}`;
    if (result.differences.length === 0) {
        return `smoke: OK: version ${result.version} agrees with the local model on all ${result.count} ${range} (${accuracies})`;
    }
    const rows = result.differences.map((d) => [
        String(d.index),
        String(d.expected),
        String(d.got),
        String(d.label),
    ]);
    return [
        `smoke: FAILED: version ${result.version} disagrees with the local model on ${result.differences.length} of ` +
            `${result.count} ${range} (${accuracies})`,
        "expected = the local model's class, got = the served model's class, label = the true digit",
        formatTable(["index", "expected", "got", "label"], rows, [0, 1, 2, 3]),
    ].join("\n");
}

async function main(): Promise<number> {
    const args = parseSmokeArguments(process.argv.slice(2));
    if (args === "help") {
        process.stdout.write(`${SMOKE_USAGE}\n`);
        return 0;
    }
    const result = await runSmoke(args, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`${formatSmokeResult(result)}\n`);
    return result.differences.length === 0 ? 0 : 1;
}

if (require.main === module) {
    runMain(main, SMOKE_USAGE);
}
