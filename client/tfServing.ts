/**
 * A small client for TensorFlow Serving's REST API, shaped around our MNIST model: model status,
 * model metadata and row-format `:predict` of `(n, 28, 28)` pixel batches.
 *
 * Paths, bodies and error shapes follow TF Serving's `api_rest.md` and its handler
 * (`http_rest_api_handler.cc`, `http_rest_api_util.cc`):
 *
 * - `GET  /v1/models/<name>[/versions/<v>|/labels/<l>]` → `{"model_version_status": [...]}`
 * - `GET  /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata` → `{"model_spec", "metadata"}`
 * - `POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict`, body
 *   `{"instances": …, "signature_name": …}`
 * - any error: an HTTP error status with `{ "error": "<C-escaped message>" }`
 *
 * It uses only Node's global `fetch`, so importing it costs nothing (no TensorFlow.js).
 */
import { setTimeout as sleep } from "timers/promises";
import {
    ServingConnectionError,
    ServingError,
    ServingHttpError,
    ServingInputError,
    ServingResponseError,
    ServingTimeoutError,
    ServingUnavailableError,
} from "./errors";
import { argMax, softmax } from "./digits";

/**
 * Side of an MNIST image. Equal to `IMAGE_SIZE` in `model/data.ts` (a test checks); repeated here
 * because that module imports TensorFlow.js, which a network client should not load.
 */
export const MNIST_IMAGE_SIZE = 28;

/** Defaults of `ClientOptions`. */
export const CLIENT_DEFAULTS = {
    model: "mymodel",
    timeoutMs: 10_000,
    retries: 3,
    backoffMs: 250,
    maxBackoffMs: 4_000,
    maxBatchSize: 256,
} as const;

/** The default signature: pixels 0-255 in, logits out. */
export const DEFAULT_SIGNATURE = "serving_default";
/** The signature of our SavedModel that returns softmax probabilities instead of logits. */
export const PROBABILITIES_SIGNATURE = "probabilities";

/** Where the server is and how patiently to talk to it. */
export interface ClientOptions {
    /** TF Serving's REST base URL, e.g. `http://10.0.0.5:30111`; `http://` is assumed if absent. */
    readonly url: string;
    /** Model name, the `<name>` in `/v1/models/<name>`. Defaults to `mymodel`. */
    readonly model?: string;
    /** Ask for this version (`/versions/<v>`). Defaults to the latest the server has. */
    readonly version?: number;
    /** Ask for the version with this label (`/labels/<l>`); not with `version`. Defaults to none. */
    readonly label?: string;
    /** Milliseconds one request may take, body included. Defaults to 10,000. */
    readonly timeoutMs?: number;
    /** Extra attempts after a connection error or an HTTP 503. Defaults to 3. */
    readonly retries?: number;
    /** Wait before the first retry, doubled for each further one. Defaults to 250 ms. */
    readonly backoffMs?: number;
    /** Longest wait between retries. Defaults to 4,000 ms. */
    readonly maxBackoffMs?: number;
    /** Most images `predict` accepts in one call. Defaults to 256. */
    readonly maxBatchSize?: number;
}

/** Lifecycle states of a model version, as `get_model_status.proto` names them. */
export type ModelState = "UNKNOWN" | "START" | "LOADING" | "AVAILABLE" | "UNLOADING" | "END";

/** One entry of `model_version_status`. */
export interface ModelVersionStatus {
    /** The version number (TF Serving sends it as a string, since it is an int64). */
    readonly version: number;
    /** Lifecycle state; a string we do not know is passed through. */
    readonly state: ModelState | string;
    /** `status.error_code`, `OK` when the version is healthy. */
    readonly errorCode: string;
    /** `status.error_message`, empty when healthy. */
    readonly errorMessage: string;
}

/** What `GET /v1/models/<name>` returns. */
export interface ModelStatus {
    /** One entry per version the server knows, in the server's order. */
    readonly versions: readonly ModelVersionStatus[];
}

