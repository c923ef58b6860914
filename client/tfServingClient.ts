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
import { errorMessage } from "../errors";
import {
    ServingConnectionError,
    ServingError,
    ServingHttpError,
    ServingResponseError,
    ServingTimeoutError,
} from "./servingErrors";
import { checkImages, normalizeBaseUrl } from "./inputs";
import {
    parseErrorBody,
    parseModelMetadata,
    parseModelStatus,
    parsePredictions,
} from "./responses";
import { ServingClient } from "./servingClient";
import { ClientOptions, ImageBatch, ModelMetadata, ModelStatus, PredictOptions } from "./types";

/** A TF Serving REST client for one model (and optionally one version or label). */
export class TfServingClient extends ServingClient {
    /** Base URL, without trailing slash. */
    readonly baseUrl: string;

    /** Checks every option: a bad one throws `ServingInputError` before anything is sent. */
    constructor(options: ClientOptions) {
        super(options);
        this.baseUrl = normalizeBaseUrl(options.url);
    }

    /** `<base>/v1/models/<name>[/versions/<v>|/labels/<l>]`, the prefix of every call. */
    get modelUrl(): string {
        let url = `${this.baseUrl}/v1/models/${encodeURIComponent(this.model)}`;
        if (this.version !== undefined) url += `/versions/${this.version}`;
        if (this.label !== undefined) url += `/labels/${encodeURIComponent(this.label)}`;
        return url;
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

    /** Row-format `:predict` of `images`; see `ServingClient.predict`. */
    async predict(images: ImageBatch, options: PredictOptions = {}): Promise<number[][]> {
        const instances = checkImages(images, this.maxBatchSize);
        this.checkSignatureName(options);
        const url = `${this.modelUrl}:predict`;
        const { body, attempts } = await this.request(
            "POST",
            url,
            predictBody(instances, options.signatureName),
            this.retries,
            this.timeoutMs,
        );
        return parsePredictions(
            body,
            instances.length,
            (d) => new ServingResponseError(url, attempts, d),
        );
    }

    /** 404 (not loaded yet), 503, and an unknown label (assigned once its version loads). */
    protected serverSaysNotYet(err: unknown): boolean {
        if (!(err instanceof ServingHttpError)) return false;
        const labelPending = this.label !== undefined && /version label/i.test(err.serverMessage);
        return err.status === 404 || err.status === 503 || labelPending;
    }

    protected async statusWith(retries: number, timeoutMs: number): Promise<ModelStatus> {
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
        // A timed-out request may still run on the server; repeating it only adds load.
        const { value, attempts } = await this.withRetries(
            (attempt) => this.once(method, url, body, attempt, timeoutMs),
            retries,
            (err) =>
                err instanceof ServingConnectionError ||
                (err instanceof ServingHttpError && err.status === 503),
        );
        return { body: value, attempts };
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

/** The row-format `:predict` body of checked images, with `signature_name` when one is given. */
export function predictBody(instances: readonly unknown[], signatureName?: string): string {
    const request: Record<string, unknown> = { instances };
    if (signatureName !== undefined) request.signature_name = signatureName;
    return JSON.stringify(request);
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
