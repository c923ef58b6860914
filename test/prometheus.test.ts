import * as assert from "assert";
import {
    REQUEST_COUNT,
    REQUEST_LATENCY,
    countsDelta,
    histogram,
    histogramDelta,
    histogramQuantile,
    parsePrometheusText,
    requestCounts,
} from "../rollout/prometheus";

/** A page as TF Serving prints it, latency limits 10, 100, 1000 µs for brevity. */
function page(ok: number, failed: number, buckets: [number, number, number, number], sum: number) {
    const labels = 'model_name="mymodel",API="predict",entrypoint="REST"';
    return [
        `# TYPE ${REQUEST_COUNT} counter`,
        `${REQUEST_COUNT}{model_name="mymodel",status="OK"} ${ok}`,
        `${REQUEST_COUNT}{model_name="mymodel",status="INVALID_ARGUMENT"} ${failed}`,
        `${REQUEST_COUNT}{model_name="other",status="OK"} 99`,
        `# TYPE ${REQUEST_LATENCY} histogram`,
        ...["10", "100", "1000", "+Inf"].map(
            (le, i) => `${REQUEST_LATENCY}_bucket{${labels},le="${le}"} ${buckets[i]}`,
        ),
        `${REQUEST_LATENCY}_sum{${labels}} ${sum}`,
        `${REQUEST_LATENCY}_count{${labels}} ${buckets[3]}`,
        "",
    ].join("\n");
}

describe("reading TF Serving's Prometheus page", () => {
    it("parses samples with their labels, escapes undone, +Inf as Infinity", () => {
        const samples = parsePrometheusText(
            `# TYPE x counter\nx{a="q\\"\\\\",b=""} 3\ny 1.5e+06\nz_bucket{le="+Inf"} 2\n`,
        );
        assert.deepStrictEqual(samples, [
            { name: "x", labels: { a: 'q"\\', b: "" }, value: 3 },
            { name: "y", labels: {}, value: 1.5e6 },
            { name: "z_bucket", labels: { le: "+Inf" }, value: 2 },
        ]);
    });

    it("refuses a line that is not a sample, naming it", () => {
        assert.throws(
            () => parsePrometheusText("x 1\n<html>404</html>\n"),
            /line 2 is not a sample: "<html>404<\/html>"/,
        );
        assert.throws(() => parsePrometheusText("x{a=1} 2\n"), /line 1 has malformed labels/);
    });

    it("sums request counts by status of one model, and the change between two scrapes", () => {
        const before = requestCounts(parsePrometheusText(page(10, 1, [1, 5, 9, 9], 1000)), {
            model_name: "mymodel",
        });
        const after = requestCounts(parsePrometheusText(page(50, 4, [1, 5, 9, 9], 1000)), {
            model_name: "mymodel",
        });
        assert.deepStrictEqual(
            before,
            new Map([
                ["OK", 10],
                ["INVALID_ARGUMENT", 1],
            ]),
        );
        assert.deepStrictEqual(
            countsDelta(before, after),
            new Map([
                ["OK", 40],
                ["INVALID_ARGUMENT", 3],
            ]),
        );
    });

    it("takes a counter that went down as a restart: the later scrape is all new", () => {
        const before = new Map([["OK", 100]]);
        const after = new Map([
            ["OK", 7],
            ["UNAVAILABLE", 2],
        ]);
        assert.deepStrictEqual(countsDelta(before, after), after);
        const h = {
            buckets: [
                { le: 10, count: 2 },
                { le: Infinity, count: 2 },
            ],
            sum: 5,
            count: 2,
        };
        const earlier = {
            buckets: [
                { le: 10, count: 5 },
                { le: Infinity, count: 9 },
            ],
            sum: 50,
            count: 9,
        };
        assert.deepStrictEqual(histogramDelta(earlier, h), h);
    });

    it("subtracts histograms bucket by bucket and estimates p99 as histogram_quantile does", () => {
        const read = (text: string) =>
            histogram(parsePrometheusText(text), REQUEST_LATENCY, {
                model_name: "mymodel",
                API: "predict",
            });
        const before = read(page(0, 0, [10, 10, 10, 10], 50));
        const after = read(page(0, 0, [10, 100, 110, 110], 9050));
        assert.ok(before !== undefined && after !== undefined);
        const delta = histogramDelta(before, after);
        assert.deepStrictEqual(delta.buckets, [
            { le: 10, count: 0 },
            { le: 100, count: 90 },
            { le: 1000, count: 100 },
            { le: Infinity, count: 100 },
        ]);
        assert.strictEqual(delta.sum, 9000);
        // Rank 99 of 100 falls in (100, 1000], 9 of its 10: 100 + 900 * 9/10.
        assert.strictEqual(histogramQuantile(0.99, delta), 910);
        // Rank 45 in (10, 100]: 10 + 90 * 45/90.
        assert.strictEqual(histogramQuantile(0.45, delta), 55);
    });

    it("gives the largest finite limit when the rank is in +Inf, NaN when empty, undefined when absent", () => {
        const h = {
            buckets: [
                { le: 10, count: 1 },
                { le: Infinity, count: 5 },
            ],
            sum: 0,
            count: 5,
        };
        assert.strictEqual(histogramQuantile(0.99, h), 10);
        assert.ok(Number.isNaN(histogramQuantile(0.99, { buckets: [], sum: 0, count: 0 })));
        assert.strictEqual(
            histogram(parsePrometheusText(page(1, 0, [0, 0, 0, 0], 0)), REQUEST_LATENCY, {
                model_name: "x",
            }),
            undefined,
        );
    });
});
