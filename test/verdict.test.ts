/**
 * Command-line entry points end with exit code 0 only once their main has reached a verdict
 * (verdict.ts): each case runs a tiny command in a process of its own, as `npm run` would.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT, runCli } from "./doubles/runCli";

describe("runCommand: a verdict or a failure", function () {
    this.timeout(60_000);
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-verdict-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs a command whose body is `code`, with `runCommand` and `runMain` in scope. */
    async function command(code: string) {
        const file = path.join(dir, `command-${Math.random().toString(36).slice(2)}.ts`);
        fs.writeFileSync(
            file,
            `import { runCommand } from ${JSON.stringify(path.join(ROOT, "verdict"))};\n` +
                `import { runMain, UsageError } from ${JSON.stringify(path.join(ROOT, "client", "cliSupport"))};\n` +
                `void runCommand; void runMain; void UsageError;\n${code}\n`,
        );
        return runCli(file, []);
    }

    it("a main that never settles exits 1 and says so, where Node alone would exit 0", async () => {
        // The only timer is unref'd, as AbortSignal.timeout's is: nothing keeps the loop alive.
        const pending =
            "new Promise<number>((resolve) => setTimeout(() => resolve(0), 60_000).unref())";
        const bare = await command(`${pending}.then((c) => { process.exitCode = c; });`);
        assert.strictEqual(bare.code, 0, "Node's own behaviour, which the wrapper must not keep");
        const wrapped = await command(`runCommand(() => ${pending});`);
        assert.strictEqual(wrapped.code, 1, wrapped.stderr);
        assert.match(wrapped.stderr, /^error: the command ended before reaching its verdict/m);
    });

    it("predict's and smoke's runMain exit 1 on a main that never settles", async () => {
        const run = await command(
            'runMain(() => new Promise<number>((r) => setTimeout(() => r(0), 60_000).unref()), "usage");',
        );
        assert.strictEqual(run.code, 1, run.stderr);
        assert.match(run.stderr, /before reaching its verdict/);
    });

    it("the verdict's number is the exit code; a rejection is reported and exits 1", async () => {
        assert.strictEqual((await command("runCommand(async () => 0);")).code, 0);
        assert.strictEqual((await command("runCommand(async () => {});")).code, 0);
        assert.strictEqual((await command("runCommand(async () => 3);")).code, 3);
        const failed = await command('runCommand(async () => { throw new Error("no model"); });');
        assert.strictEqual(failed.code, 1);
        assert.strictEqual(failed.stderr, "error: no model\n");
        const usage = await command(
            'runMain(async () => { throw new UsageError("bad flag"); }, "USAGE");',
        );
        assert.strictEqual(usage.code, 2);
        assert.strictEqual(usage.stderr, "error: bad flag\n\nUSAGE\n");
    });

    it("exitAtVerdict ends a process that a live handle would keep running", async () => {
        const run = await command(
            "setInterval(() => {}, 1000);\nrunCommand(async () => 4, undefined, { exitAtVerdict: true });",
        );
        assert.strictEqual(run.code, 4);
    });
});