/** One input or output tensor of a signature. */
export interface TensorSpec {
    /** Graph tensor name, e.g. `images:0`. */
    readonly name: string;
    /** TensorFlow dtype name, e.g. `DT_FLOAT`. */
    readonly dtype: string;
    /** Dimensions, -1 where any size is accepted; null when the rank is unknown. */
    readonly shape: readonly number[] | null;
}

/** One signature of the served model. */
export interface SignatureSpec {
    /** e.g. `tensorflow/serving/predict`. */
    readonly methodName: string;
    /** Inputs by key: the names a request uses. */
    readonly inputs: Readonly<Record<string, TensorSpec>>;
    /** Outputs by key. */
    readonly outputs: Readonly<Record<string, TensorSpec>>;
}

/** What `GET /v1/models/<name>/metadata` returns. */
export interface ModelMetadata {
    /** `model_spec.name`. */
    readonly name: string;
    /** `model_spec.version`: the version that answered. */
    readonly version: number;
    /** Signatures by key, `serving_default` among them. */
    readonly signatures: Readonly<Record<string, SignatureSpec>>;
}

/** Per-call options of `predict`. */
export interface PredictOptions {
    /** `signature_name` of the request. Defaults to the server's `serving_default`. */
    readonly signatureName?: string;
}

/** Per-call options of `predictDigits`. */
export interface DigitOptions extends PredictOptions {
    /**
     * What the signature returns. Defaults to `probabilities` for the `probabilities` signature
     * and `logits` (softmax applied here) for any other.
     */
    readonly outputs?: "logits" | "probabilities";
}

/** The predicted digit of one image. */
export interface DigitPrediction {
    /** The most probable digit, 0-9. */
    readonly digit: number;
    /** Its probability. */
    readonly probability: number;
    /** Probability of each digit, summing to 1. */
    readonly probabilities: readonly number[];
    /** The raw scores, when the signature returned logits. */
    readonly logits?: readonly number[];
}

/** Options of `waitUntilAvailable`. */
export interface WaitOptions {
    /** Give up after this many milliseconds. Defaults to 120,000. */
    readonly timeoutMs?: number;
    /** Pause between polls. Defaults to 1,000 ms. */
    readonly intervalMs?: number;
    /** Told what each poll saw ("version 1 is LOADING", an error, …). Defaults to nothing. */
    readonly onPoll?: (observation: string) => void;
}

/** A batch of images: `(n, 28, 28)` numbers, as nested arrays or typed arrays. */
export type ImageBatch = ArrayLike<ArrayLike<ArrayLike<number>>>;

/** TF Serving's path syntax: names and labels cannot hold `/` or `:` (`[^/:]+`). */
const PATH_SEGMENT = /^[^/:]+$/;

function checkPositiveInteger(field: string, value: number, allowZero = false): void {
    const ok = Number.isSafeInteger(value) && (allowZero ? value >= 0 : value >= 1);
    if (!ok) {
        const wanted = allowZero ? "a non-negative integer" : "a positive integer";
        throw new ServingInputError(field, `is ${value}`, wanted);
    }
}

/** Parses `url` into a base URL without trailing slash; `http://` is assumed without a scheme. */
export function normalizeBaseUrl(url: string): string {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
    let parsed: URL;
    try {
        parsed = new URL(withScheme);
    } catch {
        throw new ServingInputError(
            "url",
            `is "${url}"`,
            "an http(s) URL such as http://10.0.0.5:30111",
        );
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        throw new ServingInputError("url", `is "${url}"`, "an http:// or https:// URL");
    }
    if (/\/v1(\/|$)/.test(parsed.pathname)) {
        throw new ServingInputError(
            "url",
            `is "${url}", a model URL`,
            `the server's base URL (${parsed.origin}); the client adds /v1/models/<name> itself`,
        );
    }
    parsed.search = "";
    parsed.hash = "";
    return parsed.toString().replace(/\/+$/, "");
}

