/**
 * What the TF Serving client takes and returns: its options, with their defaults, and the
 * shapes of status, metadata and predictions. Signatures and tensors are the serving contract's
 * own types (`model/savedmodel/contract.ts`), so what the writer exports and what the client
 * reads back are described once.
 */
import { SignatureSpec, TENSOR_KEYS } from "../model/savedmodel/contract";

/** Defaults of `ClientOptions`. */
export const CLIENT_DEFAULTS = {
    model: "mymodel",
    timeoutMs: 10_000,
    retries: 3,
    backoffMs: 250,
    maxBackoffMs: 4_000,
    maxBatchSize: 256,
} as const;

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
     * and `logits` (softmax applied here, unless a row already is a distribution, as a loaded
     * model ending in a softmax returns) for any other.
     */
    readonly outputs?: typeof TENSOR_KEYS.logits | typeof TENSOR_KEYS.probabilities;
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
