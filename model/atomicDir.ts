/**
 * Directories that appear whole or not at all. A producer fills a hidden temporary directory
 * beside the target, which is renamed into place once complete, so a crash or an error never
 * leaves a half-written directory that a later reader (TF Serving, the artifact cache) trusts.
 * Both the SavedModel export and the cache write through here.
 */
import * as fs from "fs";
import * as path from "path";

/** Prefix of in-progress directories: hidden, and never a numeric version or a cache key. */
export const TEMP_PREFIX = ".tmp-";

/** What to do when the target directory already exists. */
export type IfExists =
    /** Throw, and write nothing. */
    | "fail"
    /** Replace it; the old one survives if the swap fails. */
    | "replace"
    /** Keep it and discard the new one: for content-addressed entries, which are equivalent. */
    | "keep";

/**
 * Fills `target` atomically: `fill` writes into a temporary directory beside it, which becomes
 * `target` only if `fill` resolves. If `fill` throws, the temporary directory is removed, the
 * error is rethrown and `target` is as it was. Returns what `fill` returned.
 */
export async function writeDirAtomically<T>(
    target: string,
    ifExists: IfExists,
    fill: (dir: string) => Promise<T>,
): Promise<T> {
    const parent = path.dirname(target);
    await fs.promises.mkdir(parent, { recursive: true });
    if (ifExists === "fail" && fs.existsSync(target)) {
        throw new Error(`${target} already exists; expected a new directory (or a replace)`);
    }
    await removeDeadWritersTemps(parent, path.basename(target));
    // The writer's pid is in the name, so a later writer can tell a dead one's leftovers.
    const tmp = await fs.promises.mkdtemp(
        path.join(parent, `${TEMP_PREFIX}${path.basename(target)}-${process.pid}-`),
    );
    try {
        // mkdtemp makes the directory private (0700); the image's non-root server must read it.
        await fs.promises.chmod(tmp, 0o755);
        const value = await fill(tmp);
        await moveIntoPlace(tmp, target, ifExists);
        return value;
    } catch (err) {
        await fs.promises.rm(tmp, { recursive: true, force: true });
        throw err;
    }
}

/** Whether process `pid` is alive (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Cleans up after writers of `base` that died (a SIGKILL leaves no chance to): a dead writer's
 * temporary is removed, and the old target it had moved aside mid-replace is moved back when
 * no target took its place. A live writer's files, in this process or another, are left alone.
 */
async function removeDeadWritersTemps(parent: string, base: string): Promise<void> {
    const prefix = `${TEMP_PREFIX}${base}-`;
    const target = path.join(parent, base);
    for (const name of await fs.promises.readdir(parent)) {
        const m = /^(\d+)-[A-Za-z0-9]+(\.old)?$/.exec(name.slice(prefix.length));
        if (!name.startsWith(prefix) || m === null || processAlive(Number(m[1]))) continue;
        const leftover = path.join(parent, name);
        if (m[2] !== undefined && !fs.existsSync(target)) {
            await fs.promises.rename(leftover, target);
        } else {
            await fs.promises.rm(leftover, { recursive: true, force: true });
        }
    }
}

async function moveIntoPlace(tmp: string, target: string, ifExists: IfExists): Promise<void> {
    if (!fs.existsSync(target)) {
        await fs.promises.rename(tmp, target);
        return;
    }
    if (ifExists === "keep") {
        await fs.promises.rm(tmp, { recursive: true, force: true });
        return;
    }
    if (ifExists === "fail") {
        throw new Error(`${target} appeared while it was being written`);
    }
    // A directory cannot be renamed over a non-empty one: move the old one aside first, and back
    // if the swap fails, so the previous contents survive a failed replace.
    const old = `${tmp}.old`;
    await fs.promises.rename(target, old);
    try {
        await fs.promises.rename(tmp, target);
    } catch (err) {
        await fs.promises.rename(old, target);
        throw err;
    }
    await fs.promises.rm(old, { recursive: true, force: true });
}

/** Writes `bytes` to the new file `file` and flushes it to disk before returning. */
export async function writeFileDurably(file: string, bytes: Uint8Array | string): Promise<void> {
    const handle = await fs.promises.open(file, "wx");
    try {
        await handle.writeFile(bytes);
        await handle.sync();
    } finally {
        await handle.close();
    }
}