/**
 * Checks a batch and copies it into plain nested arrays (typed arrays would serialize as
 * objects). Every value must be a finite number within 0-255, the pixel range the
 * `serving_default` signature expects.
 */
export function checkImages(images: ImageBatch, maxBatchSize: number): number[][][] {
    const size = MNIST_IMAGE_SIZE;
    const shape = `(n, ${size}, ${size}) pixel values`;
    if (images === null || typeof images !== "object" || typeof images.length !== "number") {
        throw new ServingInputError("images", `is ${describe(images)}`, `an array of ${shape}`);
    }
    if (images.length === 0) {
        throw new ServingInputError("images", "holds 0 images", "at least 1");
    }
    if (images.length > maxBatchSize) {
        throw new ServingInputError(
            "images",
            `holds ${images.length} images`,
            `at most ${maxBatchSize} per request (\`maxBatchSize\`); split the batch`,
        );
    }
    const out: number[][][] = [];
    for (let i = 0; i < images.length; i++) {
        const image = images[i];
        if (image === null || typeof image !== "object" || typeof image.length !== "number") {
            throw new ServingInputError(
                `images[${i}]`,
                `is ${describe(image)}`,
                `${size} rows of ${size} pixels`,
            );
        }
        if (image.length !== size) {
            throw new ServingInputError(
                `images[${i}]`,
                `has ${image.length} rows`,
                `${size} (shape ${shape})`,
            );
        }
        const rows: number[][] = [];
        for (let r = 0; r < size; r++) {
            const row = image[r];
            if (row === null || typeof row !== "object" || typeof row.length !== "number") {
                throw new ServingInputError(
                    `images[${i}][${r}]`,
                    `is ${describe(row)}`,
                    `a row of ${size} pixels`,
                );
            }
            if (row.length !== size) {
                throw new ServingInputError(
                    `images[${i}][${r}]`,
                    `has ${row.length} values`,
                    `${size} (shape ${shape})`,
                );
            }
            const values: number[] = new Array(size);
            for (let c = 0; c < size; c++) {
                const v = row[c];
                if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 255) {
                    throw new ServingInputError(
                        `images[${i}][${r}][${c}]`,
                        `is ${describe(v)}`,
                        "a finite pixel value in 0-255 (serving_default scales by 1/255 itself)",
                    );
                }
                values[c] = v;
            }
            rows.push(values);
        }
        out.push(rows);
    }
    return out;
}

function describe(v: unknown): string {
    if (typeof v === "string") return `the string "${v.length > 20 ? `${v.slice(0, 20)}…` : v}"`;
    if (typeof v === "number") return String(v);
    if (v === null) return "null";
    if (v === undefined) return "undefined";
    if (typeof v === "object" && typeof (v as { length?: unknown }).length !== "number")
        return "an object";
    return `a ${typeof v}`;
}

/** Reshapes flat row-major pixels (n × 784) into the nested `(n, 28, 28)` form `predict` takes. */
export function imagesFromPixels(pixels: ArrayLike<number>, count?: number): number[][][] {
    const per = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;
    const n = count ?? pixels.length / per;
    if (!Number.isInteger(n) || n < 0 || n * per > pixels.length) {
        throw new ServingInputError(
            "pixels",
            `holds ${pixels.length} values${count === undefined ? "" : ` for count ${count}`}`,
            `a multiple of ${per} (${MNIST_IMAGE_SIZE}x${MNIST_IMAGE_SIZE} per image)`,
        );
    }
    const out: number[][][] = [];
    for (let i = 0; i < n; i++) {
        const image: number[][] = [];
        for (let r = 0; r < MNIST_IMAGE_SIZE; r++) {
            const start = i * per + r * MNIST_IMAGE_SIZE;
            image.push(Array.from({ length: MNIST_IMAGE_SIZE }, (_, c) => pixels[start + c]));
        }
        out.push(image);
    }
    return out;
}

