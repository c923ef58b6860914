/**
 * `npm run smoke -- --url <endpoint>`: after a deploy, checks that the served model is the model
 * we trained. It waits (bounded) for the version to be `AVAILABLE`, classifies a fixed set of
 * MNIST test images through the endpoint and compares each class with the local model's class
 * for the same image. Any disagreement, or an accuracy below the gate when one is given, fails
 * with a table of index, expected and got.
 *
 * The local model is `trainModel()` with its defaults (what the stack trains unless its config
 * says otherwise), which normally comes straight from the cache, or `--model-dir`: a tfjs
 * artifact, or a SavedModel version directory, run in TensorFlow through tfjs-node.
 *
 * `--stack <stack> --track stable|canary` takes the URL, the version, the local model (the
 * track's own export) and the gate (`minAccuracy`) from the deployed stack (`stackTarget.ts`).
 */
import * as fs from "fs";
import * as path from "path";
import type { Tensor } from "@tensorflow/tfjs";
import type { Track } from "../components/modelTrack";
import { errorMessage } from "../errors";
import { loadTfjsNode } from "../model/tfjsNode";
import {
    IMAGE_SIZE,
    SAVED_MODEL_FILE,
    SERVE_TAG,
    SIGNATURE_KEYS,
} from "../model/savedmodel/contract";
import {
    UsageError,
    openClient,
    parseFlags,
    chunks,
    formatTable,
    intFlag,
    runMain,
    usageText,
} from "./cliSupport";
import { argMax } from "./digits";
import { imagesFromPixels } from "./inputs";
import { mnistTestSample } from "./mnist";
import { ServingClient } from "./servingClient";
import {
    ACCURACY_EXPECTED,
    StackTarget,
    TRACKS,
    parseAccuracy,
    resolveStackTarget,
} from "./stackTarget";
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
        "usage: npm run smoke -- --url <endpoint> | --grpc <host:port> [options]",
        "       npm run smoke -- --stack <stack> [--track stable|canary] [options]",
        "",
        "Waits for the served model to be AVAILABLE, classifies MNIST test images through it and",
        "compares every class with the local model's. Exits 1 with a table of differences if any,",
        "or of the misclassified images if the served accuracy is below the gate.",
    ],
    [
        `  --count <N>          MNIST test images to compare (default ${SMOKE_DEFAULTS.count})`,
        `  --wait <seconds>     how long to wait for AVAILABLE (default ${SMOKE_DEFAULTS.waitSeconds})`,
        "  --model-dir <dir>    compare with this model: a tfjs artifact (a directory holding",
        "                       model.json) or a SavedModel version directory (needs tfjs-node),",
        "                       instead of trainModel() with default options (from the cache)",
        "  --cache-dir <dir>    trainModel's cache directory (default .model-cache)",
        "  --min-accuracy <a>   fail when the served accuracy on the images is below a, in (0, 1]",
        "                       (default: no gate; with --stack, the stack's minAccuracy)",
        "  --stack <stack>      take the URL, the version, the local model and the gate from this",
        "                       deployed stack: its outputs, its config and this checkout's export",
        "  --track <track>      with --stack: stable or canary, checked through its own Service",
        "                       (default stable); --url overrides the Service's cluster IP, e.g.",
        "                       with kubectl port-forward",
    ],
);

/** `smoke`'s own flags, besides the connection flags. */
const SMOKE_FLAGS = {
    count: { type: "string" },
    wait: { type: "string" },
    "model-dir": { type: "string" },
    "cache-dir": { type: "string" },
    "min-accuracy": { type: "string" },
    stack: { type: "string" },
    track: { type: "string" },
} as const;

/** Parsed command line of `smoke`. */
export interface SmokeArguments {
    /** How to reach the server. */
    readonly client: ClientOptions;
    /** TF Serving's gRPC address, to check over gRPC instead of REST. */
    readonly grpc?: string;
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
    /** The lowest served accuracy that passes; no gate when undefined. */
    readonly minAccuracy?: number;
    /** The deployed stack and track the check takes its target from. */
    readonly stack?: { readonly name: string; readonly track: Track };
}

/** Parses `smoke`'s flags; returns "help" for `--help`. Throws `UsageError` on mistakes. */
export function parseSmokeArguments(argv: readonly string[]): SmokeArguments | "help" {
    const parsed = parseFlags(argv, SMOKE_FLAGS, false, false);
    if (parsed === "help") return parsed;
    const { client, grpc, values } = parsed;
    if (values.track !== undefined && values.stack === undefined) {
        throw new UsageError(
            `\`--track\` is "${values.track}" without --stack; expected --stack <stack>, whose outputs name the track's Service`,
        );
    }
    const track = values.track ?? "stable";
    if (!(TRACKS as readonly string[]).includes(track)) {
        throw new UsageError(`\`--track\` is "${track}"; expected one of ${TRACKS.join(", ")}`);
    }
    if (client.url === "" && grpc === undefined && values.stack === undefined) {
        throw new UsageError(
            "`--url` is missing; expected TF Serving's REST base URL, e.g. http://<node-ip>:30111, --grpc <host:port>, or --stack <stack>",
        );
    }
    return {
        client,
        grpc,
        count: intFlag("count", values.count, 1) ?? SMOKE_DEFAULTS.count,
        waitSeconds: intFlag("wait", values.wait, 1) ?? SMOKE_DEFAULTS.waitSeconds,
        pollMs: SMOKE_DEFAULTS.pollSeconds * 1000,
        modelDir: values["model-dir"],
        cacheDir: values["cache-dir"],
        minAccuracy: accuracyFlag(values["min-accuracy"]),
        stack:
            values.stack === undefined ? undefined : { name: values.stack, track: track as Track },
    };
}

