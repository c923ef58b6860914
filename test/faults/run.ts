/**
 * `npm run test:faults`: faults injected into `pulumi up` of a stack deploying to the real API
 * server, with the real engine, Docker engine and registry (scripts/with-real-stack.sh). After
 * each fault, the recovery steps Pulumi or the program print are run, then `pulumi up` again,
 * which must converge: the baseline's image digest, a second `up` with no changes, no pending
 * operations or duplicated resources in the state, exactly one Deployment and Service in the
 * namespace, only whole cache entries and export directories. Prints
 * `faults: N injected, N converged` and writes bench/results/faults.json; exits 1 otherwise.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { TEMP_PREFIX } from "../../model/atomicDir";
import { killProcessesWithEnv } from "../support/processes";
import { ENGINE_MARK, RealStack, ok, realStackEnv, run } from "../support/realStack";
import { runCommand } from "../../verdict";

const ROOT = path.resolve(__dirname, "..", "..");
const RESULTS = path.join(ROOT, "bench", "results", "faults.json");
const KUBE_STATE =
    process.env.TFK8S_KUBE_STATE ??
    path.join(process.env.HOME ?? "", ".cache/tfk8s-tools/kube-state");
const DOCKER_STATE = process.env.TFK8S_DOCKER_DIR ?? "/tmp/tfk8s-docker";
/** Longest a single `pulumi up` may take before the suite gives up on it. */
const UP_TIMEOUT_MS = 10 * 60 * 1000;

interface Outcome {
    fault: string;
    /** Where the fault landed, as observed when it was injected. */
    landed: string;
    injected: boolean;
    /** What the interrupted or failed `up` printed last. */
    firstUp: { status: number | null; tail: string };
    recovery: string[];
    converged: boolean;
    problems: string[];
    seconds: number;
}

const env = realStackEnv();
if (typeof env === "string") {
    console.error(`test:faults cannot run: ${env}`);
    process.exit(1);
}
const phaseDir = fs.mkdtempSync(path.join("/tmp", "tfk8s-phases-"));
process.env.TFK8S_DOUBLE_PHASE_DIR = phaseDir;
const stack = new RealStack(env);
/** The file backend's directory: checkpoints under stacks/, locks under locks/. */
const backendDir = path.join(stack.state, ".pulumi");

/**
 * Runs `pulumi up` of `name`; `watch` is polled every 10 ms with the output so far and a function
 * that kills the CLI, and acts (kills, stops a server) once, when it returns true.
 */
async function upWith(
    name: string,
    watch?: (output: string, kill: () => void) => boolean,
): Promise<{ status: number | null; output: string }> {
    for (const f of fs.readdirSync(phaseDir)) fs.rmSync(path.join(phaseDir, f));
    const up = stack.spawnPulumi(["up", "-s", name, "--yes", "--skip-preview"]);
    let killed = false;
    const kill = () => {
        killed = true;
        killEngine(up.child, up.mark);
    };
    let acted = false;
    const timer = setInterval(() => {
        if (!acted && watch !== undefined) acted = watch(up.output(), kill);
    }, 10);
    const deadline = setTimeout(kill, UP_TIMEOUT_MS);
    const status = await up.done;
    clearInterval(timer);
    clearTimeout(deadline);
    // What the killed CLI had started after the kill above, or what had not gone yet.
    if (killed) killEngine(up.child, up.mark);
    return { status, output: up.output() };
}

/**
 * SIGKILL to the CLI and everything it started: its process group (language host, program), and
 * by pid each process that carries its mark (plugins, which run in process groups of their own
 * and would otherwise outlive it, holding a kubeconfig and 165 MB each).
 */
function killEngine(child: ChildProcess, mark: string): void {
    if (child.pid !== undefined) {
        try {
            process.kill(-child.pid, "SIGKILL");
        } catch {
            // The group has already gone.
        }
    }
    killProcessesWithEnv(ENGINE_MARK, mark);
}

/** Kills the process whose pid file is `pidFile` (one we started), and waits for it to go. */
function killByPidFile(pidFile: string): void {
    const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100; i++) {
        try {
            process.kill(pid, 0);
        } catch {
            return;
        }
        spawnSync("sleep", ["0.05"]);
    }
}

