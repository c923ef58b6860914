/**
 * The TF Serving client against `FakeTfServing`, a local double of TF Serving's REST port:
 * paths, parsing, every error shape, timeouts, what is and is not retried, input checks.
 */
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import {
    ServingConnectionError,
    ServingHttpError,
    ServingInputError,
    ServingResponseError,
    ServingTimeoutError,
    ServingUnavailableError,
} from "../client/servingErrors";
import { argMax, softmax } from "../client/scores";
import { imagesFromPixels } from "../client/inputs";
import { parseErrorBody } from "../client/responses";
import { TfServingClient } from "../client/tfServingClient";
import { ClientOptions } from "../client/types";
import { FakeTfServing } from "./doubles/fakeTfServing";

/** A 28x28 image filled with `v`. */
function image(v = 0): number[][] {
    return Array.from({ length: 28 }, () => new Array<number>(28).fill(v));
}

/** Logits that pick `digit` with probability e^2 / (e^2 + 9). */
function logitsFor(digit: number): number[] {
    return Array.from({ length: 10 }, (_, k) => (k === digit ? 2 : 0));
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
    try {
        await promise;
    } catch (err) {
        return err as Error;
    }
    assert.fail("expected the call to fail");
}

async function freePort(): Promise<number> {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((r) => server.close(() => r()));
    return port;
}

