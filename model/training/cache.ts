/**
 * A content-addressed directory cache for model artifacts. An entry is a directory named by its
 * key; it appears only whole (see `model/atomicDir.ts`), so a crashed or failed producer never
 * leaves a half-written entry that a later run would trust.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { processAlive, writeDirAtomically } from "../atomicDir";

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

/**
 * The entry directory for `key`, or undefined when it is not cached. A run killed between
 * publishing its entry (a rename, so the entry is whole) and removing its lock leaves the lock
 * behind; finding the entry, this removes such a lock of a dead holder.
 */
export function lookupEntry(cacheDir: string, key: string): string | undefined {
    const dir = path.join(cacheDir, key);
    if (!fs.existsSync(dir)) return undefined;
    const lock = lockPath(cacheDir, key);
    const holder = Number(readOrEmpty(lock).trim());
    if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) {
        fs.rmSync(lock, { force: true });
    }
    return dir;
}

/** The lock file of entry `key`. */
function lockPath(cacheDir: string, key: string): string {
    return path.join(cacheDir, `.lock-${key}`);
}

/** A file's text, or "" when it cannot be read (gone meanwhile). */
function readOrEmpty(file: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        return "";
    }
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

/** Longest a run waits for another one producing the same entry. */
const LOCK_WAIT_MS = 2 * 60 * 60 * 1000;
const LOCK_POLL_MS = 500;

/**
 * Runs `fn` holding the lock of entry `key`, so two runs that would produce the same entry do it
 * once: the second waits (telling `onWait` the holder's pid, once) and then finds the entry. A
 * lock whose holder died (a SIGKILL leaves it) is taken over. The lock is the file `.lock-<key>`
 * in the cache directory, holding the holder's pid, and is removed when `fn` settles.
 */
export async function withEntryLock<T>(
    cacheDir: string,
    key: string,
    onWait: (holder: number) => void,
    fn: () => Promise<T>,
): Promise<T> {
    await fs.promises.mkdir(cacheDir, { recursive: true });
    const lock = lockPath(cacheDir, key);
    const deadline = Date.now() + LOCK_WAIT_MS;
    let told = false;
    for (;;) {
        try {
            await fs.promises.writeFile(lock, `${process.pid}\n`, { flag: "wx" });
            break;
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        const text = await fs.promises.readFile(lock, "utf8").catch(() => "");
        const holder = Number(text.trim());
        const known = text.trim() !== "" && Number.isInteger(holder) && holder > 0;
        // No pid yet: the holder is writing it, unless it died doing so long ago.
        const age = Date.now() - ((await fs.promises.stat(lock).catch(() => null))?.mtimeMs ?? 0);
        if ((known && !processAlive(holder)) || (!known && age > 10_000)) {
            await fs.promises.rm(lock, { force: true });
        } else if (known) {
            if (!told) onWait(holder);
            told = true;
        }
        if (Date.now() > deadline) {
            throw new Error(`gave up after ${LOCK_WAIT_MS / 60000} minutes waiting for ${lock}`);
        }
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
    try {
        return await fn();
    } finally {
        await fs.promises.rm(lock, { force: true });
    }
}
