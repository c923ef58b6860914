/**
 * The program's stage times (model/stageTimes.ts): recorded only when asked for, and broken down
 * into stages that account for the whole command.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { STAGE_TIMES_ENV, readStageTimes, stageBreakdown, timedStage } from "../model/stageTimes";

describe("stage times", () => {
    const saved = process.env[STAGE_TIMES_ENV];
    afterEach(() => {
        if (saved === undefined) delete process.env[STAGE_TIMES_ENV];
        else process.env[STAGE_TIMES_ENV] = saved;
    });

    it("records a stage, failed ones included, only when TFK8S_STAGE_TIMES names a file", async () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-stages-")), "s");
        delete process.env[STAGE_TIMES_ENV];
        assert.strictEqual(await timedStage("unasked", () => 1), 1);
        assert.ok(!fs.existsSync(file));
        process.env[STAGE_TIMES_ENV] = file;
        await timedStage("wait", () => new Promise((r) => setTimeout(r, 30)));
        await assert.rejects(
            timedStage("fails", () => Promise.reject(new Error("no"))),
            /no/,
        );
        const stages = readStageTimes(file);
        assert.deepStrictEqual(
            stages.map((s) => s.stage),
            ["wait", "fails"],
        );
        assert.ok(stages[0].endMs - stages[0].startMs >= 25, JSON.stringify(stages[0]));
    });

    it("splits a command's wall time into the CLI before, the program's stages and the rest, and after", () => {
        const stages = [
            { stage: "Node and Pulumi SDK start-up", startMs: 1000, endMs: 2000 },
            { stage: "training", startMs: 2100, endMs: 4100 },
            { stage: "program", startMs: 1000, endMs: 5000 },
        ];
        const parts = stageBreakdown(stages, 600, 5200);
        assert.deepStrictEqual(parts, [
            { stage: "pulumi CLI, engine and plugins before the program", seconds: 0.4 },
            { stage: "Node and Pulumi SDK start-up", seconds: 1 },
            { stage: "training", seconds: 2 },
            { stage: "the rest of the program (resources)", seconds: 1 },
            { stage: "engine and plugins after the program", seconds: 0.2 },
        ]);
        const total = parts.reduce((s, p) => s + p.seconds, 0);
        assert.ok(Math.abs(total - 4.6) < 1e-9, String(total));
        assert.deepStrictEqual(stageBreakdown([], 0, 1500), [
            { stage: "the command (no program ran)", seconds: 1.5 },
        ]);
    });
});
