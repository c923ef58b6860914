/**
 * The one place the project loads `@tensorflow/tfjs-node` (the "tensorflow" backend, TensorFlow
 * sessions for SavedModels), so that it also loads on Node 23 and later.
 *
 * tfjs-node 4.22.0, its latest release, calls `util.isNullOrUndefined` in
 * `nodejs_kernel_backend.js`, a function Node 23 removed: every op with a dtype or tensor list
 * check then fails with "isNullOrUndefined is not a function". The fix is merged upstream
 * (tensorflow/tfjs#8425) but unreleased; tensorflow/tfjs#8609 tracks the breakage on Node 24.
 * Until a release carries it, the function is supplied, with its documented meaning, only where
 * it is missing. Delete `supplyRemovedUtil` once package.json names a tfjs-node with that fix.
 */
// The module object itself (a namespace import would be a copy): tfjs-node reads the function
// from it at each call.
import util from "util";

type TfjsNode = typeof import("@tensorflow/tfjs-node");

/** Puts back `util.isNullOrUndefined` where this Node removed it; leaves an existing one alone. */
export function supplyRemovedUtil(): void {
    const u = util as unknown as Record<string, unknown>;
    if (typeof u.isNullOrUndefined !== "function") {
        u.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
    }
}

/**
 * TensorFlow's runtime settings unless the environment sets them, which TensorFlow reads once,
 * when tfjs-node starts it, for the whole process:
 * - one thread runs the ops of a step (inter-op) and one runs inside each op (intra-op). Training
 *   is a chain of small ops (a batch-32 product takes tens of microseconds), which lose more
 *   handing work to a second thread than they gain;
 * - oneDNN's graph rewrites off. They send every product through oneDNN, whose call costs more
 *   than the batch-32 arithmetic of the small ones; without them the products run on Eigen.
 * `npm run bench:train` times the alternatives.
 */
export const TF_RUNTIME_DEFAULTS = {
    TF_NUM_INTRAOP_THREADS: "1",
    TF_NUM_INTEROP_THREADS: "1",
    TF_ENABLE_ONEDNN_OPTS: "0",
} as const;

/**
 * The runtime settings that change how TensorFlow rounds (which kernels run a product, how an op
 * splits its sums over threads): weights trained under other ones differ in their last bits, so
 * the training cache key holds them. The environment's values, else the defaults.
 */
export function tfRoundingSettings(): { intraOpThreads: string; oneDnnOpts: string } {
    const setting = (name: keyof typeof TF_RUNTIME_DEFAULTS) =>
        process.env[name] ?? TF_RUNTIME_DEFAULTS[name];
    return {
        intraOpThreads: setting("TF_NUM_INTRAOP_THREADS"),
        oneDnnOpts: setting("TF_ENABLE_ONEDNN_OPTS"),
    };
}

/**
 * Loads tfjs-node (which registers the "tensorflow" backend with the shared tfjs-core), quieting
 * libtensorflow's CPU-feature notices unless TF_CPP_MIN_LOG_LEVEL says otherwise, with
 * `TF_RUNTIME_DEFAULTS` where the environment leaves a setting unset.
 */
export function loadTfjsNode(): TfjsNode {
    supplyRemovedUtil();
    process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
    for (const [name, value] of Object.entries(TF_RUNTIME_DEFAULTS)) {
        process.env[name] ??= value;
    }
    return require("@tensorflow/tfjs-node") as TfjsNode;
}
