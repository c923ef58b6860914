/**
 * The protobuf wire format, hand-written: just enough to write and read TensorFlow's SavedModel
 * messages without a protobuf runtime or generated code.
 *
 * The writer keeps every field exactly as told (including zeros and empty strings) because
 * `oneof` members such as `AttrValue.b = false` are only "set" when they are on the wire; the
 * schema layer (`tensorflow.ts`) decides which proto3 defaults to leave out.
 */

/** Wire types of the protobuf encoding; groups (3 and 4) are obsolete and rejected. */
export const WireType = {
    VARINT: 0,
    FIXED64: 1,
    LENGTH_DELIMITED: 2,
    FIXED32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const TWO_POW_32 = 2 ** 32;
/** A 64-bit value takes at most ten 7-bit groups; protobuf parsers refuse longer varints. */
const MAX_VARINT_BYTES = 10;

/** Refuses what a JavaScript number cannot carry exactly into a signed int64 field. */
function requireSafeInteger(field: number, value: number): void {
    if (!Number.isSafeInteger(value)) {
        throw new Error(`protobuf field ${field}: ${value} is not a safe integer`);
    }
}

/**
 * Builds one message as a list of byte chunks. Nested messages are appended by reference, so a
 * large tensor is copied once, in `finish`, however deep it sits.
 */
export class ProtoWriter {
    private readonly chunks: Uint8Array[] = [];
    private scratch = new Uint8Array(256);
    private used = 0;
    private total = 0;

    /** Bytes written so far. */
    get length(): number {
        return this.total;
    }

    /** An unsigned integer below 2^53 (enums, bools, non-negative int32/int64). */
    varint(field: number, value: number): this {
        if (!Number.isSafeInteger(value) || value < 0) {
            throw new Error(`protobuf field ${field}: ${value} is not a non-negative safe integer`);
        }
        this.tag(field, WireType.VARINT);
        this.rawVarint(value);
        return this;
    }

    /**
     * A signed int64 or int32 field. Negative values take ten bytes (two's complement, not
     * zigzag), which is how protobuf encodes `int64 size = -1` in a TensorShapeProto.
     */
    int64(field: number, value: number): this {
        requireSafeInteger(field, value);
        this.tag(field, WireType.VARINT);
        this.rawVarint(value);
        return this;
    }

    /** A bool field, written even when false. */
    bool(field: number, value: boolean): this {
        return this.varint(field, value ? 1 : 0);
    }

    /** A 32-bit float field (wire type 5, little-endian). */
    float(field: number, value: number): this {
        this.tag(field, WireType.FIXED32);
        const at = this.reserve(4);
        new DataView(this.scratch.buffer).setFloat32(at, value, true);
        return this;
    }

    /** A string field, UTF-8 encoded. */
    string(field: number, value: string): this {
        return this.bytes(field, Buffer.from(value, "utf8"));
    }

    /** A bytes field. The array is kept by reference until `finish`; do not mutate it. */
    bytes(field: number, value: Uint8Array): this {
        this.tag(field, WireType.LENGTH_DELIMITED);
        this.rawVarint(value.length);
        this.append(value);
        return this;
    }

    /** An embedded message, taken over from another writer (which must not be used again). */
    message(field: number, child: ProtoWriter): this {
        this.tag(field, WireType.LENGTH_DELIMITED);
        this.rawVarint(child.total);
        child.flush();
        for (const chunk of child.chunks) {
            this.append(chunk);
        }
        return this;
    }

    /** A packed repeated int64/int32/enum field; nothing is written for an empty list. */
    packedInt64(field: number, values: readonly number[]): this {
        if (values.length === 0) {
            return this;
        }
        const body = new ProtoWriter();
        for (const v of values) {
            requireSafeInteger(field, v);
            body.rawVarint(v);
        }
        return this.message(field, body);
    }

    /** The encoded message as one contiguous array. */
    finish(): Uint8Array {
        this.flush();
        if (this.chunks.length === 1) {
            return this.chunks[0];
        }
        const out = new Uint8Array(this.total);
        let at = 0;
        for (const chunk of this.chunks) {
            out.set(chunk, at);
            at += chunk.length;
        }
        return out;
    }

    private tag(field: number, wireType: WireType): void {
        if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER) {
            throw new Error(`protobuf field number ${field} is outside 1..${MAX_FIELD_NUMBER}`);
        }
        this.rawVarint(field * 8 + wireType);
    }

    /**
     * The one varint encoder. Takes any safe integer; a negative one goes out as the 64-bit two's
     * complement, ten bytes. Callers check the range: tags and lengths are non-negative by
     * construction, `varint` refuses negatives, `int64` allows them.
     */
    private rawVarint(value: number): void {
        // Split into 32-bit halves: JavaScript bit operators truncate to 32 bits. The floor keeps
        // `lo` in 0..2^32-1 for negatives too, and `>>> 0` turns the high half into its unsigned
        // 32-bit pattern (-1 -> 0xffffffff), which is the two's complement of the 64-bit value.
        const high = Math.floor(value / TWO_POW_32);
        let lo = value - high * TWO_POW_32;
        let hi = high >>> 0;
        const at = this.reserve(MAX_VARINT_BYTES);
        let n = 0;
        while (hi > 0 || lo > 0x7f) {
            this.scratch[at + n++] = (lo & 0x7f) | 0x80;
            lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
            hi = hi >>> 7;
        }
        this.scratch[at + n++] = lo;
        this.unreserve(MAX_VARINT_BYTES - n);
    }

    /** Makes room for `n` bytes in the scratch buffer and returns where they start. */
    private reserve(n: number): number {
        if (this.used + n > this.scratch.length) {
            this.flush();
            if (n > this.scratch.length) {
                this.scratch = new Uint8Array(n);
            }
        }
        const at = this.used;
        this.used += n;
        this.total += n;
        return at;
    }

    private unreserve(n: number): void {
        this.used -= n;
        this.total -= n;
    }

    private append(bytes: Uint8Array): void {
        if (bytes.length <= 64) {
            const at = this.reserve(bytes.length);
            this.scratch.set(bytes, at);
            return;
        }
        this.flush();
        this.chunks.push(bytes);
        this.total += bytes.length;
    }

    /** Moves the filled part of the scratch buffer into the chunk list. */
    private flush(): void {
        if (this.used > 0) {
            this.chunks.push(this.scratch.slice(0, this.used));
            this.scratch = new Uint8Array(this.scratch.length);
            this.used = 0;
        }
    }
}

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
    const f = lastField(fields, field);
    if (f === undefined) {
        return undefined;
    }
    if (f.wireType !== WireType.LENGTH_DELIMITED) {
        throw new Error(
            `${what}: field ${field} has wire type ${f.wireType}; expected length-delimited`,
        );
    }
    return f.value;
}

/** The last occurrence of a varint field, if any. */
export function lastVarint(
    fields: readonly WireField[],
    field: number,
    what: string,
): bigint | undefined {
    const f = lastField(fields, field);
    if (f === undefined) {
        return undefined;
    }
    if (f.wireType !== WireType.VARINT) {
        throw new Error(`${what}: field ${field} has wire type ${f.wireType}; expected a varint`);
    }
    return f.value;
}

/** Map entries are messages of `key = 1` and `value = 2`. */
const MAP_ENTRY = { key: 1, value: 2 } as const;

/** Sorts keys by their UTF-8 bytes, the order protobuf's deterministic map serialization uses. */
function sortedKeys(record: Readonly<Record<string, unknown>>): string[] {
    return Object.keys(record).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Writes a `map<string, Message>` field, entries sorted by key (deterministic). */
export function writeMap<T>(
    w: ProtoWriter,
    field: number,
    record: Readonly<Record<string, T>>,
    encode: (value: T) => ProtoWriter,
): void {
    for (const key of sortedKeys(record)) {
        const entry = new ProtoWriter().string(MAP_ENTRY.key, key);
        entry.message(MAP_ENTRY.value, encode(record[key]));
        w.message(field, entry);
    }
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
