/**
 * `kubectl port-forward` to one pod or Service, on a local port kubectl picks: how the analysis
 * reaches the tracks from outside the cluster, as the deploy workflow's smoke check does. A
 * Service forward reaches one of its pods, so the analysis forwards each pod on its own.
 */
import { spawn } from "child_process";

/** A running forward: its local REST URL, and how to end it. */
export interface PortForward {
    readonly url: string;
    close(): void;
}

/**
 * Forwards a local port to the REST port 8501 of `target` (`pod/<name>` or `service/<name>`);
 * resolves once kubectl says where.
 */
export function forwardPort(
    namespace: string,
    target: string,
    context?: string,
    timeoutMs = 30_000,
): Promise<PortForward> {
    const args = [
        ...(context === undefined ? [] : ["--context", context]),
        "--namespace",
        namespace,
        "port-forward",
        target,
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
