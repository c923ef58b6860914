/**
 * A `RolloutStack` on Pulumi's Automation API: a LocalWorkspace over this project's directory
 * and the named stack, so each step's config, preview and update go through the engine as
 * `pulumi config`, `pulumi preview` and `pulumi up` would, with the same backend and stack files.
 */
import * as path from "path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { PolicyPacks } from "./arguments";
import { ChangeSummary, RolloutStack } from "./run";
import { ConfigChanges } from "./stepConfig";

/** The project directory: where Pulumi.yaml is. */
export const PROJECT_DIR = path.join(__dirname, "..");

/** The named stack of this project, as it is (`selectStack` creates nothing). */
export function selectProjectStack(stackName: string, workDir = PROJECT_DIR): Promise<Stack> {
    return LocalWorkspace.selectStack({ stackName, workDir });
}

/** The stack's config as `tfk8s:<key>` to value. */
export async function configValues(stack: Stack): Promise<Record<string, string>> {
    const all = await stack.getAllConfig();
    return Object.fromEntries(Object.entries(all).map(([key, v]) => [key, v.value]));
}

/** No policy pack: the engine runs only what the backend requires. */
const NO_POLICY: PolicyPacks = { packs: [], configs: [] };

/**
 * `stack` as a rollout drives it: every preview and up runs `policy`'s packs, as
 * `--policy-pack`/`--policy-pack-config` would; the engine's output goes to `onOutput`.
 */
export class AutomationStack implements RolloutStack {
    constructor(
        private readonly stack: Stack,
        private readonly policy: PolicyPacks = NO_POLICY,
        private readonly onOutput?: (out: string) => void,
    ) {}

    async setConfig(changes: ConfigChanges): Promise<void> {
        const entries = Object.entries(changes);
        const set = entries.filter((e): e is [string, string] => e[1] !== undefined);
        const current = await this.stack.getAllConfig();
        // Only keys that are set: removing an absent one is not an error worth an engine call.
        const removed = entries.filter(([k, v]) => v === undefined && k in current).map(([k]) => k);
        if (set.length > 0) {
            await this.stack.setAllConfig(
                Object.fromEntries(set.map(([k, v]) => [k, { value: v }])),
            );
        }
        if (removed.length > 0) await this.stack.removeAllConfig(removed);
    }

    async preview(): Promise<ChangeSummary> {
        return (await this.stack.preview(this.options())).changeSummary;
    }

    async up(): Promise<ChangeSummary> {
        const result = await this.stack.up(this.options());
        return result.summary.resourceChanges ?? {};
    }

    /** The options preview and up share (UpOptions and PreviewOptions name them alike). */
    private options() {
        return {
            onOutput: this.onOutput,
            policyPacks: [...this.policy.packs],
            policyPackConfigs: [...this.policy.configs],
        };
    }
}