/**
 * Decodes absl::CEscape, which TF Serving applies to error messages before wrapping them in
 * `{ "error": "…" }`: `\'` and octal byte escapes are not JSON, so `JSON.parse` rejects messages
 * such as `Missing 'inputs' or 'instances' key`.
 */
export function unescapeC(escaped: string): string {
    const bytes: number[] = [];
    const simple: Record<string, number> = {
        n: 10,
        r: 13,
        t: 9,
        a: 7,
        b: 8,
        f: 12,
        v: 11,
        "\\": 92,
        "'": 39,
        '"': 34,
        "?": 63,
    };
    for (let i = 0; i < escaped.length; i++) {
        const ch = escaped[i];
        if (ch !== "\\" || i + 1 >= escaped.length) {
            bytes.push(...Buffer.from(ch, "utf8"));
            continue;
        }
        const next = escaped[i + 1];
        const octal = /^[0-7]{1,3}/.exec(escaped.slice(i + 1, i + 4));
        const hex = /^x([0-9a-fA-F]{1,2})/.exec(escaped.slice(i + 1, i + 4));
        if (octal !== null) {
            bytes.push(parseInt(octal[0], 8) & 0xff);
            i += octal[0].length;
        } else if (hex !== null) {
            bytes.push(parseInt(hex[1], 16));
            i += hex[0].length;
        } else if (next in simple) {
            bytes.push(simple[next]);
            i += 1;
        } else if (next === "u" && /^[0-9a-fA-F]{4}$/.test(escaped.slice(i + 2, i + 6))) {
            // JSON's own escape, in case a proxy or a future server version re-encodes the body.
            bytes.push(
                ...Buffer.from(
                    String.fromCharCode(parseInt(escaped.slice(i + 2, i + 6), 16)),
                    "utf8",
                ),
            );
            i += 5;
        } else {
            bytes.push(92);
        }
    }
    return Buffer.from(bytes).toString("utf8");
}

/** The message of an error body: TF Serving's `{"error": …}` if it is one, else its start. */
export function parseErrorBody(text: string): { message: string; fromTfServing: boolean } {
    try {
        const parsed: unknown = JSON.parse(text);
        if (isRecord(parsed) && typeof parsed.error === "string") {
            return { message: parsed.error, fromTfServing: true };
        }
    } catch {
        // Not JSON: maybe TF Serving's C-escaped variant, tried next.
    }
    const match = /^\s*\{\s*"error"\s*:\s*"((?:[^"\\]|\\[\s\S])*)"\s*\}\s*$/.exec(text);
    if (match !== null) {
        return { message: unescapeC(match[1]), fromTfServing: true };
    }
    const flat = text.replace(/\s+/g, " ").trim();
    return {
        message: flat === "" ? "(empty body)" : flat.length > 200 ? `${flat.slice(0, 200)}…` : flat,
        fromTfServing: false,
    };
}

function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function toInteger(v: unknown): number | undefined {
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    return typeof n === "number" && Number.isSafeInteger(n) ? n : undefined;
}

/** Parses a `GetModelStatusResponse` body; `fail` builds the error for a malformed one. */
export function parseModelStatus(body: unknown, fail: (detail: string) => Error): ModelStatus {
    if (!isRecord(body) || !Array.isArray(body.model_version_status)) {
        throw fail("no `model_version_status` list");
    }
    const versions = body.model_version_status.map(
        (entry: unknown, k: number): ModelVersionStatus => {
            if (!isRecord(entry)) throw fail(`model_version_status[${k}] is not an object`);
            const version = toInteger(entry.version);
            if (version === undefined)
                throw fail(
                    `model_version_status[${k}].version is ${JSON.stringify(entry.version)}`,
                );
            if (typeof entry.state !== "string")
                throw fail(`model_version_status[${k}].state is ${JSON.stringify(entry.state)}`);
            const status = isRecord(entry.status) ? entry.status : {};
            return {
                version,
                state: entry.state,
                // Missing means the proto default: OK with no message.
                errorCode: status.error_code === undefined ? "OK" : String(status.error_code),
                errorMessage: typeof status.error_message === "string" ? status.error_message : "",
            };
        },
    );
    return { versions };
}

