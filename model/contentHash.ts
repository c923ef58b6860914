/**
 * Content hashes of directories: what names an image tag and keys the evaluation cache, so the
 * same bytes give the same name wherever they were written.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Hash of every file under `dir` (paths and contents), in a fixed order. */
export function hashDirectory(dir: string): string {
    const hash = crypto.createHash("sha256");
    const walk = (rel: string): void => {
        for (const entry of fs
            .readdirSync(path.join(dir, rel), { withFileTypes: true })
            .sort((a, b) => (a.name < b.name ? -1 : 1))) {
            const child = path.posix.join(rel, entry.name);
            if (entry.isDirectory()) {
                walk(child);
            } else {
                hash.update(`${child}\0`)
                    .update(fs.readFileSync(path.join(dir, child)))
                    .update("\0");
            }
        }
    };
    walk("");
    return hash.digest("hex");
}
