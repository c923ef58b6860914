import * as assert from "assert";
import { SmokeResult } from "../client/smoke";
import { AnalysisThresholds, analyzeWindow, failedChecks } from "../rollout/analysis";
import {
    WindowFigures,
    figuresFromProbes,
    figuresFromScrapes,
    nearestRankP99,
} from "../rollout/figures";
import { REQUEST_COUNT, REQUEST_LATENCY, parsePrometheusText } from "../rollout/prometheus";

const THRESHOLDS: AnalysisThresholds = {
    maxErrorRate: 0.01,
    maxLatencyRatio: 1.5,
    minRequests: 20,
};

/** A smoke result of `count` images with `differences` disagreements and `accuracy`. */
function smoke(accuracy: number, differences = 0, minAccuracy = 0.9): SmokeResult {
    const diff = { index: 0, expected: 1, got: 2, label: 1 };
    return {
        version: 2,
        expectedVersion: 2,
        count: 100,
        differences: Array.from({ length: differences }, (_, i) => ({ ...diff, index: i })),
        misclassified: [],
        servedAccuracy: accuracy,
        localAccuracy: accuracy,
        minAccuracy,
        maxLogitDifference: 0,
    };
}

function track(requests: number, failed: number, p99Ms: number): WindowFigures {
    return {
        source: "probes",
        requests,
        failed,
        failuresByCause: failed === 0 ? {} : { "HTTP 500": failed },
        errorRate: requests === 0 ? 0 : failed / requests,
        p99Ms,
    };
}

/** A pod's page: predict successes timed under 10 µs... 1000 µs limits, and failures. */
function pod(ok: number, probeOk: number, failed: number, latencies: [number, number, number]) {
    const labels = 'model_name="mymodel",API="predict",entrypoint="REST"';
    const cumulative = [latencies[0], latencies[0] + latencies[1], ok, ok];
    return parsePrometheusText(
        [
            `${REQUEST_COUNT}{model_name="mymodel",status="OK"} ${ok + probeOk}`,
            `${REQUEST_COUNT}{model_name="mymodel",status="UNAVAILABLE"} ${failed}`,
            ...["1000", "10000", "100000", "+Inf"].map(
                (le, i) => `${REQUEST_LATENCY}_bucket{${labels},le="${le}"} ${cumulative[i]}`,
            ),
            `${REQUEST_LATENCY}_bucket{model_name="mymodel",API="",entrypoint="REST",le="+Inf"} ${probeOk}`,
            `${REQUEST_LATENCY}_count{${labels}} ${ok}`,
        ].join("\n"),
    );
}