function parseTensorSpec(v: unknown, where: string, fail: (d: string) => Error): TensorSpec {
    if (!isRecord(v)) throw fail(`${where} is not an object`);
    const shapeProto = isRecord(v.tensor_shape) ? v.tensor_shape : undefined;
    let shape: number[] | null = null;
    if (shapeProto !== undefined && shapeProto.unknown_rank !== true) {
        const dims = Array.isArray(shapeProto.dim) ? shapeProto.dim : [];
        shape = dims.map((d: unknown, k: number) => {
            const size = isRecord(d) ? toInteger(d.size) : undefined;
            if (size === undefined)
                throw fail(`${where}.tensor_shape.dim[${k}] has no integer size`);
            return size;
        });
    }
    return {
        name: typeof v.name === "string" ? v.name : "",
        dtype: typeof v.dtype === "string" ? v.dtype : "DT_INVALID",
        shape,
    };
}

/** Parses a `GetModelMetadataResponse` body as TF Serving's REST handler writes it. */
export function parseModelMetadata(body: unknown, fail: (detail: string) => Error): ModelMetadata {
    if (!isRecord(body) || !isRecord(body.model_spec)) throw fail("no `model_spec` object");
    const version = toInteger(body.model_spec.version);
    if (typeof body.model_spec.name !== "string" || version === undefined) {
        throw fail(
            `model_spec is ${JSON.stringify(body.model_spec)}; expected a name and a version`,
        );
    }
    // The handler nests the SignatureDefMap under its own field name: signature_def.signature_def.
    const outer = isRecord(body.metadata) ? body.metadata.signature_def : undefined;
    const map = isRecord(outer) ? outer.signature_def : undefined;
    if (!isRecord(map)) throw fail("no `metadata.signature_def.signature_def` map");
    const signatures: Record<string, SignatureSpec> = {};
    for (const [key, sig] of Object.entries(map)) {
        if (!isRecord(sig)) throw fail(`signature "${key}" is not an object`);
        const tensors = (field: "inputs" | "outputs"): Record<string, TensorSpec> => {
            const m = isRecord(sig[field]) ? (sig[field] as Record<string, unknown>) : {};
            return Object.fromEntries(
                Object.entries(m).map(([k, t]) => [
                    k,
                    parseTensorSpec(t, `signature "${key}" ${field}.${k}`, fail),
                ]),
            );
        };
        signatures[key] = {
            methodName: typeof sig.method_name === "string" ? sig.method_name : "",
            inputs: tensors("inputs"),
            outputs: tensors("outputs"),
        };
    }
    return { name: body.model_spec.name, version, signatures };
}

/** Parses a row-format predict body with one output per instance: `n` lists of equal length. */
export function parsePredictions(
    body: unknown,
    n: number,
    fail: (detail: string) => Error,
): number[][] {
    if (!isRecord(body) || !Array.isArray(body.predictions)) {
        throw fail(
            `no \`predictions\` list (keys: ${isRecord(body) ? Object.keys(body).join(", ") || "none" : typeof body})`,
        );
    }
    const rows = body.predictions;
    if (rows.length !== n) throw fail(`${rows.length} predictions for ${n} images`);
    let width = -1;
    return rows.map((row: unknown, i: number) => {
        if (!Array.isArray(row)) {
            throw fail(
                `predictions[${i}] is ${isRecord(row) ? "an object (the signature has several outputs)" : JSON.stringify(row)}; ` +
                    "expected a list of numbers from a signature with one output",
            );
        }
        if (width === -1) width = row.length;
        if (row.length !== width || !row.every((v) => typeof v === "number")) {
            throw fail(`predictions[${i}] is not a list of ${width} numbers`);
        }
        return row as number[];
    });
}

