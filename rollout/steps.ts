/**
 * The canary shares a rollout steps through. A Gateway route splits requests by exact weights, so
 * any steps go; without one the canary's share is its share of the pods, so the steps are shares
 * whole pods give. The last step is always 100: promotion, where the canary becomes the stable
 * track. Pure; `rolloutSteps` is checked here at preview and by `npm run rollout` before any `up`.
 */
import { TrackReplicas, splitReplicas } from "../components/servingPlan";
import { SettingError } from "../programErrors";

/** The config key of the steps. */
const STEPS_KEY = "rolloutSteps";

/** The steps with exact weights when `rolloutSteps` is unset. */
export const DEFAULT_ROUTED_STEPS: readonly number[] = [10, 25, 50, 100];

/** One step: the canary's percent, and the pods of each track at it (at 100, all the canary's). */
export interface RolloutStep {
    readonly weight: number;
    readonly pods: TrackReplicas;
}

/** The steps of a rollout, and one sentence saying up front how the shares come about. */
export interface StepPlan {
    readonly steps: readonly RolloutStep[];
    readonly routed: boolean;
    readonly summary: string;
}

const STEPS_EXPECTED =
    "comma-separated percents rising from 1 to a last step of 100 (promotion), e.g. 10,25,50,100";

/** The steps of `rolloutSteps`; a SettingError naming the key unless they rise to 100. */
export function parseSteps(text: string): number[] {
    const parts = text.split(",").map((t) => t.trim());
    const steps = parts.map(Number);
    const wellFormed =
        parts.every((t) => /^\d+$/.test(t)) &&
        steps.every((s, i) => s >= 1 && s <= 100 && (i === 0 || s > steps[i - 1])) &&
        steps.length >= 2 &&
        steps[steps.length - 1] === 100;
    if (!wellFormed) throw new SettingError(STEPS_KEY, text, STEPS_EXPECTED);
    return steps;
}

/** The pod share nearest `weight` that whole pods give, each track keeping one. */
function nearestPodShare(replicas: number, weight: number): number {
    const pods = Math.min(replicas - 1, Math.max(1, Math.round((replicas * weight) / 100)));
    return Math.round((100 * pods) / replicas);
}

/**
 * The steps for `replicas` pods, `routed` when a Gateway route splits requests: `requested`, or
 * by default 10, 25, 50 and 100 with a route, and without one the pod shares nearest them.
 * Without a route a requested step that no pod count gives is refused with the shares that are.
 * With a disruption budget (`pdbMinAvailable`), a step that leaves the stable track no more pods
 * than the budget keeps is refused too: the stack's own check would refuse that step's preview.
 */
export function planSteps(
    replicas: number,
    routed: boolean,
    requested?: readonly number[],
    pdbMinAvailable?: number,
): StepPlan {
    if (replicas < 2) {
        throw new SettingError(
            "replicas",
            replicas,
            "at least 2 for a rollout: each track keeps a pod until promotion",
        );
    }
    const weights =
        requested ??
        (routed
            ? DEFAULT_ROUTED_STEPS
            : [
                  ...new Set(
                      DEFAULT_ROUTED_STEPS.slice(0, -1).map((w) => nearestPodShare(replicas, w)),
                  ),
                  100,
              ]);
    const steps = weights.map((weight) => {
        if (weight === 100) return { weight, pods: { stable: 0, canary: replicas } };
        try {
            return { weight, pods: splitReplicas(replicas, weight, routed) };
        } catch (err) {
            if (!(err instanceof SettingError)) throw err;
            throw new SettingError(
                STEPS_KEY,
                weights.join(","),
                `steps without a Gateway route that are ${err.expected.replace(/^a share/, "shares")}, then 100`,
            );
        }
    });
    const canarySteps = steps.slice(0, -1);
    const short = canarySteps.find(
        (s) => pdbMinAvailable !== undefined && s.pods.stable <= pdbMinAvailable,
    );
    if (short !== undefined) {
        throw new SettingError(
            STEPS_KEY,
            weights.join(","),
            `steps that leave the stable track more pods than pdbMinAvailable (${pdbMinAvailable}) keeps through an eviction; ${short.weight}% leaves it ${short.pods.stable} of ${replicas}`,
        );
    }
    const shares = canarySteps
        .map((s) =>
            routed ? `${s.weight}%` : `${s.weight}% (${s.pods.canary} of ${replicas} pods)`,
        )
        .join(", ");
    const summary = routed
        ? `a Gateway route splits requests by exact weights: ${shares}, then promotion at 100%`
        : `no Gateway route, so the canary's share is its share of ${replicas} pods: ${shares}, then promotion at 100%`;
    return { steps, routed, summary };
}
