/**
 * tfjs-node on the Node that runs the tests (model/tfjsNode.ts): each case loads it in a process
 * of its own, so that what one case does to `util` cannot help another.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { supplyRemovedUtil } from "../model/tfjsNode";

const ROOT = path.resolve(__dirname, "..");
const NODE_MAJOR = Number(process.versions.node.split(".")[0]);

/**
 * Runs `code` (CommonJS) with tsx's loader in a fresh Node, with `env` over this process's
 * environment (undefined removes a variable); its exit status and output.
 */
function inFreshNode(code: string, env: Record<string, string | undefined> = {}) {
    const merged: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2", ...env };
    for (const [name, value] of Object.entries(env)) {
        if (value === undefined) delete merged[name];
    }
    const r = spawnSync(process.execPath, ["--require", "tsx/cjs", "-e", code], {
        cwd: ROOT,
        encoding: "utf8",
        env: merged,
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** An Add on the tensorflow backend: its kernel checks its dtype with util.isNullOrUndefined. */
const ADD = `
    tf.setBackend("tensorflow").then(() => {
        console.log(JSON.stringify(tf.add(tf.tensor([1, 2]), tf.tensor([3, 4])).arraySync()));
    }).catch((e) => { console.log("failed: " + e.message); process.exit(1); });`;

describe("tfjs-node on this Node", function () {
    this.timeout(60_000);
    before(function () {
        if (!require("fs").existsSync(path.join(ROOT, "node_modules/@tensorflow/tfjs-node/lib"))) {
            // In CI the native backend is built first: its absence is a failure there.
            if (process.env.CI === "true") throw new Error("tfjs-node's native addon is not built");
            this.skip();
        }
    });

    it("runs an op through loadTfjsNode", () => {
        const r = inFreshNode(
            `const tf = require("./model/tfjsNode").loadTfjsNode(); ${ADD.replace(/\n/g, " ")}`,
        );
        assert.strictEqual(r.status, 0, r.output);
        assert.match(r.output, /^\[4,6\]$/m);
    });

    it("fails without the shim on Node 23 and later, as tensorflow/tfjs#8609 reports", function () {
        const r = inFreshNode(
            `const tf = require("@tensorflow/tfjs-node"); ${ADD.replace(/\n/g, " ")}`,
        );
        if (NODE_MAJOR >= 23) {
            assert.strictEqual(r.status, 1, r.output);
            assert.match(r.output, /isNullOrUndefined\) is not a function/);
        } else {
            // Node 22 still has the function: the shim must then change nothing.
            assert.strictEqual(r.status, 0, r.output);
        }
    });

    it("starts TensorFlow with one thread per pool and oneDNN's rewrites off unless the environment says otherwise", () => {
        // Threads of the process once TensorFlow ran an op, and the variables it saw.
        const threads = (env: Record<string, string | undefined>) => {
            const r = inFreshNode(
                `const tf = require("./model/tfjsNode").loadTfjsNode();
                 tf.setBackend("tensorflow").then(() => {
                     tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])).dataSync();
                     const tasks = require("fs").readdirSync("/proc/self/task").length;
                     console.log(JSON.stringify({ tasks, intra: process.env.TF_NUM_INTRAOP_THREADS,
                         inter: process.env.TF_NUM_INTEROP_THREADS,
                         oneDnn: process.env.TF_ENABLE_ONEDNN_OPTS }));
                 });`.replace(/\n/g, " "),
                env,
            );
            assert.strictEqual(r.status, 0, r.output);
            const json = r.output.split("\n").filter((l) => l.startsWith("{"));
            return JSON.parse(json.pop() as string);
        };
        const unset = {
            TF_NUM_INTRAOP_THREADS: undefined,
            TF_NUM_INTEROP_THREADS: undefined,
            TF_ENABLE_ONEDNN_OPTS: undefined,
        };
        const defaults = threads(unset);
        assert.deepStrictEqual([defaults.intra, defaults.inter, defaults.oneDnn], ["1", "1", "0"]);
        // TensorFlow sizes its intra-op pool from the variable: 8 threads are 7 more than 1.
        const eight = threads({
            ...unset,
            TF_NUM_INTRAOP_THREADS: "8",
            TF_ENABLE_ONEDNN_OPTS: "1",
        });
        assert.deepStrictEqual([eight.intra, eight.inter, eight.oneDnn], ["8", "1", "1"]);
        assert.ok(
            eight.tasks - defaults.tasks >= 7,
            `threads: ${defaults.tasks} with the defaults, ${eight.tasks} with 8 intra-op`,
        );
    });

    it("supplies only what this Node lacks, with the documented meaning", () => {
        const util = require("util") as Record<string, unknown>; // the module object itself
        const before = util.isNullOrUndefined;
        supplyRemovedUtil();
        if (NODE_MAJOR < 23) assert.strictEqual(util.isNullOrUndefined, before);
        const isNullOrUndefined = util.isNullOrUndefined as (v: unknown) => boolean;
        assert.deepStrictEqual([null, undefined, 0, "", false, NaN, {}].map(isNullOrUndefined), [
            true,
            true,
            false,
            false,
            false,
            false,
            false,
        ]);
    });
});