/** A TF Serving REST client for one model (and optionally one version or label). */
export class TfServingClient {
    /** Base URL, without trailing slash. */
    readonly baseUrl: string;
    /** Model name. */
    readonly model: string;
    /** Version asked for, if any. */
    readonly version: number | undefined;
    /** Label asked for, if any. */
    readonly label: string | undefined;
    /** Per-request timeout. */
    readonly timeoutMs: number;
    /** Extra attempts on connection errors and 503. */
    readonly retries: number;
    /** First backoff. */
    readonly backoffMs: number;
    /** Backoff cap. */
    readonly maxBackoffMs: number;
    /** Largest batch `predict` sends. */
    readonly maxBatchSize: number;

    constructor(options: ClientOptions) {
        this.baseUrl = normalizeBaseUrl(options.url);
        this.model = options.model ?? CLIENT_DEFAULTS.model;
        this.version = options.version;
        this.label = options.label;
        this.timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs;
        this.retries = options.retries ?? CLIENT_DEFAULTS.retries;
        this.backoffMs = options.backoffMs ?? CLIENT_DEFAULTS.backoffMs;
        this.maxBackoffMs = options.maxBackoffMs ?? CLIENT_DEFAULTS.maxBackoffMs;
        this.maxBatchSize = options.maxBatchSize ?? CLIENT_DEFAULTS.maxBatchSize;
        if (!PATH_SEGMENT.test(this.model)) {
            throw new ServingInputError(
                "model",
                `is "${this.model}"`,
                "a non-empty name without / or : (TF Serving's URL syntax)",
            );
        }
        if (this.version !== undefined) checkPositiveInteger("version", this.version);
        if (this.label !== undefined && !PATH_SEGMENT.test(this.label)) {
            throw new ServingInputError(
                "label",
                `is "${this.label}"`,
                "a non-empty label without / or :",
            );
        }
        if (this.version !== undefined && this.label !== undefined) {
            throw new ServingInputError(
                "label",
                `is "${this.label}" while \`version\` is ${this.version}`,
                "one of the two (TF Serving rejects a request naming both)",
            );
        }
        checkPositiveInteger("timeoutMs", this.timeoutMs);
        checkPositiveInteger("retries", this.retries, true);
        checkPositiveInteger("backoffMs", this.backoffMs, true);
        checkPositiveInteger("maxBackoffMs", this.maxBackoffMs, true);
        checkPositiveInteger("maxBatchSize", this.maxBatchSize);
    }

    /** `<base>/v1/models/<name>[/versions/<v>|/labels/<l>]`, the prefix of every call. */
    get modelUrl(): string {
        let url = `${this.baseUrl}/v1/models/${encodeURIComponent(this.model)}`;
        if (this.version !== undefined) url += `/versions/${this.version}`;
        if (this.label !== undefined) url += `/labels/${encodeURIComponent(this.label)}`;
        return url;
    }

    /** The model's versions and their states (all versions unless a version or label is set). */
    async status(): Promise<ModelStatus> {
        return this.statusWith(this.retries, this.timeoutMs);
    }

    /** The signatures of the served version (the latest unless a version or label is set). */
    async metadata(): Promise<ModelMetadata> {
        const url = `${this.modelUrl}/metadata`;
        const { body, attempts } = await this.request(
            "GET",
            url,
            undefined,
            this.retries,
            this.timeoutMs,
        );
        return parseModelMetadata(body, (d) => new ServingResponseError(url, attempts, d));
    }