/**
 * `pulumi up` until it succeeds, running each recovery step its output asks for, as a user
 * would; at most three tries. The steps taken, and the last run.
 */
async function upRecovering(
    name: string,
): Promise<{ status: number | null; output: string; steps: string[] }> {
    const steps: string[] = [];
    const refresh = () => {
        const args = ["refresh", "-s", name, "--yes", "--skip-preview", "--clear-pending-creates"];
        ok(stack.pulumi(args), "pulumi refresh");
        steps.push("pulumi refresh --clear-pending-creates --yes");
    };
    for (let attempt = 0; ; attempt++) {
        const r = await upWith(name);
        // Operations an interrupted run left pending stay in the state until a refresh; the
        // CLI's warning says to confirm them, which a refresh does against the cluster.
        if (r.status === 0) {
            if (/pending operations/.test(r.output)) refresh();
            return { ...r, steps };
        }
        if (attempt === 2) return { ...r, steps };
        if (/currently locked/.test(r.output)) {
            ok(stack.pulumi(["cancel", "-s", name, "--yes"]), "pulumi cancel");
            steps.push("pulumi cancel --yes");
        } else if (/pending operations|--clear-pending-creates/.test(r.output)) {
            refresh();
        } else if (EMPTY_SIDECAR.test(r.output)) {
            const removed = removeEmptySidecars();
            if (removed.length === 0) return { ...r, steps };
            steps.push(`remove the empty ${removed.join(", ")}`);
        } else {
            return { ...r, steps };
        }
    }
}

/** How the CLI fails on an empty sidecar: the checkpoint's, or a lock's (a bare EOF). */
const EMPTY_SIDECAR = /error: (failed to load checkpoint: )?EOF\s*$/m;

/**
 * The file backend's blob library (gocloud.dev's fileblob) replaces a checkpoint by renaming a
 * whole temporary file over it, but writes the metadata sidecar beside it (`<file>.attrs`) in
 * place: a kill between creating and filling the sidecar leaves it empty, and every later read
 * of that blob fails with EOF. A missing sidecar reads as default metadata, so removing the
 * empty ones repairs the state; their names, relative to it.
 */
function removeEmptySidecars(): string[] {
    const empty = (fs.readdirSync(backendDir, { recursive: true }) as string[]).filter(
        (f) => f.endsWith(".attrs") && fs.statSync(path.join(backendDir, f)).size === 0,
    );
    for (const f of empty) fs.rmSync(path.join(backendDir, f));
    return empty;
}

/** The lines of a pulumi run that say what went wrong, without repeats. */
function errorLines(output: string): string {
    const lines = output.split("\n").filter((l) => /error|failed|warning/i.test(l));
    return [...new Set(lines.map((l) => l.trim()))].slice(0, 12).join(" | ");
}

