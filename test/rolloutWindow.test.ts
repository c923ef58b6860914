import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { SmokeResult } from "../client/smoke";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { parseRolloutArguments } from "../rollout/arguments";
import { AutomationStack } from "../rollout/automationStack";
import { Sample } from "../rollout/prometheus";
import { probeTracks, judgeWindow } from "../rollout/window";

/** A local server answering `:predict` with `status` after `delayMs`; its URL. */
async function server(status: (n: number) => number, delayMs: number) {
    let n = 0;
    const s = http.createServer((req, res) => {
        req.resume();
        req.on("end", () =>
            setTimeout(() => {
                res.writeHead(status(n++), { "Content-Type": "application/json" });
                res.end('{"predictions": []}');
            }, delayMs),
        );
    });
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => s.close() };
}

/** A smoke check the canary passes. */
const ANSWERS: SmokeResult = {
    version: 2,
    count: 100,
    differences: [],
    misclassified: [],
    servedAccuracy: 0.98,
    localAccuracy: 0.98,
    minAccuracy: 0.9,
    maxLogitDifference: 0,
};

/** What one pod's Prometheus page says: predicts timed in 1 ms buckets, and failures by status. */
function page(predicts: number, latencyUs: number, failed: Record<string, number> = {}): Sample[] {
    const model = { model_name: "mymodel" };
    const timed = { ...model, API: "predict", entrypoint: "REST" };
    const limits = [1000, 2000, 4000, 8000, 16000, Infinity];
    return [
        ...Object.entries({ OK: predicts + 7, ...failed }).map(([status, value]) => ({
            name: ":tensorflow:serving:request_count",
            labels: { ...model, status },
            value,
        })),
        ...limits.map((le) => ({
            name: ":tensorflow:serving:request_latency_bucket",
            labels: { ...timed, le: String(le === Infinity ? "+Inf" : le) },
            value: latencyUs <= le ? predicts : 0,
        })),
        {
            name: ":tensorflow:serving:request_latency_sum",
            labels: timed,
            value: predicts * latencyUs,
        },
        { name: ":tensorflow:serving:request_latency_count", labels: timed, value: predicts },
    ];
}

const OPTIONS = {
    modelName: "mymodel",
    body: "{}",
    seconds: 1,
    ratePerSecond: 30,
    timeoutMs: 2000,
};

