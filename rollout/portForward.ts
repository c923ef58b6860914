/**
 * `kubectl port-forward` to one Service, on a local port kubectl picks: how the analysis reaches
 * each track's ClusterIP Service from outside the cluster, as the deploy workflow's smoke check
 * does. A Service forward reaches one of its pods.
 */
import { spawn } from "child_process";

/** A running forward: its local REST URL, and how to end it. */
export interface PortForward {
    readonly url: string;
    close(): void;
}

/** Forwards a local port to `service`'s REST port 8501; resolves once kubectl says where. */
export function forwardService(
    namespace: string,
    service: string,
    context?: string,
    timeoutMs = 30_000,
): Promise<PortForward> {
    const args = [
        ...(context === undefined ? [] : ["--context", context]),
        "--namespace",
        namespace,
        "port-forward",
        `service/${service}`,
        ":8501",
    ];
    const child = spawn("kubectl", args, { stdio: ["ignore", "pipe", "pipe"] });
    return new Promise((resolve, reject) => {
        let out = "";
        const fail = (why: string) => {
            clearTimeout(timer);
            child.kill();
            reject(new Error(`kubectl ${args.join(" ")}: ${why}\n${out}`.trim()));
        };
        const timer = setTimeout(() => fail(`no port within ${timeoutMs} ms`), timeoutMs);
        child.once("error", (err) => fail(err.message));
        child.once("exit", (code) => fail(`exited with ${code}`));
        child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
        child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString("utf8");
            const port = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1];
            if (port === undefined) return;
            clearTimeout(timer);
            child.removeAllListeners("exit");
            resolve({ url: `http://127.0.0.1:${port}`, close: () => child.kill() });
        });
    });
}
