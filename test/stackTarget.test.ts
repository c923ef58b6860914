/**
 * `smoke --stack`: the target of each track as read from the stack's outputs and config (given
 * here as the Pulumi CLI prints them) and from the checkout's export.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { trackBuildDirs } from "../buildLayout";
import { PulumiRunner, resolveStackEndpoint, resolveStackTarget } from "../client/stackTarget";
import { DEFAULT_TRAIN_OPTIONS } from "../model/training/train";

/** Outputs of a dev stack with a canary, shaped as index.ts returns them. */
const WITH_CANARY = {
    endpoint: "http://localhost:30111",
    modelName: "mymodel",
    modelVersion: 1,
    canary: {
        modelVersion: 2,
        weight: 25,
        serviceUrl: "http://10.96.4.7:8501",
        stableServiceUrl: "http://10.96.9.1:8501",
    },
};

describe("smoke --stack: the track's target from the stack", () => {
    const cwd = process.cwd();
    let scratch: string;
    let calls: string[][];

    /** A Pulumi CLI answering `stack output` with `outputs` and `config` with `config`. */
    const pulumi =
        (outputs: object, config: Record<string, { value: string }> = {}): PulumiRunner =>
        async (args) => {
            calls.push([...args]);
            if (args[0] === "stack") return JSON.stringify(outputs);
            if (args[0] === "config") return JSON.stringify(config);
            throw new Error(`unexpected pulumi ${args.join(" ")}`);
        };

    /** An export of `version` on `track`, as `pulumi up` leaves it. */
    function exportOf(track: "stable" | "canary", version: number): string {
        const dir = path.join(trackBuildDirs("dev", track).exportDir, "mymodel", String(version));
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "saved_model.pb"), "");
        return dir;
    }

    beforeEach(() => {
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-target-"));
        process.chdir(scratch);
        calls = [];
    });
    afterEach(() => {
        process.chdir(cwd);
        fs.rmSync(scratch, { recursive: true, force: true });
    });

    it("canary: its own Service, its version, its export and the stack's minAccuracy", async () => {
        const dir = exportOf("canary", 2);
        exportOf("stable", 1);
        const target = await resolveStackTarget(
            "dev",
            "canary",
            pulumi(WITH_CANARY, { "tfk8s:minAccuracy": { value: "0.9" } }),
        );
        assert.deepStrictEqual(target, {
            url: "http://10.96.4.7:8501",
            version: 2,
            modelDir: path.join(".build", "dev", "export-canary", "mymodel", "2"),
            minAccuracy: 0.9,
            // A stack deployed before the output existed served our own exports' range.
            inputScale: "0-255",
        });
        assert.strictEqual(target.modelDir, dir);
        assert.deepStrictEqual(calls, [
            ["stack", "output", "--json", "--stack", "dev"],
            ["config", "--json", "--stack", "dev"],
        ]);
    });

    it("stable: the stable Service next to a canary, the one endpoint without; minAccuracy defaults", async () => {
        exportOf("stable", 1);
        const next = await resolveStackTarget("dev", "stable", pulumi(WITH_CANARY));
        assert.strictEqual(next.url, "http://10.96.9.1:8501");
        assert.strictEqual(next.version, 1);
        assert.strictEqual(next.modelDir, path.join(".build", "dev", "export", "mymodel", "1"));
        assert.strictEqual(next.minAccuracy, DEFAULT_TRAIN_OPTIONS.minAccuracy);
        const { canary, ...alone } = WITH_CANARY;
        assert.ok(canary !== undefined);
        const only = await resolveStackTarget("dev", "stable", pulumi(alone));
        assert.strictEqual(only.url, "http://localhost:30111");
    });

    it("the input range the stack outputs, for smoke and for predict --stack", async () => {
        exportOf("stable", 1);
        const loaded = { ...WITH_CANARY, inputScale: "0-1" };
        assert.strictEqual(
            (await resolveStackTarget("dev", "stable", pulumi(loaded))).inputScale,
            "0-1",
        );
        assert.deepStrictEqual(await resolveStackEndpoint("dev", pulumi(loaded)), {
            url: "http://localhost:30111",
            model: "mymodel",
            inputScale: "0-1",
        });
        await assert.rejects(
            resolveStackEndpoint("dev", pulumi({ ...loaded, inputScale: "255" })),
            /^Error: stack dev's output `inputScale` is "255"; expected 0-255 or 0-1$/,
        );
        await assert.rejects(
            resolveStackEndpoint("dev", pulumi({ modelName: "mymodel" })),
            /^Error: stack dev's output `endpoint` is undefined; expected the model's REST endpoint/,
        );
    });

    it("names what is missing: no canary, no export here, a bad minAccuracy", async () => {
        exportOf("stable", 1);
        const { canary, ...alone } = WITH_CANARY;
        assert.ok(canary !== undefined);
        await assert.rejects(
            resolveStackTarget("dev", "canary", pulumi(alone)),
            /^Error: stack dev's output `canary` is undefined; expected a canary track \(set canaryVersion and canaryWeight/,
        );
        await assert.rejects(
            resolveStackTarget("dev", "canary", pulumi(WITH_CANARY)),
            new RegExp(
                `^Error: the canary track of stack dev serves version 2, but ${path.join(".build", "dev", "export-canary", "mymodel", "2")} holds no saved_model.pb; expected the export of \`pulumi up --stack dev\` in this checkout`,
            ),
        );
        await assert.rejects(
            resolveStackTarget(
                "dev",
                "stable",
                pulumi(WITH_CANARY, { "tfk8s:minAccuracy": { value: "97" } }),
            ),
            /^Error: config `tfk8s:minAccuracy` of stack dev is "97"; expected a decimal in \(0, 1\]/,
        );
    });
});
