/**
 * A dev stack run by the real Pulumi CLI in a scratch copy of the project, shared by the
 * integration test and `npm run bench:stack`. scripts/with-real-stack.sh provides the tools and
 * the engine through the environment: PATH (pulumi), PULUMI_HOME, DOCKER_HOST, TFK8S_REGISTRY,
 * TFK8S_REGISTRY_USER, TFK8S_REGISTRY_PASSWORD_FILE, TFK8S_MANIFEST_CHECK, TFK8S_KUBE_SCORE,
 * TFK8S_CHECKOV and, when an API server runs, TFK8S_KUBECONFIG.
 *
 * Two parts are test doubles, because the real ones cannot exist on our CI machine: the docker
 * provider plugin (test/doubles/dockerProviderDouble.ts; the Go proxy serves no pulumi-docker
 * module) and the tensorflow/serving base image (Docker Hub is unreachable), replaced by an image
 * built FROM scratch, or (with a node, scripts/local-cluster.sh) the stand-in that serves our
 * SavedModel with real TensorFlow (scripts/build-serving-standin.sh). The cluster is render mode,
 * an API server without nodes, or the one-node local cluster.
 */
import { ChildProcess, SpawnSyncReturns, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { killProcessesWithEnv, processesWithEnv } from "./processes";

const ROOT = path.resolve(__dirname, "..", "..");
/**
 * What `pulumi up` needs of a checkout (tests and docs stay behind): every top-level TypeScript
 * file, the program's folders and the project's settings. Listed by kind rather than by name, so
 * a copy of an older revision (previewStability.integration.ts) gets that revision's files.
 */
function programFiles(checkout: string): string[] {
    const topLevel = fs.readdirSync(checkout).filter((f) => f.endsWith(".ts"));
    const folders = ["components", "config", "model", "policy", "client", "rollout"];
    const settings = ["Pulumi.yaml", "package.json", "tsconfig.json"];
    return [...topLevel, ...folders, ...settings].filter((f) =>
        fs.existsSync(path.join(checkout, f)),
    );
}
/**
 * The variable that marks the environment of one spawned CLI, and so of every plugin and program
 * it starts: plugins run in process groups of their own and outlive a CLI killed with its group.
 */
export const ENGINE_MARK = "TFK8S_ENGINE_MARK";
const REQUIRED_ENV = [
    "DOCKER_HOST",
    "TFK8S_REGISTRY",
    "TFK8S_REGISTRY_USER",
    "TFK8S_REGISTRY_PASSWORD_FILE",
    "TFK8S_MANIFEST_CHECK",
    "TFK8S_KUBE_SCORE",
    "TFK8S_CHECKOV",
];

/** The registry and tools the environment provides. */
export interface RealStackEnv {
    readonly registry: string;
    readonly user: string;
    readonly password: string;
    readonly manifestCheck: string;
    /** kube-score and checkov (scripts/install-manifest-linters.sh). */
    readonly linters: { readonly kubeScore: string; readonly checkov: string };
    /** kubeconfig of the API server scripts/kube-apiserver.sh started, when there is one. */
    readonly kubeconfig?: string;
    /** Gateway API's standard CRDs (scripts/gateway-api-crds.sh), when fetched. */
    readonly gatewayCrds?: string;
}

/** The environment, or why the real stack cannot run here. */
export function realStackEnv(): RealStackEnv | string {
    const missing = REQUIRED_ENV.filter((k) => !process.env[k]);
    if (missing.length > 0) {
        return `missing ${missing.join(", ")} (run it through scripts/with-real-stack.sh)`;
    }
    if (spawnSync("pulumi", ["version"]).status !== 0) return "no pulumi CLI on PATH";
    return {
        registry: process.env.TFK8S_REGISTRY as string,
        user: process.env.TFK8S_REGISTRY_USER as string,
        password: fs
            .readFileSync(process.env.TFK8S_REGISTRY_PASSWORD_FILE as string, "utf8")
            .trim(),
        manifestCheck: process.env.TFK8S_MANIFEST_CHECK as string,
        linters: {
            kubeScore: process.env.TFK8S_KUBE_SCORE as string,
            checkov: process.env.TFK8S_CHECKOV as string,
        },
        kubeconfig: process.env.TFK8S_KUBECONFIG || undefined,
        gatewayCrds: process.env.TFK8S_GATEWAY_CRDS || undefined,
    };
}

/** Runs a command and returns its result, output as text. */
export function run(
    cmd: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
}

/** stdout of a command that must succeed; otherwise an error with its whole output. */
export function ok(r: SpawnSyncReturns<string>, what: string): string {
    if (r.status !== 0) {
        throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    return r.stdout;
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath, e.name));
}

