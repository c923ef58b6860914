/**
 * Writing protobuf messages, hand-written: just enough to write TensorFlow's SavedModel messages
 * without a protobuf runtime or generated code.
 *
 * The writer keeps every field exactly as told (including zeros and empty strings) because
 * `oneof` members such as `AttrValue.b = false` are only "set" when they are on the wire; the
 * schema layer (`tensorflow.ts`) decides which proto3 defaults to leave out.
 */
import { MAP_ENTRY, MAX_FIELD_NUMBER, MAX_VARINT_BYTES, WireType } from "./wire";

const TWO_POW_32 = 2 ** 32;

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
