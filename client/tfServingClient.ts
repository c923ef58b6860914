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
 * It uses only Node's global `fetch`, so importing it costs nothing (no TensorFlow.js). What it
 * sends is checked in `inputs.ts`, what it gets back is read in `responses.ts`.
 */
import { setTimeout as sleep } from "timers/promises";
import { errorMessage } from "../errors";
import { SIGNATURE_KEYS, TENSOR_KEYS } from "../model/savedmodel/contract";
import { argMax, softmax } from "./digits";
import {
    ServingConnectionError,
    ServingError,
    ServingHttpError,
    ServingInputError,
    ServingResponseError,
    ServingTimeoutError,
    ServingUnavailableError,
} from "./errors";
import {
    checkImages,
    checkLabel,
    checkModelName,
    checkPositiveInteger,
    normalizeBaseUrl,
} from "./inputs";
import {
    parseErrorBody,
    parseModelMetadata,
    parseModelStatus,
    parsePredictions,
} from "./responses";
import {
    CLIENT_DEFAULTS,
    ClientOptions,
    DigitOptions,
    DigitPrediction,
    ImageBatch,
    ModelMetadata,
    ModelStatus,
    ModelVersionStatus,
    PredictOptions,
    WaitOptions,
} from "./types";

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

    /** Checks every option: a bad one throws `ServingInputError` before anything is sent. */
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
        checkModelName(this.model);
        if (this.version !== undefined) checkPositiveInteger("version", this.version);
        if (this.label !== undefined) checkLabel(this.label);
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
                `a signature key such as ${SIGNATURE_KEYS.default}`,
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
            (options.signatureName === SIGNATURE_KEYS.probabilities
                ? TENSOR_KEYS.probabilities
                : TENSOR_KEYS.logits);
        const fromLogits = outputs === TENSOR_KEYS.logits;
        return rows.map((row) => {
            const probabilities = fromLogits ? softmax(row) : row;
            const digit = argMax(probabilities);
            return {
                digit,
                probability: probabilities[digit],
                probabilities,
                ...(fromLogits ? { logits: row } : {}),
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
                if (!cutShort || polls === 1) last = errorMessage(err);
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
                    `not JSON${nonFinite}: ${errorMessage(err)}`,
                );
            }
        } finally {
            clearTimeout(timer);
        }
    }
}

/** The `ServingConnectionError` of a failed `fetch`, with the system error code when Node has one. */
function connectionError(url: string, attempt: number, err: unknown): ServingError {
    if (err instanceof ServingError) return err;
    // fetch reports network failures as TypeError("fetch failed") with the system error as cause.
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const code =
        typeof (cause as { code?: unknown })?.code === "string"
            ? (cause as { code: string }).code
            : undefined;
    const detail = errorMessage(cause);
    return new ServingConnectionError(
        url,
        attempt,
        code,
        code !== undefined && !detail.includes(code) ? `${code}: ${detail}` : detail,
    );
}
