/**
 * TF Serving's API messages, the subset our gRPC client and the warmup file use, encoded and
 * decoded on the wire layer of `wire.ts`. Field numbers are those of TF Serving's public
 * definitions (`tensorflow_serving/apis/model.proto`, `predict.proto`, `get_model_metadata.proto`,
 * `get_model_status.proto`, `status.proto`, `prediction_log.proto`, read at tensorflow/serving
 * 9d981c5c) and of `google/protobuf/wrappers.proto` and `any.proto`. Encoding is deterministic
 * (fields in number order, map entries sorted by key), so a warmup file has fixed bytes.
 */
import {
    SignatureDef,
    TensorValue,
    decodeSignature,
    decodeTensor,
    encodeTensor,
} from "./tensorflow";
import {
    bytesFields,
    lastBytes,
    lastVarint,
    readFields,
    readMap,
    str,
    toInt32,
    toInt64,
    WireField,
} from "./wire";
import { ProtoWriter, writeMap } from "./writer";

const F = {
    modelSpec: { name: 1, version: 2, signatureName: 3, versionLabel: 4 },
    int64Value: { value: 1 },
    predictRequest: { modelSpec: 1, inputs: 2, outputFilter: 3 },
    predictResponse: { outputs: 1, modelSpec: 2 },
    metadataRequest: { modelSpec: 1, metadataField: 2 },
    metadataResponse: { modelSpec: 1, metadata: 2 },
    any: { typeUrl: 1, value: 2 },
    signatureDefMap: { signatureDef: 1 },
    statusRequest: { modelSpec: 1 },
    statusResponse: { modelVersionStatus: 1 },
    versionStatus: { version: 1, state: 2, status: 3 },
    statusProto: { errorCode: 1, errorMessage: 2 },
    predictionLog: { predictLog: 6 },
    predictLog: { request: 1 },
} as const;

/** The `metadata` key GetModelMetadata answers, and the type its `Any` holds. */
export const SIGNATURE_DEF_FIELD = "signature_def";
export const SIGNATURE_DEF_MAP_TYPE = "type.googleapis.com/tensorflow.serving.SignatureDefMap";

/** `ModelVersionStatus.State` names by number (get_model_status.proto). */
export const MODEL_STATES: Readonly<Record<number, string>> = {
    0: "UNKNOWN",
    10: "START",
    20: "LOADING",
    30: "AVAILABLE",
    40: "UNLOADING",
    50: "END",
};

/** `tensorflow.error.Code` names by number (error_codes.proto), which gRPC's status codes share. */
export const ERROR_CODES = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
] as const;

/** ModelSpec: which model, version (or label) and signature a request is for. */
export interface ModelSpec {
    readonly name: string;
    readonly version?: number;
    readonly versionLabel?: string;
    readonly signatureName?: string;
}

/** PredictRequest. */
export interface PredictRequest {
    readonly modelSpec: ModelSpec;
    readonly inputs: Readonly<Record<string, TensorValue>>;
    readonly outputFilter?: readonly string[];
}

/** PredictResponse; `modelSpec` says which version answered. */
export interface PredictResponse {
    readonly modelSpec?: ModelSpec;
    readonly outputs: Readonly<Record<string, TensorValue>>;
}

/** GetModelMetadataResponse with its `signature_def` metadata unpacked. */
export interface ModelMetadataResponse {
    readonly modelSpec?: ModelSpec;
    readonly signatureDefs: Readonly<Record<string, SignatureDef>>;
}

/** One ModelVersionStatus, with the state and error code as numbers. */
export interface VersionStatus {
    readonly version: number;
    readonly state: number;
    readonly errorCode: number;
    readonly errorMessage: string;
}

function encodeModelSpec(spec: ModelSpec): ProtoWriter {
    const w = new ProtoWriter().string(F.modelSpec.name, spec.name);
    if (spec.version !== undefined) {
        w.message(F.modelSpec.version, new ProtoWriter().int64(F.int64Value.value, spec.version));
    }
    if (spec.signatureName !== undefined) w.string(F.modelSpec.signatureName, spec.signatureName);
    if (spec.versionLabel !== undefined) w.string(F.modelSpec.versionLabel, spec.versionLabel);
    return w;
}

function decodeModelSpec(bytes: Uint8Array, what: string): ModelSpec {
    const fields = readFields(bytes, what);
    const version = lastBytes(fields, F.modelSpec.version, what);
    const label = lastBytes(fields, F.modelSpec.versionLabel, what);
    const signature = lastBytes(fields, F.modelSpec.signatureName, what);
    return {
        name: str(lastBytes(fields, F.modelSpec.name, what) ?? new Uint8Array(0)),
        ...(version === undefined
            ? {}
            : {
                  version: toInt64(
                      lastVarint(readFields(version, what), F.int64Value.value, what) ?? 0n,
                      `${what}.version`,
                  ),
              }),
        ...(label === undefined ? {} : { versionLabel: str(label) }),
        ...(signature === undefined ? {} : { signatureName: str(signature) }),
    };
}

/** A response's `model_spec` (field `field`), to spread into its decoded form; none when absent. */
function optionalModelSpec(
    fields: readonly WireField[],
    field: number,
    what: string,
): { modelSpec?: ModelSpec } {
    const spec = lastBytes(fields, field, what);
    return spec === undefined ? {} : { modelSpec: decodeModelSpec(spec, `${what}.model_spec`) };
}

