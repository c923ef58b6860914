/**
 * Mocha root hooks: start the same tfjs backend the program would pick, once, quietly; and give
 * the run one scratch directory of its own as TMPDIR (which os.tmpdir() and the processes the
 * tests start read), removed at the end, so the tests' scratch directories do not pile up.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { initBackend } from "../model/training/backend";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-unit-"));
// Sticky and open to all, as /tmp is: a test runs a command as another user.
fs.chmodSync(scratch, 0o1777);
process.env.TMPDIR = scratch;

export const mochaHooks = {
    async beforeAll(): Promise<void> {
        await initBackend(undefined, () => undefined);
    },
    afterAll(): void {
        fs.rmSync(scratch, { recursive: true, force: true });
    },
};
