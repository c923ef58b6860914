import * as assert from "assert";
import { spawnSync } from "child_process";

/** The pid of a process that has exited, as a writer or lock holder killed earlier leaves it. */
export function deadPid(): number {
    const r = spawnSync(process.execPath, ["-e", "0"]);
    assert.strictEqual(r.status, 0);
    return r.pid as number;
}
