/**
 * What the REST and the gRPC client share: their options and the checks on them, the retry loop,
 * `predictDigits` and `waitUntilAvailable`. Each transport supplies the calls themselves and says
 * which of its server errors mean "not loaded yet".
 */
import { setTimeout as sleep } from "timers/promises";
import { errorMessage } from "../errors";
import { SIGNATURE_KEYS, TENSOR_KEYS } from "../model/savedmodel/contract";
import { argMax, isDistribution, softmax } from "./scores";
import {
    ServingConnectionError,
    ServingInputError,
    ServingTimeoutError,
    ServingUnavailableError,
} from "./servingErrors";
import { checkLabel, checkModelName, checkPositiveInteger } from "./inputs";
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

/** A TF Serving client for one model (and optionally one version or label), over any transport. */
export abstract class ServingClient {
    /** Model name. */
    readonly model: string;
    /** Version asked for, if any. */
    readonly version: number | undefined;
    /** Label asked for, if any. */
    readonly label: string | undefined;
    /** Per-request timeout. */
    readonly timeoutMs: number;
    /** Extra attempts on connection errors and "unavailable" answers. */
    readonly retries: number;
    /** First backoff. */
    readonly backoffMs: number;
    /** Backoff cap. */
    readonly maxBackoffMs: number;
    /** Largest batch `predict` sends. */
    readonly maxBatchSize: number;

    /** Checks every option but the address: a bad one throws `ServingInputError`. */
    constructor(options: Omit<ClientOptions, "url">) {
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

    /** Where the model's calls go, as errors and logs name it. */
    abstract get modelUrl(): string;

    /** The signatures of the served version (the latest unless a version or label is set). */
    abstract metadata(): Promise<ModelMetadata>;

    /**
     * Runs the signature on `images`, pixel values 0-255 shaped `(n, 28, 28)`, and returns its
     * single output per image, e.g. 10 logits for `serving_default`. The batch is checked first:
     * a bad one throws `ServingInputError` and nothing is sent.
     */
    abstract predict(images: ImageBatch, options?: PredictOptions): Promise<number[][]>;

    /** Releases the connection, if the transport keeps one. */
    close(): void {}

    /** The model's versions and their states (all versions unless a version or label is set). */
    async status(): Promise<ModelStatus> {
        return this.statusWith(this.retries, this.timeoutMs);
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
        return rows.map((row) => {
            // A loaded model's serving_default may end in a softmax already.
            const fromLogits = outputs === TENSOR_KEYS.logits && !isDistribution(row);
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
     * and returns that entry. Connection errors, timeouts and the transport's "not loaded yet"
     * answers count as "not yet"; a version that ended with an error fails at once; other errors
     * are thrown. Throws `ServingUnavailableError` after `timeoutMs`, saying what it last saw.
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
                const notYet =
                    err instanceof ServingConnectionError ||
                    err instanceof ServingTimeoutError ||
                    this.serverSaysNotYet(err);
                if (!notYet) throw err;
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

    /** The status call with its own retry count and timeout (a poll retries nothing). */
    protected abstract statusWith(retries: number, timeoutMs: number): Promise<ModelStatus>;

    /** Whether a server error means the model (or label) is not loaded yet. */
    protected abstract serverSaysNotYet(err: unknown): boolean;

    /** `signatureName` is checked as the REST and gRPC requests both need it. */
    protected checkSignatureName(options: PredictOptions): void {
        if (options.signatureName !== undefined && options.signatureName === "") {
            throw new ServingInputError(
                "signatureName",
                "is empty",
                `a signature key such as ${SIGNATURE_KEYS.default}`,
            );
        }
    }

    /**
     * Runs `once` with bounded retries of the errors `retryable` accepts, backing off
     * exponentially; gives its value and the attempts it took.
     */
    protected async withRetries<T>(
        once: (attempt: number) => Promise<T>,
        retries: number,
        retryable: (err: unknown) => boolean,
    ): Promise<{ value: T; attempts: number }> {
        for (let attempt = 1; ; attempt++) {
            try {
                return { value: await once(attempt), attempts: attempt };
            } catch (err) {
                if (!retryable(err) || attempt > retries) throw err;
                await sleep(backoffDelayMs(attempt, this.backoffMs, this.maxBackoffMs));
            }
        }
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
}

/** The pause after failed attempt `attempt` (1-based): `backoffMs`, doubling, at most `maxBackoffMs`. */
export function backoffDelayMs(
    attempt: number,
    backoffMs: number = CLIENT_DEFAULTS.backoffMs,
    maxBackoffMs: number = CLIENT_DEFAULTS.maxBackoffMs,
): number {
    return Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
}
