/**
 * `npm run rollout`'s stack on a real engine: the Automation API's LocalWorkspace over a scratch
 * copy of the project (test/support/realStack.ts, render mode: manifests, no pods), driven by the
 * rollout itself with a judge that reads the rendered canary Deployment and fails the second
 * window. Checks what only the engine can tell: each step's config reaches the program, the
 * preview summaries are the engine's, the state is in the stack's config during the run, and
 * the rollback leaves no canary object and no state.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as YAML from "yaml";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { AutomationStack, configValues } from "../../rollout/automationStack";
import { JudgedWindow, runRollout } from "../../rollout/run";
import { parseState } from "../../rollout/state";
import { RolloutStep, planSteps } from "../../rollout/steps";
import { RealStack, filesUnder, ok, realStackEnv } from "../support/realStack";

/** The rendered Deployment named `name`, or undefined. */
function renderedDeployment(stack: RealStack, name: string): Record<string, any> | undefined {
    for (const file of filesUnder(stack.rendered)) {
        for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
            const o = doc.toJS();
            if (o?.kind === "Deployment" && o.metadata?.name === name) return o;
        }
    }
    return undefined;
}

describe("npm run rollout on a real engine through the Automation API (render mode)", function () {
    let stack: RealStack;

    before(function () {
        const env = realStackEnv();
        if (typeof env === "string") {
            if (process.env.CI === "true")
                throw new Error(`rollout integration cannot run: ${env}`);
            console.log(`skipping the rollout integration test: ${env}`);
            this.skip();
        }
        stack = new RealStack(env as Exclude<typeof env, string>);
    });

    after(() => stack?.cleanUp());

    it("applies 25% then 50% with the step recorded, and rolls back when the 50% window fails", async () => {
        const baseImage = await stack.pushStandInBaseImage();
        stack.initStack("dev", baseImage, {
            set: { replicas: "4", epochs: "1", trainSubset: "2000", minAccuracy: "0.5" },
        });
        ok(stack.pulumi(["up", "-s", "dev", "--yes", "--skip-preview"]), "pulumi up of dev");
        const envVars = Object.fromEntries(
            Object.entries(stack.pulumiEnv).filter(
                (e): e is [string, string] => e[1] !== undefined,
            ),
        );
        const workspace = await LocalWorkspace.selectStack(
            { stackName: "dev", workDir: stack.project },
            { envVars },
        );
        const seen: { weight: number; canaryPods?: number; state: string }[] = [];
        const judge = async (step: RolloutStep): Promise<JudgedWindow> => {
            const canary = renderedDeployment(stack, "mymodel-serving-canary");
            const config = await configValues(workspace);
            seen.push({
                weight: step.weight,
                canaryPods: canary?.spec?.replicas,
                state: config["tfk8s:rolloutState"],
            });
            const passed = step.weight !== 50;
            return {
                analysis: {
                    passed,
                    checks: [
                        {
                            check: "errors",
                            passed,
                            figures: { errorRate: passed ? 0 : 1 },
                            detail: passed ? "none failed" : "every request failed",
                        },
                    ],
                },
                source: "probes",
                windowSeconds: 0,
            };
        };
        const lines: string[] = [];
        const report = await runRollout(
            {
                stackName: "dev",
                stack: new AutomationStack(workspace),
                judge,
                plan: planSteps(4, false),
                log: (line) => lines.push(line),
            },
            { version: 2, model: { seed: 7 }, weights: [25, 50, 100], step: 0, phase: "step" },
        );
        assert.strictEqual(report.outcome, "rolled back", `${report.error}\n${lines.join("\n")}`);
        assert.deepStrictEqual(
            seen.map((s) => [s.weight, s.canaryPods, parseState(s.state).step]),
            [
                [25, 1, 0],
                [50, 2, 1],
            ],
        );
        assert.deepStrictEqual(report.failedChecks, ["errors: every request failed"]);
        // The engine's preview of the first step: the canary's image, Deployment and Services.
        assert.ok((report.steps[0].preview.create ?? 0) >= 4, JSON.stringify(report.steps[0]));
        assert.ok((report.steps[2].preview.delete ?? 0) >= 4, JSON.stringify(report.steps[2]));
        assert.strictEqual(renderedDeployment(stack, "mymodel-serving-canary"), undefined);
        assert.strictEqual(renderedDeployment(stack, "mymodel-serving")?.spec?.replicas, 4);
        // getAllConfig also gives each declared key's default, "" for these.
        const config = await configValues(workspace);
        assert.deepStrictEqual(
            Object.entries(config).filter(([k, v]) => /canary|rolloutState/.test(k) && v !== ""),
            [],
        );
        assert.match(lines.join("\n"), /step 1 of 3 \(25%\): preview: \d+ create/);
    });
});
