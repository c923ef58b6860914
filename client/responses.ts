/**
 * Reading TF Serving's REST answers, as its handler (`http_rest_api_handler.cc`) writes them:
 * error bodies (`{ "error": "<C-escaped message>" }`), `GetModelStatusResponse`,
 * `GetModelMetadataResponse` and row-format predictions. Each parser takes `fail`, which builds
 * the error for a body that breaks the contract, so the caller can say which request it was.
 */
import { SignatureSpec, TensorSpec } from "../model/savedmodel/contract";
import { ModelMetadata, ModelStatus, ModelVersionStatus } from "./types";

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

/** A JSON object (not an array, not null). */
function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An integer, or an int64 as proto3 JSON writes it (a string); undefined otherwise. */
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

/** One `TensorInfo` of a signature: its graph tensor, dtype and shape. */
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
        tensor: typeof v.name === "string" ? v.name : "",
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
            method: typeof sig.method_name === "string" ? sig.method_name : "",
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
