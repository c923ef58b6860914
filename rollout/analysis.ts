/**
 * The judgement of one analysis window: the canary against its thresholds and against the stable
 * track in the same window. Three checks, each passing or failing with the figures it used:
 *   - answers: the live smoke check of the canary (classes against the canary's own local model,
 *     accuracy at least `minAccuracy`);
 *   - errors: the canary's error rate at most `maxErrorRate`;
 *   - latency: the canary's p99 at most `maxLatencyRatio` times the stable track's.
 * Pure: the figures come in, the verdict goes out.
 */
import { SmokeResult, smokeFailures } from "../client/smoke";
import { WindowFigures } from "./figures";

/** What a window must show. */
export interface AnalysisThresholds {
    /** Largest share of failed canary requests, 0-1. */
    readonly maxErrorRate: number;
    /** Largest canary p99 / stable p99. */
    readonly maxLatencyRatio: number;
    /** Fewest requests a track must have served in the window to be judged. */
    readonly minRequests: number;
}

/** The checks, by name. */
export type CheckName = "answers" | "errors" | "latency";

/** One check's outcome. */
export interface CheckResult {
    readonly check: CheckName;
    readonly passed: boolean;
    /** The figures it judged, and the threshold it held them to. */
    readonly figures: Readonly<Record<string, number | string>>;
    /** One sentence: what was found, against what. */
    readonly detail: string;
}

/** What one window's analysis decided. */
export interface Analysis {
    readonly passed: boolean;
    readonly checks: readonly CheckResult[];
}

/** The figures of one window. */
export interface WindowInput {
    readonly canary: WindowFigures;
    readonly stable: WindowFigures;
    /** The smoke check of the canary in the window, or why it could not finish. */
    readonly answers: SmokeResult | SmokeError;
}

const percent = (rate: number) => `${(100 * rate).toFixed(2)}%`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

/** A smoke check that could not finish, such as one whose requests the canary fails. */
export interface SmokeError {
    readonly error: string;
}

/** The answers check: the smoke check's own verdict, with its figures. */
export function checkAnswers(answers: SmokeResult | SmokeError): CheckResult {
    if ("error" in answers) {
        return {
            check: "answers",
            passed: false,
            figures: { error: answers.error },
            detail: `the smoke check of the canary could not finish: ${answers.error}`,
        };
    }
    const failures = smokeFailures(answers);
    return {
        check: "answers",
        passed: failures.length === 0,
        figures: {
            version: answers.version,
            images: answers.count,
            differences: answers.differences.length,
            servedAccuracy: answers.servedAccuracy,
            ...(answers.minAccuracy === undefined ? {} : { minAccuracy: answers.minAccuracy }),
        },
        detail:
            failures.length > 0
                ? failures.join("; ")
                : `version ${answers.version} agrees with its local model on all ${answers.count} images, accuracy ${answers.servedAccuracy.toFixed(4)}`,
    };
}

/** The errors check: the canary's failed share, with enough requests to tell. */
export function checkErrors(
    canary: WindowFigures,
    stable: WindowFigures,
    t: AnalysisThresholds,
): CheckResult {
    const figures = {
        requests: canary.requests,
        failed: canary.failed,
        errorRate: canary.errorRate,
        maxErrorRate: t.maxErrorRate,
        stableErrorRate: stable.errorRate,
    };
    const causes = Object.entries(canary.failuresByCause)
        .map(([cause, n]) => `${n} ${cause}`)
        .join(", ");
    if (canary.unreadPods !== undefined) {
        return {
            check: "errors",
            passed: false,
            figures: { ...figures, unreadPods: canary.unreadPods.length },
            detail: `${canary.unreadPods.length} canary pod(s) could not be read in the window, as a pod killed or restarted: ${canary.unreadPods.join("; ")}`,
        };
    }
    if (canary.requests < t.minRequests) {
        return {
            check: "errors",
            passed: false,
            figures,
            detail: `the canary served ${canary.requests} requests in the window, fewer than the ${t.minRequests} needed to judge it`,
        };
    }
    const passed = canary.errorRate <= t.maxErrorRate;
    return {
        check: "errors",
        passed,
        figures,
        detail:
            `canary error rate ${percent(canary.errorRate)} (${canary.failed} of ${canary.requests}${causes === "" ? "" : `: ${causes}`}) ` +
            `${passed ? "within" : "above"} maxErrorRate ${percent(t.maxErrorRate)}; stable ${percent(stable.errorRate)}`,
    };
}

/** The latency check: the canary's p99 against the stable track's in the same window. */
export function checkLatency(
    canary: WindowFigures,
    stable: WindowFigures,
    t: AnalysisThresholds,
): CheckResult {
    const ratio = canary.p99Ms / stable.p99Ms;
    const figures = {
        canaryP99Ms: canary.p99Ms,
        stableP99Ms: stable.p99Ms,
        ratio,
        maxLatencyRatio: t.maxLatencyRatio,
    };
    const answered = (f: WindowFigures) => f.requests - f.failed;
    const short =
        answered(canary) < t.minRequests
            ? { track: "canary", n: answered(canary) }
            : answered(stable) < t.minRequests
              ? { track: "stable track", n: answered(stable) }
              : undefined;
    if (short !== undefined) {
        return {
            check: "latency",
            passed: false,
            figures,
            detail: `the ${short.track} answered ${short.n} requests in the window, fewer than the ${t.minRequests} needed for a p99`,
        };
    }
    const passed = ratio <= t.maxLatencyRatio;
    return {
        check: "latency",
        passed,
        figures,
        detail: `canary p99 ${ms(canary.p99Ms)} is ${ratio.toFixed(2)} times the stable track's ${ms(stable.p99Ms)}, ${passed ? "within" : "above"} maxLatencyRatio ${t.maxLatencyRatio}`,
    };
}

/** Every check of one window; passed when all pass. */
export function analyzeWindow(input: WindowInput, thresholds: AnalysisThresholds): Analysis {
    const checks = [
        checkAnswers(input.answers),
        checkErrors(input.canary, input.stable, thresholds),
        checkLatency(input.canary, input.stable, thresholds),
    ];
    return { passed: checks.every((c) => c.passed), checks };
}

/** The failed checks as one line each: `<check>: <detail>`. */
export function failedChecks(analysis: Analysis): string[] {
    return analysis.checks.filter((c) => !c.passed).map((c) => `${c.check}: ${c.detail}`);
}
