/**
 * The command line of `npm run rollout`: which stack, which version with which model, or what to
 * do with a rollout that stopped; the policy packs every preview and update runs; where the report
 * goes.
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { UsageError, intFlag } from "../client/cliSupport";
import { errorMessage } from "../errors";
import { CanaryModel } from "./state";

/** Usage text of the command. */
export const ROLLOUT_USAGE = [
    "usage: npm run rollout -- --stack <stack> --version <n> [model options] [options]",
    "       npm run rollout -- --stack <stack> --resume | --rollback",
    "",
    "Steps a canary of version n through the stack's rolloutSteps, one pulumi up per step, judges",
    "each step on live traffic (answers, error rate, p99 against the stable track) and promotes it",
    "at 100%, or rolls it back at the first failed check and exits 1. Each step is recorded in the",
    "stack's rolloutState first, so a stopped rollout can be resumed or rolled back.",
    "",
    "  --stack <stack>          the Pulumi stack, in this project",
    "  --version <n>            the canary's model version",
    "  --model-source <src>     the canary's modelSource (default: the stable track's)",
    "  --seed <n>               the canary's training seed (default: the stable track's)",
    "  --epochs <n>             the canary's training epochs (default: the stable track's)",
    "  --resume                 go on with the stopped rollout from the step it reached",
    "  --rollback               return a stopped rollout's stack to its stable track",
    "  --cancel                 with --resume or --rollback: first end the update a killed rollout",
    "                           left locking the stack (pulumi cancel); only when no pulumi runs on it",
    "  --policy-pack <dir>      a policy pack every preview and up runs (repeatable)",
    "  --policy-pack-config <file>  a JSON config per --policy-pack, in the same order",
    "  --report <file>          where the JSON report goes (default rollout-report.json)",
    "  -h, --help               show this text",
].join("\n");

/** Parsed command line. */
export interface RolloutArguments {
    readonly stack: string;
    readonly version?: number;
    readonly model: CanaryModel;
    readonly resume: boolean;
    readonly rollback: boolean;
    /** Whether to `pulumi cancel` the stack's unfinished update first. */
    readonly cancel: boolean;
    readonly policy: PolicyPacks;
    readonly reportFile: string;
}

/** Policy packs for the engine, as `pulumi up --policy-pack` takes them: absolute paths. */
export interface PolicyPacks {
    readonly packs: readonly string[];
    /** None, or one per pack: the i-th config goes with the i-th pack. */
    readonly configs: readonly string[];
}

/** `--<flag>`'s paths made absolute; a UsageError naming the flag for one that is not a `kind`. */
function existingPaths(flag: string, values: readonly string[], kind: "directory" | "file") {
    return values.map((value) => {
        const resolved = path.resolve(value);
        const stat = fs.statSync(resolved, { throwIfNoEntry: false });
        if (kind === "directory" ? !stat?.isDirectory() : !stat?.isFile()) {
            throw new UsageError(`\`--${flag}\` is "${value}"; expected an existing ${kind}`);
        }
        return resolved;
    });
}

/** Parses the flags; "help" for `--help`. Throws `UsageError` on mistakes. */
export function parseRolloutArguments(argv: readonly string[]): RolloutArguments | "help" {
    let values;
    try {
        values = parseArgs({
            args: [...argv],
            options: {
                stack: { type: "string" },
                version: { type: "string" },
                "model-source": { type: "string" },
                seed: { type: "string" },
                epochs: { type: "string" },
                resume: { type: "boolean" },
                rollback: { type: "boolean" },
                cancel: { type: "boolean" },
                "policy-pack": { type: "string", multiple: true },
                "policy-pack-config": { type: "string", multiple: true },
                report: { type: "string" },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
        }).values;
    } catch (err) {
        throw new UsageError(errorMessage(err));
    }
    if (values.help === true) return "help";
    if (values.stack === undefined || values.stack === "") {
        throw new UsageError("`--stack` is missing; expected the Pulumi stack to roll out on");
    }
    const stopped = values.resume === true || values.rollback === true;
    const model = {
        source: values["model-source"],
        seed: intFlag("seed", values.seed, 0),
        epochs: intFlag("epochs", values.epochs, 1),
    };
    if (stopped && Object.values(model).some((v) => v !== undefined)) {
        throw new UsageError(
            "model options with --resume or --rollback: the stopped rollout's model is the one its rolloutState records",
        );
    }
    if (values.cancel === true && !stopped) {
        throw new UsageError(
            "`--cancel` without --resume or --rollback: only a stopped rollout's stack can be left locked",
        );
    }
    if (!stopped && values.version === undefined) {
        throw new UsageError(
            "`--version` is missing; expected the canary's model version, or --resume / --rollback",
        );
    }
    const packs = existingPaths("policy-pack", values["policy-pack"] ?? [], "directory");
    const configs = existingPaths("policy-pack-config", values["policy-pack-config"] ?? [], "file");
    if (configs.length > 0 && configs.length !== packs.length) {
        // The engine pairs them by position and refuses other counts only once the run started.
        throw new UsageError(
            `\`--policy-pack-config\` is given ${configs.length} times; expected none or one per --policy-pack (${packs.length})`,
        );
    }
    return {
        stack: values.stack,
        version: intFlag("version", values.version, 1),
        model: Object.fromEntries(
            Object.entries(model).filter(([, v]) => v !== undefined),
        ) as CanaryModel,
        resume: values.resume === true,
        rollback: values.rollback === true,
        cancel: values.cancel === true,
        policy: { packs, configs },
        reportFile: values.report ?? "rollout-report.json",
    };
}
