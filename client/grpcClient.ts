/**
 * A client for TF Serving's gRPC API (port 8500), with the REST client's calls, input checks and
 * typed errors: `PredictionService.Predict` and `GetModelMetadata`, `ModelService.GetModelStatus`.
 *
 * Transport: `@grpc/grpc-js`, Node's gRPC implementation maintained by the gRPC project, with
 * our own protobuf layer (`model/savedmodel/proto/serving.ts`) as its serializer. That keeps to
 * one encoding of TensorFlow's messages, the one our exports are written with, instead of
 * bringing in a second (protobufjs and a copy of TF Serving's .proto files, which would need
 * generating or loading at run time).
 *
 * A Predict request names its input by key, so the first Predict of a signature asks the server
 * for the signature's metadata once; the images go as one float32 `tensor_content`.
 */
import * as grpc from "@grpc/grpc-js";
import {
    IMAGE_SIZE,
    SIGNATURE_KEYS,
    SignatureSpec,
    TensorSpec,
} from "../model/savedmodel/contract";
import {
    ERROR_CODES,
    MODEL_STATES,
    ModelSpec,
    decodeModelMetadataResponse,
    decodeModelStatusResponse,
    decodePredictResponse,
    encodeModelMetadataRequest,
    encodeModelStatusRequest,
    encodePredictRequest,
} from "../model/savedmodel/proto/serving";
import {
    DataType,
    SignatureDef,
    TensorInfo,
    dataTypeName,
    tensorFloats,
} from "../model/savedmodel/proto/tensorflow";
import { errorMessage } from "../errors";
import {
    ServingConnectionError,
    ServingError,
    ServingInputError,
    ServingResponseError,
    ServingRpcError,
    ServingTimeoutError,
} from "./servingErrors";
import { checkImages } from "./inputs";
import { ServingClient } from "./servingClient";
import { ClientOptions, ImageBatch, ModelMetadata, ModelStatus, PredictOptions } from "./types";

/** Full method names, `/<package>.<service>/<method>`. */
const METHODS = {
    predict: "/tensorflow.serving.PredictionService/Predict",
    metadata: "/tensorflow.serving.PredictionService/GetModelMetadata",
    status: "/tensorflow.serving.ModelService/GetModelStatus",
} as const;

/** gRPC-js's UNAVAILABLE when no connection could be made, rather than the server's own. */
const NO_CONNECTION =
    /No connection established|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|Connection dropped/;

/** `host:port`, a host name, IPv4 address or bracketed IPv6 address. */
const TARGET = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

/** Options of the gRPC client: the REST client's, with `target` in place of `url`. */
export interface GrpcClientOptions extends Omit<ClientOptions, "url"> {
    /** TF Serving's gRPC address, `host:port` (its default port is 8500). */
    readonly target: string;
}

/** What `predict` needs to know of a signature: its one input key. */
interface PredictSignature {
    readonly input: string;
}

/** A TF Serving gRPC client for one model (and optionally one version or label). */
export class TfServingGrpcClient extends ServingClient {
    /** `host:port`. */
    readonly target: string;
    private readonly channel: grpc.Client;
    private readonly signatures = new Map<string, PredictSignature>();

    /** Checks every option: a bad one throws `ServingInputError` before anything is sent. */
    constructor(options: GrpcClientOptions) {
        super(options);
        if (!TARGET.test(options.target) || Number(options.target.split(":").pop()) > 65535) {
            throw new ServingInputError(
                "target",
                `is "${options.target}"`,
                "TF Serving's gRPC address as host:port, e.g. 127.0.0.1:8500",
            );
        }
        this.target = options.target;
        this.channel = new grpc.Client(this.target, grpc.credentials.createInsecure());
    }

    /** `grpc://<target>/<name>[/versions/<v>|/labels/<l>]`, how errors name a call's model. */
    get modelUrl(): string {
        let url = `grpc://${this.target}/${this.model}`;
        if (this.version !== undefined) url += `/versions/${this.version}`;
        if (this.label !== undefined) url += `/labels/${this.label}`;
        return url;
    }

    /** Closes the channel; the client makes no more calls. */
    close(): void {
        this.channel.close();
    }