describe("an analysis window", () => {
    const servers: { close(): void }[] = [];
    after(() => servers.forEach((s) => s.close()));

    it("sends each track its share of requests open loop, recording latencies and causes", async () => {
        const stable = await server(() => 200, 1);
        // Every third request fails; each takes 60 ms, longer than the 33 ms between requests.
        const canary = await server((n) => (n % 3 === 2 ? 503 : 200), 60);
        servers.push(stable, canary);
        const started = performance.now();
        const results = await probeTracks({ stable: [stable.url], canary: [canary.url] }, OPTIONS);
        const seconds = (performance.now() - started) / 1000;
        assert.strictEqual(results.stable.length, 30);
        assert.strictEqual(results.canary.length, 30);
        // Open loop: 30 requests of 60 ms each, one every 33 ms, end in about 1 s, not 1.8 s.
        assert.ok(seconds < 1.6, `${seconds} s`);
        assert.strictEqual(results.canary.filter((r) => !r.ok).length, 10);
        assert.deepStrictEqual(
            [...new Set(results.canary.filter((r) => !r.ok).map((r) => r.cause))],
            ["HTTP 503"],
        );
        assert.ok(
            results.canary.every((r) => r.latencyMs >= 59),
            "latency measured per request",
        );
        assert.ok(results.stable.every((r) => r.ok));
    });

    it("records a refused connection and a timeout by cause", async () => {
        const slow = await server(() => 200, 500);
        const closed = await server(() => 200, 0);
        closed.close();
        servers.push(slow);
        const results = await probeTracks(
            { stable: [closed.url], canary: [slow.url] },
            { ...OPTIONS, seconds: 0.2, ratePerSecond: 10, timeoutMs: 100 },
        );
        assert.deepStrictEqual(
            results.stable.map((r) => r.cause),
            ["ECONNREFUSED", "ECONNREFUSED"],
        );
        assert.deepStrictEqual(
            results.canary.map((r) => r.cause),
            ["timeout", "timeout"],
        );
    });

    it("takes turns over a track's pods", async () => {
        const pods = [await server(() => 200, 1), await server(() => 200, 1)];
        const canary = await server(() => 200, 1);
        servers.push(...pods, canary);
        const seen = new Map<string, number>();
        const judged = await judgeWindow(
            { stable: pods.map((p) => p.url), canary: [canary.url] },
            OPTIONS,
            { maxErrorRate: 0.01, maxLatencyRatio: 100, minRequests: 10 },
            async () => ANSWERS,
            async (url) => {
                seen.set(url, (seen.get(url) ?? 0) + 1);
                return page(0, 500);
            },
        );
        assert.strictEqual(judged.source, "prometheus");
        // Every pod of both tracks is scraped twice: at the window's start and at its end.
        assert.deepStrictEqual([...seen.values()], [2, 2, 2]);
        const results = await probeTracks(
            { stable: pods.map((p) => p.url), canary: [canary.url] },
            { ...OPTIONS, seconds: 0.2, ratePerSecond: 20 },
        );
        assert.strictEqual(results.stable.length, 4);
    });

    it("judges a track by what its pods counted between two scrapes, not by the probes alone", async () => {
        const stable = await server(() => 200, 1);
        const canary = await server(() => 200, 1);
        servers.push(stable, canary);
        // The users' traffic: between the scrapes the canary's pod failed 50 of 250 predicts and
        // took 6 ms for each answer against the stable pod's 0.5 ms, while every probe succeeded.
        const pages = new Map([
            [stable.url, [page(1000, 500), page(1300, 500)]],
            [
                canary.url,
                [
                    page(1000, 6000, { INVALID_ARGUMENT: 4 }),
                    page(1200, 6000, { INVALID_ARGUMENT: 54 }),
                ],
            ],
        ]);
        const judged = await judgeWindow(
            { stable: [stable.url], canary: [canary.url] },
            OPTIONS,
            { maxErrorRate: 0.01, maxLatencyRatio: 2, minRequests: 10 },
            async () => ANSWERS,
            async (url) => (pages.get(url) as Sample[][]).shift() as Sample[],
        );
        assert.deepStrictEqual(
            judged.analysis.checks.map((c) => [c.check, c.passed]),
            [
                ["answers", true],
                ["errors", false],
                ["latency", false],
            ],
        );
        assert.match(
            judged.analysis.checks[1].detail,
            /20\.00% \(50 of 250: 50 INVALID_ARGUMENT\)/,
        );
        assert.strictEqual(judged.analysis.checks[2].figures.stableP99Ms, 0.99);
    });

    it("fails the errors check, not the window, when a canary pod's page cannot be read at its end", async () => {
        const stable = await server(() => 200, 1);
        const canary = await server(() => 200, 1);
        servers.push(stable, canary);
        let canaryScrapes = 0;
        const judged = await judgeWindow(
            { stable: [stable.url], canary: [canary.url] },
            OPTIONS,
            { maxErrorRate: 0.01, maxLatencyRatio: 100, minRequests: 10 },
            async () => ANSWERS,
            async (url) => {
                if (url === canary.url && canaryScrapes++ > 0) throw new Error("fetch failed");
                return page(0, 500);
            },
        );
        const errors = judged.analysis.checks[1];
        assert.strictEqual(errors.passed, false);
        assert.match(
            errors.detail,
            new RegExp(
                `1 canary pod\\(s\\) could not be read in the window.*${canary.url}: fetch failed`,
            ),
        );
    });

    it("fails the answers check, not the window, when the smoke check cannot finish", async () => {
        const stable = await server(() => 200, 1);
        const canary = await server(() => 400, 1);
        servers.push(stable, canary);
        const judged = await judgeWindow(
            { stable: [stable.url], canary: [canary.url] },
            OPTIONS,
            { maxErrorRate: 0.01, maxLatencyRatio: 100, minRequests: 10 },
            async () => {
                throw new Error("predict failed: HTTP 400");
            },
        );
        assert.strictEqual(judged.analysis.checks[0].passed, false);
        assert.match(
            judged.analysis.checks[0].detail,
            /could not finish: predict failed: HTTP 400/,
        );
    });

    it("judges the window: a canary failing a third of its requests fails the errors check", async () => {
        const stable = await server(() => 200, 1);
        const canary = await server((n) => (n % 3 === 2 ? 500 : 200), 1);
        servers.push(stable, canary);
        let smokedUrl = "";
        const judged = await judgeWindow(
            { stable: [stable.url], canary: [canary.url] },
            OPTIONS,
            { maxErrorRate: 0.01, maxLatencyRatio: 100, minRequests: 10 },
            async (url) => {
                smokedUrl = url;
                return ANSWERS;
            },
        );
        assert.strictEqual(smokedUrl, canary.url, "the smoke check goes to the canary");
        assert.strictEqual(judged.source, "probes");
        assert.deepStrictEqual(
            judged.analysis.checks.map((c) => [c.check, c.passed]),
            [
                ["answers", true],
                ["errors", false],
                ["latency", true],
            ],
        );
        assert.match(
            judged.analysis.checks[1].detail,
            /canary error rate 33\.33% \(10 of 30: 10 HTTP 500\)/,
        );
    });
});

