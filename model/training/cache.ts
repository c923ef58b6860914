/**
 * A content-addressed directory cache for model artifacts. An entry is a directory named by its
 * key; it appears only whole (see `model/atomicDir.ts`), so a crashed or failed producer never
 * leaves a half-written entry that a later run would trust.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { writeDirAtomically } from "../atomicDir";

/** Default cache location, relative to the working directory (git-ignored). */
export const DEFAULT_CACHE_DIR = ".model-cache";

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
 * Runs `produce` on a fresh directory and, only if it resolves, publishes it as the entry `key`.
 * When another run published the same key first, its entry is equivalent and is kept.
 */
export async function commitEntry<T>(
    cacheDir: string,
    key: string,
    produce: (dir: string) => Promise<T>,
): Promise<{ dir: string; value: T }> {
    const dir = path.join(cacheDir, key);
    const value = await writeDirAtomically(dir, "keep", produce);
    return { dir, value };
}
