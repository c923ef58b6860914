/**
 * What `smoke --stack <stack> --track <track>` checks, read from the stack itself: the track's
 * Service URL, model version and input range from `pulumi stack output`, the quality gate `minAccuracy` from
 * `pulumi config`, and the SavedModel the track's image was built from, in this checkout's
 * `.build/<stack>/` (so the live pods are compared with the exact bytes they serve).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { trackBuildDirs } from "../buildLayout";
import type { Track } from "../components/modelTrack";
import { SAVED_MODEL_FILE } from "../model/savedmodel/contract";
import {
    INPUT_SCALES,
    InputScale,
    OWN_INPUT_SCALE,
    isInputScale,
} from "../model/savedmodel/inputScale";
import { DEFAULT_TRAIN_OPTIONS } from "../model/training/train";

/** The tracks `--track` takes. */
export const TRACKS: readonly Track[] = ["stable", "canary"];

/** One track of a deployed stack, as the smoke check needs it. */
export interface StackTarget {
    /** REST base URL reaching this track's pods only (or the one Service when there is no canary). */
    readonly url: string;
    /** The model version the track must serve. */
    readonly version: number;
    /** The track's exported SavedModel version directory. */
    readonly modelDir: string;
    /** The stack's `minAccuracy`. */
    readonly minAccuracy: number;
    /** The pixels the served model takes (the stack's `inputScale` output). */
    readonly inputScale: InputScale;
}

/** Runs the Pulumi CLI with `args` and gives its standard output. */
export type PulumiRunner = (args: readonly string[]) => Promise<string>;

/** The `pulumi` on PATH, in the project directory (the current one). */
export const runPulumi: PulumiRunner = (args) =>
    new Promise((resolve, reject) => {
        execFile("pulumi", [...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
            if (err === null) resolve(stdout);
            else
                reject(
                    new Error(`pulumi ${args.join(" ")} failed: ${stderr.trim() || err.message}`),
                );
        });
    });

/** The stack outputs the smoke check reads (index.ts returns them). */
interface SmokeOutputs {
    readonly endpoint?: string;
    readonly modelName?: string;
    readonly modelVersion?: number;
    readonly inputScale?: string;
    readonly canary?: {
        readonly modelVersion?: number;
        readonly serviceUrl?: string;
        readonly stableServiceUrl?: string;
    };
}

/** The value at `field` of stack `stack`'s outputs, or an error saying it is missing. */
function present<T>(value: T | undefined, stack: string, field: string, expected: string): T {
    if (value === undefined || value === null || value === "") {
        throw new Error(
            `stack ${stack}'s output \`${field}\` is ${JSON.stringify(value)}; expected ${expected}`,
        );
    }
    return value;
}

/** Stack `stack`'s outputs. */
async function stackOutputs(stack: string, run: PulumiRunner): Promise<SmokeOutputs> {
    return JSON.parse(await run(["stack", "output", "--json", "--stack", stack])) as SmokeOutputs;
}

/**
 * The pixels the stack's model takes; 0-255, what our own exports take, for a stack deployed
 * before the stack had the output.
 */
function inputScaleOf(outputs: SmokeOutputs, stack: string): InputScale {
    const scale = outputs.inputScale ?? OWN_INPUT_SCALE;
    if (!isInputScale(scale)) {
        throw new Error(
            `stack ${stack}'s output \`inputScale\` is ${JSON.stringify(scale)}; expected ${INPUT_SCALES.join(" or ")}`,
        );
    }
    return scale;
}

/** What `predict --stack` calls: the stack's endpoint, model name and input range. */
export interface StackEndpoint {
    readonly url: string;
    readonly model: string;
    readonly inputScale: InputScale;
}

/** The endpoint of `stack`, from its outputs. */
export async function resolveStackEndpoint(
    stack: string,
    run: PulumiRunner = runPulumi,
): Promise<StackEndpoint> {
    const outputs = await stackOutputs(stack, run);
    return {
        url: present(outputs.endpoint, stack, "endpoint", "the model's REST endpoint"),
        model: present(outputs.modelName, stack, "modelName", "the served model's name"),
        inputScale: inputScaleOf(outputs, stack),
    };
}

/** `track` of `stack`, from its outputs and config, and the export in this checkout. */
export async function resolveStackTarget(
    stack: string,
    track: Track,
    run: PulumiRunner = runPulumi,
): Promise<StackTarget> {
    const outputs = await stackOutputs(stack, run);
    const model = present(outputs.modelName, stack, "modelName", "the served model's name");
    let url: string;
    let version: number;
    if (track === "canary") {
        const canary = present(
            outputs.canary,
            stack,
            "canary",
            "a canary track (set canaryVersion and canaryWeight, run pulumi up, or check --track stable)",
        );
        url = present(canary.serviceUrl, stack, "canary.serviceUrl", "the canary Service's URL");
        version = present(canary.modelVersion, stack, "canary.modelVersion", "a version");
    } else {
        // Without a canary the one Service reaches only stable pods.
        url =
            outputs.canary === undefined
                ? present(outputs.endpoint, stack, "endpoint", "the model's REST endpoint")
                : present(
                      outputs.canary.stableServiceUrl,
                      stack,
                      "canary.stableServiceUrl",
                      "the stable Service's URL",
                  );
        version = present(outputs.modelVersion, stack, "modelVersion", "a version");
    }
    const modelDir = path.join(trackBuildDirs(stack, track).exportDir, model, String(version));
    if (!fs.existsSync(path.join(modelDir, SAVED_MODEL_FILE))) {
        throw new Error(
            `the ${track} track of stack ${stack} serves version ${version}, but ${modelDir} holds no ${SAVED_MODEL_FILE}; ` +
                `expected the export of \`pulumi up --stack ${stack}\` in this checkout (or pass --model-dir)`,
        );
    }
    return {
        url,
        version,
        modelDir,
        minAccuracy: await stackMinAccuracy(stack, run),
        inputScale: inputScaleOf(outputs, stack),
    };
}

/** What an accuracy gate must be, in words for error messages. */
export const ACCURACY_EXPECTED = "a decimal in (0, 1]";

/** `text` as an accuracy gate, a decimal in (0, 1]; undefined when it is not one. */
export function parseAccuracy(text: string): number | undefined {
    const n = Number(text);
    return text.trim() !== "" && n > 0 && n <= 1 ? n : undefined;
}

/** `tfk8s:minAccuracy` of `stack`, or its default. */
async function stackMinAccuracy(stack: string, run: PulumiRunner): Promise<number> {
    const config = JSON.parse(await run(["config", "--json", "--stack", stack])) as Record<
        string,
        { value?: string }
    >;
    const raw = config["tfk8s:minAccuracy"]?.value;
    if (raw === undefined) return DEFAULT_TRAIN_OPTIONS.minAccuracy;
    const n = parseAccuracy(raw);
    if (n === undefined) {
        throw new Error(
            `config \`tfk8s:minAccuracy\` of stack ${stack} is ${JSON.stringify(raw)}; expected ${ACCURACY_EXPECTED}`,
        );
    }
    return n;
}