describe("TF Serving client", () => {
    let fake: FakeTfServing;
    const client = (options: Partial<ClientOptions> = {}) =>
        new TfServingClient({ url: fake.url, timeoutMs: 2000, backoffMs: 10, ...options });

    beforeEach(async () => {
        // Digit = the first pixel of each image mod 10, so tests control what comes back per image.
        fake = await FakeTfServing.start({
            predict: (xs) => xs.map((x) => logitsFor(x[0][0] % 10)),
        });
    });
    afterEach(async () => {
        await fake.close();
    });

    describe("success", () => {
        it("status() GETs /v1/models/<name> and parses every version, state and status", async () => {
            fake.versions = [
                { version: 1, state: "END" },
                { version: 2, state: "AVAILABLE" },
                { version: 3, state: "LOADING", errorCode: "OK" },
            ];
            const status = await client().status();
            assert.deepStrictEqual(
                fake.requests.map((r) => `${r.method} ${r.path}`),
                ["GET /v1/models/mymodel"],
            );
            assert.deepStrictEqual(status.versions, [
                { version: 1, state: "END", errorCode: "OK", errorMessage: "" },
                { version: 2, state: "AVAILABLE", errorCode: "OK", errorMessage: "" },
                { version: 3, state: "LOADING", errorCode: "OK", errorMessage: "" },
            ]);
        });

        it("puts the version or the label in the path, URL-encoded, for status, metadata and predict", async () => {
            fake.versions = [
                { version: 1, state: "AVAILABLE" },
                { version: 2, state: "AVAILABLE" },
            ];
            fake.labels = { "blue green": 1 };
            const v2 = client({ version: 2 });
            const labelled = client({ label: "blue green" });
            assert.deepStrictEqual(
                (await v2.status()).versions.map((v) => v.version),
                [2],
            );
            assert.strictEqual((await labelled.metadata()).version, 1);
            await v2.predict([image(4)]);
            await labelled.predict([image(4)]);
            assert.deepStrictEqual(
                fake.requests.map((r) => `${r.method} ${r.path}`),
                [
                    "GET /v1/models/mymodel/versions/2",
                    "GET /v1/models/mymodel/labels/blue%20green/metadata",
                    "POST /v1/models/mymodel/versions/2:predict",
                    "POST /v1/models/mymodel/labels/blue%20green:predict",
                ],
            );
        });

        it("metadata() reads model_spec and every signature's tensors from the nested signature_def map", async () => {
            fake.versions = [
                { version: 1, state: "AVAILABLE" },
                { version: 5, state: "AVAILABLE" },
            ];
            const meta = await client().metadata();
            assert.strictEqual(fake.requests[0].path, "/v1/models/mymodel/metadata");
            assert.strictEqual(meta.name, "mymodel");
            assert.strictEqual(meta.version, 5);
            assert.deepStrictEqual(Object.keys(meta.signatures).sort(), [
                "keras",
                "probabilities",
                "serving_default",
            ]);
            const sig = meta.signatures.serving_default;
            assert.strictEqual(sig.method, "tensorflow/serving/predict");
            assert.deepStrictEqual(sig.inputs.images, {
                tensor: "images:0",
                dtype: "DT_FLOAT",
                shape: [-1, 28, 28],
            });
            assert.deepStrictEqual(sig.outputs.logits.shape, [-1, 10]);
        });

        it("predict() POSTs the exact pixels in row format and returns one row per image", async () => {
            const a = image(7);
            a[27][27] = 255;
            const b = image(12);
            b[3][3] = 12.5;
            const rows = await client().predict([a, b]);
            const sent = JSON.parse(fake.requests[0].body);
            assert.deepStrictEqual(
                sent,
                { instances: [a, b] },
                "no signature_name unless one is asked for",
            );
            assert.strictEqual(fake.requests[0].path, "/v1/models/mymodel:predict");
            assert.deepStrictEqual(rows, [logitsFor(7), logitsFor(2)]);
        });

        it("accepts typed-array images and sends them as plain JSON numbers", async () => {
            const pixels = new Uint8Array(2 * 784);
            pixels[0] = 3;
            pixels[784 + 5 * 28 + 6] = 200;
            const batch = imagesFromPixels(pixels);
            const typed = batch.map((img) => img.map((row) => Uint8Array.from(row)));
            await client().predict(typed);
            const sent = JSON.parse(fake.requests[0].body).instances;
            assert.strictEqual(sent[0][0][0], 3);
            assert.strictEqual(sent[1][5][6], 200);
            assert.ok(Array.isArray(sent[1][5]), "a typed array must not serialize as an object");
        });

        it("predictDigits() applies softmax to logits, but not to the probabilities signature's output", async () => {
            const p = Math.exp(2) / (Math.exp(2) + 9);
            const fromLogits = await client().predictDigits([image(3), image(8)]);
            assert.deepStrictEqual(
                fromLogits.map((d) => d.digit),
                [3, 8],
            );
            assert.ok(
                Math.abs(fromLogits[0].probability - p) < 1e-12,
                String(fromLogits[0].probability),
            );
            assert.ok(Math.abs(fromLogits[0].probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-12);
            assert.deepStrictEqual(fromLogits[0].logits, logitsFor(3));
            const fromProbs = await client().predictDigits([image(3)], {
                signatureName: "probabilities",
            });
            assert.strictEqual(JSON.parse(fake.requests[1].body).signature_name, "probabilities");
            assert.ok(
                Math.abs(fromProbs[0].probability - p) < 1e-9,
                `softmax applied twice: ${fromProbs[0].probability}`,
            );
            assert.strictEqual(fromProbs[0].logits, undefined);
        });

        it("predictDigits() takes a serving_default that already returns probabilities (a Keras softmax) as they are", async () => {
            const keras = await FakeTfServing.start({
                predict: (xs) =>
                    xs.map(() => [0.05, 0.05, 0.7, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02]),
            });
            try {
                const [d] = await new TfServingClient({ url: keras.url }).predictDigits([image()]);
                assert.strictEqual(d.digit, 2);
                assert.strictEqual(d.probability, 0.7, "softmax applied to probabilities");
                assert.strictEqual(d.logits, undefined);
            } finally {
                await keras.close();
            }
        });
    });

    describe("errors", () => {
        it("turns TF Serving's 404 for an unknown model into a ServingHttpError with its message", async () => {
            const err = await rejection(client({ model: "nope" }).predict([image()]));
            assert.ok(err instanceof ServingHttpError, String(err));
            assert.strictEqual(err.status, 404);
            assert.strictEqual(err.serverMessage, "Servable not found for request: Latest(nope)");
            assert.strictEqual(err.fromTfServing, true);
            assert.strictEqual(err.url, `${fake.url}/v1/models/nope:predict`);
            assert.match(err.message, /HTTP 404: TF Serving says: Servable not found/);
        });

        it("reports unknown versions, unknown labels and unknown signatures with TF Serving's status codes", async () => {
            const version = await rejection(client({ version: 7 }).status());
            assert.ok(version instanceof ServingHttpError);
            assert.deepStrictEqual(
                [version.status, version.serverMessage],
                [404, "Could not find version 7 of model mymodel"],
            );
            const label = await rejection(client({ label: "canary" }).predict([image()]));
            assert.ok(label instanceof ServingHttpError);
            assert.deepStrictEqual(
                [label.status, label.serverMessage],
                [400, "Unrecognized servable version label: canary"],
            );
            const sig = await rejection(client().predict([image()], { signatureName: "nope" }));
            assert.ok(sig instanceof ServingHttpError);
            assert.deepStrictEqual(
                [sig.status, sig.serverMessage],
                [400, 'Serving signature name: "nope" not found in signature def'],
            );
        });

        it("decodes TF Serving's C-escaped error text, which JSON.parse rejects (\\' and octal UTF-8)", async () => {
            const message =
                "Missing 'inputs' or 'instances' key \u2014 caf\u00e9\n\"quoted\" \\ back";
            fake.fail({ kind: "error", status: 400, message });
            const err = await rejection(client().predict([image()]));
            assert.ok(err instanceof ServingHttpError);
            assert.strictEqual(err.serverMessage, message);
            assert.strictEqual(err.fromTfServing, true);
            assert.deepStrictEqual(parseErrorBody('{ "error": "it\\\'s \\303\\251" }'), {
                message: "it's \u00e9",
                fromTfServing: true,
            });
        });

        it("reports a non-TF-Serving error body (a proxy's HTML page) by its text, without retrying", async () => {
            fake.fail({
                kind: "raw",
                status: 502,
                body: "<html>\n<h1>502 Bad Gateway</h1>\n</html>",
            });
            const err = await rejection(client({ retries: 3 }).status());
            assert.ok(err instanceof ServingHttpError);
            assert.strictEqual(err.status, 502);
            assert.strictEqual(err.fromTfServing, false);
            assert.strictEqual(err.serverMessage, "<html> <h1>502 Bad Gateway</h1> </html>");
            assert.strictEqual(fake.requests.length, 1);
        });

        it("rejects a 200 answer that breaks the contract with a ServingResponseError", async () => {
            fake.fail({
                kind: "raw",
                status: 200,
                body: '{"predictions": [[1, 2]]}',
                contentType: "application/json",
            });
            const short = await rejection(client().predict([image(), image()]));
            assert.ok(short instanceof ServingResponseError, String(short));
            assert.match(short.message, /1 predictions for 2 images/);
            fake.fail({
                kind: "raw",
                status: 200,
                body: '{"predictions": [[NaN, 1]]}',
                contentType: "application/json",
            });
            const nan = await rejection(client().predict([image()]));
            assert.ok(nan instanceof ServingResponseError);
            assert.match(nan.message, /not JSON \(it holds NaN or Infinity/);
            fake.fail({
                kind: "raw",
                status: 200,
                body: '{"model_version_status": [{"state": "AVAILABLE"}]}',
            });
            const status = await rejection(client().status());
            assert.ok(status instanceof ServingResponseError);
            assert.match(status.message, /model_version_status\[0\]\.version is undefined/);
        });
    });

    describe("timeouts and retries", () => {
        it("gives up on an answer slower than timeoutMs with a ServingTimeoutError, without retrying, and waits for one within it", async () => {
            // The fake answers after 400 ms. Its timer and the client's run in this one process,
            // so which fires first follows from the two delays, not from how fast the machine is.
            fake.fail({ kind: "delay", ms: 400 });
            const err = await rejection(client({ timeoutMs: 100, retries: 3 }).predict([image()]));
            assert.ok(err instanceof ServingTimeoutError, String(err));
            assert.strictEqual(err.timeoutMs, 100);
            assert.strictEqual(err.attempts, 1);
            assert.strictEqual(fake.requests.length, 1, "a timed-out request was sent again");
            fake.fail({ kind: "delay", ms: 400 });
            const rows = await client({ timeoutMs: 2000 }).predict([image(5)]);
            assert.deepStrictEqual(rows, [logitsFor(5)], "gave up within timeoutMs");
        });

        it("retries 503 with doubling backoff and returns the answer that finally comes", async () => {
            fake.fail(
                { kind: "error", status: 503, message: "overloaded" },
                { kind: "error", status: 503 },
            );
            const started = Date.now();
            const rows = await client({ retries: 3, backoffMs: 60 }).predict([image(6)]);
            const elapsed = Date.now() - started;
            assert.deepStrictEqual(rows, [logitsFor(6)]);
            assert.strictEqual(fake.requests.length, 3);
            assert.ok(
                elapsed >= 60 + 120,
                `waited only ${elapsed} ms; expected 60 + 120 ms of backoff`,
            );
        });

        it("stops after `retries` extra attempts on 503 and says how many were made", async () => {
            fake.fail(
                ...Array.from({ length: 4 }, () => ({ kind: "error" as const, status: 503 })),
            );
            const err = await rejection(client({ retries: 2 }).status());
            assert.ok(err instanceof ServingHttpError);
            assert.strictEqual(err.status, 503);
            assert.strictEqual(err.attempts, 3);
            assert.match(err.message, /gave up after 3 attempts/);
            assert.strictEqual(fake.requests.length, 3);
        });

        it("retries a dropped connection", async () => {
            fake.fail({ kind: "reset" });
            const rows = await client({ retries: 1 }).predict([image(9)]);
            assert.deepStrictEqual(rows, [logitsFor(9)]);
            assert.strictEqual(fake.requests.length, 2);
        });

        it("retries a refused connection with backoff, then reports ECONNREFUSED", async () => {
            const url = `http://127.0.0.1:${await freePort()}`;
            const started = Date.now();
            const err = await rejection(
                new TfServingClient({ url, retries: 2, backoffMs: 50 }).status(),
            );
            assert.ok(err instanceof ServingConnectionError, String(err));
            assert.strictEqual(err.code, "ECONNREFUSED");
            assert.strictEqual(err.attempts, 3);
            assert.ok(Date.now() - started >= 50 + 100, "expected 50 + 100 ms of backoff");
        });

        it("does not retry 400, 404 or 500", async () => {
            for (const status of [400, 404, 500]) {
                const before = fake.requests.length;
                fake.fail({ kind: "error", status });
                const err = await rejection(client({ retries: 3 }).status());
                assert.ok(err instanceof ServingHttpError);
                assert.strictEqual(err.status, status);
                assert.strictEqual(fake.requests.length - before, 1, `HTTP ${status} was retried`);
            }
        });
    });

    describe("input checks", () => {
        const nan = image();
        nan[5][6] = NaN;
        const inf = image();
        inf[0][1] = Infinity;
        const str = image() as unknown[][];
        str[2][3] = "12";
        const neg = image();
        neg[27][0] = -1;
        const big = image();
        big[1][1] = 256;
        const cases: [string, unknown, string, RegExp][] = [
            ["an empty batch", [], "images", /holds 0 images; expected at least 1/],
            [
                "more images than maxBatchSize",
                [image(), image(), image()],
                "images",
                /holds 3 images; expected at most 2/,
            ],
            ["a non-array", 5, "images", /is 5; expected an array/],
            ["27 rows", [image().slice(1)], "images[0]", /has 27 rows; expected 28/],
            [
                "a row of 29",
                [image(), [...image().slice(0, 3), new Array(29).fill(0), ...image().slice(4)]],
                "images[1][3]",
                /has 29 values/,
            ],
            ["NaN", [nan], "images[0][5][6]", /is NaN; expected a finite pixel value in 0-255/],
            ["Infinity", [inf], "images[0][0][1]", /is Infinity/],
            ["a string", [str], "images[0][2][3]", /is the string "12"/],
            ["a negative value", [neg], "images[0][27][0]", /is -1/],
            ["a value above 255", [big], "images[0][1][1]", /is 256/],
        ];
        for (const [what, images, field, message] of cases) {
            it(`rejects ${what} before sending anything`, async () => {
                const err = await rejection(
                    client({ maxBatchSize: 2 }).predict(images as number[][][]),
                );
                assert.ok(err instanceof ServingInputError, String(err));
                assert.strictEqual(err.field, field);
                assert.match(err.message, message);
                assert.strictEqual(fake.requests.length, 0);
            });
        }

        it("rejects bad client options, naming the option", () => {
            const bad: [Partial<ClientOptions>, string, RegExp][] = [
                [{ version: 1, label: "stable" }, "label", /one of the two/],
                [{ url: "ftp://host" }, "url", /http:\/\/ or https:\/\//],
                [
                    { url: "http://host:30111/v1/models/mymodel" },
                    "url",
                    /base URL \(http:\/\/host:30111\)/,
                ],
                [
                    { model: "a/b" },
                    "model",
                    /is "a\/b"; expected letters, digits, '_', '-' or '\.'/,
                ],
                // TF Serving's URLs would take these; the contract's model names do not.
                [{ model: ".hidden" }, "model", /is "\.hidden"; expected letters/],
                [{ model: "x".repeat(64) }, "model", /at most 63 characters/],
                [{ label: "a:b" }, "label", /without \/ or :/],
                [{ version: 0 }, "version", /is 0; expected a positive integer/],
                [{ retries: -1 }, "retries", /non-negative integer/],
            ];
            for (const [options, field, message] of bad) {
                assert.throws(
                    () => new TfServingClient({ url: "http://localhost:8501", ...options }),
                    (err: Error) =>
                        err instanceof ServingInputError &&
                        err.field === field &&
                        message.test(err.message),
                    JSON.stringify(options),
                );
            }
            assert.strictEqual(
                new TfServingClient({ url: "10.0.0.5:30111/" }).modelUrl,
                "http://10.0.0.5:30111/v1/models/mymodel",
            );
        });
    });

    describe("waitUntilAvailable", () => {
        it("polls through LOADING until the version is AVAILABLE", async () => {
            fake.versions = [{ version: 1, state: "LOADING" }];
            let polls = 0;
            fake.onRequest = () => {
                if (++polls === 3) fake.versions = [{ version: 1, state: "AVAILABLE" }];
            };
            const seen: string[] = [];
            const ready = await client().waitUntilAvailable({
                timeoutMs: 5000,
                intervalMs: 20,
                onPoll: (s) => seen.push(s),
            });
            assert.deepStrictEqual(ready, {
                version: 1,
                state: "AVAILABLE",
                errorCode: "OK",
                errorMessage: "",
            });
            assert.strictEqual(polls, 3);
            assert.deepStrictEqual(seen, ["version 1 is LOADING", "version 1 is LOADING"]);
        });

        it("waits for the version asked for, not an older AVAILABLE one", async () => {
            fake.versions = [
                { version: 1, state: "AVAILABLE" },
                { version: 2, state: "LOADING" },
            ];
            fake.onRequest = () => {
                if (fake.requests.length === 2) fake.versions[1].state = "AVAILABLE";
            };
            const ready = await client({ version: 2 }).waitUntilAvailable({ intervalMs: 10 });
            assert.strictEqual(ready.version, 2);
            assert.strictEqual(fake.requests.length, 2);
        });

        it("times out with what it last saw when the model never loads, pausing between polls", async () => {
            const err = await rejection(
                client({ model: "other" }).waitUntilAvailable({ timeoutMs: 1000, intervalMs: 100 }),
            );
            assert.ok(err instanceof ServingUnavailableError, String(err));
            assert.match(err.message, /is not AVAILABLE after waiting 1000 ms/);
            assert.match(err.message, /Could not find any versions of model other/);
            // The server saw every poll but, on a loaded machine, a last one the deadline cut
            // short before it arrived.
            const polls = err.attempts;
            const seen = fake.requests.length;
            assert.ok(seen === polls || seen === polls - 1, `${polls} polls, ${seen} seen`);
            assert.match(err.message, new RegExp(`\\(${polls} polls\\)`));
            // Every pause but the last is a full intervalMs, so 1000 ms hold at most 1000 / 100 + 1
            // polls (one more for timer rounding); a 404 is "not yet", so it polls more than once
            // (unless one local request took 900 ms).
            assert.ok(polls >= 2 && polls <= 1000 / 100 + 2, `${polls} polls in 1000 ms`);
        });

        it("fails at once when the version ended with a load error", async () => {
            fake.versions = [
                {
                    version: 1,
                    state: "END",
                    errorCode: "INVALID_ARGUMENT",
                    errorMessage: "bad graph",
                },
            ];
            const err = await rejection(
                client().waitUntilAvailable({ timeoutMs: 5000, intervalMs: 50 }),
            );
            assert.ok(err instanceof ServingUnavailableError);
            assert.strictEqual(err.lastState, "END");
            assert.match(err.message, /version 1 failed to load: INVALID_ARGUMENT: bad graph/);
            assert.strictEqual(fake.requests.length, 1);
        });
    });

    describe("helpers", () => {
        it("softmax survives large logits and argMax takes the first of equal maxima", () => {
            const p = softmax([1000, 0, 1000]);
            assert.ok(p.every(Number.isFinite), String(p));
            assert.ok(Math.abs(p[0] - 0.5) < 1e-12 && p[1] < 1e-300);
            assert.strictEqual(argMax([1, 5, 5, 2]), 1);
        });
    });
});