    /**
     * Runs the signature on `images`, pixel values 0-255 shaped `(n, 28, 28)`, and returns its
     * single output per image, e.g. 10 logits for `serving_default`. The batch is checked first:
     * a bad one throws `ServingInputError` and nothing is sent.
     */
    async predict(images: ImageBatch, options: PredictOptions = {}): Promise<number[][]> {
        const instances = checkImages(images, this.maxBatchSize);
        if (options.signatureName !== undefined && options.signatureName === "") {
            throw new ServingInputError(
                "signatureName",
                "is empty",
                "a signature key such as serving_default",
            );
        }
        const url = `${this.modelUrl}:predict`;
        const request: Record<string, unknown> = { instances };
        if (options.signatureName !== undefined) request.signature_name = options.signatureName;
        const { body, attempts } = await this.request(
            "POST",
            url,
            JSON.stringify(request),
            this.retries,
            this.timeoutMs,
        );
        return parsePredictions(
            body,
            instances.length,
            (d) => new ServingResponseError(url, attempts, d),
        );
    }

    /** `predict`, then the digit, its probability and all ten probabilities for each image. */
    async predictDigits(
        images: ImageBatch,
        options: DigitOptions = {},
    ): Promise<DigitPrediction[]> {
        const rows = await this.predict(images, options);
        const outputs =
            options.outputs ??
            (options.signatureName === PROBABILITIES_SIGNATURE ? "probabilities" : "logits");
        return rows.map((row) => {
            const probabilities = outputs === "logits" ? softmax(row) : row;
            const digit = argMax(probabilities);
            return {
                digit,
                probability: probabilities[digit],
                probabilities,
                ...(outputs === "logits" ? { logits: row } : {}),
            };
        });
    }

    /**
     * Polls the status until the version asked for (or, with none, any version) is `AVAILABLE`
     * and returns that entry. Connection errors, timeouts, 404 (not loaded yet) and 503 count as
     * "not yet"; a version that ended with an error fails at once; other errors are thrown.
     * Throws `ServingUnavailableError` after `timeoutMs`, saying what it last saw.
     */
    async waitUntilAvailable(options: WaitOptions = {}): Promise<ModelVersionStatus> {
        const timeoutMs = options.timeoutMs ?? 120_000;
        const intervalMs = options.intervalMs ?? 1_000;
        checkPositiveInteger("timeoutMs", timeoutMs);
        checkPositiveInteger("intervalMs", intervalMs, true);
        const deadline = Date.now() + timeoutMs;
        let last = "no answer yet";
        let lastState: string | undefined;
        let polls = 0;
        for (;;) {
            polls++;
            const pollTimeout = Math.min(this.timeoutMs, Math.max(1, deadline - Date.now()));
            try {
                const { versions } = await this.statusWith(0, pollTimeout);
                const target = this.pickTarget(versions);
                if (target === undefined) {
                    last = "the server lists no versions";
                } else {
                    lastState = target.state;
                    if (target.state === "AVAILABLE") return target;
                    if (target.state === "END" && target.errorCode !== "OK") {
                        throw new ServingUnavailableError(
                            this.modelUrl,
                            polls,
                            `model "${this.model}" version ${target.version} failed to load: ` +
                                `${target.errorCode}: ${target.errorMessage}`,
                            target.state,
                        );
                    }
                    last = `version ${target.version} is ${target.state}`;
                }
            } catch (err) {
                if (!this.isNotYet(err)) throw err;
                // A last poll cut short by the deadline says less than what was seen before it.
                const cutShort = err instanceof ServingTimeoutError && pollTimeout < this.timeoutMs;
                if (!cutShort || polls === 1) last = (err as Error).message;
            }
            options.onPoll?.(last);
            const left = deadline - Date.now();
            if (left <= 0) break;
            await sleep(Math.min(intervalMs, left));
        }
        throw new ServingUnavailableError(
            this.modelUrl,
            polls,
            `model "${this.model}"${this.version !== undefined ? ` version ${this.version}` : ""}` +
                `${this.label !== undefined ? ` label "${this.label}"` : ""} at ${this.modelUrl} is not AVAILABLE ` +
                `after waiting ${timeoutMs} ms (${polls} polls); last seen: ${last}`,
            lastState,
        );
    }

