/**
 * `pulumi preview` and `pulumi up` of the dev stack for real: the Pulumi engine, language host and
 * the kubernetes and docker providers built from Go modules, a Docker engine and a registry with
 * credentials. The only stand-ins are the TF Serving base image (a test double built FROM scratch,
 * since Docker Hub is out of reach) and the cluster (render mode writes the manifests instead).
 *
 * Run by `npm run test:integration` (scripts/integration.sh), which provides the tools and the
 * engine through the environment: PATH (pulumi), PULUMI_HOME, DOCKER_HOST, TFK8S_REGISTRY,
 * TFK8S_REGISTRY_USER, TFK8S_REGISTRY_PASSWORD_FILE and TFK8S_MANIFEST_CHECK.
 */
import * as assert from "assert";
import { SpawnSyncReturns, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");
/** What `pulumi up` needs of the project; tests and docs stay behind. */
const PROJECT_FILES = [
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "package.json",
    "tsconfig.json",
    "index.ts",
    "config.ts",
    "components",
    "model",
    "policy",
];

interface Env {
    registry: string;
    user: string;
    password: string;
    manifestCheck: string;
}

function requiredEnv(): Env | string {
    const missing = [
        "DOCKER_HOST",
        "TFK8S_REGISTRY",
        "TFK8S_REGISTRY_USER",
        "TFK8S_REGISTRY_PASSWORD_FILE",
        "TFK8S_MANIFEST_CHECK",
    ].filter((k) => !process.env[k]);
    if (missing.length > 0)
        return `missing ${missing.join(", ")} (run it through npm run test:integration)`;
    if (spawnSync("pulumi", ["version"]).status !== 0) return "no pulumi CLI on PATH";
    return {
        registry: process.env.TFK8S_REGISTRY as string,
        user: process.env.TFK8S_REGISTRY_USER as string,
        password: fs
            .readFileSync(process.env.TFK8S_REGISTRY_PASSWORD_FILE as string, "utf8")
            .trim(),
        manifestCheck: process.env.TFK8S_MANIFEST_CHECK as string,
    };
}

/** Runs a command, returning its result; stdout and stderr are also kept for failure messages. */
function run(
    cmd: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
    assert.strictEqual(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

/** HEAD of a manifest in the registry, with basic auth; returns the digest it serves. */
async function registryDigest(env: Env, repo: string, reference: string): Promise<string | null> {
    const res = await fetch(`http://${env.registry}/v2/${repo}/manifests/${reference}`, {
        method: "HEAD",
        headers: {
            Authorization: `Basic ${Buffer.from(`${env.user}:${env.password}`).toString("base64")}`,
            Accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        },
    });
    return res.status === 200 ? res.headers.get("docker-content-digest") : null;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath, e.name));
}

describe("pulumi up of the dev stack, for real (render mode)", function () {
    this.timeout(20 * 60 * 1000);
    const envOrReason = requiredEnv();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-integration-"));
    const project = path.join(work, "project");
    const rendered = path.join(work, "rendered");
    const state = path.join(work, "state");
    let env: Env;
    let pulumiEnv: NodeJS.ProcessEnv;
    const pulumi = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
        run("pulumi", ["--non-interactive", ...args], {
            cwd: project,
            env: { ...pulumiEnv, ...extra },
        });
    let upOutputs: Record<string, string>;
    const policyLauncher = path.join(work, "tfk8s-policy-pack");
    const withPolicy = (stack: "dev" | "prod") => [
        "--policy-pack",
        policyLauncher,
        "--policy-pack-config",
        path.join(project, "policy", "config", `${stack}.json`),
    ];

    before(function () {
        if (typeof envOrReason === "string") {
            if (process.env.CI === "true")
                throw new Error(`integration test cannot run: ${envOrReason}`);
            console.log(`skipping the integration test: ${envOrReason}`);
            this.skip();
        }
        env = envOrReason as Env;
        // A copy of the project, so stack files and build output never touch the checkout.
        fs.mkdirSync(project);
        for (const f of PROJECT_FILES)
            fs.cpSync(path.join(ROOT, f), path.join(project, f), { recursive: true });
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
        fs.mkdirSync(state);
        // The docker provider cannot be built here (see test/doubles/dockerProviderDouble.ts):
        // its test double goes on PATH, where the engine takes it as the ambient docker plugin.
        const bin = path.join(work, "bin");
        fs.mkdirSync(bin);
        const launcher = path.join(bin, "pulumi-resource-docker");
        fs.writeFileSync(
            launcher,
            `#!/bin/sh\nexec node ${path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs")} ${path.join(ROOT, "test", "doubles", "dockerProviderDouble.ts")} "$@"\n`,
            { mode: 0o755 },
        );
        // The only language host the Go proxy serves (sdk v3.68) cannot start a policy pack from
        // its directory, so the pack is given to the CLI as an executable that runs it with the
        // SDK's own policy-pack runner.
        fs.writeFileSync(
            policyLauncher,
            `#!/bin/sh\ncd ${path.join(project, "policy")} && exec node ${path.join(ROOT, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack")} "$1" .\n`,
            { mode: 0o755 },
        );
        pulumiEnv = {
            ...process.env,
            PATH: `${bin}:${process.env.PATH}`,
            PULUMI_BACKEND_URL: `file://${state}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(12).toString("hex"),
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
    });

    after(() => {
        if (process.env.TFK8S_KEEP !== "1") fs.rmSync(work, { recursive: true, force: true });
        else console.log(`kept ${work}`);
    });

    it("pushes a stand-in base image (test double of tensorflow/serving) built FROM scratch", async () => {
        const ctx = path.join(work, "standin");
        fs.mkdirSync(ctx);
        fs.writeFileSync(
            path.join(ctx, "TEST-DOUBLE"),
            "Stand-in for tensorflow/serving in tfk8s's integration test. It serves nothing.\n",
        );
        fs.writeFileSync(
            path.join(ctx, "Dockerfile"),
            "FROM scratch\nCOPY TEST-DOUBLE /TEST-DOUBLE\n",
        );
        const tag = `${env.registry}/test-doubles/tensorflow-serving:standin`;
        ok(run("docker", ["build", "-q", "-t", tag, ctx]), "docker build of the stand-in");
        ok(
            run("docker", ["login", env.registry, "-u", env.user, "--password-stdin"], {
                input: env.password,
            }),
            "docker login",
        );
        ok(run("docker", ["push", tag]), "docker push of the stand-in");
        const digest = await registryDigest(env, "test-doubles/tensorflow-serving", "standin");
        assert.match(String(digest), /^sha256:[0-9a-f]{64}$/);

        ok(
            pulumi(["stack", "init", "dev", "--secrets-provider", "passphrase"]),
            "pulumi stack init",
        );
        const set = (key: string, value: string, secret = false) =>
            ok(
                pulumi([
                    "config",
                    "set",
                    `tfk8s:${key}`,
                    ...(secret ? ["--secret"] : []),
                    "--",
                    value,
                ]),
                `config set ${key}`,
            );
        set("baseImage", `${env.registry}/test-doubles/tensorflow-serving@${digest}`);
        set("renderDir", rendered);
        set("cacheDir", path.join(work, "cache"));
        set("skipPush", "false");
        set("registryServer", env.registry);
        set("registryUsername", env.user);
        set("registryPassword", env.password, true);
        set("imageRepository", `${env.registry}/tfk8s/mymodel-serving`);
    });

    it("previews the dev stack with the policy pack, training the model on the way", () => {
        const out = ok(pulumi(["preview", ...withPolicy("dev")]), "pulumi preview");
        assert.match(out, /training 5 epoch\(s\) on 60000 images/);
        assert.match(out, /\+\s+.*tfk8s:serving:ServingImage/);
        assert.match(out, /\+\s+.*kubernetes:apps\/v1:Deployment/);
    });

    it("runs pulumi up: model from the cache, image built and pushed, manifests rendered", () => {
        const out = ok(pulumi(["up", "--yes", "--skip-preview"]), "pulumi up");
        assert.match(out, /cache hit/);
        assert.doesNotMatch(out, /training \d+ epoch/);
        upOutputs = JSON.parse(ok(pulumi(["stack", "output", "--json"]), "stack output"));
        assert.match(
            upOutputs.imageDigest,
            new RegExp(
                `^${env.registry.replace(/\./g, "\\.")}/tfk8s/mymodel-serving@sha256:[0-9a-f]{64}$`,
            ),
        );
        assert.ok(Number(upOutputs.modelAccuracy) >= 0.97, `accuracy ${upOutputs.modelAccuracy}`);
    });

    it("the registry holds the image at the digest the stack exported", async () => {
        const digest = upOutputs.imageDigest.split("@")[1];
        assert.strictEqual(await registryDigest(env, "tfk8s/mymodel-serving", digest), digest);
    });

    it("the image's saved_model.pb is byte-identical to the export", () => {
        const exported = fs.readFileSync(
            path.join(project, ".build", "dev", "export", "mymodel", "1", "saved_model.pb"),
        );
        ok(run("docker", ["pull", upOutputs.imageDigest]), "docker pull by digest");
        // The stand-in base has no shell or server; `create` needs a command but never runs it.
        const id = ok(
            run("docker", ["create", upOutputs.imageDigest, "/TEST-DOUBLE"]),
            "docker create",
        ).trim();
        const copy = path.join(work, "from-image.pb");
        try {
            ok(run("docker", ["cp", `${id}:/models/mymodel/1/saved_model.pb`, copy]), "docker cp");
        } finally {
            run("docker", ["rm", id]);
        }
        assert.ok(
            fs.readFileSync(copy).equals(exported),
            "saved_model.pb in the image differs from the export",
        );
        assert.ok(exported.length > 400000);
    });

    it("the rendered Deployment references that digest and is valid Kubernetes", () => {
        const docs = filesUnder(rendered)
            .filter((f) => f.endsWith(".yaml"))
            .flatMap((f) =>
                YAML.parseAllDocuments(fs.readFileSync(f, "utf8")).map((d) => d.toJS()),
            );
        const deployment = docs.find((d) => d?.kind === "Deployment");
        assert.ok(deployment, `no Deployment among ${docs.map((d) => d?.kind).join(", ")}`);
        assert.strictEqual(
            deployment.spec.template.spec.containers[0].image,
            upOutputs.imageDigest,
        );
        const service = docs.find((d) => d?.kind === "Service");
        assert.strictEqual(service.spec.ports.find((p: any) => p.name === "http").nodePort, 30111);
        assert.ok(!docs.some((d) => d?.kind === "Secret"), "render mode must not write a Secret");
        const check = ok(run(env.manifestCheck, [rendered]), "manifest-check");
        assert.match(check, /manifest-check: [1-9]\d* objects valid/);
    });

    it("a second pulumi up changes nothing and does not train", () => {
        const out = ok(
            pulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"]),
            "second pulumi up",
        );
        assert.match(out, /cache hit/);
        assert.doesNotMatch(out, /training \d+ epoch/);
    });

    it("the registry password appears in plain text nowhere: state, outputs, manifests, build context", () => {
        const places = [
            ...filesUnder(state),
            ...filesUnder(rendered),
            ...filesUnder(path.join(project, ".build")),
            path.join(project, "Pulumi.dev.yaml"),
        ];
        for (const file of places) {
            assert.ok(
                !fs.readFileSync(file).includes(env.password),
                `the registry password is in plain text in ${file}`,
            );
        }
        assert.ok(
            places.some((f) => f.startsWith(state)),
            "no state files were scanned",
        );
        const outputs = ok(pulumi(["stack", "output", "--json", "--show-secrets"]), "stack output");
        assert.ok(!outputs.includes(env.password));
    });

    it("the policy pack rejects the same stack under production rules", () => {
        const r = pulumi(["preview", ...withPolicy("prod")]);
        assert.notStrictEqual(
            r.status,
            0,
            "a NodePort Service with one replica passed production policy",
        );
        const text = r.stdout + r.stderr;
        assert.match(text, /no-public-service-in-production/);
        assert.match(text, /production-availability/);
    });

    it("an unreachable registry fails pulumi up with an error naming it, leaving no image in state", () => {
        const unreachable = "127.0.0.1:5999";
        ok(
            pulumi(["stack", "init", "unreachable", "--secrets-provider", "passphrase"]),
            "stack init unreachable",
        );
        const set = (key: string, value: string, secret = false) =>
            ok(
                pulumi([
                    "config",
                    "set",
                    "-s",
                    "unreachable",
                    `tfk8s:${key}`,
                    ...(secret ? ["--secret"] : []),
                    "--",
                    value,
                ]),
                `config set ${key}`,
            );
        const dev = YAML.parse(fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8"))
            .config as Record<string, unknown>;
        set("baseImage", String(dev["tfk8s:baseImage"]));
        set("renderDir", path.join(work, "rendered-unreachable"));
        set("cacheDir", path.join(work, "cache"));
        set("skipPush", "false");
        set("registryServer", unreachable);
        set("registryUsername", env.user);
        set("registryPassword", env.password, true);
        set("imageRepository", `${unreachable}/tfk8s/mymodel-serving`);
        const r = pulumi(["up", "-s", "unreachable", "--yes", "--skip-preview"]);
        assert.notStrictEqual(r.status, 0, "pushing to a closed port succeeded");
        assert.match(r.stdout + r.stderr, /127\.0\.0\.1:5999/);
        const exported = JSON.parse(
            ok(pulumi(["stack", "export", "-s", "unreachable"]), "stack export"),
        );
        const types: string[] = (exported.deployment.resources ?? []).map(
            (res: { type: string }) => res.type,
        );
        assert.ok(!types.includes("docker:index/image:Image"), `state holds ${types.join(", ")}`);
        assert.ok(!types.includes("kubernetes:apps/v1:Deployment"));
        ok(
            pulumi(["destroy", "-s", "unreachable", "--yes", "--skip-preview"]),
            "destroy unreachable",
        );
    });

    it("pulumi destroy leaves nothing behind", () => {
        const out = ok(
            pulumi(["destroy", "-s", "dev", "--yes", "--skip-preview"]),
            "pulumi destroy",
        );
        assert.match(out, /Destroying \(dev\)/);
        const exported = JSON.parse(ok(pulumi(["stack", "export", "-s", "dev"]), "stack export"));
        assert.deepStrictEqual(exported.deployment.resources ?? [], []);
        assert.deepStrictEqual(
            filesUnder(rendered).filter((f) => f.endsWith(".yaml")),
            [],
        );
    });
});