/** A scratch copy of the project with a file state backend and a passphrase secrets provider. */
export class RealStack {
    readonly work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-real-stack-"));
    readonly project = path.join(this.work, "project");
    readonly state = path.join(this.work, "state");
    readonly rendered = path.join(this.work, "rendered");
    readonly cacheDir = path.join(this.work, "cache");
    /** TMPDIR of every command the stack runs. */
    readonly tmp = path.join(this.work, "tmp");
    /** Executable that runs the policy pack with the SDK's runner (see the constructor). */
    readonly policyLauncher = path.join(this.work, "tfk8s-policy-pack");
    /** Everything the pulumi commands printed, for scanning the logs. */
    readonly transcript: string[] = [];
    /** The environment of every pulumi command here (backend, passphrase, plugins on PATH). */
    readonly pulumiEnv: NodeJS.ProcessEnv;

    /**
     * `checkout` is where the program comes from: this checkout by default, or a copy of another
     * revision's files.
     */
    constructor(
        readonly env: RealStackEnv,
        private checkout = ROOT,
    ) {
        // A copy, so stack files and build output never touch the checkout.
        fs.mkdirSync(this.project);
        this.copyProgram();
        for (const stack of ["dev", "prod"]) {
            const file = `Pulumi.${stack}.yaml`;
            fs.copyFileSync(path.join(checkout, file), path.join(this.project, file));
        }
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(this.project, "node_modules"));
        fs.mkdirSync(this.state);
        fs.mkdirSync(this.tmp);
        // The docker provider's test double goes on PATH, where the engine takes it as the
        // ambient docker plugin.
        const bin = path.join(this.work, "bin");
        fs.mkdirSync(bin);
        const tsx = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
        const double = path.join(ROOT, "test", "doubles", "dockerProviderDouble.ts");
        fs.writeFileSync(
            path.join(bin, "pulumi-resource-docker"),
            `#!/bin/sh\nexec node ${tsx} ${double} "$@"\n`,
            { mode: 0o755 },
        );
        // The only language host the Go proxy serves (sdk v3.68) cannot start a policy pack
        // from its directory, so the CLI gets an executable that runs the pack with the SDK's
        // own policy-pack runner.
        const runner = path.join(
            ROOT,
            "node_modules",
            "@pulumi",
            "pulumi",
            "cmd",
            "run-policy-pack",
        );
        fs.writeFileSync(
            this.policyLauncher,
            `#!/bin/sh\ncd ${path.join(this.project, "policy")} && exec node ${runner} "$1" .\n`,
            { mode: 0o755 },
        );
        this.pulumiEnv = {
            ...process.env,
            PATH: `${bin}:${process.env.PATH}`,
            PULUMI_BACKEND_URL: `file://${this.state}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(12).toString("hex"),
            PULUMI_SKIP_UPDATE_CHECK: "true",
            // The kubernetes provider copies the kubeconfig, credentials and all, to a temporary
            // file on every configure and never removes it (writeKubeconfigToFile in its
            // pkg/provider/util.go); here those copies go with the scratch directory.
            TMPDIR: this.tmp,
            // The program's ts-node would type-check every file again on the first run in each
            // scratch copy (its cache directory follows the copy's paths): loading index.ts with
            // Pulumi's ts-node 7.0.1 and no cache took 15.7 s checking, 5.0 s without, here.
            // CI's `tsc --noEmit` checks the same files with the same tsconfig.json first.
            PULUMI_NODEJS_TRANSPILE_ONLY: "true",
            ...(env.kubeconfig === undefined ? {} : { KUBECONFIG: env.kubeconfig }),
        };
    }

    /** Copies the program of `this.checkout` into the project copy. */
    private copyProgram(): void {
        for (const f of programFiles(this.checkout)) {
            fs.cpSync(path.join(this.checkout, f), path.join(this.project, f), { recursive: true });
        }
    }

    /**
     * Replaces the program in the project copy with the one of `checkout`, keeping the stacks,
     * their config files, the state and the build output: the next command runs the new code
     * against what the old one deployed.
     */
    switchProgram(checkout: string): void {
        for (const f of programFiles(this.checkout)) {
            fs.rmSync(path.join(this.project, f), { recursive: true, force: true });
        }
        this.checkout = checkout;
        this.copyProgram();
    }

    /** Runs `pulumi <args>` non-interactively in the project copy. */
    pulumi(args: string[]): SpawnSyncReturns<string> {
        const mark = crypto.randomBytes(8).toString("hex");
        const r = run("pulumi", ["--non-interactive", ...args], {
            cwd: this.project,
            env: { ...this.pulumiEnv, [ENGINE_MARK]: mark },
        });
        this.transcript.push(r.stdout, r.stderr);
        this.stopLeftBehind(mark, args);
        return r;
    }

    /**
     * Stops what a CLI that has exited left running (processes with its mark), and says so. The
     * CLI closes its language host and plugins when it ends; one it did not close (or a killed
     * CLI's) would otherwise run until the language host's engine health check, every 5 minutes
     * in the one we build (sdk v3.68.0), finds the engine gone.
     */
    private stopLeftBehind(mark: string, args: string[]): void {
        for (const p of killProcessesWithEnv(ENGINE_MARK, mark)) {
            const line = `left running by pulumi ${args[0]} after it ended, stopped: pid ${p.pid}: ${p.command}`;
            console.log(line);
            this.transcript.push(`${line}\n`);
        }
    }

    /** Runs one of the project's TypeScript commands in the copy, with the stack's Pulumi setup. */
    tsx(script: string, args: string[]): SpawnSyncReturns<string> {
        const r = run("npx", ["tsx", script, ...args], { cwd: this.project, env: this.pulumiEnv });
        this.transcript.push(r.stdout, r.stderr);
        return r;
    }

    /**
     * Starts `pulumi <args>` in a process group of its own, so a fault can kill the CLI with
     * every plugin and program it started. `output()` is what it printed so far; `done` gives
     * the exit status, and the transcript gets the output then.
     */
    spawnPulumi(args: string[]): {
        child: ChildProcess;
        output: () => string;
        done: Promise<number | null>;
        /** The value of `ENGINE_MARK` in the environment of everything this CLI starts. */
        mark: string;
    } {
        const mark = crypto.randomBytes(8).toString("hex");
        const child = spawn("pulumi", ["--non-interactive", ...args], {
            cwd: this.project,
            env: { ...this.pulumiEnv, [ENGINE_MARK]: mark },
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let output = "";
        child.stdout?.on("data", (d) => (output += d));
        child.stderr?.on("data", (d) => (output += d));
        const done = new Promise<number | null>((resolve) =>
            child.on("close", (status) => {
                this.transcript.push(output);
                this.stopLeftBehind(mark, args);
                resolve(status);
            }),
        );
        return { child, output: () => output, done, mark };
    }

    /** `--policy-pack` flags with the pack config of `rules`. */
    policyFlags(rules: "dev" | "prod"): string[] {
        return [
            "--policy-pack",
            this.policyLauncher,
            "--policy-pack-config",
            path.join(this.project, "policy", "config", `${rules}.json`),
        ];
    }

    /** HEAD of a manifest in the registry, with basic auth; the digest it serves, or null. */
    async registryDigest(repo: string, reference: string): Promise<string | null> {
        const { registry, user, password } = this.env;
        const res = await fetch(`http://${registry}/v2/${repo}/manifests/${reference}`, {
            method: "HEAD",
            headers: {
                Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
                Accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
            },
        });
        return res.status === 200 ? res.headers.get("docker-content-digest") : null;
    }

    /**
     * Builds and pushes the stand-in for tensorflow/serving (a test double FROM scratch that
     * serves nothing); returns its reference by digest, for the `baseImage` config.
     */
    async pushStandInBaseImage(): Promise<string> {
        const ctx = path.join(this.work, "standin");
        fs.mkdirSync(ctx);
        fs.writeFileSync(
            path.join(ctx, "TEST-DOUBLE"),
            "Stand-in for tensorflow/serving in tfk8s's integration test. It serves nothing.\n",
        );
        fs.writeFileSync(
            path.join(ctx, "Dockerfile"),
            "FROM scratch\nCOPY TEST-DOUBLE /TEST-DOUBLE\n",
        );
        const repo = "test-doubles/tensorflow-serving";
        const tag = `${this.env.registry}/${repo}:standin`;
        ok(run("docker", ["build", "-q", "-t", tag, ctx]), "docker build of the stand-in");
        const login = ["login", this.env.registry, "-u", this.env.user, "--password-stdin"];
        ok(run("docker", login, { input: this.env.password }), "docker login");
        ok(run("docker", ["push", tag]), "docker push of the stand-in");
        const digest = await this.registryDigest(repo, "standin");
        if (digest === null) throw new Error(`the registry does not serve ${tag} after the push`);
        return `${this.env.registry}/${repo}@${digest}`;
    }

    /**
     * Creates `stack` with the stand-in base image, a private model cache and, unless the stack
     * builds locally (`skipPush`), the registry (default: the real one) with the password set as
     * a secret. Render mode into `renderDir`, or, with `null`, deployment to the API server of
     * `env.kubeconfig`, without waiting for pods unless `awaitPods` (a cluster with a node).
     * `from` starts from a stack file of the project (`Pulumi.<from>.yaml`) and changes only
     * what must point at this machine; without it, or with `push`, the stack pushes to the
     * registry. `set` adds config keys.
     */
    initStack(
        stack: string,
        baseImage: string,
        opts: {
            registry?: string;
            renderDir?: string | null;
            awaitPods?: boolean;
            from?: "dev" | "prod";
            push?: boolean;
            set?: Record<string, string>;
        } = {},
    ): void {
        const registry = opts.registry ?? this.env.registry;
        const renderDir = opts.renderDir === undefined ? this.rendered : opts.renderDir;
        if (opts.from !== undefined && opts.from !== stack) {
            // From the checkout: the copy's own file may hold another stack's `config set`s.
            fs.copyFileSync(
                path.join(this.checkout, `Pulumi.${opts.from}.yaml`),
                path.join(this.project, `Pulumi.${stack}.yaml`),
            );
        }
        ok(
            this.pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]),
            `stack init ${stack}`,
        );
        // A key set twice keeps its last value, as with one `config set` after another.
        const plain: Record<string, string> = {};
        const secrets: Record<string, string> = {};
        const set = (key: string, value: string, secret = false) => {
            delete (secret ? plain : secrets)[key];
            (secret ? secrets : plain)[key] = value;
        };
        set("baseImage", baseImage);
        if (renderDir !== null) set("renderDir", renderDir);
        else if (opts.awaitPods !== true) set("skipAwait", "true");
        set("cacheDir", this.cacheDir);
        if (opts.from === undefined || opts.push === true) set("skipPush", "false");
        if (opts.from !== "dev" || opts.push === true) {
            set("registryServer", registry);
            set("registryUsername", this.env.user);
            set("registryPassword", this.env.password, true);
            set("imageRepository", `${registry}/tfk8s/mymodel-serving`);
        }
        for (const [key, value] of Object.entries(opts.set ?? {})) set(key, value);
        this.setConfig(stack, plain, { secrets });
    }

    /**
     * Sets the `tfk8s:` keys of `plain` and `secrets` (stored encrypted) on `stack` in one
     * `pulumi config set-all`, then removes the keys of `rm` in one `config rm-all`: each pulumi
     * command costs about 0.35 s here.
     */
    setConfig(
        stack: string,
        plain: Record<string, string>,
        opts: { secrets?: Record<string, string>; rm?: string[] } = {},
    ): void {
        const flags = (kind: string, values: Record<string, string>) =>
            Object.entries(values).flatMap(([key, value]) => [kind, `tfk8s:${key}=${value}`]);
        const pairs = [...flags("--plaintext", plain), ...flags("--secret", opts.secrets ?? {})];
        if (pairs.length > 0)
            ok(
                this.pulumi(["config", "set-all", "-s", stack, ...pairs]),
                `config set-all on ${stack}`,
            );
        const keys = (opts.rm ?? []).map((key) => `tfk8s:${key}`);
        if (keys.length > 0)
            ok(
                this.pulumi(["config", "rm-all", "-s", stack, ...keys]),
                `config rm-all on ${stack}`,
            );
    }

    /**
     * A request to the API server of `env.kubeconfig`: the parsed object, or null for 404.
     * `body` is sent as JSON (POST, PUT).
     */
    kube(method: string, apiPath: string, body?: object): Record<string, any> | null {
        if (this.env.kubeconfig === undefined) throw new Error("no API server (TFK8S_KUBECONFIG)");
        const kubeconfig = fs.readFileSync(this.env.kubeconfig, "utf8");
        const server = /server: "?([^"\s,}]+)/.exec(kubeconfig)?.[1];
        const token = /token: "?([^"\s,}]+)/.exec(kubeconfig)?.[1];
        // -k: the server's certificate is self-signed by scripts/kube-apiserver.sh.
        const r = run(
            "curl",
            [
                "-sk",
                "-X",
                method,
                "-w",
                "\n%{http_code}",
                "-H",
                `Authorization: Bearer ${token}`,
                ...(body === undefined
                    ? []
                    : ["-H", "Content-Type: application/json", "--data-binary", "@-"]),
                `${server}${apiPath}`,
            ],
            { input: body === undefined ? undefined : JSON.stringify(body) },
        );
        const out = ok(r, `${method} ${apiPath}`);
        const status = out.slice(out.lastIndexOf("\n") + 1);
        if (status === "404") return null;
        if (!/^20[0-2]$/.test(status))
            throw new Error(`${method} ${apiPath} answered ${status}: ${out}`);
        return JSON.parse(out.slice(0, out.lastIndexOf("\n")));
    }

    /**
     * Installs Gateway API's HTTPRoute CRD into the API server, unless it is there, and waits
     * (at most 30 s) until the API server says it is established and serves the type.
     */
    installHttpRouteCrd(): void {
        if (this.env.gatewayCrds === undefined) {
            throw new Error(
                "no Gateway API CRDs (TFK8S_GATEWAY_CRDS, scripts/gateway-api-crds.sh)",
            );
        }
        const file = path.join(this.env.gatewayCrds, "gateway.networking.k8s.io_httproutes.yaml");
        const crd = YAML.parse(fs.readFileSync(file, "utf8"));
        const crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        if (this.kubeGet(`${crds}/${crd.metadata.name}`) === null) this.kube("POST", crds, crd);
        for (let i = 0; i < 60; i++) {
            const conditions: Array<{ type: string; status: string }> =
                this.kubeGet(`${crds}/${crd.metadata.name}`)?.status?.conditions ?? [];
            if (conditions.some((c) => c.type === "Established" && c.status === "True")) return;
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
        }
        throw new Error(`CRD ${crd.metadata.name} was not established within 30 s`);
    }

    /** GET on the API server of `env.kubeconfig`: the parsed object, or null for 404. */
    kubeGet(apiPath: string): Record<string, any> | null {
        return this.kube("GET", apiPath);
    }

    /**
     * Removes the scratch copy (kept when TFK8S_KEEP=1), after making sure that nothing this stack's commands started is
     * still running: every such process has the copy's TMPDIR in its environment. One still
     * there after 10 s (a plugin of a killed CLI) is killed by pid, and the clean-up fails naming
     * it, since a suite must stop what it started.
     */
    cleanUp(): void {
        let left = processesWithEnv("TMPDIR", this.tmp);
        for (let waited = 0; left.length > 0 && waited < 40; waited++) {
            spawnSync("sleep", ["0.25"]);
            left = processesWithEnv("TMPDIR", this.tmp);
        }
        killProcessesWithEnv("TMPDIR", this.tmp);
        if (process.env.TFK8S_KEEP === "1") {
            // The stacks' secrets are encrypted with it: without it the kept state cannot be read.
            const passphrase = path.join(this.work, "passphrase");
            fs.writeFileSync(passphrase, `${this.pulumiEnv.PULUMI_CONFIG_PASSPHRASE}\n`);
            console.log(`kept ${this.work} (passphrase in ${passphrase})`);
        } else fs.rmSync(this.work, { recursive: true, force: true });
        if (left.length > 0) {
            throw new Error(
                `still running 10 s after the last command of the stack in ${this.work} (killed now): ` +
                    left.map((p) => `pid ${p.pid}: ${p.command}`).join("; "),
            );
        }
    }
}
