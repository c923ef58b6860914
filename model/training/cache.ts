/**
 * A content-addressed directory cache for model artifacts. An entry is a directory named by its
 * key; it appears only through a rename of a finished temp directory, so a crashed or failed
 * producer never leaves a half-written entry that a later run would trust.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Default cache location, relative to the working directory (git-ignored). */
export const DEFAULT_CACHE_DIR = ".model-cache";

/** Prefix of in-progress entries; they never match a key. */
const TEMP_PREFIX = ".tmp-";

/** A stable hex key over a JSON-serializable description of everything that shapes an artifact. */
export function cacheKey(inputs: Record<string, unknown>): string {
    return crypto.createHash("sha256").update(stableJson(inputs)).digest("hex").slice(0, 32);
}

/** JSON with object keys sorted, so the key does not depend on property order. */
export function stableJson(value: unknown): string {
    if (Array.isArray(value)) {
        return `[${value.map(stableJson).join(",")}]`;
    }
    if (value !== null && typeof value === "object") {
        const entries = Object.keys(value as object)
            .sort()
            .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
            .map(
                (k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`,
            );
        return `{${entries.join(",")}}`;
    }
    return JSON.stringify(value);
}

/** The entry directory for `key`, or undefined when it is not cached. */
export function lookupEntry(cacheDir: string, key: string): string | undefined {
    const dir = path.join(cacheDir, key);
    return fs.existsSync(dir) ? dir : undefined;
}

/**
 * Runs `produce` on a fresh temp directory inside `cacheDir` and, only if it resolves, renames
 * the directory to `key`. On any error the temp directory is removed and the error rethrown.
 */
export async function commitEntry<T>(
    cacheDir: string,
    key: string,
    produce: (dir: string) => Promise<T>,
): Promise<{ dir: string; value: T }> {
    fs.mkdirSync(cacheDir, { recursive: true });
    const temp = fs.mkdtempSync(path.join(cacheDir, TEMP_PREFIX));
    const dir = path.join(cacheDir, key);
    try {
        const value = await produce(temp);
        if (fs.existsSync(dir)) {
            // Another run finished the same key first; its entry is equivalent, keep it.
            fs.rmSync(temp, { recursive: true, force: true });
        } else {
            fs.renameSync(temp, dir);
        }
        return { dir, value };
    } catch (err) {
        fs.rmSync(temp, { recursive: true, force: true });
        throw err;
    }
}
