/**
 * Finds the Python with TensorFlow that the conformance suite, the doubles and the benches use,
 * and quiets what it prints on start-up.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/**
 * `$TFK8S_PYTHON`, else the project venv's `.venv/bin/python`, when it imports tensorflow;
 * otherwise the reason there is none.
 */
export function findTensorFlowPython(): { python?: string; version?: string; reason: string } {
    const python =
        process.env.TFK8S_PYTHON ?? path.join(__dirname, "..", "..", ".venv", "bin", "python");
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

/** TensorFlow's start-up chatter, which says nothing about the models under test. */
const TF_BANNER = [
    /^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$/,
    /^I0000 .* port\.cc:\d+\] oneDNN custom operations are on/,
    /cpu_feature_guard|To enable the following instructions|rebuild TensorFlow with the appropriate/,
];

/** `text` without TensorFlow's banner lines. */
export function withoutTensorFlowBanner(text: string): string {
    return text
        .split("\n")
        .filter((line) => !TF_BANNER.some((re) => re.test(line)))
        .join("\n")
        .trim();
}