    /** GetModelMetadata of the served version's signatures. */
    async metadata(): Promise<ModelMetadata> {
        const { value, attempts } = await this.call(
            METHODS.metadata,
            encodeModelMetadataRequest(this.spec()),
            this.retries,
            this.timeoutMs,
        );
        const response = this.decoded(attempts, () => decodeModelMetadataResponse(value));
        const version = response.modelSpec?.version;
        if (version === undefined) {
            throw new ServingResponseError(this.modelUrl, attempts, "model_spec names no version");
        }
        return {
            name: response.modelSpec?.name ?? this.model,
            version,
            signatures: Object.fromEntries(
                Object.entries(response.signatureDefs).map(([k, s]) => [k, signatureSpec(s)]),
            ),
        };
    }

    /** Predict of `images` as one float32 tensor; see `ServingClient.predict`. */
    async predict(images: ImageBatch, options: PredictOptions = {}): Promise<number[][]> {
        const instances = checkImages(images, this.maxBatchSize);
        this.checkSignatureName(options);
        const signatureName = options.signatureName ?? SIGNATURE_KEYS.default;
        const { input } = await this.predictSignature(signatureName);
        const request = encodeImagesRequest({ ...this.spec(), signatureName }, input, instances);
        const { value, attempts } = await this.call(
            METHODS.predict,
            request,
            this.retries,
            this.timeoutMs,
        );
        return this.decoded(attempts, () => decodeRows(value, instances.length));
    }

    /** NOT_FOUND (not loaded yet), UNAVAILABLE, and an unknown label (assigned at load). */
    protected serverSaysNotYet(err: unknown): boolean {
        if (!(err instanceof ServingRpcError)) return false;
        const labelPending = this.label !== undefined && /version label/i.test(err.serverMessage);
        return (
            err.code === grpc.status.NOT_FOUND ||
            err.code === grpc.status.UNAVAILABLE ||
            labelPending
        );
    }

    protected async statusWith(retries: number, timeoutMs: number): Promise<ModelStatus> {
        const { value, attempts } = await this.call(
            METHODS.status,
            encodeModelStatusRequest(this.spec()),
            retries,
            timeoutMs,
        );
        const versions = this.decoded(attempts, () => decodeModelStatusResponse(value));
        return {
            versions: versions.map((v) => ({
                version: v.version,
                state: MODEL_STATES[v.state] ?? String(v.state),
                errorCode: ERROR_CODES[v.errorCode] ?? String(v.errorCode),
                errorMessage: v.errorMessage,
            })),
        };
    }

    /** The ModelSpec of this client's model, version or label. */
    private spec(): ModelSpec {
        return {
            name: this.model,
            ...(this.version === undefined ? {} : { version: this.version }),
            ...(this.label === undefined ? {} : { versionLabel: this.label }),
        };
    }

    /** The input key of `signatureName`, from the server's metadata (asked once per signature). */
    private async predictSignature(signatureName: string): Promise<PredictSignature> {
        const known = this.signatures.get(signatureName);
        if (known !== undefined) return known;
        const metadata = await this.metadata();
        const signature = metadata.signatures[signatureName];
        if (signature === undefined) {
            throw new ServingInputError(
                "signatureName",
                `is "${signatureName}", which version ${metadata.version} does not have`,
                `one of ${Object.keys(metadata.signatures).join(", ")}`,
            );
        }
        const inputs = Object.keys(signature.inputs);
        if (inputs.length !== 1) {
            throw new ServingResponseError(
                this.modelUrl,
                1,
                `signature "${signatureName}" has ${inputs.length} inputs; expected one (the images)`,
            );
        }
        const found = { input: inputs[0] };
        this.signatures.set(signatureName, found);
        return found;
    }

    /** `decode()`, its failures as the `ServingResponseError` of a body that breaks the contract. */
    private decoded<T>(attempts: number, decode: () => T): T {
        try {
            return decode();
        } catch (err) {
            throw new ServingResponseError(this.modelUrl, attempts, errorMessage(err));
        }
    }

    /** One unary call with bounded retries of connection errors and UNAVAILABLE. */
    private call(
        method: string,
        request: Uint8Array,
        retries: number,
        timeoutMs: number,
    ): Promise<{ value: Buffer; attempts: number }> {
        return this.withRetries(
            (attempt) => this.once(method, request, attempt, timeoutMs),
            retries,
            (err) =>
                err instanceof ServingConnectionError ||
                (err instanceof ServingRpcError && err.code === grpc.status.UNAVAILABLE),
        );
    }

