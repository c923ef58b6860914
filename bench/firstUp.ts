/**
 * `npm run bench:first-up`: the first `npm run up:dev` on a fresh machine, as the README's second
 * command runs it with no terminal: in a fresh copy of the project (node_modules shared, as after
 * the first command), with every cache of ours empty (the tools directory, Go's build and module
 * caches, the private Docker engine's state) and no kubeconfig context, so it builds the Pulumi
 * CLI and providers, the Kubernetes binaries, metrics-server and the serving stand-in, brings up
 * the local cluster, trains and deploys. Debian packages already installed stay installed. Every
 * output line is timestamped; `bench/results/first-up.json` gets the total seconds, the longest
 * silence between two lines (and the line before it), and each step's own seconds from its
 * `done in` line. Then `npm run down:dev`, and the scratch directory goes. Target: no silence
 * longer than 30 s; exits 1 when it is missed or up:dev fails. Runs alone: the local cluster's
 * names and ports are machine-wide.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { copyCheckout } from "../test/support/projectCopy";
import { runCommand } from "../verdict";

const SILENCE_TARGET_SECONDS = 30;

/** A command's output lines, each with the seconds since it started, and its exit status. */
function timedRun(
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; lines: Array<{ at: number; text: string }> }> {
    return new Promise((resolve) => {
        const started = Date.now();
        const lines: Array<{ at: number; text: string }> = [];
        const child = spawn("npm", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
        for (const stream of [child.stdout, child.stderr]) {
            let partial = "";
            stream.setEncoding("utf8");
            stream.on("data", (chunk: string) => {
                const parts = (partial + chunk).split("\n");
                partial = parts.pop() as string;
                for (const text of parts) {
                    lines.push({ at: (Date.now() - started) / 1000, text });
                    process.stdout.write(`${text}\n`);
                }
            });
        }
        child.on("close", (status) => resolve({ status, lines }));
    });
}

async function main(): Promise<number> {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-first-up-"));
    const project = path.join(work, "project");
    try {
        copyCheckout(project);
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            TFK8S_TOOLS_DIR: path.join(work, "tools"),
            GOCACHE: path.join(work, "go-build"),
            GOMODCACHE: path.join(work, "go-mod"),
            TFK8S_DOCKER_DIR: path.join(work, "docker"),
            TFK8S_REGISTRY_PASSWORD_FILE: path.join(work, "docker", "registry-password"),
            KUBECONFIG: path.join(work, "no-kubeconfig"),
            PULUMI_CONFIG_PASSPHRASE: "bench",
            // A machine with none of our tools on PATH: no pulumi until up:dev builds one.
            PATH: (process.env.PATH ?? "")
                .split(":")
                .filter((dir) => !fs.existsSync(path.join(dir, "pulumi")))
                .join(":"),
        };
        delete env.PULUMI_BACKEND_URL;
        delete env.PULUMI_HOME;
        const up = await timedRun(["run", "up:dev"], project, env);
        const down = await timedRun(["run", "down:dev"], project, env);
        let longest = { seconds: 0, after: "" };
        up.lines.forEach((line, i) => {
            const gap = line.at - (i === 0 ? 0 : up.lines[i - 1].at);
            if (gap > longest.seconds) {
                longest = { seconds: gap, after: i === 0 ? "(start)" : up.lines[i - 1].text };
            }
        });
        const steps = up.lines
            .map((l) => /^(.*): done in (\d+)s$/.exec(l.text))
            .filter((m): m is RegExpExecArray => m !== null)
            .map((m) => ({ step: m[1].replace(/^[\w.-]+: /, ""), seconds: Number(m[2]) }));
        const totalSeconds = up.lines.length === 0 ? 0 : up.lines[up.lines.length - 1].at;
        const met = up.status === 0 && longest.seconds <= SILENCE_TARGET_SECONDS;
        const report = {
            command: "npm run bench:first-up",
            what: "the first npm run up:dev with no terminal, every cache of ours empty, no kubeconfig context",
            upStatus: up.status,
            downStatus: down.status,
            totalMinutes: Number((totalSeconds / 60).toFixed(1)),
            longestSilenceSeconds: Number(longest.seconds.toFixed(1)),
            longestSilenceAfter: longest.after,
            lines: up.lines.length,
            steps,
            target: `no silence over ${SILENCE_TARGET_SECONDS} s and up:dev succeeds: ${met ? "met" : "MISSED"}`,
        };
        console.log(JSON.stringify(report, null, 2));
        const out = path.join(__dirname, "results", "first-up.json");
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
        console.log(`wrote ${out}`);
        return met ? 0 : 1;
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

runCommand(main, (err) => {
    console.error(err);
    return 1;
});
