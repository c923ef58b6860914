/**
 * The stack config each phase of a rollout sets, written whole (the recorded state with it)
 * before the phase's `up`: a canary step is the canary keys at the step's weight; promotion makes
 * the canary's model the stable track's and removes the canary keys; a rollback removes them.
 * Pure: a map of `tfk8s:` keys to values, undefined for a key to remove.
 */
import { NAMESPACE } from "../config/reader";
import { ConfigKey } from "../configKeys";
import { RolloutState, STATE_KEY, formatState } from "./state";

/** `tfk8s:<key>` to its new value; undefined removes the key. */
export type ConfigChanges = Readonly<Record<string, string | undefined>>;

const key = (k: ConfigKey) => `${NAMESPACE}:${k}`;
const text = (n: number | undefined) => (n === undefined ? undefined : String(n));

/** Every canary key, removed. */
function withoutCanary(): Record<string, undefined> {
    const keys: ConfigKey[] = [
        "canaryVersion",
        "canaryWeight",
        "canaryModelSource",
        "canarySeed",
        "canaryEpochs",
    ];
    return Object.fromEntries(keys.map((k) => [key(k), undefined]));
}

/** The config of `state`'s phase at its step. */
export function phaseConfig(state: RolloutState): ConfigChanges {
    const recorded = { [key(STATE_KEY)]: formatState(state) };
    const m = state.model;
    switch (state.phase) {
        case "step":
            return {
                ...recorded,
                [key("canaryVersion")]: String(state.version),
                [key("canaryWeight")]: String(state.weights[state.step]),
                [key("canaryModelSource")]: m.source,
                [key("canarySeed")]: text(m.seed),
                [key("canaryEpochs")]: text(m.epochs),
            };
        case "promote":
            // The canary's model, unset fields being the stable track's, becomes the stable one.
            return {
                ...withoutCanary(),
                ...recorded,
                [key("modelVersion")]: String(state.version),
                ...(m.source === undefined ? {} : { [key("modelSource")]: m.source }),
                ...(m.seed === undefined ? {} : { [key("seed")]: text(m.seed) }),
                ...(m.epochs === undefined ? {} : { [key("epochs")]: text(m.epochs) }),
            };
        case "rollback":
            return { ...withoutCanary(), ...recorded };
    }
}

/** The config once the rollout has ended, promoted or rolled back: no state. */
export const ENDED: ConfigChanges = { [key(STATE_KEY)]: undefined };
