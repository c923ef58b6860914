/**
 * A test double of TF Serving's REST port: a local HTTP server that follows the documented
 * contract (`api_rest.md`) and the handler's behaviour (`http_rest_api_handler.cc`,
 * `http_rest_api_util.cc`, `get_model_status_impl.cc`):
 *
 * - the same path grammar, `/v1/models/<name>[/versions/<v>|/labels/<l>][/metadata|:predict]`;
 * - `model_version_status` with int64 versions as strings and proto enum names;
 * - metadata as `{"model_spec", "metadata": {"signature_def": {"signature_def": …}}}`;
 * - row-format predict, one output per signature, so `predictions` is a list of rows;
 * - errors as `{ "error": "…" }` with the message C-escaped (absl::CEscape) and the HTTP status
 *   TF Serving maps the status code to (NOT_FOUND 404, INVALID_ARGUMENT 400, UNAVAILABLE 503).
 *
 * The "model" is a function the test supplies. Tests can also queue faults (an error status, a
 * raw body, a delay, a dropped connection) that apply to the next requests in order, and read
 * back every request received.
 */
import * as http from "http";
import { AddressInfo } from "net";

/** Version lifecycle states, as the proto enum names them. */
export type FakeState = "UNKNOWN" | "START" | "LOADING" | "AVAILABLE" | "UNLOADING" | "END";

/** One version the fake knows about. */
export interface FakeVersion {
    /** Version number. */
    version: number;
    /** Lifecycle state. */
    state: FakeState;
    /** `status.error_code`. Defaults to `OK`. */
    errorCode?: string;
    /** `status.error_message`. Defaults to empty. */
    errorMessage?: string;
}

/** The model: `(n, 28, 28)` instances in, `n` rows of 10 logits out. */
export type FakeModel = (instances: number[][][]) => number[][];

/** Something to do instead of (or before) answering normally; consumed one per request. */
export type Fault =
    /** Answer with TF Serving's error JSON and this status. */
    | { readonly kind: "error"; readonly status: number; readonly message?: string }
    /** Answer with an arbitrary body, e.g. a proxy's HTML error page. */
    | {
          readonly kind: "raw";
          readonly status: number;
          readonly body: string;
          readonly contentType?: string;
      }
    /** Wait, then answer normally. */
    | { readonly kind: "delay"; readonly ms: number }
    /** Drop the connection without answering. */
    | { readonly kind: "reset" };

/** A request the fake received. */
export interface RecordedRequest {
    /** HTTP method. */
    readonly method: string;
    /** Path, query included. */
    readonly path: string;
    /** The body text. */
    readonly body: string;
}

/** How to start the fake. */
export interface FakeOptions {
    /** Served model name. Defaults to `mymodel`. */
    readonly model?: string;
    /** Known versions. Defaults to version 1, AVAILABLE. */
    readonly versions?: FakeVersion[];
    /** Labels to versions. Defaults to none. */
    readonly labels?: Record<string, number>;
    /** The model function. Defaults to one that always says 0 with logits `[3, 0, …]`. */
    readonly predict?: FakeModel;
}

const SIZE = 28;

/** Escapes like absl::CEscape: quotes and backslashes, control and non-ASCII bytes as octal. */
export function cEscape(message: string): string {
    let out = "";
    for (const byte of Buffer.from(message, "utf8")) {
        const ch = String.fromCharCode(byte);
        if (ch === "\n") out += "\\n";
        else if (ch === "\r") out += "\\r";
        else if (ch === "\t") out += "\\t";
        else if (ch === '"' || ch === "'" || ch === "\\") out += `\\${ch}`;
        else if (byte < 0x20 || byte >= 0x7f) out += `\\${byte.toString(8).padStart(3, "0")}`;
        else out += ch;
    }
    return out;
}

function softmaxRow(row: number[]): number[] {
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
}

function tensorInfo(name: string, dims: number[]) {
    return {
        dtype: "DT_FLOAT",
        tensor_shape: {
            dim: dims.map((d) => ({ size: String(d), name: "" })),
            unknown_rank: false,
        },
        name,
    };
}

