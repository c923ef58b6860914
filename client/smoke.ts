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
import { chunks, formatTable, openClient, runMain } from "./cliSupport";
import { argMax } from "./scores";
import { localLogits, localModelAt } from "./localModel";
import { imagesFromPixels } from "./inputs";
import { OWN_INPUT_SCALE, scalePixels } from "../model/savedmodel/inputScale";
import { mnistTestSample } from "./mnist";
import { ServingClient } from "./servingClient";
import { SMOKE_USAGE, SmokeArguments, parseSmokeArguments } from "./smokeArguments";
import { StackTarget, resolveStackTarget } from "./stackTarget";

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
                `local model ${target.modelDir}, minAccuracy ${target.minAccuracy}, pixels sent as ${target.inputScale}`,
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
    // Both models are sent what the served one takes.
    const scale = args.inputScale ?? target?.inputScale ?? OWN_INPUT_SCALE;
    const images = imagesFromPixels(scalePixels(sample.pixels, scale), sample.count);
    const served: number[][] = [];
    for (const batch of chunks(images, 100)) {
        served.push(...(await client.predict(batch)));
    }
    const local = await localLogits(
        args.cacheDir,
        modelDir,
        sample.pixels,
        sample.count,
        log,
        scale,
    );

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
