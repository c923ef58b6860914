/**
 * The stand-in's Prometheus page against what TF Serving prints (read from its source: the metric
 * declarations in `servables/tensorflow/util.cc`, the recording in `model_servers/http_server.cc`,
 * the printing in `util/prometheus_exporter.cc`; see `serving-standin/standin/metrics.py`): the
 * names, the labels in their order, the 33 exponential latency buckets and `+Inf`, a value equal to
 * a limit counted above it, and the requests a real server run records. The rollout's analysis
 * reads these figures (`rollout/prometheus.ts`), so it is checked on the same page.
 *
 * Needs `.venv/bin/python` with TensorFlow, as the other end-to-end suite; skips saying why
 * otherwise, fails with CI=true.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROMETHEUS_PATH } from "../../components/servingImage";
import { imagesFromPixels } from "../../client/inputs";
import { predictBody } from "../../client/tfServingClient";
import { exportSavedModel } from "../../model/savedmodel/export";
import { initBackend } from "../../model/training/backend";
import {
    Histogram,
    LabelMatch,
    REQUEST_COUNT,
    REQUEST_LATENCY,
    Sample,
    countsDelta,
    histogram,
    histogramDelta,
    histogramQuantile,
    parsePrometheusText,
    requestCounts,
} from "../../rollout/prometheus";
import { quickModel } from "../doubles/quickModel";
import { TfServingDouble } from "../doubles/tfServingDouble";
import { venvPython } from "../support/venv";

const STANDIN = path.join(__dirname, "..", "..", "serving-standin");
/** Buckets::Exponential(10, 1.8, 33) as absl::StrCat prints the first limits (`%.6g`). */
const FIRST_LIMITS = ["10", "18", "32.4", "58.32", "104.976", "188.957", "340.122", "612.22"];
const LATENCY_LABELS = 'model_name="mymodel",API="predict",entrypoint="REST"';

/** The lines of `page` that start with `prefix`. */
const linesOf = (page: string, prefix: string) =>
    page.split("\n").filter((line) => line.startsWith(prefix));