/** The signatures our SavedModel writer produces, as TF Serving's metadata JSON shows them. */
const SIGNATURES = {
    serving_default: {
        inputs: { images: tensorInfo("images:0", [-1, SIZE, SIZE]) },
        outputs: { logits: tensorInfo("logits:0", [-1, 10]) },
        method_name: "tensorflow/serving/predict",
        defaults: {},
    },
    probabilities: {
        inputs: { images: tensorInfo("images:0", [-1, SIZE, SIZE]) },
        outputs: { probabilities: tensorInfo("probabilities:0", [-1, 10]) },
        method_name: "tensorflow/serving/predict",
        defaults: {},
    },
    keras: {
        inputs: { inputs: tensorInfo("inputs:0", [-1, SIZE, SIZE]) },
        outputs: { outputs: tensorInfo("logits:0", [-1, 10]) },
        method_name: "tensorflow/serving/predict",
        defaults: {},
    },
} as const;

class RestError extends Error {
    constructor(
        readonly status: number,
        message: string,
        /** Send `message` as an HTML page rather than TF Serving's error JSON. */
        readonly html = false,
    ) {
        super(message);
    }
}

const PREDICT_PATH =
    /^\/v1\/models\/([^/:]+)(?:(?:\/versions\/(\d+))|(?:\/labels\/([^/:]+)))?:(classify|regress|predict)$/i;
const STATUS_PATH =
    /^\/v1\/models(?:\/([^/:]+))?(?:(?:\/versions\/(\d+))|(?:\/labels\/([^/:]+)))?(?:\/(metadata))?$/i;

/** A running fake; `url` is its base URL. */
export class FakeTfServing {
    /** Every request received, faults included, in arrival order. */
    readonly requests: RecordedRequest[] = [];
    /** Known versions; tests may change them while the fake runs. */
    versions: FakeVersion[];
    /** Labels to versions. */
    labels: Record<string, number>;
    /** The model function. */
    predict: FakeModel;
    /** Called with each request before it is answered (to change state mid-test). */
    onRequest: (request: RecordedRequest) => void = () => undefined;
    private readonly faults: Fault[] = [];

