/**
 * TFRecord framing, as TensorFlow's `RecordWriter` writes it (`tensorflow/core/lib/io/record_writer.h`):
 * each record is its length as a little-endian uint64, the masked CRC-32C of those 8 bytes, the
 * data, and the masked CRC-32C of the data. TF's readers check both checksums.
 */

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord uses. */
const CRC32C_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
        table[n] = c >>> 0;
    }
    return table;
})();

/** The CRC-32C of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
    let crc = 0xffffffff;
    for (const b of bytes) crc = CRC32C_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
}

/** The delta TFRecord adds after rotating (`crc32c::Mask`): a CRC of data holding CRCs stays useful. */
const MASK_DELTA = 0xa282ead8;

/** `crc32c::Mask`: rotated right by 15 bits, plus a constant. */
export function maskedCrc32c(bytes: Uint8Array): number {
    const crc = crc32c(bytes);
    return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

/** `records` framed as one TFRecord file. */
export function tfRecordFile(records: readonly Uint8Array[]): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const data of records) {
        const header = new Uint8Array(12);
        const view = new DataView(header.buffer);
        view.setBigUint64(0, BigInt(data.length), true);
        view.setUint32(8, maskedCrc32c(header.subarray(0, 8)), true);
        const footer = new Uint8Array(4);
        new DataView(footer.buffer).setUint32(0, maskedCrc32c(data), true);
        parts.push(header, data, footer);
    }
    return Buffer.concat(parts);
}