describe("npm run rollout's command line", () => {
    it("takes a stack, a version and the canary's model", () => {
        assert.deepStrictEqual(
            parseRolloutArguments([
                "--stack",
                "dev",
                "--version",
                "3",
                "--seed",
                "7",
                "--epochs",
                "2",
            ]),
            {
                stack: "dev",
                version: 3,
                model: { seed: 7, epochs: 2 },
                resume: false,
                rollback: false,
                cancel: false,
                policy: { packs: [], configs: [] },
                reportFile: "rollout-report.json",
            },
        );
        assert.strictEqual(parseRolloutArguments(["--help"]), "help");
    });

    it("takes policy packs and their configs in order, as absolute paths, with --rollback too", () => {
        const args = parseRolloutArguments([
            ...["--stack", "prod", "--rollback"],
            ...["--policy-pack", "policy", "--policy-pack-config", "policy/config/prod.json"],
        ]);
        assert.notStrictEqual(args, "help");
        assert.deepStrictEqual(args === "help" ? undefined : args.policy, {
            packs: [path.resolve("policy")],
            configs: [path.resolve("policy/config/prod.json")],
        });
    });

    it("refuses a policy pack that is not a directory and configs that do not pair with packs", () => {
        const stack = ["--stack", "prod", "--rollback"];
        assert.throws(
            () => parseRolloutArguments([...stack, "--policy-pack", "policy/missing"]),
            /`--policy-pack` is "policy\/missing"; expected an existing directory/,
        );
        assert.throws(
            () => parseRolloutArguments([...stack, "--policy-pack-config", "policy"]),
            /`--policy-pack-config` is "policy"; expected an existing file/,
        );
        assert.throws(
            () =>
                parseRolloutArguments([
                    ...stack,
                    ...["--policy-pack-config", "policy/config/prod.json"],
                ]),
            /`--policy-pack-config` is given 1 times; expected none or one per --policy-pack \(0\)/,
        );
    });

    it("hands the policy packs to every preview and up of the stack", async () => {
        const seen: Array<[string, unknown]> = [];
        const engine = {
            preview: async (opts: unknown) => {
                seen.push(["preview", opts]);
                return { changeSummary: { same: 1 } };
            },
            up: async (opts: unknown) => {
                seen.push(["up", opts]);
                return { summary: { resourceChanges: { update: 1 } } };
            },
        };
        const policy = { packs: ["/p/policy"], configs: ["/p/prod.json"] };
        const stack = new AutomationStack(engine as unknown as Stack, policy);
        assert.deepStrictEqual(await stack.preview(), { same: 1 });
        assert.deepStrictEqual(await stack.up(), { update: 1 });
        const expected = {
            onOutput: undefined,
            policyPacks: ["/p/policy"],
            policyPackConfigs: ["/p/prod.json"],
        };
        assert.deepStrictEqual(seen, [
            ["preview", expected],
            ["up", expected],
        ]);
    });

    it("refuses what cannot run, naming the flag", () => {
        assert.throws(() => parseRolloutArguments(["--version", "2"]), /`--stack` is missing/);
        assert.throws(() => parseRolloutArguments(["--stack", "dev"]), /`--version` is missing/);
        assert.throws(
            () => parseRolloutArguments(["--stack", "dev", "--version", "0"]),
            /`--version` is "0"; expected an integer >= 1/,
        );
        assert.throws(
            () => parseRolloutArguments(["--stack", "dev", "--resume", "--seed", "3"]),
            /model options with --resume or --rollback/,
        );
        assert.throws(
            () => parseRolloutArguments(["--stack", "dev", "--steps", "1"]),
            /Unknown option '--steps'/,
        );
        assert.throws(
            () => parseRolloutArguments(["--stack", "dev", "--version", "2", "--cancel"]),
            /`--cancel` without --resume or --rollback/,
        );
    });

    it("takes --cancel with --resume or --rollback", () => {
        const args = parseRolloutArguments(["--stack", "dev", "--rollback", "--cancel"]);
        assert.ok(args !== "help" && args.cancel && args.rollback);
    });
});