describe("the rollout's analysis of one window", () => {
    it("passes a canary that answers right, fails little and is about as fast", () => {
        const analysis = analyzeWindow(
            { canary: track(200, 1, 12), stable: track(800, 0, 10), answers: smoke(0.97) },
            THRESHOLDS,
        );
        assert.deepStrictEqual(
            analysis.checks.map((c) => [c.check, c.passed]),
            [
                ["answers", true],
                ["errors", true],
                ["latency", true],
            ],
        );
        assert.strictEqual(analysis.passed, true);
        assert.deepStrictEqual(failedChecks(analysis), []);
    });

    it("fails the answers check on disagreement or low accuracy, naming the figures", () => {
        const wrong = analyzeWindow(
            { canary: track(200, 0, 10), stable: track(800, 0, 10), answers: smoke(0.12, 0, 0.9) },
            THRESHOLDS,
        );
        assert.strictEqual(wrong.passed, false);
        assert.deepStrictEqual(failedChecks(wrong), [
            "answers: served accuracy 0.1200 on MNIST test images 0-99 is below minAccuracy 0.9",
        ]);
        const answers = wrong.checks[0];
        assert.strictEqual(answers.figures.servedAccuracy, 0.12);
        assert.strictEqual(answers.figures.minAccuracy, 0.9);
        const differs = analyzeWindow(
            { canary: track(200, 0, 10), stable: track(800, 0, 10), answers: smoke(0.95, 3) },
            THRESHOLDS,
        );
        assert.match(
            failedChecks(differs)[0],
            /^answers: version 2 disagrees with the local model on 3 of 100/,
        );
    });

    it("fails the errors check above maxErrorRate, with the causes, and not at it", () => {
        const failing = analyzeWindow(
            { canary: track(200, 5, 10), stable: track(800, 0, 10), answers: smoke(0.97) },
            THRESHOLDS,
        );
        assert.deepStrictEqual(failedChecks(failing), [
            "errors: canary error rate 2.50% (5 of 200: 5 HTTP 500) above maxErrorRate 1.00%; stable 0.00%",
        ]);
        assert.strictEqual(failing.checks[1].figures.errorRate, 0.025);
        const atCeiling = analyzeWindow(
            { canary: track(200, 2, 10), stable: track(800, 0, 10), answers: smoke(0.97) },
            THRESHOLDS,
        );
        assert.strictEqual(atCeiling.checks[1].passed, true);
    });

    it("fails the latency check above maxLatencyRatio against the stable track's p99", () => {
        const slow = analyzeWindow(
            { canary: track(200, 0, 31), stable: track(800, 0, 20), answers: smoke(0.97) },
            THRESHOLDS,
        );
        assert.deepStrictEqual(failedChecks(slow), [
            "latency: canary p99 31.0 ms is 1.55 times the stable track's 20.0 ms, above maxLatencyRatio 1.5",
        ]);
        assert.strictEqual(slow.checks[2].figures.ratio, 1.55);
    });

    it("refuses to judge a window with too few requests on either track", () => {
        const idle = analyzeWindow(
            { canary: track(5, 0, 10), stable: track(800, 0, 10), answers: smoke(0.97) },
            THRESHOLDS,
        );
        assert.deepStrictEqual(failedChecks(idle), [
            "errors: the canary served 5 requests in the window, fewer than the 20 needed to judge it",
            "latency: the canary answered 5 requests in the window, fewer than the 20 needed for a p99",
        ]);
        const noStable = analyzeWindow(
            { canary: track(200, 0, 10), stable: track(10, 0, 10), answers: smoke(0.97) },
            THRESHOLDS,
        );
        assert.match(failedChecks(noStable)[0], /^latency: the stable track answered 10 requests/);
    });
});

describe("a window's figures", () => {
    it("from two scrapes of each pod: predicts timed, failures by status, probes' OKs left out", () => {
        const figures = figuresFromScrapes(
            [
                { before: pod(10, 50, 0, [10, 0, 0]), after: pod(110, 80, 2, [100, 10, 0]) },
                // A pod that started in the window: all it counted is new.
                { after: pod(100, 30, 1, [90, 0, 10]) },
            ],
            "mymodel",
        );
        assert.strictEqual(figures.source, "prometheus");
        assert.strictEqual(figures.failed, 3);
        assert.deepStrictEqual(figures.failuresByCause, { UNAVAILABLE: 3 });
        // 100 + 100 predicts answered, 3 failed; the 60 probe OKs are not requests.
        assert.strictEqual(figures.requests, 203);
        assert.strictEqual(figures.errorRate, 3 / 203);
        // 200 timed: 180 under 1 ms, 10 in (1, 10] ms, 10 in (10, 100] ms; rank 198 is 8 of 10
        // into (10, 100] ms.
        assert.strictEqual(figures.p99Ms, 82);
    });

    it("from the analysis's probes: nearest-rank p99 of the successes, failures by cause", () => {
        const results = [
            ...Array.from({ length: 99 }, (_, i) => ({ ok: true, latencyMs: i + 1 })),
            { ok: true, latencyMs: 500 },
            { ok: false, latencyMs: 3, cause: "HTTP 400" },
            { ok: false, latencyMs: 3000, cause: "ETIMEDOUT" },
        ];
        const figures = figuresFromProbes(results);
        assert.deepStrictEqual(figures, {
            source: "probes",
            requests: 102,
            failed: 2,
            failuresByCause: { "HTTP 400": 1, ETIMEDOUT: 1 },
            errorRate: 2 / 102,
            p99Ms: 99,
        });
        assert.strictEqual(nearestRankP99([5]), 5);
        assert.ok(Number.isNaN(nearestRankP99([])));
    });
});
