/**
 * The command line of `npm run smoke`: its flags, their defaults and usage text, and the parsed
 * arguments the check runs with.
 */
import type { Track } from "../components/modelTrack";
import { UsageError, intFlag, parseFlags, usageText, valueFlags } from "./cliSupport";
import { InputScale } from "../model/savedmodel/inputScale";
import { INPUT_SCALE_USAGE, inputScaleFlag } from "./inputScaleFlag";
import { ACCURACY_EXPECTED, TRACKS, parseAccuracy } from "./stackTarget";
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
        "  --stack <stack>      take the URL, the version, the input range, the local model and the",
        "                       gate from this deployed stack: its outputs, its config and this",
        "                       checkout's export",
        "  --track <track>      with --stack: stable or canary, checked through its own Service",
        "                       (default stable); --url overrides the Service's cluster IP, e.g.",
        "                       with kubectl port-forward",
        INPUT_SCALE_USAGE,
    ],
);

/** `smoke`'s own flags, besides the connection flags. */
const SMOKE_FLAGS = valueFlags(
    "count",
    "wait",
    "model-dir",
    "cache-dir",
    "min-accuracy",
    "stack",
    "track",
    "input-scale",
);

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
    /** The pixels the model takes; the stack's, else 0-255, when undefined. */
    readonly inputScale?: InputScale;
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
        inputScale: inputScaleFlag(values["input-scale"]),
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