function predictRequestWriter(r: PredictRequest): ProtoWriter {
    const w = new ProtoWriter().message(F.predictRequest.modelSpec, encodeModelSpec(r.modelSpec));
    writeMap(w, F.predictRequest.inputs, r.inputs, encodeTensor);
    for (const name of r.outputFilter ?? []) w.string(F.predictRequest.outputFilter, name);
    return w;
}

/** Encodes a PredictRequest. */
export function encodePredictRequest(r: PredictRequest): Uint8Array {
    return predictRequestWriter(r).finish();
}

/** Decodes a PredictRequest. */
export function decodePredictRequest(bytes: Uint8Array, what = "PredictRequest"): PredictRequest {
    const fields = readFields(bytes, what);
    const spec = lastBytes(fields, F.predictRequest.modelSpec, what);
    return {
        modelSpec: decodeModelSpec(spec ?? new Uint8Array(0), `${what}.model_spec`),
        inputs: readMap(fields, F.predictRequest.inputs, `${what}.inputs`, decodeTensor),
        outputFilter: bytesFields(fields, F.predictRequest.outputFilter, what).map(str),
    };
}

/** Decodes a PredictResponse. */
export function decodePredictResponse(
    bytes: Uint8Array,
    what = "PredictResponse",
): PredictResponse {
    const fields = readFields(bytes, what);
    return {
        ...optionalModelSpec(fields, F.predictResponse.modelSpec, what),
        outputs: readMap(fields, F.predictResponse.outputs, `${what}.outputs`, decodeTensor),
    };
}

/** A PredictionLog holding a PredictLog of `request`: one record of a warmup file. */
export function encodePredictionLog(request: PredictRequest): Uint8Array {
    const log = new ProtoWriter().message(F.predictLog.request, predictRequestWriter(request));
    return new ProtoWriter().message(F.predictionLog.predictLog, log).finish();
}

/** The PredictRequest of a PredictionLog record; an error when it holds another kind of log. */
export function decodePredictionLog(bytes: Uint8Array, what = "PredictionLog"): PredictRequest {
    const predictLog = lastBytes(readFields(bytes, what), F.predictionLog.predictLog, what);
    if (predictLog === undefined) {
        throw new Error(`${what}: no predict_log (field ${F.predictionLog.predictLog})`);
    }
    const inner = `${what}.predict_log`;
    const request = lastBytes(readFields(predictLog, inner), F.predictLog.request, inner);
    return decodePredictRequest(request ?? new Uint8Array(0), `${inner}.request`);
}

/** Encodes a GetModelMetadataRequest asking for the signatures. */
export function encodeModelMetadataRequest(spec: ModelSpec): Uint8Array {
    return new ProtoWriter()
        .message(F.metadataRequest.modelSpec, encodeModelSpec(spec))
        .string(F.metadataRequest.metadataField, SIGNATURE_DEF_FIELD)
        .finish();
}

/** Decodes a GetModelMetadataResponse, unpacking its `signature_def` SignatureDefMap. */
export function decodeModelMetadataResponse(
    bytes: Uint8Array,
    what = "GetModelMetadataResponse",
): ModelMetadataResponse {
    const fields = readFields(bytes, what);
    const metadata = readMap(fields, F.metadataResponse.metadata, `${what}.metadata`, (b, w) => {
        const any = readFields(b, w);
        return {
            typeUrl: str(lastBytes(any, F.any.typeUrl, w) ?? new Uint8Array(0)),
            value: lastBytes(any, F.any.value, w) ?? new Uint8Array(0),
        };
    });
    const signatures = metadata[SIGNATURE_DEF_FIELD];
    if (signatures === undefined || signatures.typeUrl !== SIGNATURE_DEF_MAP_TYPE) {
        throw new Error(
            `${what}: metadata["${SIGNATURE_DEF_FIELD}"] is ${signatures === undefined ? "missing" : `of type ${signatures.typeUrl}`}; expected a ${SIGNATURE_DEF_MAP_TYPE}`,
        );
    }
    const inner = `${what}.metadata["${SIGNATURE_DEF_FIELD}"]`;
    return {
        ...optionalModelSpec(fields, F.metadataResponse.modelSpec, what),
        signatureDefs: readMap(
            readFields(signatures.value, inner),
            F.signatureDefMap.signatureDef,
            inner,
            decodeSignature,
        ),
    };
}

/** Encodes a GetModelStatusRequest. */
export function encodeModelStatusRequest(spec: ModelSpec): Uint8Array {
    return new ProtoWriter().message(F.statusRequest.modelSpec, encodeModelSpec(spec)).finish();
}

/** Decodes a GetModelStatusResponse. */
export function decodeModelStatusResponse(
    bytes: Uint8Array,
    what = "GetModelStatusResponse",
): VersionStatus[] {
    const fields = readFields(bytes, what);
    return bytesFields(fields, F.statusResponse.modelVersionStatus, what).map((b, i) => {
        const w = `${what}.model_version_status[${i}]`;
        const v = readFields(b, w);
        const status = readFields(lastBytes(v, F.versionStatus.status, w) ?? new Uint8Array(0), w);
        return {
            version: toInt64(lastVarint(v, F.versionStatus.version, w) ?? 0n, `${w}.version`),
            state: toInt32(lastVarint(v, F.versionStatus.state, w) ?? 0n),
            errorCode: toInt32(lastVarint(status, F.statusProto.errorCode, w) ?? 0n),
            errorMessage: str(
                lastBytes(status, F.statusProto.errorMessage, w) ?? new Uint8Array(0),
            ),
        };
    });
}