/** What `pulumi up` left: every problem found against what a converged stack holds. */
function inspect(name: string, namespace: string, digest: string, cacheDirs: string[]): string[] {
    const problems: string[] = [];
    const outputs = JSON.parse(
        ok(stack.pulumi(["stack", "output", "-s", name, "--json"]), "output"),
    );
    if (outputs.imageDigest !== digest)
        problems.push(`image digest ${outputs.imageDigest}, baseline ${digest}`);
    const again = stack.pulumi([
        "up",
        "-s",
        name,
        "--yes",
        "--skip-preview",
        "--expect-no-changes",
    ]);
    if (again.status !== 0)
        problems.push(`a second up is not a no-op: ${again.stdout.slice(-400)}`);
    const state = JSON.parse(
        ok(stack.pulumi(["stack", "export", "-s", name]), "export"),
    ).deployment;
    if ((state.pending_operations ?? []).length > 0) {
        const ops = state.pending_operations.map(
            (op: { type: string; resource: { urn: string } }) => `${op.type} ${op.resource.urn}`,
        );
        problems.push(`pending operations: ${ops.join(", ")}`);
    }
    const urns: string[] = (state.resources ?? []).map((r: { urn: string }) => r.urn);
    if (new Set(urns).size !== urns.length) problems.push("duplicated resources in the state");
    for (const type of [
        "docker:index/image:Image",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:Namespace",
    ]) {
        const n = (state.resources ?? []).filter((r: { type: string }) => r.type === type).length;
        if (n !== 1) problems.push(`${n} ${type} in the state`);
    }
    for (const [kind, apiPath] of [
        ["Deployment", `/apis/apps/v1/namespaces/${namespace}/deployments`],
        ["Service", `/api/v1/namespaces/${namespace}/services`],
    ]) {
        const names = (stack.kubeGet(apiPath)?.items ?? []).map((o: any) => o.metadata.name);
        if (names.join() !== "mymodel-serving")
            problems.push(`${kind}s in ${namespace}: ${names.join(", ") || "none"}`);
    }
    for (const dir of cacheDirs) problems.push(...cacheProblems(dir));
    const exportDir = path.join(stack.project, ".build", name, "export", "mymodel");
    const versions = fs.existsSync(exportDir) ? fs.readdirSync(exportDir) : [];
    if (versions.join() !== "1") problems.push(`export directory holds ${versions.join(", ")}`);
    else if (!fs.existsSync(path.join(exportDir, "1", "saved_model.pb")))
        problems.push("export without saved_model.pb");
    return problems;
}

/** Entries of a model cache that are not whole: temporaries, or a missing or short file. */
function cacheProblems(cacheDir: string): string[] {
    if (!fs.existsSync(cacheDir)) return [];
    const problems: string[] = [];
    for (const entry of fs.readdirSync(cacheDir)) {
        const dir = path.join(cacheDir, entry);
        if (entry.startsWith(TEMP_PREFIX) || entry.startsWith(".lock-")) {
            problems.push(
                `${entry.startsWith(".lock-") ? "lock" : "temporary"} left in the cache: ${dir}`,
            );
            continue;
        }
        const files = ["metadata.json", "model.json", "weights.bin", "report.html"];
        const missing = files.filter((f) => !fs.existsSync(path.join(dir, f)));
        if (missing.length > 0) {
            problems.push(`cache entry ${dir} lacks ${missing.join(", ")}`);
            continue;
        }
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
        const expected = manifest.weightsManifest
            .flatMap((g: { weights: Array<{ shape: number[] }> }) => g.weights)
            .reduce(
                (n: number, w: { shape: number[] }) => n + 4 * w.shape.reduce((a, b) => a * b, 1),
                0,
            );
        const size = fs.statSync(path.join(dir, "weights.bin")).size;
        if (size !== expected)
            problems.push(`cache entry ${dir}: weights.bin is ${size} bytes, expected ${expected}`);
    }
    return problems;
}

/**
 * A stack of its own for one fault: API server, a fresh namespace the stack creates, and a
 * ClusterIP Service (a node port is one per cluster, and the baseline stays deployed).
 */
function newStack(name: string, extra: Record<string, string> = {}): string {
    const namespace = `tfk8s-${name}-${crypto.randomBytes(3).toString("hex")}`;
    const set = { namespace, createNamespace: "true", serviceType: "ClusterIP", ...extra };
    stack.initStack(name, baseImage, { renderDir: null, set });
    return namespace;
}

let baseImage = "";
let baseline = "";

/** How many fresh stacks a fault whose watcher missed its phase gets. */
const INJECTION_TRIES = 3;

/**
 * One fault: `inject` runs the first `up` (or what replaces it) and says where the fault landed,
 * or undefined when it missed its phase; then recovery, the converging `up`, the inspection, and
 * a destroy that goes on in the background. The outcome is final once `settleDestroys` returns.
 */
