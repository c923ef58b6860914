import * as assert from "assert";
import { WireType, readFields, readRepeatedVarints, toInt64 } from "../model/savedmodel/proto/wire";
import { ProtoWriter } from "../model/savedmodel/proto/writer";

function hex(bytes: Uint8Array): string {
    return Buffer.from(bytes).toString("hex");
}

/** The bytes of a varint field 1 holding `value`, without its tag byte (0x08). */
function varintBytes(value: number, write: "varint" | "int64" = "varint"): string {
    const encoded = hex(new ProtoWriter()[write](1, value).finish());
    assert.strictEqual(encoded.slice(0, 2), "08");
    return encoded.slice(2);
}

/** Reads back field 1 of a message as a signed int64. */
function readBack(bytes: Uint8Array): number {
    const fields = readFields(bytes);
    assert.strictEqual(fields.length, 1);
    const [f] = fields;
    assert.strictEqual(f.wireType, WireType.VARINT);
    return toInt64(f.value, "f1");
}

/** A packed repeated field 1 whose run is `run`, split back into fields by readFields. */
function packed(run: number[]): ReturnType<typeof readFields> {
    return readFields(new ProtoWriter().bytes(1, new Uint8Array(run)).finish());
}

/** Eleven bytes, each with the continuation bit, then a terminator: one varint too long. */
const ELEVEN_BYTES = [...new Array<number>(10).fill(0x80), 0x01];

describe("protobuf varints", () => {
    // Reference encodings worked out from the protobuf spec: 7 bits per byte, low group first.
    const boundaries: Array<[number, string]> = [
        [0, "00"],
        [127, "7f"],
        [128, "8001"],
        [2 ** 31 - 1, "ffffffff07"],
        [2 ** 32, "8080808010"],
        [Number.MAX_SAFE_INTEGER, "ffffffffffffff0f"],
    ];

    for (const [value, bytes] of boundaries) {
        it(`encodes ${value} as ${bytes} and reads it back, as a varint and as an int64`, () => {
            assert.strictEqual(varintBytes(value), bytes);
            assert.strictEqual(varintBytes(value, "int64"), bytes);
            assert.strictEqual(readBack(new ProtoWriter().varint(1, value).finish()), value);
        });
    }

    it("writes a negative int64 as ten bytes of two's complement and reads it back", () => {
        assert.strictEqual(varintBytes(-1, "int64"), "ffffffffffffffffff01");
        assert.strictEqual(varintBytes(-128, "int64"), "80ffffffffffffffff01");
        assert.strictEqual(varintBytes(Number.MIN_SAFE_INTEGER, "int64"), "81808080808080f0ff01");
        for (const value of [-1, -128, -(2 ** 32), Number.MIN_SAFE_INTEGER]) {
            const bytes = new ProtoWriter().int64(1, value).finish();
            assert.strictEqual(bytes.length, 1 + 10, `${value}`);
            assert.strictEqual(readBack(bytes), value);
        }
    });

    it("packs repeated int64s with the same encoding and reads them back packed", () => {
        const values = [0, 127, 128, 2 ** 31 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1];
        const fields = readFields(new ProtoWriter().packedInt64(1, values).finish());
        assert.strictEqual(fields.length, 1);
        assert.strictEqual(fields[0].wireType, WireType.LENGTH_DELIMITED);
        assert.deepStrictEqual(
            readRepeatedVarints(fields, 1, "list").map((v) => toInt64(v, "list")),
            values,
        );
    });

    it("refuses values a varint field cannot carry", () => {
        assert.throws(() => new ProtoWriter().varint(1, -1), /field 1: -1 is not a non-negative/);
        assert.throws(() => new ProtoWriter().varint(1, 2 ** 53), /not a non-negative safe/);
        assert.throws(() => new ProtoWriter().int64(2, 0.5), /field 2: 0.5 is not a safe integer/);
        assert.throws(
            () => new ProtoWriter().packedInt64(3, [1, 2 ** 53]),
            /field 3: 9007199254740992 is not a safe integer/,
        );
    });

    it("readFields refuses an 11-byte varint, naming the field and offset", () => {
        assert.throws(
            () => readFields(new Uint8Array([0x08, ...ELEVEN_BYTES]), "TensorProto"),
            /^Error: TensorProto field 1: varint at byte 1 is longer than 10 bytes \(expected at most 10/,
        );
        // The ten-byte maximum itself is fine.
        assert.strictEqual(
            readBack(new Uint8Array([0x08, ...new Array<number>(9).fill(0xff), 0x01])),
            -1,
        );
    });

    it("readRepeatedVarints refuses an 11-byte varint in a packed run, naming the field and offset", () => {
        assert.throws(
            () => readRepeatedVarints(packed([0x05, ...ELEVEN_BYTES]), 1, "TensorProto"),
            /^Error: TensorProto packed field 1: varint at byte 1 is longer than 10 bytes \(expected at most 10/,
        );
    });

    it("refuses truncated varints in keys, values, lengths and packed runs", () => {
        assert.throws(
            () => readFields(new Uint8Array([0x80])),
            /^Error: message: truncated varint at byte 0 of 1/,
        );
        assert.throws(
            () => readFields(new Uint8Array([0x08, 0xff, 0xff])),
            /^Error: message field 1: truncated varint at byte 1 of 3/,
        );
        assert.throws(
            () => readFields(new Uint8Array([0x12, 0x80])),
            /^Error: message field 2 length: truncated varint at byte 1 of 2/,
        );
        assert.throws(
            () => readRepeatedVarints(packed([0x01, 0x96]), 1, "AttrValue.list"),
            /^Error: AttrValue.list packed field 1: truncated varint at byte 1 of 2/,
        );
    });
});
