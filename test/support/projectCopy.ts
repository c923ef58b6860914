/** A fresh copy of the checkout, as a clone would have it, for commands run as a user runs them. */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");

/**
 * Copies every file git tracks or would track (modes kept) into `dest`, and links the checkout's
 * node_modules there, as after `npm ci`.
 */
export function copyCheckout(dest: string): void {
    const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
        cwd: ROOT,
        encoding: "utf8",
    })
        .split("\n")
        .filter((f) => f !== "" && fs.existsSync(path.join(ROOT, f)));
    for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(dest, f)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, f), path.join(dest, f));
        fs.chmodSync(path.join(dest, f), fs.statSync(path.join(ROOT, f)).mode);
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dest, "node_modules"));
}