async function fault(
    name: string,
    inject: (
        stackName: string,
    ) => Promise<{ landed?: string; status: number | null; output: string; problems?: string[] }>,
    opts: {
        cacheDirs?: string[];
        config?: Record<string, string>;
        afterInjection?: () => string[];
    } = {},
): Promise<Outcome> {
    const started = Date.now();
    let stackName = name;
    let namespace = newStack(stackName, opts.config);
    let first = await inject(stackName);
    // A phase can pass between two polls of the watcher (an export of a cached model takes a few
    // milliseconds): that try's up simply succeeded, so its stack goes and a fresh one tries again.
    for (let attempt = 2; first.landed === undefined && attempt <= INJECTION_TRIES; attempt++) {
        console.log(`fault ${name}: missed its phase; try ${attempt} on a fresh stack`);
        const [missedStack, missedNamespace] = [stackName, namespace];
        destroys.push(destroyAndReport(missedStack, missedNamespace).then(() => undefined));
        stackName = `${name}-try${attempt}`;
        namespace = newStack(stackName, opts.config);
        first = await inject(stackName);
    }
    const outcome: Outcome = {
        fault: name,
        landed: first.landed ?? `missed its phase ${INJECTION_TRIES} times`,
        injected: first.landed !== undefined,
        firstUp: {
            status: first.status,
            tail: first.output.trim().split("\n").slice(-6).join("\n"),
        },
        recovery: [],
        converged: false,
        problems: [],
        seconds: 0,
    };
    outcome.problems.push(...(first.problems ?? []));
    outcome.recovery.push(...(opts.afterInjection?.() ?? []));
    const up = await upRecovering(stackName);
    outcome.recovery.push(...up.steps);
    if (up.status !== 0) {
        outcome.problems.push(`the up after recovery failed: ${errorLines(up.output)}`);
    } else {
        outcome.problems.push(
            ...inspect(stackName, namespace, baseline, opts.cacheDirs ?? [stack.cacheDir]),
        );
    }
    // The destroy mostly waits for the namespace controller to empty and remove the namespace,
    // so it runs on while the next fault starts (settleDestroys waits for it).
    destroys.push(
        destroyAndReport(stackName, namespace).then((problems) => {
            outcome.problems.push(...problems);
            outcome.converged = outcome.problems.length === 0;
            outcome.seconds = (Date.now() - started) / 1000;
            console.log(
                `fault ${name}: ${outcome.landed}; recovery: ${outcome.recovery.join(", ") || "none"}; ${outcome.converged ? "converged" : `NOT converged: ${outcome.problems.join("; ")}`} (${outcome.seconds.toFixed(0)} s)`,
            );
        }),
    );
    return outcome;
}

/** Destroys that have not finished yet. */
const destroys: Promise<void>[] = [];

/** Waits for every destroy started so far: before a fault stops a server, and at the end. */
async function settleDestroys(): Promise<void> {
    await Promise.all(destroys.splice(0));
}

/** `pulumi destroy` of `name`, without blocking the next fault's watcher; what it left behind. */
async function destroyAndReport(name: string, namespace: string): Promise<string[]> {
    const destroy = stack.spawnPulumi(["destroy", "-s", name, "--yes", "--skip-preview"]);
    if ((await destroy.done) !== 0) return [`destroy failed: ${destroy.output().slice(-400)}`];
    if (stack.kubeGet(`/api/v1/namespaces/${namespace}`) !== null)
        return [`namespace ${namespace} survived destroy`];
    return [];
}

/** A kill of the whole `pulumi up` of a stack once `when` says where it lands. */
function killWhen(when: (output: string, stackName: string) => string | undefined) {
    return async (name: string) => {
        let landed: string | undefined;
        const r = await upWith(name, (output, kill) => {
            landed = when(output, name);
            if (landed !== undefined) kill();
            return landed !== undefined;
        });
        return { landed, status: r.status, output: r.output };
    };
}

/** The first `up`, with a server we started killed once `when` holds; it must then fail. */
function stopServerWhen(when: (output: string) => boolean, pidFile: string, landed: string) {
    return async (name: string) => {
        let stopped = false;
        const r = await upWith(name, (output) => {
            if (!when(output)) return false;
            killByPidFile(pidFile);
            stopped = true;
            return true;
        });
        const failed = stopped && r.status !== 0;
        return { landed: failed ? landed : undefined, status: r.status, output: r.output };
    };
}

