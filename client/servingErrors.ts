/**
 * Typed errors of the TF Serving client, so callers can branch on what went wrong (`instanceof`)
 * instead of parsing messages: the server answered with an error (an HTTP status over REST, a
 * gRPC status over gRPC), it did not answer in time, it could not be reached, it answered with
 * something that is not TF Serving's contract, or the input never left this process because it
 * was wrong.
 */

/** Base class of every error the client throws. */
export class ServingError extends Error {
    /** The URL of the request that failed; empty for input errors, which send nothing. */
    readonly url: string;
    /** Requests made before giving up (1 when nothing was retried, 0 when nothing was sent). */
    readonly attempts: number;

    constructor(message: string, url: string, attempts: number) {
        super(message);
        this.name = new.target.name;
        this.url = url;
        this.attempts = attempts;
    }
}

/**
 * The server answered with an error status, and `serverMessage` is what it said was wrong. Over
 * REST a `ServingHttpError`, over gRPC a `ServingRpcError`.
 */
export class ServingStatusError extends ServingError {
    constructor(
        url: string,
        attempts: number,
        status: string,
        source: string,
        /** What the server said was wrong. */
        readonly serverMessage: string,
    ) {
        super(
            `${url} returned ${status}: ${source} says: ${serverMessage}${retriedNote(attempts)}`,
            url,
            attempts,
        );
    }
}

/**
 * The server answered with an HTTP error status. `serverMessage` is TF Serving's `{"error": …}`
 * text when the body had one, otherwise the start of the body (a proxy's HTML page, say).
 */
export class ServingHttpError extends ServingStatusError {
    constructor(
        url: string,
        attempts: number,
        /** HTTP status code, e.g. 404 for an unknown model or version. */
        readonly status: number,
        serverMessage: string,
        /** True when the body was TF Serving's `{"error": …}` JSON rather than something else. */
        readonly fromTfServing: boolean,
    ) {
        const source = fromTfServing ? "TF Serving" : "the server";
        super(url, attempts, `HTTP ${status}`, source, serverMessage);
    }
}

/**
 * The server answered a gRPC call with an error status: TF Serving's code (gRPC's status codes
 * are TensorFlow's error codes) and its message, as the REST API's `{"error": …}` carries it.
 */
export class ServingRpcError extends ServingStatusError {
    constructor(
        url: string,
        attempts: number,
        /** The gRPC status code, e.g. 5 for an unknown model or version. */
        readonly code: number,
        /** Its name, e.g. `NOT_FOUND`. */
        readonly codeName: string,
        serverMessage: string,
    ) {
        super(url, attempts, `gRPC status ${codeName} (${code})`, "TF Serving", serverMessage);
    }
}

/** No complete answer arrived within the request timeout. Timeouts are not retried. */
export class ServingTimeoutError extends ServingError {
    /** The timeout that expired, in milliseconds. */
    readonly timeoutMs: number;

    constructor(url: string, attempts: number, timeoutMs: number) {
        super(
            `${url} did not answer within ${timeoutMs} ms (\`timeoutMs\`)${retriedNote(attempts)}`,
            url,
            attempts,
        );
        this.timeoutMs = timeoutMs;
    }
}

/** The connection could not be made or broke before an answer (refused, reset, DNS…). */
export class ServingConnectionError extends ServingError {
    /** The system error code when Node gives one (`ECONNREFUSED`, `ECONNRESET`, …). */
    readonly code: string | undefined;

    constructor(url: string, attempts: number, code: string | undefined, detail: string) {
        super(`cannot reach ${url}: ${detail}${retriedNote(attempts)}`, url, attempts);
        this.code = code;
    }
}

/** The server answered 200 with a body that does not follow TF Serving's REST contract. */
export class ServingResponseError extends ServingError {
    constructor(url: string, attempts: number, detail: string) {
        super(`${url} answered with an unexpected body: ${detail}`, url, attempts);
    }
}

/** The model did not reach `AVAILABLE` in time, or failed to load. */
export class ServingUnavailableError extends ServingError {
    /** The last state seen (`LOADING`, `END`, …), or undefined if no status was ever read. */
    readonly lastState: string | undefined;

    constructor(url: string, attempts: number, message: string, lastState: string | undefined) {
        super(message, url, attempts);
        this.lastState = lastState;
    }
}

/**
 * The input was rejected before anything was sent. `field` locates the bad value, e.g.
 * `images[2][27][4]`.
 */
export class ServingInputError extends ServingError {
    /** Where in the input the problem is. */
    readonly field: string;

    constructor(field: string, problem: string, expected: string) {
        super(`\`${field}\` ${problem}; expected ${expected}`, "", 0);
        this.field = field;
    }
}

function retriedNote(attempts: number): string {
    return attempts > 1 ? ` (gave up after ${attempts} attempts)` : "";
}
