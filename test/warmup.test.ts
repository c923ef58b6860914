/**
 * The warmup file: TFRecord framing with masked CRC-32C, PredictionLog records of PredictRequests
 * at each batch size, the same bytes every time, and written by the export only when asked.
 * (Conformance reads the trained model's file with TensorFlow's own reader.)
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { exportSavedModel, describeServingSignatures } from "../model/savedmodel/export";
import { decodePredictionLog } from "../model/savedmodel/proto/serving";
import { DataType } from "../model/savedmodel/proto/tensorflow";
import { crc32c, maskedCrc32c, tfRecordFile } from "../model/savedmodel/tfrecord";
import { WARMUP_FILE, warmupFile } from "../model/savedmodel/warmup";
import { createModel } from "../model/training/model";

/** Splits a TFRecord file into its records, checking both checksums of each. */
function records(file: Uint8Array): Uint8Array[] {
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const out: Uint8Array[] = [];
    for (let at = 0; at < file.length;) {
        const length = Number(view.getBigUint64(at, true));
        assert.strictEqual(view.getUint32(at + 8, true), maskedCrc32c(file.subarray(at, at + 8)));
        const data = file.subarray(at + 12, at + 12 + length);
        assert.strictEqual(view.getUint32(at + 12 + length, true), maskedCrc32c(data));
        out.push(data);
        at += 16 + length;
    }
    return out;
}

describe("warmup requests", () => {
    it("checksums with CRC-32C, masked as TFRecord does", () => {
        // The standard check value of CRC-32C (RFC 3720, appendix B.4) and an empty input.
        assert.strictEqual(crc32c(Buffer.from("123456789")), 0xe3069283);
        assert.strictEqual(crc32c(new Uint8Array(0)), 0);
        const crc = crc32c(Buffer.from("abc"));
        assert.strictEqual(
            maskedCrc32c(Buffer.from("abc")),
            (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0,
        );
        const file = tfRecordFile([Buffer.from("one"), new Uint8Array(0), Buffer.from("three")]);
        assert.strictEqual(file.length, 16 * 3 + 3 + 5);
        assert.deepStrictEqual(
            records(file).map((r) => Buffer.from(r).toString()),
            ["one", "", "three"],
        );
    });

    it("holds one PredictRequest of blank images per batch size, for serving_default, with fixed bytes", () => {
        const signatures = describeServingSignatures(createModel());
        const file = warmupFile("mymodel", signatures, [1, 8, 100]);
        const requests = records(file).map((r) => decodePredictionLog(r));
        assert.deepStrictEqual(
            requests.map((r) => [
                r.modelSpec.name,
                r.modelSpec.signatureName,
                Object.keys(r.inputs),
            ]),
            [1, 8, 100].map(() => ["mymodel", "serving_default", ["images"]]),
        );
        for (const [i, n] of [1, 8, 100].entries()) {
            const images = requests[i].inputs.images;
            assert.strictEqual(images.dtype, DataType.DT_FLOAT);
            assert.deepStrictEqual(images.shape.dim, [n, 28, 28]);
            assert.strictEqual(images.content?.length, n * 28 * 28 * 4);
            assert.ok(images.content?.every((b) => b === 0));
        }
        assert.ok(Buffer.from(warmupFile("mymodel", signatures, [1, 8, 100])).equals(file));
        assert.throws(
            () => warmupFile("mymodel", signatures, [1, 0]),
            /warmup batch size 0: expected a positive integer/,
        );
        assert.throws(
            () => warmupFile("mymodel", signatures, []),
            /has 0 entries; expected 1-1000/,
        );
    });

    it("is written by the export when asked, and not otherwise", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-warmup-"));
        try {
            const model = createModel();
            const on = await exportSavedModel(model, path.join(dir, "on"), {
                name: "m",
                version: 1,
                warmupBatchSizes: [2],
            });
            const off = await exportSavedModel(model, path.join(dir, "off"), {
                name: "m",
                version: 1,
            });
            const bytes = fs.readFileSync(path.join(on.dir, WARMUP_FILE));
            assert.deepStrictEqual(
                records(bytes).map((r) => decodePredictionLog(r).inputs.images.shape.dim),
                [[2, 28, 28]],
            );
            assert.ok(!fs.existsSync(path.join(off.dir, WARMUP_FILE)));
            assert.ok(
                fs
                    .readFileSync(path.join(on.dir, "saved_model.pb"))
                    .equals(fs.readFileSync(path.join(off.dir, "saved_model.pb"))),
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