/** The recovery step after a server went away: start it again with its script. */
function restart(script: string[], step: string): () => string[] {
    return () => {
        ok(run("bash", [path.join(ROOT, script[0]), ...script.slice(1)]), step);
        return [`${step} (${script.join(" ")})`];
    };
}

const phaseStarted = (phase: string) => fs.existsSync(path.join(phaseDir, phase));

async function main(): Promise<number> {
    baseImage = await stack.pushStandInBaseImage();
    newStack("baseline");
    const b = await upWith("baseline");
    if (b.status !== 0) throw new Error(`the baseline up failed:\n${b.output}`);
    baseline = JSON.parse(
        ok(stack.pulumi(["stack", "output", "-s", "baseline", "--json"]), "output"),
    ).imageDigest;
    console.log(`baseline image: ${baseline}`);

    const outcomes: Outcome[] = [];
    const trainingCache = path.join(stack.work, "cache-training");
    outcomes.push(
        await fault(
            "kill-training",
            killWhen((out) =>
                /epoch 1\/\d+/.test(out)
                    ? "SIGKILL after the first epoch's progress line"
                    : undefined,
            ),
            { cacheDirs: [trainingCache], config: { cacheDir: trainingCache } },
        ),
    );
    outcomes.push(
        await fault(
            "kill-export",
            killWhen((_output, stackName) => {
                const dir = path.join(stack.project, ".build", stackName, "export", "mymodel");
                const temps = fs.existsSync(dir)
                    ? fs.readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX))
                    : [];
                return temps.length > 0 ? `SIGKILL with ${temps[0]} half-written` : undefined;
            }),
        ),
    );
    outcomes.push(
        await fault(
            "kill-build",
            killWhen(() =>
                phaseStarted("build") && !phaseStarted("push")
                    ? "SIGKILL during the BuildKit build"
                    : undefined,
            ),
        ),
    );
    outcomes.push(
        await fault("empty-sidecars", async (name) => {
            // The state a kill inside fileblob's sidecar writes leaves (removeEmptySidecars), made
            // on purpose, as that window is too short to time a kill into: a deployed stack, an
            // up killed once it holds its lock, then the lock's and the checkpoint's sidecars
            // emptied.
            const deployed = await upWith(name);
            if (deployed.status !== 0) return { ...deployed, problems: ["the first up failed"] };
            const lockDir = path.join(backendDir, "locks", "organization", "tfk8s", name);
            const lockFiles = () =>
                fs.existsSync(lockDir)
                    ? fs.readdirSync(lockDir).map((f) => path.join(lockDir, f))
                    : [];
            await upWith(name, (_output, kill) => {
                if (!lockFiles().some((f) => f.endsWith(".json"))) return false;
                kill();
                return true;
            });
            const sidecars = [
                ...lockFiles().filter((f) => f.endsWith(".attrs")),
                path.join(backendDir, "stacks", "tfk8s", `${name}.json.attrs`),
            ];
            for (const f of sidecars) fs.writeFileSync(f, "");
            const r = await upWith(name);
            // Both sidecars: the kill landed while the up held its lock.
            const refused = sidecars.length === 2 && r.status !== 0 && EMPTY_SIDECAR.test(r.output);
            return {
                landed: refused
                    ? "killed holding its lock; its and the checkpoint's sidecars emptied"
                    : undefined,
                status: r.status,
                output: r.output,
            };
        }),
    );
    outcomes.push(
        await fault(
            "kill-push",
            killWhen(() => (phaseStarted("push") ? "SIGKILL during the push" : undefined)),
        ),
    );
    outcomes.push(
        await fault(
            "kill-apply",
            killWhen((out) =>
                /kubernetes:apps\/v1:Deployment .*creating/.test(out)
                    ? "SIGKILL while the Deployment was being created"
                    : undefined,
            ),
        ),
    );
    await settleDestroys();
    outcomes.push(
        await fault(
            "registry-stopped",
            stopServerWhen(
                () => phaseStarted("push"),
                path.join(DOCKER_STATE, "registry.pid"),
                "registry killed during the push",
            ),
            { afterInjection: restart(["scripts/docker-up.sh"], "restart the registry") },
        ),
    );
    await settleDestroys();
    outcomes.push(
        await fault(
            "apiserver-stopped",
            stopServerWhen(
                (out) => /kubernetes:core\/v1:Namespace .*creating/.test(out),
                path.join(KUBE_STATE, "kube-apiserver.pid"),
                "kube-apiserver killed while the namespace was being created",
            ),
            {
                afterInjection: restart(
                    ["scripts/kube-apiserver.sh", "up"],
                    "restart the API server",
                ),
            },
        ),
    );
    const sharedCache = path.join(stack.work, "cache-concurrent");
    outcomes.push(
        await fault(
            "concurrent-train",
            async () => {
                const train = () =>
                    new Promise<{ status: number | null; output: string }>((resolve) => {
                        const c = spawn(
                            "npx",
                            ["tsx", "model/training/trainCli.ts", "--cache-dir", sharedCache],
                            { cwd: ROOT },
                        );
                        let output = "";
                        c.stdout.on("data", (d) => (output += d));
                        c.stderr.on("data", (d) => (output += d));
                        c.on("close", (status) => resolve({ status, output }));
                    });
                const both = await Promise.all([train(), train()]);
                const trained = both.filter((r) => /trained in /.test(r.output)).length;
                const landed = both.every((r) => r.status === 0)
                    ? `two trainings of one key at once (${trained} trained)`
                    : undefined;
                // One trains; the other waits for it and takes the entry from the cache.
                const waited = both.filter((r) => /waiting for process \d+/.test(r.output)).length;
                return {
                    landed,
                    status: both.find((r) => r.status !== 0)?.status ?? 0,
                    output: both.map((r) => r.output).join("\n"),
                    problems:
                        trained === 1 && waited === 1
                            ? []
                            : [
                                  `${trained} of the two runs trained and ${waited} waited; expected one each`,
                              ],
                };
            },
            { cacheDirs: [sharedCache], config: { cacheDir: sharedCache } },
        ),
    );
    const full = path.join(stack.work, "cache-full");
    fs.mkdirSync(full);
    // 256 KiB: less than the 407 KB of weights alone.
    ok(run("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", full]), "mount tmpfs");
    const roomy = path.join(stack.work, "cache-roomy");
    try {
        outcomes.push(
            await fault(
                "full-cache-disk",
                async (name) => {
                    const r = await upWith(name);
                    const named =
                        /could not be cached in .*cache-full .*no space left on device/.test(
                            r.output,
                        );
                    return {
                        landed: r.status !== 0 && named ? "ENOSPC on the cache's tmpfs" : undefined,
                        status: r.status,
                        output: r.output,
                    };
                },
                {
                    config: { cacheDir: full },
                    cacheDirs: [full, roomy],
                    afterInjection: () => {
                        const left = fs.readdirSync(full);
                        if (left.length > 0)
                            throw new Error(`the full cache holds ${left.join(", ")}`);
                        stack.setConfig("full-cache-disk", { cacheDir: roomy });
                        return ["pulumi config set cacheDir <a directory with room>"];
                    },
                },
            ),
        );
    } finally {
        run("umount", [full]);
    }

    await settleDestroys();
    // The baseline goes too: the API server outlives this run's state directory.
    ok(stack.pulumi(["destroy", "-s", "baseline", "--yes", "--skip-preview"]), "destroy baseline");

    const injected = outcomes.filter((o) => o.injected).length;
    const converged = outcomes.filter((o) => o.injected && o.converged).length;
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(RESULTS, `${JSON.stringify({ baseline, faults: outcomes }, null, 2)}\n`);
    console.log(
        `faults: ${injected} injected, ${converged} converged (of ${outcomes.length}); results in ${RESULTS}`,
    );
    return injected === outcomes.length && converged === outcomes.length ? 0 : 1;
}

runCommand(
    async () => {
        try {
            return await main();
        } finally {
            fs.rmSync(phaseDir, { recursive: true, force: true });
            stack.cleanUp();
        }
    },
    (err) => {
        console.error(err);
        return 1;
    },
);
