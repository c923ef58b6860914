/** Runs one of our TypeScript commands as `npm run …` does, capturing what a user would see. */
import * as assert from "assert";
import { execFile } from "child_process";
import * as path from "path";

/** Repository root. */
export const ROOT = path.join(__dirname, "..", "..");

/** Exit code and output of a finished command. */
export interface CliRun {
    /** Exit code (null if killed by a signal). */
    readonly code: number | null;
    /** Everything written to stdout. */
    readonly stdout: string;
    /** Everything written to stderr. */
    readonly stderr: string;
}

/** Runs `tsx <script> <args…>` from the repository root; never rejects on a non-zero exit. */
export function runCli(
    script: string,
    args: readonly string[],
    timeoutMs = 120_000,
): Promise<CliRun> {
    const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
    return new Promise((resolve, reject) => {
        execFile(
            tsx,
            [script, ...args],
            // Quiet TensorFlow's C++ start-up lines so stderr holds only what the command says.
            {
                cwd: ROOT,
                timeout: timeoutMs,
                env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" },
                maxBuffer: 16 << 20,
            },
            (err, stdout, stderr) => {
                if (err !== null && typeof err.code !== "number") {
                    reject(new Error(`${script} did not finish: ${err.message}\n${stderr}`));
                    return;
                }
                resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
            },
        );
    });
}

/**
 * The output lines of a smoke run that must have failed (exit 1), from its `smoke: FAILED` verdict
 * on: the verdict, the legend, the table's header, then one line per image.
 */
export function failedSmokeLines(run: CliRun): string[] {
    assert.strictEqual(run.code, 1, run.stdout + run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    const at = lines.findIndex((l) => l.startsWith("smoke: FAILED"));
    assert.ok(at >= 0, `no smoke: FAILED verdict in\n${run.stdout}`);
    return lines.slice(at);
}