    private once(
        method: string,
        request: Uint8Array,
        attempt: number,
        timeoutMs: number,
    ): Promise<Buffer> {
        return new Promise((resolve, reject) => {
            this.channel.makeUnaryRequest(
                method,
                (bytes: Uint8Array) =>
                    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
                (bytes: Buffer) => bytes,
                request,
                new grpc.Metadata(),
                { deadline: Date.now() + timeoutMs },
                (err, value) => {
                    if (err === null && value !== undefined) resolve(value);
                    else reject(this.rpcError(err, attempt, timeoutMs));
                },
            );
        });
    }

    /** The typed error of a failed call. */
    private rpcError(
        err: grpc.ServiceError | null,
        attempt: number,
        timeoutMs: number,
    ): ServingError {
        const url = this.modelUrl;
        if (err === null) return new ServingResponseError(url, attempt, "an empty answer");
        if (err.code === grpc.status.DEADLINE_EXCEEDED) {
            return new ServingTimeoutError(url, attempt, timeoutMs);
        }
        if (err.code === grpc.status.UNAVAILABLE && NO_CONNECTION.test(err.details)) {
            const code = /\b(E[A-Z]+)\b/.exec(err.details)?.[1];
            return new ServingConnectionError(url, attempt, code, err.details);
        }
        const name = ERROR_CODES[err.code] ?? `CODE_${err.code}`;
        return new ServingRpcError(url, attempt, err.code, name, err.details);
    }
}

/** A PredictRequest of checked images (0-255, `(n, 28, 28)`) as one float32 tensor at `input`. */
export function encodeImagesRequest(
    spec: ModelSpec,
    input: string,
    instances: readonly (readonly (readonly number[])[])[],
): Uint8Array {
    const n = instances.length;
    const pixels = new Float32Array(n * IMAGE_SIZE * IMAGE_SIZE);
    let at = 0;
    for (const image of instances) {
        for (const row of image) {
            for (const v of row) pixels[at++] = v;
        }
    }
    return encodePredictRequest({
        modelSpec: spec,
        inputs: {
            [input]: {
                dtype: DataType.DT_FLOAT,
                shape: { dim: [n, IMAGE_SIZE, IMAGE_SIZE] },
                content: new Uint8Array(pixels.buffer),
            },
        },
    });
}

/** The rows of a PredictResponse's one float32 `(n, k)` output; an Error when it is not that. */
export function decodeRows(bytes: Uint8Array, n: number): number[][] {
    const outputs = Object.entries(decodePredictResponse(bytes).outputs);
    if (outputs.length !== 1) {
        throw new Error(
            `${outputs.length} outputs (${outputs.map(([k]) => k).join(", ")}); expected one`,
        );
    }
    const [key, tensor] = outputs[0];
    const [rows, width] = tensor.shape.dim;
    if (tensor.shape.dim.length !== 2 || rows !== n || tensor.dtype !== DataType.DT_FLOAT) {
        throw new Error(
            `output ${key} is ${dataTypeName(tensor.dtype)} shaped [${tensor.shape.dim.join(", ")}]; expected DT_FLOAT [${n}, k]`,
        );
    }
    const values = tensorFloats(tensor);
    if (values.length !== rows * width) {
        throw new Error(`output ${key} holds ${values.length} values for [${rows}, ${width}]`);
    }
    return Array.from({ length: rows }, (_, r) =>
        Array.from(values.subarray(r * width, (r + 1) * width)),
    );
}

/** A TensorInfo as the REST client's metadata describes it. */
function tensorSpec(t: TensorInfo): TensorSpec {
    return {
        tensor: t.name,
        dtype: dataTypeName(t.dtype),
        shape: t.shape === undefined || t.shape.unknownRank === true ? null : [...t.shape.dim],
    };
}

/** A SignatureDef as the REST client's metadata describes it. */
function signatureSpec(s: SignatureDef): SignatureSpec {
    const specs = (m: Readonly<Record<string, TensorInfo>>) =>
        Object.fromEntries(Object.entries(m).map(([k, t]) => [k, tensorSpec(t)]));
    return { method: s.methodName, inputs: specs(s.inputs), outputs: specs(s.outputs) };
}