    private isNotYet(err: unknown): boolean {
        if (err instanceof ServingConnectionError || err instanceof ServingTimeoutError)
            return true;
        if (err instanceof ServingHttpError) {
            // A label is assigned once its version has loaded: an unknown label may be "not yet".
            const labelPending =
                this.label !== undefined && /version label/i.test(err.serverMessage);
            return err.status === 404 || err.status === 503 || labelPending;
        }
        return false;
    }

    private pickTarget(versions: readonly ModelVersionStatus[]): ModelVersionStatus | undefined {
        if (this.version !== undefined) return versions.find((v) => v.version === this.version);
        const available = versions.filter((v) => v.state === "AVAILABLE");
        const pool = available.length > 0 ? available : versions;
        return pool.reduce<ModelVersionStatus | undefined>(
            (best, v) => (best === undefined || v.version > best.version ? v : best),
            undefined,
        );
    }

    private async statusWith(retries: number, timeoutMs: number): Promise<ModelStatus> {
        const url = this.modelUrl;
        const { body, attempts } = await this.request("GET", url, undefined, retries, timeoutMs);
        return parseModelStatus(body, (d) => new ServingResponseError(url, attempts, d));
    }

    /** One call with bounded retries: only connection errors and HTTP 503 are retried. */
    private async request(
        method: "GET" | "POST",
        url: string,
        body: string | undefined,
        retries: number,
        timeoutMs: number,
    ): Promise<{ body: unknown; attempts: number }> {
        for (let attempt = 1; ; attempt++) {
            try {
                return {
                    body: await this.once(method, url, body, attempt, timeoutMs),
                    attempts: attempt,
                };
            } catch (err) {
                // A timed-out request may still run on the server; repeating it only adds load.
                const retryable =
                    err instanceof ServingConnectionError ||
                    (err instanceof ServingHttpError && err.status === 503);
                if (!retryable || attempt > retries) throw err;
                await sleep(Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1)));
            }
        }
    }

    private async once(
        method: string,
        url: string,
        body: string | undefined,
        attempt: number,
        timeoutMs: number,
    ): Promise<unknown> {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), timeoutMs);
        try {
            let text: string;
            let status: number;
            try {
                const response = await fetch(url, {
                    method,
                    body,
                    headers:
                        body === undefined ? undefined : { "content-type": "application/json" },
                    signal: controller.signal,
                });
                status = response.status;
                text = await response.text();
            } catch (err) {
                if (controller.signal.aborted)
                    throw new ServingTimeoutError(url, attempt, timeoutMs);
                throw connectionError(url, attempt, err);
            }
            if (status < 200 || status >= 300) {
                const { message, fromTfServing } = parseErrorBody(text);
                throw new ServingHttpError(url, attempt, status, message, fromTfServing);
            }
            try {
                return JSON.parse(text);
            } catch (err) {
                const nonFinite = /\b(NaN|Infinity)\b/.test(text)
                    ? " (it holds NaN or Infinity: the model produced non-finite outputs)"
                    : "";
                throw new ServingResponseError(
                    url,
                    attempt,
                    `not JSON${nonFinite}: ${(err as Error).message}`,
                );
            }
        } finally {
            clearTimeout(timer);
        }
    }
}

function connectionError(url: string, attempt: number, err: unknown): ServingError {
    if (err instanceof ServingError) return err;
    // fetch reports network failures as TypeError("fetch failed") with the system error as cause.
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const code =
        typeof (cause as { code?: unknown })?.code === "string"
            ? (cause as { code: string }).code
            : undefined;
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new ServingConnectionError(
        url,
        attempt,
        code,
        code !== undefined && !detail.includes(code) ? `${code}: ${detail}` : detail,
    );
}