/** `--min-accuracy`, a decimal in (0, 1], or undefined when absent. */
function accuracyFlag(raw: string | undefined): number | undefined {
    if (raw === undefined) return undefined;
    const n = parseAccuracy(raw);
    if (n === undefined) {
        throw new UsageError(`\`--min-accuracy\` is "${raw}"; expected ${ACCURACY_EXPECTED}`);
    }
    return n;
}

/** One image of the table: where the served class differs from the local one or the label. */
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
    /** The version the stack says the track serves; undefined without --stack. */
    readonly expectedVersion?: number;
    /** Images compared. */
    readonly count: number;
    /** Images where the classes differ. */
    readonly differences: readonly SmokeDifference[];
    /** Images the served model classified wrong, against the labels. */
    readonly misclassified: readonly SmokeDifference[];
    /** Accuracy of the served model on the compared images. */
    readonly servedAccuracy: number;
    /** Accuracy of the local model on the same images. */
    readonly localAccuracy: number;
    /** The gate on `servedAccuracy`; undefined for none. */
    readonly minAccuracy?: number;
    /** Largest absolute difference between served and local logits. */
    readonly maxLogitDifference: number;
}

/** Why `result` fails, one phrase per failed check; empty when it passes. */
export function smokeFailures(result: SmokeResult): string[] {
    const range = `MNIST test images 0-${result.count - 1}`;
    const failures: string[] = [];
    if (result.expectedVersion !== undefined && result.version !== result.expectedVersion) {
        failures.push(
            `version ${result.version} answered, expected version ${result.expectedVersion} (the track's modelVersion in the stack's outputs)`,
        );
    }
    if (result.differences.length > 0) {
        failures.push(
            `version ${result.version} disagrees with the local model on ${result.differences.length} of ${result.count} ${range}`,
        );
    }
    if (result.minAccuracy !== undefined && result.servedAccuracy < result.minAccuracy) {
        failures.push(
            `served accuracy ${result.servedAccuracy.toFixed(4)} on ${range} is below minAccuracy ${result.minAccuracy}`,
        );
    }
    return failures;
}

/** A tfjs artifact's `model.json`, or a SavedModel version directory, at `dir`. */
function localModelAt(dir: string): { kind: "tfjs" | "savedmodel"; path: string } {
    if (fs.existsSync(path.join(dir, SAVED_MODEL_FILE))) return { kind: "savedmodel", path: dir };
    const file = dir.endsWith(".json") ? dir : path.join(dir, "model.json");
    if (!fs.existsSync(file)) {
        throw new Error(
            `\`--model-dir\` is ${dir}, which holds neither model.json nor ${SAVED_MODEL_FILE}; ` +
                "expected a tfjs artifact directory or a SavedModel version directory",
        );
    }
    return { kind: "tfjs", path: file };
}

/**
 * Logits of a SavedModel's `serving_default` on raw pixels (0-255, as the client sends them),
 * computed by TensorFlow itself through tfjs-node.
 */
async function savedModelLogits(
    dir: string,
    pixels: Uint8Array,
    count: number,
): Promise<number[][]> {
    let tfn: typeof import("@tensorflow/tfjs-node");
    try {
        tfn = loadTfjsNode();
    } catch (err) {
        throw new Error(
            `comparing with the SavedModel ${dir} needs @tensorflow/tfjs-node, which did not load (${errorMessage(err)}); ` +
                "expected it built (bash scripts/build-tfjs-node.sh), or a tfjs artifact as --model-dir",
        );
    }
    const model = await tfn.node.loadSavedModel(dir, [SERVE_TAG], SIGNATURE_KEYS.default);
    try {
        const xs = tfn.tensor3d(Float32Array.from(pixels), [count, IMAGE_SIZE, IMAGE_SIZE]);
        return await predictedRows(xs, (x) => model.predict(x) as Tensor);
    } finally {
        model.dispose();
    }
}

/** The rows of `predict(xs)`; both tensors are disposed. */
async function predictedRows(xs: Tensor, predict: (xs: Tensor) => Tensor): Promise<number[][]> {
    try {
        const out = predict(xs);
        try {
            return (await out.array()) as number[][];
        } finally {
            out.dispose();
        }
    } finally {
        xs.dispose();
    }
}

