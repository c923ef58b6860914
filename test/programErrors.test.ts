import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { spawnSync } from "child_process";
import { repairStack, reportable } from "../programErrors";

/** The stack of an error our program failed with under `pulumi up` (test:faults), shortened. */
const PULUMI_STACK = [
    "Error: registry went away",
    "    at trackImage (/tmp/tfk8s-real-stack-MmqYAH/project/index.ts:123:19)",
    "    at Object.runProgram [as init] (/work/main/node_modules/@pulumi/cmd/run/run.ts:579:20)",
    "    at Stack.initialize (/work/main/node_modules/@pulumi/runtime/stack.ts:79:28)",
    "    at Stack.initializeAndRegisterOutputs (/work/main/node_modules/@pulumi/resource.ts:1687:22)",
].join("\n");

describe("the program's errors (programErrors.ts)", () => {
    it("gives a file right under @pulumi/ its package directory and leaves every other frame alone", () => {
        const err = new Error("registry went away");
        err.stack = PULUMI_STACK;
        repairStack(err);
        assert.deepStrictEqual(err.stack.split("\n"), [
            "Error: registry went away",
            "    at trackImage (/tmp/tfk8s-real-stack-MmqYAH/project/index.ts:123:19)",
            // Node finds the end of these package names: left as Pulumi's maps give them.
            "    at Object.runProgram [as init] (/work/main/node_modules/@pulumi/cmd/run/run.ts:579:20)",
            "    at Stack.initialize (/work/main/node_modules/@pulumi/runtime/stack.ts:79:28)",
            "    at Stack.initializeAndRegisterOutputs (/work/main/node_modules/@pulumi/pulumi/resource.ts:1687:22)",
        ]);
        const kubernetes = new Error("k");
        kubernetes.stack =
            "Error: k\n    at f (/app/node_modules/@pulumi/kubernetes/provider.js:12:3)";
        repairStack(kubernetes);
        assert.strictEqual(
            kubernetes.stack,
            "Error: k\n    at f (/app/node_modules/@pulumi/kubernetes/provider.js:12:3)",
        );
    });

    it("leaves a stack that Node's util.inspect can colour within seconds", () => {
        // In a child with a deadline: Node 20.20 loops on the unrepaired frame, in one thread.
        const script = `
            const { repairStack } = require(${JSON.stringify(require.resolve("../programErrors"))});
            const err = new Error("x");
            err.stack = ${JSON.stringify(PULUMI_STACK)};
            repairStack(err);
            process.stdout.write(require("util").inspect(err, { colors: true }));`;
        const r = spawnSync(process.execPath, ["--require", "tsx/cjs", "-e", script], {
            encoding: "utf8",
            timeout: 30_000,
        });
        assert.strictEqual(r.status, 0, `${r.signal ?? ""} ${r.stderr}`);
        assert.match(r.stdout, /registry went away/);
    });

    it("reports our own errors as a RunError with no stack, and keeps a bug's class and stack", () => {
        const ours = reportable(new Error("`tfk8s:replicas` is 0"));
        assert.ok(pulumi.RunError.isInstance(ours));
        assert.strictEqual((ours as Error).message, "`tfk8s:replicas` is 0");
        assert.strictEqual((ours as Error).stack, undefined);
        const bug = new TypeError("x is undefined");
        assert.strictEqual(reportable(bug), bug);
        assert.match(bug.stack ?? "", /TypeError: x is undefined\n\s+at /);
    });
});
