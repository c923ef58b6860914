/**
 * `npm run predict -- --url <endpoint> [options] <image files…>`: sends images to TF Serving (over
 * REST, or over gRPC with `--grpc host:port`) and prints the predicted digits. PNG and JPEG of any size and colour are converted to MNIST's
 * format first (see `image.ts`); `--mnist N` sends the first N MNIST test images and reports
 * accuracy.
 */
import { SIGNATURE_KEYS } from "../model/savedmodel/contract";
import {
    openClient,
    parseFlags,
    UsageError,
    chunks,
    formatTable,
    intFlag,
    runMain,
    usageText,
    valueFlags,
} from "./cliSupport";
import { MnistImage, readMnistImage } from "./image";
import { INPUT_SCALE_USAGE, inputScaleFlag } from "./inputScaleFlag";
import { imagesFromPixels } from "./inputs";
import { InputScale, OWN_INPUT_SCALE, scalePixels } from "../model/savedmodel/inputScale";
import { resolveStackEndpoint } from "./stackTarget";
import { mnistTestSample } from "./mnist";
import { ServingClient } from "./servingClient";
import { CLIENT_DEFAULTS, ClientOptions, DigitPrediction } from "./types";

/** Usage text of the command. */
export const PREDICT_USAGE = usageText(
    [
        "usage: npm run predict -- --url <endpoint> | --grpc <host:port> | --stack <stack> [options] [image files…]",
        "",
        "Sends PNG or JPEG images of handwritten digits to a TF Serving endpoint and prints the",
        "predicted digit and its probability for each.",
    ],
    [
        `  --signature <name>   signature to call (default ${SIGNATURE_KEYS.default}; \`${SIGNATURE_KEYS.probabilities}\` also works)`,
        "  --mnist <N>          also send the first N MNIST test images and report the accuracy",
        `  --batch-size <n>     images per request (default 100, at most ${CLIENT_DEFAULTS.maxBatchSize})`,
        "  --json               print JSON instead of tables",
        "  --stack <stack>      call this deployed stack: its endpoint, model name and input range",
        "                       from its outputs (--url and --model override the first two)",
        INPUT_SCALE_USAGE,
    ],
);

/** `predict`'s own flags, besides the connection flags; positionals are image files. */
const PREDICT_FLAGS = {
    ...valueFlags("signature", "mnist", "batch-size", "stack", "input-scale"),
    json: { type: "boolean" },
} as const;

/** Parsed command line of `predict`. */
export interface PredictArguments {
    /** How to reach the server. */
    readonly client: ClientOptions;
    /** TF Serving's gRPC address, to call it over gRPC instead of REST. */
    readonly grpc?: string;
    /** Image files to classify. */
    readonly files: readonly string[];
    /** Signature to call; the server's default when undefined. */
    readonly signature?: string;
    /** How many MNIST test images to send, if any. */
    readonly mnist?: number;
    /** Images per request. */
    readonly batchSize: number;
    /** Machine-readable output. */
    readonly json: boolean;
    /** The deployed stack whose outputs say where to call and what to send. */
    readonly stack?: string;
    /** The pixels the model takes; the stack's, else 0-255, when undefined. */
    readonly inputScale?: InputScale;
}

/** Parses `predict`'s flags; returns "help" for `--help`. Throws `UsageError` on mistakes. */
export function parsePredictArguments(argv: readonly string[]): PredictArguments | "help" {
    const parsed = parseFlags(argv, PREDICT_FLAGS, true, false);
    if (parsed === "help") return parsed;
    const { client, grpc, values, positionals } = parsed;
    if (client.url === "" && grpc === undefined && values.stack === undefined) {
        throw new UsageError(
            "`--url` is missing; expected TF Serving's REST base URL, e.g. http://<node-ip>:30111, --grpc <host:port>, or --stack <stack>",
        );
    }
    const mnist = intFlag("mnist", values.mnist, 1);
    const batchSize = intFlag("batch-size", values["batch-size"], 1) ?? 100;
    if (batchSize > CLIENT_DEFAULTS.maxBatchSize) {
        throw new UsageError(
            `\`--batch-size\` is ${batchSize}; expected at most ${CLIENT_DEFAULTS.maxBatchSize}`,
        );
    }
    if (positionals.length === 0 && mnist === undefined) {
        throw new UsageError("nothing to predict: expected image files, `--mnist N`, or both");
    }
    return {
        client,
        grpc,
        files: positionals,
        signature: values.signature,
        mnist,
        batchSize,
        json: values.json === true,
        stack: values.stack,
        inputScale: inputScaleFlag(values["input-scale"]),
    };
}

/** One classified image file. */
export interface FileResult {
    /** The file as given on the command line. */
    readonly file: string;
    /** The most probable digit. */
    readonly digit: number;
    /** Its probability. */
    readonly probability: number;
    /** All ten probabilities. */
    readonly probabilities: readonly number[];
}