describe("the stand-in's Prometheus metrics, under TF Serving's names, labels and buckets", function () {
    let python: string;

    before(function () {
        const found = venvPython();
        if (found === undefined) {
            const why = "no TensorFlow: .venv/bin/python is missing or cannot `import tensorflow`";
            if (process.env.CI === "true") throw new Error(`CI=true requires this suite: ${why}`);
            console.log(`    skipping the metrics suite: ${why}`);
            this.skip();
        }
        python = found as string;
    });

    /** The page of a RequestMetrics that recorded what `script` (Python, `m` in scope) does. */
    const pageAfter = (script: string): string => {
        const run = spawnSync(
            python,
            [
                "-c",
                `from standin.metrics import RequestMetrics\nm = RequestMetrics()\n${script}\nprint(m.prometheus_page(), end="")`,
            ],
            { cwd: STANDIN, encoding: "utf8" },
        );
        assert.strictEqual(run.status, 0, run.stderr);
        return run.stdout;
    };

    it("prints the exporter's lines: TYPE, labels in declaration order, 33 limits then +Inf, _sum as %.6g", () => {
        const page = pageAfter(
            [
                'm.count("mymodel", "OK")',
                'm.count("mymodel", "OK")',
                'm.count("mymodel", "NOT_FOUND")',
                'm.observe_latency("mymodel", "predict", "REST", 18)',
                'm.observe_latency("mymodel", "predict", "REST", 1234000)',
            ].join("\n"),
        );
        const lines = page.trimEnd().split("\n");
        assert.deepStrictEqual(lines.slice(0, 4), [
            `# TYPE ${REQUEST_COUNT} counter`,
            `${REQUEST_COUNT}{model_name="mymodel",status="NOT_FOUND"} 1`,
            `${REQUEST_COUNT}{model_name="mymodel",status="OK"} 2`,
            `# TYPE ${REQUEST_LATENCY} histogram`,
        ]);
        const buckets = linesOf(page, `${REQUEST_LATENCY}_bucket{${LATENCY_LABELS},le="`);
        assert.strictEqual(buckets.length, 34, page);
        const limits = buckets.map((line) => /le="([^"]+)"/.exec(line)?.[1]);
        assert.deepStrictEqual(limits.slice(0, FIRST_LIMITS.length), FIRST_LIMITS);
        assert.strictEqual(limits[33], "+Inf");
        limits.slice(0, 33).forEach((limit, i) => {
            const exact = 10 * 1.8 ** i;
            assert.ok(Math.abs(Number(limit) - exact) / exact < 5e-6, `limit ${i}: ${limit}`);
        });
        // TensorFlow's histogram puts a value equal to a limit in the bucket above it.
        assert.match(page, new RegExp(`_bucket\\{${LATENCY_LABELS},le="18"\\} 0\n`));
        assert.match(page, new RegExp(`_bucket\\{${LATENCY_LABELS},le="32.4"\\} 1\n`));
        assert.match(page, /le="1\.27482e\+06"\} 2\n/);
        assert.deepStrictEqual(lines.slice(-2), [
            `${REQUEST_LATENCY}_sum{${LATENCY_LABELS}} 1.23402e+06`,
            `${REQUEST_LATENCY}_count{${LATENCY_LABELS}} 2`,
        ]);
    });

    it("escapes a label value's backslash and quote as SanitizeLabelValue does", () => {
        const page = pageAfter('m.count("a\\\\b\\"c", "OK")');
        assert.match(page, /request_count\{model_name="a\\\\b\\"c",status="OK"\} 1\n/);
        assert.deepStrictEqual(
            requestCounts(parsePrometheusText(page), { model_name: 'a\\b"c' }),
            new Map([["OK", 1]]),
        );
    });

    describe("a running stand-in with the image's monitoring config", () => {
        let dir: string;
        let double: TfServingDouble;
        before(async function () {
            await initBackend(undefined, () => undefined);
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-metrics-"));
            const exported = await exportSavedModel(
                (await quickModel()).model,
                path.join(dir, "export"),
                {
                    name: "mymodel",
                    version: 1,
                    warmupBatchSizes: [],
                },
            );
            double = await TfServingDouble.start({
                python,
                modelBasePath: path.dirname(exported.dir),
                monitoring: true,
            });
        });
        after(async () => {
            await double?.stop();
            if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
        });

        const post = (model: string, body: string) =>
            fetch(`${double.url}/v1/models/${model}:predict`, { method: "POST", body });

        /** The page's samples now. */
        const scrape = async () =>
            parsePrometheusText(await (await fetch(`${double.url}${PROMETHEUS_PATH}`)).text());

        it("counts each /v1/ request by model and status, and times the successful ones by API", async () => {
            // The double serves while loading: wait for the version (these polls count too).
            for (let tries = 0; ; tries++) {
                const status = await (await fetch(`${double.url}/v1/models/mymodel`)).text();
                if (status.includes("AVAILABLE")) break;
                assert.ok(tries < 600, `never AVAILABLE: ${status}\n${double.log}`);
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
            const before = await scrape();
            const image = predictBody(imagesFromPixels(new Uint8Array(28 * 28)));
            for (let i = 0; i < 3; i++)
                assert.strictEqual((await post("mymodel", image)).status, 200);
            assert.strictEqual((await post("nosuch", image)).status, 404);
            assert.strictEqual((await post("mymodel", '{"instances": [[1, 2]]}')).status, 400);
            assert.strictEqual((await fetch(`${double.url}/v1/models/mymodel`)).status, 200);
            const after = await scrape();
            const counts = (model: string) =>
                countsDelta(
                    requestCounts(before, { model_name: model }),
                    requestCounts(after, { model_name: model }),
                );
            assert.deepStrictEqual(
                counts("mymodel"),
                new Map([
                    ["INVALID_ARGUMENT", 1],
                    ["OK", 4],
                ]),
            );
            assert.deepStrictEqual(counts("nosuch"), new Map([["NOT_FOUND", 1]]));
            const latency = (samples: Sample[], match: LabelMatch) =>
                histogram(samples, REQUEST_LATENCY, { model_name: "mymodel", ...match });
            const predicts = latency(after, { API: "predict", entrypoint: "REST" });
            assert.strictEqual(latency(before, { API: "predict" }), undefined);
            assert.strictEqual(predicts?.count, 3);
            assert.ok((predicts?.sum ?? 0) > 0);
            const p99 = histogramQuantile(0.99, predicts as Histogram);
            assert.ok(p99 > 0 && p99 < 60e6, `p99 ${p99} µs`);
            // A GET's path names no verb, so TF Serving records it with an empty API.
            const gets = histogramDelta(
                latency(before, { API: "" }),
                latency(after, { API: "" }) as Histogram,
            );
            assert.strictEqual(gets.count, 1);
            assert.strictEqual(
                histogram(after, REQUEST_LATENCY, { model_name: "nosuch" }),
                undefined,
            );
        });
    });
});