    private constructor(
        private readonly server: http.Server,
        readonly model: string,
        options: FakeOptions,
    ) {
        this.versions = options.versions ?? [{ version: 1, state: "AVAILABLE" }];
        this.labels = options.labels ?? {};
        this.predict = options.predict ?? ((xs) => xs.map(() => [3, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    }

    /** Starts a fake on a free local port. */
    static async start(options: FakeOptions = {}): Promise<FakeTfServing> {
        // Requests can only arrive after listen(), by which time `fake` is set.
        const server = http.createServer((req, res) => {
            void fake.handle(req, res);
        });
        const fake = new FakeTfServing(server, options.model ?? "mymodel", options);
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        return fake;
    }

    /** `http://127.0.0.1:<port>`. */
    get url(): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    /** Queues faults for the next requests, one per request. */
    fail(...faults: Fault[]): void {
        this.faults.push(...faults);
    }

    /** Stops listening and drops open connections. */
    async close(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const recorded = {
            method: req.method ?? "",
            path: req.url ?? "",
            body: Buffer.concat(chunks).toString("utf8"),
        };
        this.requests.push(recorded);
        this.onRequest(recorded);
        const fault = this.faults.shift();
        if (fault?.kind === "delay") {
            await new Promise((r) => setTimeout(r, fault.ms));
            if (res.destroyed) return;
        } else if (fault?.kind === "reset") {
            req.socket.destroy();
            return;
        } else if (fault?.kind === "raw") {
            res.writeHead(fault.status, { "content-type": fault.contentType ?? "text/html" }).end(
                fault.body,
            );
            return;
        } else if (fault?.kind === "error") {
            this.sendError(
                res,
                new RestError(fault.status, fault.message ?? `injected HTTP ${fault.status}`),
            );
            return;
        }
        try {
            const body = this.route(recorded);
            res.writeHead(200, { "content-type": "application/json" }).end(
                JSON.stringify(body, null, 1),
            );
        } catch (err) {
            if (!(err instanceof RestError)) throw err;
            this.sendError(res, err);
        }
    }

    private sendError(res: http.ServerResponse, err: RestError): void {
        if (err.html) {
            res.writeHead(err.status, { "content-type": "text/html" }).end(err.message);
            return;
        }
        res.writeHead(err.status, { "content-type": "application/json" }).end(
            `{ "error": "${cEscape(err.message)}" }`,
        );
    }

    private route(req: RecordedRequest): unknown {
        const path = req.path.split("?")[0];
        if (!/^\/v1\//i.test(path)) {
            // TF Serving's dispatcher ignores other paths; its HTTP server answers 404 itself.
            throw new RestError(404, "<html><body>404 Not Found</body></html>", true);
        }
        const malformed = new RestError(400, `Malformed request: ${req.method} ${path}`);
        if (req.method === "POST") {
            const m = PREDICT_PATH.exec(path);
            if (m === null) throw malformed;
            const [, name, version, label, verb] = m;
            if (verb !== "predict")
                throw new RestError(400, `${verb} is not implemented by this fake`);
            return this.predictResponse(
                decodeURIComponent(name),
                this.versionOf(decodeURIComponent(name), version, label),
                req.body,
            );
        }
        if (req.method === "GET") {
            const m = STATUS_PATH.exec(path);
            if (m === null) throw malformed;
            const [, name, version, label, metadata] = m;
            if (name === undefined) throw new RestError(400, "Missing model name in request.");
            const model = decodeURIComponent(name);
            const v = this.versionOf(model, version, label);
            return metadata === undefined
                ? this.statusResponse(model, v)
                : this.metadataResponse(model, v);
        }
        throw malformed;
    }

    private versionOf(
        name: string,
        version: string | undefined,
        label: string | undefined,
    ): number | undefined {
        if (label === undefined) return version === undefined ? undefined : Number(version);
        const v = name === this.model ? this.labels[decodeURIComponent(label)] : undefined;
        if (v === undefined)
            throw new RestError(
                400,
                `Unrecognized servable version label: ${decodeURIComponent(label)}`,
            );
        return v;
    }

    private statusResponse(name: string, version: number | undefined): unknown {
        const known = name === this.model ? this.versions : [];
        const chosen = version === undefined ? known : known.filter((v) => v.version === version);
        if (chosen.length === 0) {
            throw new RestError(
                404,
                version === undefined
                    ? `Could not find any versions of model ${name}`
                    : `Could not find version ${version} of model ${name}`,
            );
        }
        return {
            model_version_status: chosen.map((v) => ({
                version: String(v.version),
                state: v.state,
                status: { error_code: v.errorCode ?? "OK", error_message: v.errorMessage ?? "" },
            })),
        };
    }

    /** The version a predict or metadata call reaches: that one if AVAILABLE, else the latest. */
    private servable(name: string, version: number | undefined): number {
        const available =
            name === this.model ? this.versions.filter((v) => v.state === "AVAILABLE") : [];
        const found =
            version === undefined
                ? available.reduce<number | undefined>(
                      (best, v) => (best === undefined || v.version > best ? v.version : best),
                      undefined,
                  )
                : available.find((v) => v.version === version)?.version;
        if (found === undefined) {
            const request =
                version === undefined ? `Latest(${name})` : `Specific(${name}, ${version})`;
            throw new RestError(404, `Servable not found for request: ${request}`);
        }
        return found;
    }

    private metadataResponse(name: string, version: number | undefined): unknown {
        const v = this.servable(name, version);
        return {
            model_spec: { name, signature_name: "", version: String(v) },
            metadata: { signature_def: { signature_def: SIGNATURES } },
        };
    }

    private predictResponse(name: string, version: number | undefined, text: string): unknown {
        let body: unknown;
        try {
            body = JSON.parse(text);
        } catch {
            throw new RestError(400, "JSON Parse error: Invalid value. at offset: 0");
        }
        const request = body as { instances?: unknown; inputs?: unknown; signature_name?: unknown };
        if (request.instances === undefined && request.inputs === undefined) {
            throw new RestError(400, "Missing 'inputs' or 'instances' key");
        }
        this.servable(name, version);
        const signature =
            typeof request.signature_name === "string" ? request.signature_name : "serving_default";
        if (!(signature in SIGNATURES)) {
            throw new RestError(
                400,
                `Serving signature name: "${signature}" not found in signature def`,
            );
        }
        const xs = request.instances;
        const ok =
            Array.isArray(xs) &&
            xs.every(
                (img) =>
                    Array.isArray(img) &&
                    img.length === SIZE &&
                    img.every(
                        (row) =>
                            Array.isArray(row) &&
                            row.length === SIZE &&
                            row.every((v) => typeof v === "number"),
                    ),
            );
        if (!ok) {
            throw new RestError(400, "Expects arg[0] to be float of shape [?,28,28]");
        }
        const logits = this.predict(xs as number[][][]);
        return { predictions: signature === "probabilities" ? logits.map(softmaxRow) : logits };
    }
}