/** The `--mnist` run. */
export interface MnistResult {
    /** Images sent (test-set indices 0 to count-1). */
    readonly count: number;
    /** Predictions equal to the label. */
    readonly correct: number;
    /** `correct / count`. */
    readonly accuracy: number;
    /** The images predicted wrongly. */
    readonly misclassified: readonly {
        index: number;
        label: number;
        digit: number;
        probability: number;
    }[];
}

/** Everything `predict` prints, as `--json` prints it. */
export interface PredictReport {
    /** The model URL the requests went to. */
    readonly endpoint: string;
    /** Signature called. */
    readonly signature: string;
    /** One entry per image file, in command-line order. */
    readonly predictions: readonly FileResult[];
    /** Present when `--mnist` was given. */
    readonly mnist?: MnistResult;
}

async function predictAll(
    client: ServingClient,
    images: number[][][],
    args: PredictArguments,
): Promise<DigitPrediction[]> {
    const out: DigitPrediction[] = [];
    for (const batch of chunks(images, args.batchSize)) {
        out.push(...(await client.predictDigits(batch, { signatureName: args.signature })));
    }
    return out;
}

/** Converts the files, queries the server and returns the report. */
export async function runPredict(args: PredictArguments): Promise<PredictReport> {
    // Every file is read and converted before anything is sent, so a bad file costs no requests.
    const converted: MnistImage[] = args.files.map((file) => readMnistImage(file));
    const stack = args.stack === undefined ? undefined : await resolveStackEndpoint(args.stack);
    const client = openClient(
        {
            ...args.client,
            url: args.client.url === "" ? (stack?.url ?? "") : args.client.url,
            model: args.client.model ?? stack?.model,
        },
        args.grpc,
    );
    const scale = args.inputScale ?? stack?.inputScale ?? OWN_INPUT_SCALE;
    try {
        return await predictWith(client, converted, args, scale);
    } finally {
        client.close();
    }
}

async function predictWith(
    client: ServingClient,
    converted: readonly MnistImage[],
    args: PredictArguments,
    scale: InputScale,
): Promise<PredictReport> {
    const digits = await predictAll(
        client,
        converted.map((m) => imagesFromPixels(scalePixels(m.pixels, scale))[0]),
        args,
    );
    const predictions = args.files.map((file, i) => ({
        file,
        digit: digits[i].digit,
        probability: digits[i].probability,
        probabilities: digits[i].probabilities,
    }));
    let mnist: MnistResult | undefined;
    if (args.mnist !== undefined) {
        const sample = await mnistTestSample(args.mnist);
        const results = await predictAll(
            client,
            imagesFromPixels(scalePixels(sample.pixels, scale), sample.count),
            args,
        );
        const misclassified = results.flatMap((r, index) =>
            r.digit === sample.labels[index]
                ? []
                : [
                      {
                          index,
                          label: sample.labels[index],
                          digit: r.digit,
                          probability: r.probability,
                      },
                  ],
        );
        const correct = sample.count - misclassified.length;
        mnist = { count: sample.count, correct, accuracy: correct / sample.count, misclassified };
    }
    return {
        endpoint: client.modelUrl,
        signature: args.signature ?? SIGNATURE_KEYS.default,
        predictions,
        ...(mnist === undefined ? {} : { mnist }),
    };
}

/** The report as a person reads it: a table of files, then the MNIST summary. */
export function formatReport(report: PredictReport): string {
    const parts: string[] = [];
    if (report.predictions.length > 0) {
        parts.push(
            formatTable(
                ["file", "digit", "probability"],
                report.predictions.map((p) => [p.file, String(p.digit), p.probability.toFixed(4)]),
                [1, 2],
            ),
        );
    }
    const m = report.mnist;
    if (m !== undefined) {
        parts.push(
            `MNIST test images 0-${m.count - 1}: ${m.correct}/${m.count} correct, accuracy ${m.accuracy.toFixed(4)} ` +
                `(${report.endpoint})`,
        );
        if (m.misclassified.length > 0) {
            const shown = m.misclassified.slice(0, 20);
            const rows = shown.map((e) => [
                String(e.index),
                String(e.label),
                String(e.digit),
                e.probability.toFixed(4),
            ]);
            const more = m.misclassified.length - shown.length;
            parts.push(
                `misclassified${more > 0 ? ` (first ${shown.length} of ${m.misclassified.length})` : ""}:\n` +
                    formatTable(["index", "label", "predicted", "probability"], rows, [0, 1, 2, 3]),
            );
        }
    }
    return parts.join("\n\n");
}

async function main(): Promise<number> {
    const args = parsePredictArguments(process.argv.slice(2));
    if (args === "help") {
        process.stdout.write(`${PREDICT_USAGE}\n`);
        return 0;
    }
    const report = await runPredict(args);
    process.stdout.write(`${args.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
    return 0;
}

if (require.main === module) {
    runMain(main, PREDICT_USAGE);
}
