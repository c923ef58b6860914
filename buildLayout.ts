/**
 * Where the stack program keeps each track's SavedModel export and image build context, under
 * `.build/<stack>/` (git-ignored). The smoke check reads a track's export from here, so it
 * compares the live pods with the exact bytes their image was built from.
 */
import * as path from "path";
import type { Track } from "./components/modelTrack";

/** A track's directories, relative to the project root. */
export interface TrackBuildDirs {
    /** Holds `<model>/<version>/saved_model.pb`. */
    readonly exportDir: string;
    /** The image's build context. */
    readonly contextDir: string;
}

/** The stable track keeps the names it had before tracks existed; the canary's get `-canary`. */
export function trackBuildDirs(stack: string, track: Track): TrackBuildDirs {
    const suffix = track === "stable" ? "" : `-${track}`;
    const root = path.join(".build", stack);
    return {
        exportDir: path.join(root, `export${suffix}`),
        contextDir: path.join(root, `context${suffix}`),
    };
}
