/**
 * The warmup file TF Serving replays when it loads a version (`assets.extra/
 * tf_serving_warmup_requests`, a TFRecord file of PredictionLog messages; TF Serving's
 * `saved_model_warmup.md`), so the first real request does not pay for the runtime's lazy
 * initialisation. We write one PredictRequest of blank images per batch size clients send, for
 * `serving_default`. Blank images and a fixed encoding keep the bytes, and so the image digest,
 * the same for an unchanged model.
 */
import * as path from "path";
import { IMAGE_SIZE, SIGNATURE_KEYS, ServingSignatures } from "./contract";
import { encodePredictionLog } from "./proto/serving";
import { DataType } from "./proto/tensorflow";
import { tfRecordFile } from "./tfrecord";

/** Where TF Serving looks for the warmup file, relative to the version directory. */
export const WARMUP_FILE = path.posix.join("assets.extra", "tf_serving_warmup_requests");

/**
 * Batch sizes warmed up when nothing else is said: a single image (`predict` of one file), a
 * small batch, and 100, what `npm run smoke` and `predict --mnist 100` send.
 */
export const DEFAULT_WARMUP_BATCH_SIZES: readonly number[] = [1, 8, 100];

/** TF Serving reads at most this many warmup records (`kMaxNumRecords`, saved_model_warmup_util.cc). */
export const MAX_WARMUP_RECORDS = 1000;

/** The warmup file for `modelName` with one request per entry of `batchSizes`. */
export function warmupFile(
    modelName: string,
    signatures: ServingSignatures,
    batchSizes: readonly number[],
): Uint8Array {
    if (batchSizes.length === 0 || batchSizes.length > MAX_WARMUP_RECORDS) {
        throw new Error(
            `warmup \`batchSizes\` has ${batchSizes.length} entries; expected 1-${MAX_WARMUP_RECORDS}`,
        );
    }
    const signature = signatures.signatures[SIGNATURE_KEYS.default];
    const inputKeys = Object.keys(signature?.inputs ?? {});
    if (inputKeys.length !== 1) {
        throw new Error(
            `warmup needs ${SIGNATURE_KEYS.default} with one input; it has ${inputKeys.length}`,
        );
    }
    return tfRecordFile(
        batchSizes.map((n) => {
            if (!Number.isSafeInteger(n) || n < 1) {
                throw new Error(`warmup batch size ${n}: expected a positive integer`);
            }
            const content = new Uint8Array(n * IMAGE_SIZE * IMAGE_SIZE * 4); // float32 zeros
            return encodePredictionLog({
                modelSpec: { name: modelName, signatureName: SIGNATURE_KEYS.default },
                inputs: {
                    [inputKeys[0]]: {
                        dtype: DataType.DT_FLOAT,
                        shape: { dim: [n, IMAGE_SIZE, IMAGE_SIZE] },
                        content,
                    },
                },
            });
        }),
    );
}
