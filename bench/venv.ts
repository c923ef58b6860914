/** Finds the Python with TensorFlow that the conformance suite, the doubles and the benches use. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/**
 * `$TFK8S_PYTHON`, else the project venv's `.venv/bin/python`, when it imports tensorflow;
 * otherwise the reason there is none.
 */
export function findTensorFlowPython(): { python?: string; version?: string; reason: string } {
    const python = process.env.TFK8S_PYTHON ?? path.join(__dirname, "..", ".venv", "bin", "python");
    if (!fs.existsSync(python)) {
        return { reason: `${python} does not exist` };
    }
    const probe = spawnSync(python, ["-c", "import tensorflow as tf; print(tf.__version__)"], {
        encoding: "utf8",
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3" },
    });
    if (probe.status !== 0) {
        return { reason: `${python} cannot import tensorflow (exit ${probe.status})` };
    }
    return { python, version: probe.stdout.trim(), reason: "found" };
}

/** The Python `findTensorFlowPython` finds, or undefined. */
export function venvPython(): string | undefined {
    return findTensorFlowPython().python;
}
