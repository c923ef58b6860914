import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { runLoadProcess, startLoadProcess } from "./support/loadProcess";
import { OpenLoopOptions, OpenLoopResult, runOpenLoop } from "./support/openLoop";

const PREDICTIONS = JSON.stringify({ predictions: [[0]] });

/** A local server answering with `handle`; its URL and a way to stop it. */
async function serve(
    handle: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<{ url: string; close: () => Promise<void>; connections: () => number }> {
    let n = 0;
    let connections = 0;
    const server = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => handle(req, res, n++));
    });
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}/v1/models/m:predict`,
        connections: () => connections,
        close: () =>
            new Promise((r) => {
                server.closeAllConnections();
                server.close(() => r());
            }),
    };
}

/** `runOpenLoop` against `server` with an empty body. */
function loadOn(
    server: { url: string },
    options: Omit<OpenLoopOptions, "url" | "body">,
): Promise<OpenLoopResult> {
    return runOpenLoop({ url: server.url, body: "{}", ...options });
}

describe("the open-loop load generator", function () {
    this.timeout(30_000);

    it("starts requests at the rate asked for over the connections asked for", async () => {
        const server = await serve((_req, res) => res.end(PREDICTIONS));
        try {
            const result = await loadOn(server, {
                ratePerSecond: 200,
                connections: 4,
                seconds: 2,
            });
            assert.strictEqual(result.sent, 400);
            assert.strictEqual(result.succeeded, 400);
            assert.strictEqual(result.failed, 0);
            assert.ok(server.connections() <= 4, `${server.connections()} connections`);
            assert.deepStrictEqual(
                result.perSecond.map((s) => s.sent),
                [200, 200],
            );
            // No latency bound: a loaded machine delays even a local answer; counts are checked.
        } finally {
            await server.close();
        }
    });

    it("with newConnections, opens a connection for every request", async () => {
        const server = await serve((_req, res) => res.end(PREDICTIONS));
        try {
            const result = await loadOn(server, {
                ratePerSecond: 50,
                connections: 1,
                seconds: 1,
                newConnections: true,
            });
            assert.strictEqual(result.succeeded, 50);
            assert.strictEqual(server.connections(), 50);
        } finally {
            await server.close();
        }
    });

    it("counts a slow server's queue in the latency instead of slowing down (no coordinated omission)", async () => {
        // One connection, a server that takes 50 ms each, 40 requests a second: the work piles up.
        const server = await serve((_req, res) => setTimeout(() => res.end(PREDICTIONS), 50));
        try {
            const result = await loadOn(server, {
                ratePerSecond: 40,
                connections: 1,
                seconds: 2,
            });
            assert.strictEqual(result.sent, 80);
            assert.strictEqual(result.failed, 0);
            // 80 requests of 50 ms each take 4 s on one connection: the last waited about 2 s.
            assert.ok(result.p99Ms > 1500, `p99 ${result.p99Ms} ms; a closed loop would say 50`);
            assert.ok(result.p50Ms > 500, `p50 ${result.p50Ms} ms`);
        } finally {
            await server.close();
        }
    });

    it("names each failure's cause: an HTTP status, a reset connection, a timeout", async () => {
        const server = await serve((req, res, n) => {
            if (n % 4 === 0) res.writeHead(500).end("{}");
            else if (n % 4 === 1) req.socket.destroy();
            else if (n % 4 === 2)
                return; // never answers
            else res.end(PREDICTIONS);
        });
        try {
            const result = await loadOn(server, {
                ratePerSecond: 20,
                connections: 20,
                seconds: 1,
                timeoutMs: 500,
            });
            assert.strictEqual(result.sent, 20);
            assert.strictEqual(result.succeeded, 5);
            assert.deepStrictEqual(result.failedBy, {
                "HTTP 500": 5,
                ECONNRESET: 5,
                timeout: 5,
            });
            assert.strictEqual(result.failures.length, 10);
        } finally {
            await server.close();
        }
    });

    it("with retries, sends a request again after a 503 or a reset, as the product client does, but not after a timeout", async () => {
        const failedOnce = new Set<string>();
        const server = await serve((req, res) => {
            const key = `${req.socket.remotePort}`;
            if (!failedOnce.has(key)) {
                failedOnce.add(key);
                res.writeHead(503).end("{}");
            } else {
                res.end(PREDICTIONS);
            }
        });
        try {
            const result = await loadOn(server, {
                ratePerSecond: 10,
                connections: 1,
                seconds: 1,
                retries: 1,
            });
            assert.strictEqual(result.sent, 10);
            assert.strictEqual(result.failed, 0);
            assert.strictEqual(result.succeededAfterRetry, 1);
            const without = await loadOn(server, {
                ratePerSecond: 10,
                connections: 1,
                seconds: 1,
            });
            assert.deepStrictEqual(without.failedBy, { "HTTP 503": 1 });
        } finally {
            await server.close();
        }
        // A timed-out request may still run on the server: it is not sent again.
        const hangsFirst = await serve((_req, res, n) => n > 0 && res.end(PREDICTIONS));
        try {
            const result = await loadOn(hangsFirst, {
                ratePerSecond: 10,
                connections: 2,
                seconds: 1,
                timeoutMs: 300,
                retries: 3,
            });
            assert.deepStrictEqual(result.failedBy, { timeout: 1 });
            assert.strictEqual(result.succeededAfterRetry, 0);
        } finally {
            await hangsFirst.close();
        }
    });
});

describe("the load generator in a process of its own", function () {
    this.timeout(30_000);

    it("keeps its rate while the caller's event loop is blocked", async () => {
        const server = await serve((_req, res) => res.end(PREDICTIONS));
        try {
            const load = await startLoadProcess({
                url: server.url,
                body: "{}",
                ratePerSecond: 100,
                connections: 2,
                seconds: 3,
            });
            // A synchronous second, as a spawnSync of curl would be: the child goes on sending.
            const until = Date.now() + 1000;
            while (Date.now() < until);
            await new Promise((r) => setTimeout(r, 2500));
            const result = await load.stop();
            assert.strictEqual(result.sent, 300);
            assert.strictEqual(result.failed, 0);
            // In the caller's process, requests due during the blocked second would start up to
            // 1000 ms late; the child's lag stays far below that even on a loaded machine.
            assert.ok(
                result.startLagP99Ms < 500,
                `the child started requests up to ${result.startLagP99Ms} ms late`,
            );
        } finally {
            await server.close();
        }
    });

    it("runs its bounded run to the end and no longer", async () => {
        const server = await serve((_req, res) => res.end(PREDICTIONS));
        try {
            const started = Date.now();
            const result = await runLoadProcess({
                url: server.url,
                body: "{}",
                ratePerSecond: 50,
                connections: 2,
                seconds: 2,
            });
            const seconds = (Date.now() - started) / 1000;
            assert.strictEqual(result.sent, 100);
            assert.strictEqual(result.failed, 0);
            // Its 2 s plus the child's start (tsx), not the hour a missing stop would take.
            assert.ok(seconds >= 2 && seconds < 20, `the run took ${seconds} s`);
        } finally {
            await server.close();
        }
    });
});