/** Classes and logits of the local model on `pixels` (bytes 0-255, n x 28 x 28). */
async function localLogits(
    args: SmokeArguments,
    modelDir: string | undefined,
    pixels: Uint8Array,
    count: number,
    log: (l: string) => void,
): Promise<number[][]> {
    const local = modelDir === undefined ? undefined : localModelAt(modelDir);
    if (local?.kind === "savedmodel") {
        log(`local model: the SavedModel ${local.path}, in TensorFlow`);
        return savedModelLogits(local.path, pixels, count);
    }
    const tf = await import("@tensorflow/tfjs");
    const { initBackend } = await import("../model/training/backend");
    const { normalizePixels } = await import("../model/training/data");
    await initBackend(undefined, log);
    let model;
    if (local !== undefined) {
        const { loadLayersModel } = await import("../model/training/artifact");
        model = await loadLayersModel(local.path);
        log(`local model: ${local.path}`);
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
    return predictedRows(xs, (x) => model.predict(x) as Tensor);
}

/** Runs the check and returns what it found; `log` gets progress lines. */
export async function runSmoke(
    args: SmokeArguments,
    log: (line: string) => void,
): Promise<SmokeResult> {
    // A wrong --model-dir should fail now, not after a long wait.
    if (args.modelDir !== undefined) localModelAt(args.modelDir);
    const target =
        args.stack === undefined
            ? undefined
            : await resolveStackTarget(args.stack.name, args.stack.track);
    if (args.stack !== undefined && target !== undefined) {
        log(
            `stack ${args.stack.name}, ${args.stack.track} track: version ${target.version} at ${target.url}, ` +
                `local model ${target.modelDir}, minAccuracy ${target.minAccuracy}`,
        );
    }
    const client = openClient(
        { ...args.client, url: args.client.url === "" ? (target?.url ?? "") : args.client.url },
        args.grpc,
    );
    try {
        return await checkServed(args, client, target, log);
    } finally {
        client.close();
    }
}

/** The check itself, through `client`, against `target` when it came from a stack. */
async function checkServed(
    args: SmokeArguments,
    client: ServingClient,
    target: StackTarget | undefined,
    log: (line: string) => void,
): Promise<SmokeResult> {
    const modelDir = args.modelDir ?? target?.modelDir;
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
    const local = await localLogits(args, modelDir, sample.pixels, sample.count, log);

    const differences: SmokeDifference[] = [];
    const misclassified: SmokeDifference[] = [];
    let localCorrect = 0;
    let maxLogitDifference = 0;
    for (let i = 0; i < sample.count; i++) {
        if (served[i].length !== local[i].length) {
            throw new Error(
                `served model returned ${served[i].length} scores per image; the local model returns ${local[i].length}`,
            );
        }
        const row = {
            index: sample.start + i,
            expected: argMax(local[i]),
            got: argMax(served[i]),
            label: sample.labels[i],
        };
        if (row.got !== row.label) misclassified.push(row);
        if (row.expected === row.label) localCorrect++;
        if (row.expected !== row.got) differences.push(row);
        served[i].forEach((v, k) => {
            maxLogitDifference = Math.max(maxLogitDifference, Math.abs(v - local[i][k]));
        });
    }
    return {
        version: available.version,
        expectedVersion: target?.version,
        count: sample.count,
        differences,
        misclassified,
        servedAccuracy: (sample.count - misclassified.length) / sample.count,
        localAccuracy: localCorrect / sample.count,
        minAccuracy: args.minAccuracy ?? target?.minAccuracy,
        maxLogitDifference,
    };
}

/** The verdict as a person reads it; the first line starts with `smoke: OK` or `smoke: FAILED`. */
export function formatSmokeResult(result: SmokeResult): string {
    const range = `MNIST test images 0-${result.count - 1}`;
    const gate =
        result.minAccuracy === undefined ? "" : ` (at least minAccuracy ${result.minAccuracy})`;
    const accuracies =
        `served accuracy ${result.servedAccuracy.toFixed(4)}${gate}, local ${result.localAccuracy.toFixed(4)}, ` +
        `largest logit difference ${result.maxLogitDifference.toExponential(2)}`;
    const failures = smokeFailures(result);
    if (failures.length === 0) {
        return `smoke: OK: version ${result.version} agrees with the local model on all ${result.count} ${range} (${accuracies})`;
    }
    // The images behind each failed check: the differences, and the misses when the gate failed.
    const belowGate =
        result.minAccuracy !== undefined && result.servedAccuracy < result.minAccuracy;
    const listed = new Map(result.differences.map((d) => [d.index, d]));
    if (belowGate) for (const m of result.misclassified) listed.set(m.index, m);
    const rows = [...listed.values()]
        .sort((a, b) => a.index - b.index)
        .map((d) => [String(d.index), String(d.expected), String(d.got), String(d.label)]);
    return [
        `smoke: FAILED: ${failures.join("; ")} (${accuracies})`,
        ...(rows.length === 0
            ? []
            : [
                  "expected = the local model's class, got = the served model's class, label = the true digit",
                  formatTable(["index", "expected", "got", "label"], rows, [0, 1, 2, 3]),
              ]),
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
    return smokeFailures(result).length === 0 ? 0 : 1;
}

if (require.main === module) {
    runMain(main, SMOKE_USAGE);
}
