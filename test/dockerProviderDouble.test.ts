/**
 * The docker provider test double's Check and Diff against what the real pulumi-docker v5
 * provider does (test/doubles/dockerImageProvider.ts says where each rule was read). Building and
 * pushing run against the real engine in the integration suite.
 */
import * as grpc from "@grpc/grpc-js";
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import {
    contextDigest,
    goFileModeString,
    isIgnored,
    parseIgnoreFile,
} from "./doubles/dockerContextDigest";
import { canonicalNameProblem, changedInputs, checkImage } from "./doubles/dockerImageProvider";

/** A scratch directory holding `files` (path → content), as the working directory. */
function project(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-docker-double-"));
    for (const [rel, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        fs.writeFileSync(path.join(dir, rel), content);
    }
    return dir;
}

const wrapped = (value: unknown) => ({ [specialSigKey]: specialSecretSig, value });

describe("docker provider test double: Check", () => {
    const cwd = process.cwd();
    afterEach(() => process.chdir(cwd));

    it("fills the real defaults: context ., dockerfile <context>/Dockerfile, buildOnPreview false, platform linux/<arch>", () => {
        process.chdir(
            project({ Dockerfile: "FROM scratch\n", "app/Dockerfile": "FROM scratch\n" }),
        );
        const bare = checkImage({ imageName: "localhost:5000/m:1" });
        assert.strictEqual(bare.build.context, ".");
        assert.strictEqual(bare.build.dockerfile, "Dockerfile");
        assert.strictEqual(bare.buildOnPreview, false);
        assert.strictEqual(bare.skipPush, false);
        assert.strictEqual(
            bare.build.platform,
            process.arch === "x64" ? "linux/amd64" : `linux/${process.arch}`,
        );
        assert.match(bare.build.contextDigest, /^[0-9a-f]{64}$/);
        const app = checkImage({
            imageName: "localhost:5000/m:1",
            build: { context: "app", platform: "linux/arm64" },
        });
        assert.strictEqual(app.build.dockerfile, "app/Dockerfile");
        assert.strictEqual(app.build.platform, "linux/arm64");
    });

    it("stats the Dockerfile as given, with the real provider's three error texts", () => {
        process.chdir(project({ "app/Dockerfile": "FROM scratch\n" }));
        assert.throws(
            () => checkImage({ imageName: "localhost/m:1", build: { context: "gone" } }),
            {
                message:
                    'could not open dockerfile at relative path "gone/Dockerfile": stat gone/Dockerfile: no such file or directory',
            },
        );
        assert.throws(
            () =>
                checkImage({
                    imageName: "localhost/m:1",
                    build: { context: "app", dockerfile: "Dockerfile" },
                }),
            {
                message:
                    'could not open dockerfile at relative path "Dockerfile". Try setting `dockerfile` to "app/Dockerfile"',
            },
        );
        assert.throws(
            () =>
                checkImage({
                    imageName: "localhost/m:1",
                    build: { dockerfile: "/nowhere/Dockerfile" },
                }),
            {
                message:
                    'expected a relative Dockerfile path; got "/nowhere/Dockerfile" instead: stat /nowhere/Dockerfile: no such file or directory',
            },
        );
    });

    it("refuses a name that is not fully qualified only when it must push without registry.server", () => {
        process.chdir(project({ Dockerfile: "FROM scratch\n" }));
        assert.throws(
            () => checkImage({ imageName: "mymodel-serving:v1" }),
            (err: Error) =>
                err.message.startsWith(
                    '"mymodel-serving:v1": repository name must be canonical.\nThis resource requires all image names to be fully qualified.',
                ),
        );
        assert.doesNotThrow(() => checkImage({ imageName: "mymodel-serving:v1", skipPush: true }));
        assert.doesNotThrow(() =>
            checkImage({ imageName: "mymodel-serving:v1", registry: { server: "ghcr.io" } }),
        );
        assert.strictEqual(canonicalNameProblem("docker.io/user/app:1"), undefined);
        assert.strictEqual(
            canonicalNameProblem("127.0.0.1:5000/tfk8s/mymodel-serving:v1-abc"),
            undefined,
        );
        assert.strictEqual(canonicalNameProblem("ghcr.io/o/i@sha256:" + "a".repeat(64)), undefined);
        // docker.io/app normalizes to docker.io/library/app, so it is not canonical as written.
        assert.match(
            canonicalNameProblem("docker.io/app:1") ?? "",
            /: repository name must be canonical\./,
        );
        assert.match(
            canonicalNameProblem("ghcr.io/Team/App:1") ?? "",
            /: repository name must be lowercase\./,
        );
        assert.match(canonicalNameProblem("ghcr.io/a b:1") ?? "", /: invalid reference format\./);
    });

    it("refuses the build inputs it cannot honour and an unknown builder, as errors", () => {
        process.chdir(project({ Dockerfile: "FROM scratch\n" }));
        const image = (build: object) => () => checkImage({ imageName: "localhost/m:1", build });
        assert.throws(image({ cacheFrom: {} }), {
            message: "cacheFrom requires an `images` field",
        });
        assert.throws(image({ cacheFrom: { images: "x" } }), {
            message: "the `images` field must be a list of strings",
        });
        assert.throws(
            image({ cacheFrom: { images: ["x"] } }),
            /test double does not implement build\.cacheFrom/,
        );
        assert.throws(image({ addHosts: ["a:1.2.3.4"] }), /does not implement build\.addHosts/);
        assert.throws(image({ network: "host" }), /does not implement build\.network/);
        assert.throws(image({ builderVersion: "BuilderV3" }), {
            message: "invalid Docker Builder version",
        });
        assert.doesNotThrow(image({ builderVersion: "BuilderV1" }));
    });

    it("keeps the registry password a secret in the checked inputs", () => {
        process.chdir(project({ Dockerfile: "FROM scratch\n" }));
        const registry = { server: "ghcr.io", username: "bot", password: wrapped("t0ken") };
        const checked = checkImage({ imageName: "ghcr.io/o/m:1", registry });
        assert.deepStrictEqual(checked.registry.password, wrapped("t0ken"));
    });
});

describe("docker provider test double: contextDigest", () => {
    const digestOf = (dir: string) => contextDigest(dir, path.join(dir, "Dockerfile"));

    it("changes with a file's content, name and mode, and not with an empty directory", () => {
        const files = { Dockerfile: "FROM scratch\n", "models/m/1/saved_model.pb": "graph" };
        const base = digestOf(project(files));
        assert.strictEqual(digestOf(project(files)), base, "the digest is not deterministic");
        assert.notStrictEqual(
            digestOf(project({ ...files, "models/m/1/saved_model.pb": "graph2" })),
            base,
        );
        assert.notStrictEqual(
            digestOf(
                project({ Dockerfile: "FROM scratch\n", "models/m/2/saved_model.pb": "graph" }),
            ),
            base,
        );
        const executable = project(files);
        fs.chmodSync(path.join(executable, "models/m/1/saved_model.pb"), 0o755);
        assert.notStrictEqual(digestOf(executable), base);
        const emptyDir = project(files);
        fs.mkdirSync(path.join(emptyDir, "empty"));
        assert.strictEqual(digestOf(emptyDir), base);
    });

    it("hashes the Dockerfile by content wherever it lies, and honours .dockerignore, the Dockerfile's own first", () => {
        const outside = project({
            "a.Dockerfile": "FROM scratch\n",
            "b.Dockerfile": "FROM scratch\n",
            "ctx/x": "1",
        });
        const ctx = path.join(outside, "ctx");
        assert.strictEqual(
            contextDigest(ctx, path.join(outside, "a.Dockerfile")),
            contextDigest(ctx, path.join(outside, "b.Dockerfile")),
        );
        const base = digestOf(project({ Dockerfile: "FROM scratch\n", keep: "1" }));
        const ignored = {
            Dockerfile: "FROM scratch\n",
            keep: "1",
            ".dockerignore": "# notes\n.dockerignore\nlogs\n*.tmp\n",
        };
        assert.strictEqual(
            digestOf(project({ ...ignored, "logs/a/b.txt": "x", "c.tmp": "y" })),
            base,
        );
        assert.notStrictEqual(digestOf(project({ ...ignored, "c.txt": "y" })), base);
        const own = project({
            Dockerfile: "FROM scratch\n",
            keep: "1",
            "Dockerfile.dockerignore": "*\n!keep\n!Dockerfile\n",
            ".dockerignore": "keep\n",
            extra: "z",
        });
        const reference = project({ Dockerfile: "FROM scratch\n", keep: "1" });
        fs.writeFileSync(
            path.join(reference, "Dockerfile.dockerignore"),
            "*\n!keep\n!Dockerfile\n",
        );
        fs.writeFileSync(path.join(reference, ".dockerignore"), "keep\n");
        assert.strictEqual(
            digestOf(own),
            digestOf(reference),
            "Dockerfile.dockerignore was not preferred",
        );
    });

    it("matches .dockerignore patterns as Docker does: **, parents, and ! exceptions", () => {
        const rules = parseIgnoreFile("**/*.log\n/build/\n!build/keep.txt\n");
        assert.ok(isIgnored("a/b/c.log", rules));
        assert.ok(isIgnored("c.log", rules));
        assert.ok(isIgnored("build/out/x", rules));
        assert.ok(!isIgnored("build/keep.txt", rules));
        assert.ok(!isIgnored("src/main.ts", rules));
    });

    it("writes file modes as Go's FileMode.String does", () => {
        assert.strictEqual(goFileModeString(0o100644), "-rw-r--r--");
        assert.strictEqual(goFileModeString(0o100755), "-rwxr-xr-x");
        assert.strictEqual(goFileModeString(0o120777), "Lrwxrwxrwx");
        assert.strictEqual(goFileModeString(0o104755), "urwxr-xr-x");
        assert.strictEqual(goFileModeString(0o040755), "drwxr-xr-x");
    });
});

describe("docker provider test double: Diff", () => {
    const stored = {
        imageName: "ghcr.io/o/m:1",
        build: {
            context: "c",
            dockerfile: "c/Dockerfile",
            platform: "linux/amd64",
            contextDigest: "a",
        },
        buildOnPreview: false,
        skipPush: false,
        registry: { server: "ghcr.io", username: "bot", password: wrapped("old") },
    };
    const olds = { imageName: "ghcr.io/o/m:1", repoDigest: "x", __inputs: wrapped(stored) };

    it("ignores the registry user name and password, and sees every other input", () => {
        assert.deepStrictEqual(changedInputs(olds, stored), []);
        const newCredentials = {
            ...stored,
            registry: { server: "ghcr.io", username: "ci", password: wrapped("new") },
        };
        assert.deepStrictEqual(changedInputs(olds, newCredentials), []);
        assert.deepStrictEqual(
            changedInputs(olds, { ...stored, registry: { ...stored.registry, server: "quay.io" } }),
            ["registry"],
        );
        assert.deepStrictEqual(
            changedInputs(olds, { ...stored, build: { ...stored.build, contextDigest: "b" } }),
            ["build"],
        );
        assert.deepStrictEqual(changedInputs(olds, { ...stored, imageName: "ghcr.io/o/m:2" }), [
            "imageName",
        ]);
        assert.deepStrictEqual(changedInputs(olds, { ...stored, registry: undefined }), [
            "registry",
        ]);
    });
});

describe("docker provider test double: its engine", function () {
    this.timeout(30_000);

    it("serves while the engine answers its health check and exits once it stops, as Go plugins do", async () => {
        // A stand-in engine with gRPC's health service, answering SERVING (an empty message).
        const engine = new grpc.Server();
        engine.addService(
            {
                Check: {
                    path: "/grpc.health.v1.Health/Check",
                    requestStream: false,
                    responseStream: false,
                    requestSerialize: (b: Buffer) => b,
                    requestDeserialize: (b: Buffer) => b,
                    responseSerialize: (b: Buffer) => b,
                    responseDeserialize: (b: Buffer) => b,
                },
            },
            {
                Check: (_call: unknown, done: grpc.sendUnaryData<Buffer>) =>
                    done(null, Buffer.alloc(0)),
            },
        );
        const port = await new Promise<number>((resolve, reject) =>
            engine.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
                err === null ? resolve(p) : reject(err),
            ),
        );
        // One process (tsx's loader, not its CLI, which would start a second), so a kill ends it.
        const double = path.join(__dirname, "doubles", "dockerProviderDouble.ts");
        const child = spawn(
            process.execPath,
            ["--require", "tsx/cjs", double, `127.0.0.1:${port}`],
            {
                stdio: ["ignore", "pipe", "inherit"],
            },
        );
        const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
        try {
            // It prints the port it serves on, as every plugin does.
            const served = await new Promise<string>((resolve) =>
                child.stdout.once("data", (d) => resolve(String(d).trim())),
            );
            assert.match(served, /^\d+$/);
            const outcome = (ms: number) =>
                Promise.race([exited, new Promise((r) => setTimeout(() => r("running"), ms))]);
            assert.strictEqual(await outcome(2500), "running");
            engine.forceShutdown();
            assert.strictEqual(await outcome(10_000), 0);
        } finally {
            child.kill("SIGKILL");
            engine.forceShutdown();
        }
    });
});
