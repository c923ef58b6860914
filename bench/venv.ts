/** Finds the project venv's Python when it has TensorFlow installed. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Path of `.venv/bin/python` if it imports tensorflow, else undefined. */
export function venvPython(root = path.join(__dirname, "..")): string | undefined {
    const python = path.join(root, ".venv", "bin", "python");
    if (!fs.existsSync(python)) return undefined;
    const probe = spawnSync(python, ["-c", "import tensorflow"], { stdio: "ignore" });
    return probe.status === 0 ? python : undefined;
}
