/**
 * `npm run up:dev` on a kind or minikube context (scripts/lib/kind-minikube.sh). Neither can run
 * here, so test doubles stand in for the `pulumi`, `docker`, `kind`, `minikube` and `kubectl`
 * commands: each records its arguments, and `kubectl port-forward` serves a model status page on
 * the forwarded port the way the real one would reach TF Serving. The test checks the branch
 * taken and the commands run, in order, and that the printed endpoint answers.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const IMAGE = "tfk8s/mymodel-serving:7d3e";
const IMAGE_URN =
    "urn:pulumi:dev::tfk8s::tfk8s:serving:ServingImage$docker:index/image:Image::image";

/** The recording doubles, as shell scripts appending `<name> <args>` to `record`. */
function writeDoubles(bin: string, record: string): void {
    const recording = (name: string, body: string) =>
        fs.writeFileSync(
            path.join(bin, name),
            `#!/bin/sh\necho "${name} $*" >> ${record}\n${body}\n`,
            { mode: 0o755 },
        );
    recording(
        "pulumi",
        `case "$*" in
  whoami*) exit 1 ;;
  "preview "*) echo '{"steps": [{"op": "create", "urn": "${IMAGE_URN}"},
    {"op": "create", "urn": "urn:pulumi:dev::tfk8s::kubernetes:apps/v1:Deployment::serving"}]}' ;;
  "stack export"*) echo '{"deployment": {"resources": [{"type": "docker:index/image:Image",
    "outputs": {"imageName": "${IMAGE}"}}]}}' ;;
  *namespace) echo tfk8s-dev ;;
  *serviceName) echo mymodel-serving ;;
  *modelName) echo mymodel ;;
esac`,
    );
    recording("docker", "exit 0");
    recording("kind", "exit 0");
    recording("minikube", "exit 0");
    // port-forward: serves on the local port of its "PORT:8501" argument until it is killed.
    recording(
        "kubectl",
        `port=$(echo "$*" | sed -n 's/.* \\([0-9]*\\):8501.*/\\1/p')
exec ${process.execPath} -e 'require("http").createServer((q, s) => s.end(JSON.stringify({model_version_status: [{version: "1", state: "AVAILABLE"}]}))).listen(Number(process.argv[1]), "127.0.0.1")' "$port"`,
    );
}

/** A TCP port nothing listens on now. */
async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    return port;
}

describe("up:dev on a kind or minikube context (recording doubles)", function () {
    this.timeout(60_000);
    let work: string;
    let project: string;
    let record: string;
    let port: number;

    beforeEach(async () => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-contexts-"));
        project = path.join(work, "project");
        record = path.join(work, "record");
        const bin = path.join(work, "bin");
        fs.mkdirSync(bin);
        fs.mkdirSync(path.join(project, "scripts", "lib"), { recursive: true });
        for (const f of ["scripts/up-dev.sh", "scripts/lib/kind-minikube.sh"]) {
            fs.copyFileSync(path.join(ROOT, f), path.join(project, f));
        }
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
        fs.writeFileSync(record, "");
        writeDoubles(bin, record);
        port = await freePort();
    });
    afterEach(() => {
        // The port-forward double, should a case have failed before down:dev stopped it.
        const pidFile = path.join(project, ".pulumi-state", "port-forward.pid");
        if (fs.existsSync(pidFile)) {
            try {
                process.kill(Number(fs.readFileSync(pidFile, "utf8")));
            } catch {
                // Already gone.
            }
        }
        fs.rmSync(work, { recursive: true, force: true });
    });

    /** Runs up-dev.sh (or with --down) in the copy, on a kubeconfig whose context is `context`. */
    function upDev(context: string, args: string[] = []) {
        const kubeconfig = path.join(work, "kubeconfig");
        fs.writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: ${context}\n`);
        const r = spawnSync("bash", [path.join(project, "scripts", "up-dev.sh"), ...args], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            env: {
                ...process.env,
                PATH: `${path.join(work, "bin")}:${process.env.PATH}`,
                KUBECONFIG: kubeconfig,
                PULUMI_CONFIG_PASSPHRASE: "test",
                PULUMI_BACKEND_URL: "",
                TFK8S_ENDPOINT_PORT: String(port),
            },
        });
        return { status: r.status, output: `${r.stdout}${r.stderr}` };
    }

    const recorded = () => fs.readFileSync(record, "utf8").trim().split("\n");
    const indexOf = (lines: string[], pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

    it("kind: builds the image alone, loads it into the node, then deploys and forwards 127.0.0.1", async () => {
        const up = upDev("kind-tfk8s");
        assert.strictEqual(up.status, 0, up.output);
        const lines = recorded();
        const targeted = indexOf(lines, /^pulumi up --stack dev --target \S+Image::image --yes$/);
        const load = lines.indexOf(`kind load docker-image ${IMAGE} --name tfk8s`);
        const full = lines.indexOf("pulumi up --stack dev --yes");
        const forward = indexOf(
            lines,
            /^kubectl port-forward --namespace tfk8s-dev service\/mymodel-serving \d+:8501$/,
        );
        assert.ok(
            targeted >= 0 && targeted < load && load < full && full < forward,
            lines.join("\n"),
        );
        assert.match(
            up.output,
            new RegExp(`serving at http://127\\.0\\.0\\.1:${port} through kubectl port-forward`),
        );
        const answer = await fetch(`http://127.0.0.1:${port}/v1/models/mymodel`);
        assert.strictEqual(answer.status, 200);

        const down = upDev("kind-tfk8s", ["--down"]);
        assert.strictEqual(down.status, 0, down.output);
        assert.ok(recorded().includes("pulumi destroy --stack dev --yes"), recorded().join("\n"));
        assert.match(down.output, /stopped the port-forward/);
        await assert.rejects(fetch(`http://127.0.0.1:${port}/v1/models/mymodel`));
    });

    it("minikube: loads the image with minikube image load", () => {
        const up = upDev("minikube", ["--config", "tfk8s:modelVersion=2"]);
        assert.strictEqual(up.status, 0, up.output);
        const lines = recorded();
        assert.ok(lines.includes(`minikube image load ${IMAGE}`), lines.join("\n"));
        // The user's flags reach the preview, the targeted up and the full up.
        assert.ok(lines.some((l) => /^pulumi preview .*--config tfk8s:modelVersion=2$/.test(l)));
        assert.ok(lines.includes("pulumi up --stack dev --yes --config tfk8s:modelVersion=2"));
        assert.ok(upDev("minikube", ["--down"]).status === 0);
    });

    it("another context (Docker Desktop): one pulumi up, nothing loaded or forwarded", () => {
        const up = upDev("docker-desktop");
        assert.strictEqual(up.status, 0, up.output);
        const lines = recorded();
        assert.deepStrictEqual(
            lines.filter((l) => /^(kind|minikube|kubectl) |^pulumi (up|preview)/.test(l)),
            ["pulumi up --stack dev --yes"],
        );
    });
});
