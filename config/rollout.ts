/**
 * The rollout keys: the steps `npm run rollout` goes through and what each analysis window must
 * show. Read with the rest of the config, so `pulumi preview` refuses a bad one, naming the key,
 * the value and what was expected, long before a rollout would trip on it.
 */
import { planSteps, parseSteps } from "../rollout/steps";
import { Reader, checkedAsConfig } from "./reader";

/** What `npm run rollout` reads from the stack. */
export interface RolloutSettings {
    /** `rolloutSteps`; undefined for the default steps (`rollout/steps.ts`). */
    readonly steps?: readonly number[];
    readonly windowSeconds: number;
    readonly maxErrorRate: number;
    readonly maxLatencyRatio: number;
}

/**
 * The rollout keys; set steps must be ones `replicas` pods give, or with a Gateway route
 * (`routed`) any that rise to 100, each leaving the stable track more pods than the budget keeps.
 */
export function readRollout(
    r: Reader,
    replicas: number,
    routed: boolean,
    pdbMinAvailable?: number,
): RolloutSettings {
    const text = r.string("rolloutSteps");
    const steps =
        text === undefined
            ? undefined
            : checkedAsConfig(() => {
                  const parsed = parseSteps(text);
                  planSteps(replicas, routed, parsed, pdbMinAvailable);
                  return parsed;
              });
    return {
        steps,
        windowSeconds: r.integer("rolloutWindowSeconds", 1) as number,
        maxErrorRate: r.decimal(
            "rolloutMaxErrorRate",
            (n) => n >= 0 && n < 1,
            "a decimal in [0, 1)",
        ),
        maxLatencyRatio: r.decimal(
            "rolloutMaxLatencyRatio",
            (n) => n >= 1,
            "a decimal >= 1 (the canary's p99 over the stable track's)",
        ),
    };
}
