/**
 * The three bad canaries of bench/bad_canaries.py (one that answers wrong, one whose requests
 * fail, one that is slow), written with the project's TensorFlow (.venv) into a directory, for
 * the rollouts that must roll them back: bench:progressive and the cluster suite.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { findTensorFlowPython } from "./venv";

const SCRIPT = path.resolve(__dirname, "..", "..", "bench", "bad_canaries.py");

/** One bad canary as bench/bad_canaries.py describes it: its version directory, and its figures. */
export interface BadCanary {
    readonly dir: string;
    readonly caughtBy: string;
    readonly [figure: string]: unknown;
}

/** What bench/bad_canaries.py printed: the models, and how it made them. */
export interface BadCanaries {
    readonly models: Readonly<Record<"wrong" | "failing" | "slow", BadCanary>>;
    readonly [detail: string]: unknown;
}

/** The three bad canaries, written by bench/bad_canaries.py with the project's TensorFlow. */
export function badCanaries(dir: string): BadCanaries {
    const found = findTensorFlowPython();
    if (found.python === undefined) {
        throw new Error(`the bad canaries need Python TensorFlow: ${found.reason}`);
    }
    const r = spawnSync(found.python, [SCRIPT, dir], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    if (r.status !== 0) throw new Error(`bench/bad_canaries.py exited with ${r.status}`);
    const lines = r.stdout.trim().split("\n");
    return JSON.parse(lines[lines.length - 1]);
}
