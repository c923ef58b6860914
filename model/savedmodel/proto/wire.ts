/**
 * The protobuf wire format, hand-written: just enough to read TensorFlow's SavedModel messages
 * without a protobuf runtime or generated code. Its wire types and limits, and the reader; the
 * writer is `writer.ts`.
 */

/** Wire types of the protobuf encoding; groups (3 and 4) are obsolete and rejected. */
export const WireType = {
    VARINT: 0,
    FIXED64: 1,
    LENGTH_DELIMITED: 2,
    FIXED32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** The largest field number protobuf allows. */
export const MAX_FIELD_NUMBER = 2 ** 29 - 1;
/** A 64-bit value takes at most ten 7-bit groups; protobuf parsers refuse longer varints. */
export const MAX_VARINT_BYTES = 10;

/** Map entries are messages of `key = 1` and `value = 2`. */
export const MAP_ENTRY = { key: 1, value: 2 } as const;

/** A read position in a byte array, advanced by the readers below. */
interface Cursor {
    at: number;
}

/**
 * The one varint decoder: reads the varint at `cursor.at` and moves the cursor past it. Refuses a
 * varint that runs off the end of `bytes` or past ten bytes (a 64-bit value never needs more, so
 * a longer one is corrupt input, and without the limit a run of 0x80 bytes would be read as one
 * ever-growing BigInt). `where` names the bytes in the error, e.g. `GraphDef field 1`.
 */
function readVarint(bytes: Uint8Array, cursor: Cursor, where: string): bigint {
    const start = cursor.at;
    let result = 0n;
    for (let k = 0; k < MAX_VARINT_BYTES; k++) {
        if (cursor.at >= bytes.length) {
            throw new Error(
                `${where}: truncated varint at byte ${start} of ${bytes.length} ` +
                    "(expected a byte without the continuation bit)",
            );
        }
        const b = bytes[cursor.at++];
        result |= BigInt(b & 0x7f) << BigInt(7 * k);
        if ((b & 0x80) === 0) {
            return result;
        }
    }
    throw new Error(
        `${where}: varint at byte ${start} is longer than ${MAX_VARINT_BYTES} bytes ` +
            `(expected at most ${MAX_VARINT_BYTES} for a 64-bit value)`,
    );
}

/** One field occurrence as read from the wire. */
export type WireField =
    | { readonly field: number; readonly wireType: 0; readonly value: bigint }
    | { readonly field: number; readonly wireType: 1 | 5; readonly value: Uint8Array }
    | { readonly field: number; readonly wireType: 2; readonly value: Uint8Array };

/**
 * Splits a message into its fields, in wire order. Unknown fields are kept (callers skip what
 * they do not need); malformed input throws with the byte offset where reading failed.
 */
export function readFields(bytes: Uint8Array, what = "message"): WireField[] {
    const fields: WireField[] = [];
    const cursor: Cursor = { at: 0 };
    const take = (n: number, start: number): Uint8Array => {
        const { at } = cursor;
        if (at + n > bytes.length) {
            throw new Error(
                `${what}: field at byte ${start} needs ${n} bytes but only ${bytes.length - at} remain`,
            );
        }
        cursor.at += n;
        return bytes.subarray(at, at + n);
    };
    while (cursor.at < bytes.length) {
        const start = cursor.at;
        const key = readVarint(bytes, cursor, what);
        const field = Number(key >> 3n);
        const wireType = Number(key & 7n);
        if (field < 1) {
            throw new Error(`${what}: field number ${field} at byte ${start} is invalid`);
        }
        switch (wireType) {
            case WireType.VARINT:
                fields.push({
                    field,
                    wireType,
                    value: readVarint(bytes, cursor, `${what} field ${field}`),
                });
                break;
            case WireType.FIXED64:
                fields.push({ field, wireType, value: take(8, start) });
                break;
            case WireType.FIXED32:
                fields.push({ field, wireType, value: take(4, start) });
                break;
            case WireType.LENGTH_DELIMITED: {
                const n = readVarint(bytes, cursor, `${what} field ${field} length`);
                if (n > BigInt(bytes.length)) {
                    throw new Error(`${what}: length ${n} at byte ${start} exceeds the input`);
                }
                fields.push({ field, wireType, value: take(Number(n), start) });
                break;
            }
            default:
                throw new Error(
                    `${what}: wire type ${wireType} at byte ${start} is not supported ` +
                        "(expected 0, 1, 2 or 5)",
                );
        }
    }
    return fields;
}

/** A varint field read as a signed 64-bit integer; throws when outside the safe range. */
export function toInt64(value: bigint, what: string): number {
    const signed = BigInt.asIntN(64, value);
    if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new Error(`${what}: ${signed} does not fit a JavaScript number`);
    }
    return Number(signed);
}

