import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";

/** The pid of a process that has exited, as a writer or lock holder killed earlier leaves it. */
export function deadPid(): number {
    const r = spawnSync(process.execPath, ["-e", "0"]);
    assert.strictEqual(r.status, 0);
    return r.pid as number;
}

/** A live process: its pid and command line. */
export interface ProcessInfo {
    readonly pid: number;
    readonly command: string;
}

/**
 * Every other live process whose environment (as it was started, which /proc shows) holds
 * `name=value`: how the processes one engine or one run started are found once their parent is
 * gone, since the environment is inherited and nothing else of theirs is.
 */
export function processesWithEnv(name: string, value: string): ProcessInfo[] {
    const entry = `${name}=${value}`;
    const found: ProcessInfo[] = [];
    for (const pid of fs
        .readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .map(Number)) {
        if (pid === process.pid) continue;
        try {
            const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
            if (!environ.includes(entry)) continue;
            const command = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
            found.push({ pid, command: command.trim() });
        } catch {
            // Gone while we looked, or a kernel thread: not ours either way.
        }
    }
    return found;
}

/** SIGKILLs, by pid, every process `processesWithEnv(name, value)` finds; returns them. */
export function killProcessesWithEnv(name: string, value: string): ProcessInfo[] {
    const found = processesWithEnv(name, value);
    for (const p of found) {
        try {
            process.kill(p.pid, "SIGKILL");
        } catch {
            // Already gone.
        }
    }
    return found;
}
