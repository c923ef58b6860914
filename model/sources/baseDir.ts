/**
 * TF Serving's model base directory (`--model_base_path`): numbered version directories, each a
 * SavedModel. A model brought from elsewhere often arrives in that layout (`export/1/…`), so a
 * model source may name the base directory and the stack picks the version it serves.
 */
import * as fs from "fs";
import * as path from "path";

/** A version directory's name: a positive integer without leading zeros, as TF Serving reads it. */
const VERSION_NAME = /^[1-9]\d*$/;

/** The numbered version directories directly under `dir`, in ascending order. */
export function versionsIn(dir: string): number[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && VERSION_NAME.test(entry.name))
        .map((entry) => Number(entry.name))
        .sort((a, b) => a - b);
}

/**
 * Version `version` of the base directory `dir`, which holds the numbered `versions`; throws,
 * naming the versions there, when `version` is not one of them.
 */
export function versionDirOf(dir: string, versions: readonly number[], version: number): string {
    if (!versions.includes(version)) {
        throw new Error(
            `model source ${dir} is a model base directory holding version${versions.length === 1 ? "" : "s"} ` +
                `${versions.join(", ")}, but the version to serve is ${version}; expected modelVersion ` +
                `(canaryVersion for the canary) to name one of them, or the model source to point at a version directory`,
        );
    }
    return path.join(dir, String(version));
}

/** What `dir` holds, in a few words for an error message: its first entries. */
export function describeContents(dir: string): string {
    const entries = fs
        .readdirSync(dir, { withFileTypes: true })
        .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
        .sort();
    if (entries.length === 0) return "it is empty";
    const shown = entries.slice(0, 8).join(", ");
    return `it holds ${shown}${entries.length > 8 ? ` and ${entries.length - 8} more` : ""}`;
}