/** A varint field read as a signed 32-bit integer (protobuf `int32` and enums). */
export function toInt32(value: bigint): number {
    return Number(BigInt.asIntN(32, value));
}

/** The values of every occurrence of `field`, in order, each decoded by `decode`. */
function eachOccurrence<T>(
    fields: readonly WireField[],
    field: number,
    decode: (f: WireField) => T[],
): T[] {
    return fields.filter((f) => f.field === field).flatMap(decode);
}

/**
 * The values of a repeated varint field, which a writer may send packed (one length-delimited
 * run) or one per occurrence; parsers must accept both.
 */
export function readRepeatedVarints(
    fields: readonly WireField[],
    field: number,
    what: string,
): bigint[] {
    return eachOccurrence(fields, field, (f): bigint[] => {
        if (f.wireType === WireType.VARINT) {
            return [f.value];
        }
        if (f.wireType !== WireType.LENGTH_DELIMITED) {
            throw new Error(
                `${what}: field ${field} has wire type ${f.wireType}; expected a varint`,
            );
        }
        // Offsets in errors count from the start of the packed run.
        const cursor: Cursor = { at: 0 };
        const run: bigint[] = [];
        while (cursor.at < f.value.length) {
            run.push(readVarint(f.value, cursor, `${what} packed field ${field}`));
        }
        return run;
    });
}

/** The values of a repeated 32-bit float field, packed or not. */
export function readRepeatedFloats(
    fields: readonly WireField[],
    field: number,
    what: string,
): number[] {
    return eachOccurrence(fields, field, (f): number[] => {
        if (f.wireType !== WireType.FIXED32 && f.wireType !== WireType.LENGTH_DELIMITED) {
            throw new Error(`${what}: field ${field} has wire type ${f.wireType}; expected floats`);
        }
        if (f.value.length % 4 !== 0) {
            throw new Error(
                `${what}: field ${field} holds ${f.value.length} bytes, not whole floats`,
            );
        }
        const view = new DataView(f.value.buffer, f.value.byteOffset, f.value.byteLength);
        return Array.from({ length: f.value.length / 4 }, (_, k) => view.getFloat32(4 * k, true));
    });
}

/** The last occurrence of a scalar field (protobuf's "last one wins" rule), if any. */
export function lastField(fields: readonly WireField[], field: number): WireField | undefined {
    for (let i = fields.length - 1; i >= 0; i--) {
        if (fields[i].field === field) {
            return fields[i];
        }
    }
    return undefined;
}

/** Every length-delimited occurrence of `field` (repeated strings, bytes, messages). */
export function bytesFields(
    fields: readonly WireField[],
    field: number,
    what: string,
): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const f of fields) {
        if (f.field !== field) {
            continue;
        }
        if (f.wireType !== WireType.LENGTH_DELIMITED) {
            throw new Error(
                `${what}: field ${field} has wire type ${f.wireType}; expected length-delimited`,
            );
        }
        out.push(f.value);
    }
    return out;
}

const utf8 = new TextDecoder("utf-8");

/** A string field's bytes as text. */
export function str(bytes: Uint8Array): string {
    return utf8.decode(bytes);
}

/** The last occurrence of a length-delimited field, if any. */
export function lastBytes(
    fields: readonly WireField[],
    field: number,
    what: string,
): Uint8Array | undefined {
    const f = lastOfType(fields, field, WireType.LENGTH_DELIMITED, "length-delimited", what);
    return f?.value as Uint8Array | undefined;
}

/** The last occurrence of a varint field, if any. */
export function lastVarint(
    fields: readonly WireField[],
    field: number,
    what: string,
): bigint | undefined {
    return lastOfType(fields, field, WireType.VARINT, "a varint", what)?.value as
        bigint | undefined;
}

/** The last occurrence of `field`, which must have wire type `type` (`named` in the error). */
function lastOfType(
    fields: readonly WireField[],
    field: number,
    type: WireType,
    named: string,
    what: string,
): WireField | undefined {
    const f = lastField(fields, field);
    if (f !== undefined && f.wireType !== type) {
        throw new Error(`${what}: field ${field} has wire type ${f.wireType}; expected ${named}`);
    }
    return f;
}

/** Reads a `map<string, Message>` field with `decode` for each value. */
export function readMap<T>(
    fields: readonly WireField[],
    field: number,
    what: string,
    decode: (bytes: Uint8Array, what: string) => T,
): Record<string, T> {
    const out: Record<string, T> = {};
    for (const entry of bytesFields(fields, field, what)) {
        const ef = readFields(entry, what);
        const key = str(lastBytes(ef, MAP_ENTRY.key, what) ?? new Uint8Array(0));
        const inner = `${what}["${key}"]`;
        out[key] = decode(lastBytes(ef, MAP_ENTRY.value, inner) ?? new Uint8Array(0), inner);
    }
    return out;
}
