/**
 * Where a rollout is, recorded in the stack's own config (`rolloutState`) before each `up`, so a
 * rollout killed at any point leaves the stack saying what it was doing: the next run reads it and
 * goes on (`--resume`) or returns to the stable track (`--rollback`), as the user chooses. Every
 * step's config is written whole before its `up`, and `up` converges the stack on its config, so
 * re-applying the recorded step finishes whatever a killed `up` left half done.
 */
import { SettingError } from "../programErrors";

/** The config key the state lives under. */
export const STATE_KEY = "rolloutState";

/** What the rollout was doing at its recorded step. */
export type RolloutPhase = "step" | "promote" | "rollback";

/** The canary's model, as the `canary…` keys describe it; unset fields follow the stable track. */
export interface CanaryModel {
    readonly source?: string;
    readonly seed?: number;
    readonly epochs?: number;
}

/** A rollout under way. */
export interface RolloutState {
    /** The canary's model version. */
    readonly version: number;
    readonly model: CanaryModel;
    /** Every step's canary percent, the last 100. */
    readonly weights: readonly number[];
    /** Index in `weights` of the step applied or being applied. */
    readonly step: number;
    readonly phase: RolloutPhase;
}

/** The state as its config value. */
export function formatState(state: RolloutState): string {
    return JSON.stringify(state);
}

const STATE_EXPECTED =
    'the JSON npm run rollout writes, e.g. {"version":2,"model":{},"weights":[10,25,50,100],"step":1,"phase":"step"}; remove the key (pulumi config rm rolloutState) if no rollout is under way';

/** The state in a config value; a SettingError naming the key when it is not one. */
export function parseState(text: string): RolloutState {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        throw new SettingError(`tfk8s:${STATE_KEY}`, text, STATE_EXPECTED, { keyKind: "config" });
    }
    const s = value as Partial<RolloutState> | null;
    const valid =
        s !== null &&
        typeof s === "object" &&
        Number.isInteger(s.version) &&
        typeof s.model === "object" &&
        s.model !== null &&
        Array.isArray(s.weights) &&
        s.weights.length > 0 &&
        s.weights.every((w) => Number.isInteger(w)) &&
        Number.isInteger(s.step) &&
        (s.step as number) >= 0 &&
        (s.step as number) < s.weights.length &&
        (s.phase === "step" || s.phase === "promote" || s.phase === "rollback");
    if (!valid) {
        throw new SettingError(`tfk8s:${STATE_KEY}`, text, STATE_EXPECTED, { keyKind: "config" });
    }
    return s as RolloutState;
}

/** What the user asked this run to do. */
export interface StartRequest {
    readonly stack: string;
    /** `--version`; undefined with `--resume` or `--rollback` alone. */
    readonly version?: number;
    readonly resume: boolean;
    readonly rollback: boolean;
}

/** What this run does. */
export type StartDecision =
    | { readonly kind: "start"; readonly version: number }
    | { readonly kind: "resume"; readonly state: RolloutState }
    | { readonly kind: "rollback"; readonly state: RolloutState };

/** `state` in words: which rollout, where it stopped, doing what. */
export function describeState(state: RolloutState): string {
    const at = `step ${state.step + 1} of ${state.weights.length} (${state.weights[state.step]}%)`;
    const doing =
        state.phase === "promote"
            ? "promoting it"
            : state.phase === "rollback"
              ? "rolling it back"
              : "applying or judging it";
    return `a rollout of version ${state.version} stopped at ${at}, ${doing}`;
}

/**
 * Whether to start, resume or roll back, from the recorded state and the flags. A stopped
 * rollout is never passed over silently: without a flag the run refuses, saying where it stopped
 * and what each flag would do. A rollout that stopped while rolling back resumes by finishing
 * the rollback.
 */
export function decideStart(state: RolloutState | undefined, request: StartRequest): StartDecision {
    if (request.resume && request.rollback) {
        throw new Error("--resume and --rollback exclude each other: choose one");
    }
    if (state === undefined) {
        if (request.resume || request.rollback) {
            throw new Error(
                `stack ${request.stack} has no rollout under way (its rolloutState is empty): nothing to ${request.resume ? "resume" : "roll back"}`,
            );
        }
        if (request.version === undefined) {
            throw new Error("--version <n> is required to start a rollout");
        }
        return { kind: "start", version: request.version };
    }
    if (request.version !== undefined && request.version !== state.version) {
        throw new Error(
            `stack ${request.stack} has ${describeState(state)}; --version ${request.version} cannot start until it is resumed (--resume) or rolled back (--rollback)`,
        );
    }
    if (request.rollback && state.phase === "promote") {
        // The promotion's config already names the canary's model as the stable one, and the
        // state does not keep the model it replaced.
        throw new Error(
            `stack ${request.stack} has ${describeState(state)}: its config already makes version ${state.version} the stable track, so it cannot be rolled back from here; run again with --resume to finish the promotion`,
        );
    }
    if (request.rollback || (request.resume && state.phase === "rollback")) {
        return { kind: "rollback", state };
    }
    if (request.resume) return { kind: "resume", state };
    throw new Error(
        `stack ${request.stack} has ${describeState(state)}; run again with --resume to go on from that step, or --rollback to return to the stable track`,
    );
}
