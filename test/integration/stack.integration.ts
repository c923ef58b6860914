/**
 * `pulumi preview`, `up` and `destroy` of the dev stack for real: the Pulumi engine, the Node.js
 * language host and the kubernetes provider built from Go modules, a Docker engine and a registry
 * with credentials, and a real Kubernetes API server (no kubelet, so nothing runs pods). Test
 * doubles stand in only where the real part cannot exist on our CI machine (the docker provider
 * plugin and the tensorflow/serving base image; see realStack.ts).
 *
 * `npm run test:integration` runs it with the tools and engine in place; with `CI=true` a missing
 * piece is a failure, elsewhere the suite says what is missing and skips.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as crypto from "crypto";
import { Finding, acceptedFindings, lintManifests } from "../support/manifestLinters";
import { RealStack, filesUnder, ok, realStackEnv, run } from "../support/realStack";

describe("pulumi up of the dev stack, for real", function () {
    this.timeout(20 * 60 * 1000);
    let stack: RealStack;
    let baseImage: string;
    let outputs: Record<string, string>;

    before(function () {
        const env = realStackEnv();
        if (typeof env === "string") {
            if (process.env.CI === "true") throw new Error(`integration test cannot run: ${env}`);
            console.log(`skipping the integration test: ${env}`);
            this.skip();
        }
        stack = new RealStack(env as Exclude<typeof env, string>);
    });

    after(() => stack?.cleanUp());

    it("pushes the stand-in base image and creates the dev stack with a secret password", async () => {
        baseImage = await stack.pushStandInBaseImage();
        assert.match(baseImage, /\/test-doubles\/tensorflow-serving@sha256:[0-9a-f]{64}$/);
        stack.initStack("dev", baseImage);
        const config = fs.readFileSync(path.join(stack.project, "Pulumi.dev.yaml"), "utf8");
        assert.match(config, /tfk8s:registryPassword:\n\s+secure: /);
    });

    it("previews the dev stack with the policy pack, training the model on the way", () => {
        const out = ok(
            stack.pulumi(["preview", "-s", "dev", ...stack.policyFlags("dev")]),
            "pulumi preview",
        );
        assert.match(out, /training 5 epoch\(s\) on 60000 images/);
        assert.match(out, /\+\s+.*tfk8s:serving:ServingImage/);
        assert.match(out, /\+\s+.*kubernetes:apps\/v1:Deployment/);
    });

    it("runs pulumi up: model from the cache, image built and pushed, manifests rendered", () => {
        const out = ok(stack.pulumi(["up", "-s", "dev", "--yes", "--skip-preview"]), "pulumi up");
        assert.match(out, /cache hit/);
        assert.doesNotMatch(out, /training \d+ epoch/);
        outputs = JSON.parse(
            ok(stack.pulumi(["stack", "output", "-s", "dev", "--json"]), "stack output"),
        );
        const repo = `${stack.env.registry}/tfk8s/mymodel-serving`.replace(/\./g, "\\.");
        assert.match(outputs.imageDigest, new RegExp(`^${repo}@sha256:[0-9a-f]{64}$`));
        assert.ok(Number(outputs.modelAccuracy) >= 0.97, `accuracy ${outputs.modelAccuracy}`);
    });

    it("the registry holds the image at the digest the stack exported", async () => {
        const digest = outputs.imageDigest.split("@")[1];
        assert.strictEqual(await stack.registryDigest("tfk8s/mymodel-serving", digest), digest);
    });

    it("the image is the one the real provider would build: id, outputs, user, env, ports and cmd", () => {
        const exported = JSON.parse(
            ok(stack.pulumi(["stack", "export", "-s", "dev"]), "stack export"),
        );
        const image = exported.deployment.resources.find(
            (r: { type: string }) => r.type === "docker:index/image:Image",
        );
        assert.strictEqual(image.id, outputs.imageName, "the Image's id is its image name");
        for (const key of [
            "baseImageName",
            "context",
            "dockerfile",
            "imageName",
            "platform",
            "registryServer",
            "repoDigest",
        ]) {
            assert.ok(key in image.outputs, `no output ${key}`);
        }
        assert.strictEqual(image.outputs.dockerfile, "Dockerfile");
        assert.strictEqual(image.outputs.platform, "linux/amd64");
        assert.strictEqual(image.outputs.registryServer, stack.env.registry);
        // The checked inputs, password included, are stored only as one secret.
        assert.ok(image.outputs.__inputs?.ciphertext, "__inputs is not a secret");
        ok(run("docker", ["pull", outputs.imageDigest]), "docker pull by digest");
        const config = JSON.parse(
            ok(
                run("docker", ["image", "inspect", "-f", "{{json .Config}}", outputs.imageDigest]),
                "inspect",
            ),
        );
        assert.strictEqual(config.User, "10001:10001");
        assert.ok(config.Env.includes("MODEL_NAME=mymodel"), config.Env.join(" "));
        assert.ok(config.Env.includes("MODEL_BASE_PATH=/models"), config.Env.join(" "));
        assert.deepStrictEqual(Object.keys(config.ExposedPorts).sort(), ["8500/tcp", "8501/tcp"]);
        // No batching or monitoring configured: no extra flags after the base's entrypoint.
        assert.strictEqual(config.Cmd ?? null, null);
    });

    it("the image's saved_model.pb is byte-identical to the export", () => {
        const exportDir = path.join(stack.project, ".build", "dev", "export", "mymodel", "1");
        const exported = fs.readFileSync(path.join(exportDir, "saved_model.pb"));
        ok(run("docker", ["pull", outputs.imageDigest]), "docker pull by digest");
        // The stand-in base has no shell or server; `create` needs a command but never runs it.
        const id = ok(
            run("docker", ["create", outputs.imageDigest, "/TEST-DOUBLE"]),
            "docker create",
        ).trim();
        const copy = path.join(stack.work, "from-image.pb");
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
        const docs = filesUnder(stack.rendered)
            .filter((f) => f.endsWith(".yaml"))
            .flatMap((f) =>
                YAML.parseAllDocuments(fs.readFileSync(f, "utf8")).map((d) => d.toJS()),
            );
        const deployment = docs.find((d) => d?.kind === "Deployment");
        assert.ok(deployment, `no Deployment among ${docs.map((d) => d?.kind).join(", ")}`);
        assert.strictEqual(deployment.spec.template.spec.containers[0].image, outputs.imageDigest);
        const service = docs.find((d) => d?.kind === "Service");
        assert.strictEqual(
            service.spec.ports.find((p: { name: string }) => p.name === "http").nodePort,
            30111,
        );
        assert.ok(!docs.some((d) => d?.kind === "Secret"), "render mode must not write a Secret");
        assert.strictEqual(deployment.metadata.namespace, "tfk8s-dev");
        assert.ok(docs.some((d) => d?.kind === "Namespace" && d.metadata.name === "tfk8s-dev"));
        const check = ok(run(stack.env.manifestCheck, [stack.rendered]), "manifest-check");
        assert.match(check, /manifest-check: 3 objects valid/);
        // $KUBECONFIG named the API server during that `up` (the provider loads it even in render
        // mode), and render mode put nothing there.
        if (stack.env.kubeconfig !== undefined) {
            assert.strictEqual(stack.kubeGet("/api/v1/namespaces/tfk8s-dev"), null);
        }
    });

    it("a second pulumi up changes nothing and does not train", () => {
        const up = ["up", "-s", "dev", "--yes", "--skip-preview", "--expect-no-changes"];
        const out = ok(stack.pulumi(up), "second pulumi up");
        assert.match(out, /cache hit/);
        assert.doesNotMatch(out, /training \d+ epoch/);
    });

    it("new registry credentials alone change nothing: no rebuild, no push", () => {
        const credentials = (username: string, password: string) =>
            stack.setConfig(
                "dev",
                { registryUsername: username },
                { secrets: { registryPassword: password } },
            );
        credentials("another-robot", "rotated-token");
        try {
            ok(
                stack.pulumi(["up", "-s", "dev", "--yes", "--skip-preview", "--expect-no-changes"]),
                "pulumi up after a credential change",
            );
        } finally {
            credentials(stack.env.user, stack.env.password);
        }
    });

    it("the registry password appears in plain text nowhere: logs, state, outputs, manifests, build context", () => {
        const places = [
            ...filesUnder(stack.state),
            ...filesUnder(stack.rendered),
            ...filesUnder(path.join(stack.project, ".build")),
            path.join(stack.project, "Pulumi.dev.yaml"),
        ];
        assert.ok(
            places.some((f) => f.startsWith(stack.state)),
            "no state files were scanned",
        );
        for (const file of places) {
            assert.ok(
                !fs.readFileSync(file).includes(stack.env.password),
                `the registry password is in plain text in ${file}`,
            );
        }
        assert.ok(stack.transcript.join("").includes("cache hit"), "the transcript holds the runs");
        assert.ok(
            !stack.transcript.join("").includes(stack.env.password),
            "the password is in a log",
        );
        const shown = ok(
            stack.pulumi(["stack", "output", "-s", "dev", "--json", "--show-secrets"]),
            "stack output",
        );
        assert.ok(!shown.includes(stack.env.password));
    });

    it("the policy pack rejects the same stack under production rules", () => {
        const r = stack.pulumi(["preview", "-s", "dev", ...stack.policyFlags("prod")]);
        assert.notStrictEqual(
            r.status,
            0,
            "a NodePort Service with one replica passed production policy",
        );
        const text = r.stdout + r.stderr;
        assert.match(text, /no-public-service-in-production/);
        assert.match(
            text,
            /Service type NodePort exposes the model outside the cluster in production/,
        );
        assert.match(text, /production-availability/);
        assert.match(text, /runs 1 replica\(s\); production needs at least 2/);
    });

    it("an unreachable registry fails pulumi up with an error naming it, leaving no image in state", () => {
        const unreachable = "127.0.0.1:5999";
        stack.initStack("unreachable", baseImage, {
            registry: unreachable,
            renderDir: path.join(stack.work, "rendered-unreachable"),
        });
        const r = stack.pulumi(["up", "-s", "unreachable", "--yes", "--skip-preview"]);
        assert.notStrictEqual(r.status, 0, "pushing to a closed port succeeded");
        // The real provider's wording: the engine's push stream error, wrapped.
        assert.match(
            r.stdout + r.stderr,
            /error reading push output: Get "http:\/\/127\.0\.0\.1:5999\/v2\/": dial tcp 127\.0\.0\.1:5999: connect: connection refused/,
        );
        const exported = JSON.parse(
            ok(stack.pulumi(["stack", "export", "-s", "unreachable"]), "stack export"),
        );
        const types: string[] = (exported.deployment.resources ?? []).map(
            (res: { type: string }) => res.type,
        );
        assert.ok(!types.includes("docker:index/image:Image"), `state holds ${types.join(", ")}`);
        assert.ok(!types.includes("kubernetes:apps/v1:Deployment"));
        // The Service does not depend on the image and may be rendered; the Deployment must not.
        const renderedFiles = filesUnder(path.join(stack.work, "rendered-unreachable"));
        assert.ok(
            !renderedFiles.some((f) => /deployment/.test(path.basename(f))),
            renderedFiles.join(", "),
        );
        ok(
            stack.pulumi(["destroy", "-s", "unreachable", "--yes", "--skip-preview"]),
            "destroy unreachable",
        );
    });

    it("kube-score and checkov: every finding on the dev and prod manifests is fixed or documented in docs/policies.md", () => {
        const accepted = acceptedFindings();
        assert.ok(accepted.length > 0, "docs/policies.md's table of checker findings is empty");
        const unexplained: Finding[] = [];
        const used = new Set<string>();
        for (const from of ["dev", "prod"] as const) {
            // Each stack as its file declares it; only the registry, base image and model cache
            // point at this machine. The policy pack runs with that stack's rules.
            const renderDir = path.join(stack.work, `rendered-lint-${from}`);
            stack.initStack(`lint-${from}`, baseImage, { from, renderDir });
            ok(
                stack.pulumi([
                    "up",
                    "-s",
                    `lint-${from}`,
                    "--yes",
                    "--skip-preview",
                    ...stack.policyFlags(from),
                ]),
                `pulumi up of lint-${from} under the ${from} policies`,
            );
            if (from === "dev") {
                // With skipPush the real provider's repoDigest is the local image id.
                const out = JSON.parse(
                    ok(stack.pulumi(["stack", "output", "-s", "lint-dev", "--json"]), "output"),
                );
                const id = ok(
                    run("docker", ["image", "inspect", "-f", "{{.Id}}", out.imageName]),
                    "inspect",
                ).trim();
                assert.match(out.imageDigest, /^sha256:[0-9a-f]{64}$/);
                assert.strictEqual(out.imageDigest, id);
            }
            for (const f of lintManifests(renderDir, stack.env.linters)) {
                const row = accepted.find(
                    (a) => a.checker === f.checker && a.rule === f.rule && a.stacks.includes(from),
                );
                if (row === undefined) unexplained.push(f);
                else used.add(`${row.checker} ${row.rule} ${from}`);
            }
            ok(
                stack.pulumi(["destroy", "-s", `lint-${from}`, "--yes", "--skip-preview"]),
                `destroy lint-${from}`,
            );
        }
        assert.deepStrictEqual(
            unexplained,
            [],
            "findings neither fixed nor in docs/policies.md's table",
        );
        // A row whose finding is gone is stale and must go too.
        const stale = accepted.flatMap((a) =>
            a.stacks
                .filter((st) => !used.has(`${a.checker} ${a.rule} ${st}`))
                .map((st) => `${a.checker} ${a.rule} (${st})`),
        );
        assert.deepStrictEqual(stale, [], "docs/policies.md rows no checker reports any more");
    });

    it("pulumi destroy leaves nothing behind", () => {
        const out = ok(
            stack.pulumi(["destroy", "-s", "dev", "--yes", "--skip-preview"]),
            "pulumi destroy",
        );
        assert.match(out, /Destroying \(dev\)/);
        const exported = JSON.parse(
            ok(stack.pulumi(["stack", "export", "-s", "dev"]), "stack export"),
        );
        assert.deepStrictEqual(exported.deployment.resources ?? [], []);
        assert.deepStrictEqual(
            filesUnder(stack.rendered).filter((f) => f.endsWith(".yaml")),
            [],
        );
    });

    it("deploys to a real API server (no kubelet) into a namespace it creates: Deployment by digest, Service on 30111; destroy removes all three", () => {
        if (stack.env.kubeconfig === undefined) {
            assert.notStrictEqual(
                process.env.CI,
                "true",
                "CI must run the API server (TFK8S_KUBECONFIG)",
            );
            return;
        }
        // A namespace no earlier run can have left objects in: provider v4.25 patches an existing
        // object of the same name (see the next test), later releases refuse it.
        const namespace = `tfk8s-it-${crypto.randomBytes(4).toString("hex")}`;
        stack.initStack("cluster", baseImage, {
            renderDir: null,
            set: { namespace, createNamespace: "true" },
        });
        ok(
            stack.pulumi(["up", "-s", "cluster", "--yes", "--skip-preview"]),
            "pulumi up to the API server",
        );
        const digest = JSON.parse(
            ok(stack.pulumi(["stack", "output", "-s", "cluster", "--json"]), "stack output"),
        ).imageDigest;
        const ns = stack.kubeGet(`/api/v1/namespaces/${namespace}`);
        assert.ok(ns, `the API server has no namespace ${namespace}`);
        const deploymentPath = `/apis/apps/v1/namespaces/${namespace}/deployments/mymodel-serving`;
        const servicePath = `/api/v1/namespaces/${namespace}/services/mymodel-serving`;
        const deployment = stack.kubeGet(deploymentPath);
        assert.ok(deployment, "the API server has no Deployment mymodel-serving");
        assert.strictEqual(deployment.spec.template.spec.containers[0].image, digest);
        assert.strictEqual(deployment.spec.template.spec.securityContext.runAsNonRoot, true);
        assert.strictEqual(deployment.spec.template.spec.securityContext.runAsUser, 10001);
        const service = stack.kubeGet(servicePath);
        assert.ok(service, "the API server has no Service mymodel-serving");
        assert.strictEqual(service.spec.type, "NodePort");
        assert.strictEqual(
            service.spec.ports.find((p: { name: string }) => p.name === "http").nodePort,
            30111,
        );

        // A canary next to it, routed through a Gateway by exact weights: both tracks and the
        // HTTPRoute read back from the API server, which checks the route against Gateway API's
        // own CRD schema (no gateway controller is needed for that).
        stack.installHttpRouteCrd();
        stack.setConfig("cluster", {
            replicas: "2",
            canaryVersion: "2",
            canaryWeight: "30",
            gatewayParent: "infra/public",
            gatewayHostnames: "mnist.example.com",
        });
        ok(stack.pulumi(["up", "-s", "cluster", "--yes", "--skip-preview"]), "up with a canary");
        const outputs = JSON.parse(
            ok(stack.pulumi(["stack", "output", "-s", "cluster", "--json"]), "stack output"),
        );
        assert.strictEqual(outputs.imageDigest, digest, "a canary rebuilt the stable image");
        assert.strictEqual(outputs.routeName, "mymodel-serving");
        const canary = stack.kubeGet(`${deploymentPath}-canary`);
        assert.ok(canary, "the API server has no Deployment mymodel-serving-canary");
        assert.strictEqual(
            canary.spec.template.spec.containers[0].image,
            outputs.canary.imageDigest,
        );
        assert.notStrictEqual(outputs.canary.imageDigest, digest);
        const stable = stack.kubeGet(deploymentPath);
        // 30% is no share of 2 pods; with a route the pods split 1+1 and the route carries 70/30.
        assert.deepStrictEqual([stable?.spec.replicas, canary.spec.replicas], [1, 1]);
        const routePath = `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes/mymodel-serving`;
        const route = stack.kubeGet(routePath);
        assert.ok(route, "the API server has no HTTPRoute mymodel-serving");
        assert.deepStrictEqual(route.spec.parentRefs, [
            {
                group: "gateway.networking.k8s.io",
                kind: "Gateway",
                name: "public",
                namespace: "infra",
            },
        ]);
        assert.deepStrictEqual(route.spec.hostnames, ["mnist.example.com"]);
        assert.deepStrictEqual(
            route.spec.rules[0].backendRefs.map((b: any) => [b.kind, b.name, b.port, b.weight]),
            [
                ["Service", "mymodel-serving-stable", 8501, 70],
                ["Service", "mymodel-serving-canary", 8501, 30],
            ],
        );
        // The API server filled in the CRD's defaults: it validated the object as an HTTPRoute.
        assert.deepStrictEqual(route.spec.rules[0].matches, [
            { path: { type: "PathPrefix", value: "/" } },
        ]);
        const podLabels = (d: any) => d.spec.template.metadata.labels;
        const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
            Object.entries(selector).every(([k, v]) => labels[k] === v);
        const shared = stack.kubeGet(servicePath)?.spec.selector;
        assert.ok(selects(shared, podLabels(stable)) && selects(shared, podLabels(canary)));
        for (const [track, own, other] of [
            ["stable", stable, canary],
            ["canary", canary, stable],
        ] as const) {
            const svc = stack.kubeGet(`${servicePath}-${track}`);
            assert.ok(svc, `the API server has no Service mymodel-serving-${track}`);
            assert.strictEqual(svc.spec.type, "ClusterIP");
            assert.ok(selects(svc.spec.selector, podLabels(own)), track);
            assert.ok(!selects(svc.spec.selector, podLabels(other)), track);
        }
        // The rollback's preview says what it does: the canary's objects go, the stable grows
        // (`--json` gives the same steps as the text diff, one per resource).
        stack.setConfig("cluster", {}, { rm: ["canaryVersion", "canaryWeight"] });
        const steps: Array<Record<string, any>> = JSON.parse(
            ok(stack.pulumi(["preview", "-s", "cluster", "--json"]), "preview of the rollback"),
        ).steps;
        const opOf = (name: string) => steps.find((st) => st.urn.endsWith(`::${name}`))?.op;
        for (const gone of [
            "serving-canary-deployment",
            "serving-canary-svc",
            "serving-stable-svc",
            "serving-canary-image",
        ]) {
            assert.strictEqual(opOf(gone), "delete", gone);
        }
        const grow = steps.find((st) => st.urn.endsWith("::serving-deployment"));
        assert.strictEqual(grow?.op, "update");
        assert.deepStrictEqual(
            [grow?.oldState.inputs.spec.replicas, grow?.newState.inputs.spec.replicas],
            [1, 2],
        );
        // The route goes back to the one Service; nothing else changes.
        const reroute = steps.find((st) => st.urn.endsWith("::serving-httproute"));
        assert.strictEqual(reroute?.op, "update");
        assert.deepStrictEqual(
            reroute?.newState.inputs.spec.rules[0].backendRefs.map((b: any) => b.name),
            ["mymodel-serving"],
        );
        assert.deepStrictEqual(
            steps
                .filter((st) => !["same", "delete"].includes(st.op))
                .map((st) => st.urn.split("::").pop())
                .sort(),
            ["serving-deployment", "serving-httproute"],
        );

        ok(
            stack.pulumi(["destroy", "-s", "cluster", "--yes", "--skip-preview"]),
            "destroy cluster",
        );
        assert.strictEqual(stack.kubeGet(deploymentPath), null);
        assert.strictEqual(stack.kubeGet(servicePath), null);
        // The namespace controller finishes the deletion; Pulumi waited for it.
        assert.strictEqual(stack.kubeGet(`/api/v1/namespaces/${namespace}`), null);
    });

    it("provider v4.25.0 refuses an existing object whose fields another manager set, and leaves it as it was", () => {
        if (stack.env.kubeconfig === undefined) {
            assert.notStrictEqual(process.env.CI, "true", "CI must run the API server");
            return;
        }
        const namespace = `tfk8s-pre-${crypto.randomBytes(4).toString("hex")}`;
        stack.kube("POST", "/api/v1/namespaces", { metadata: { name: namespace } });
        const servicePath = `/api/v1/namespaces/${namespace}/services/mymodel-serving`;
        try {
            stack.kube("POST", `/api/v1/namespaces/${namespace}/services`, {
                metadata: { name: "mymodel-serving", labels: { owner: "another-team" } },
                spec: { type: "ClusterIP", selector: { app: "theirs" }, ports: [{ port: 9000 }] },
            });
            stack.initStack("adopt", baseImage, { renderDir: null, set: { namespace } });
            // v4.25 creates by server-side apply, a patch of the existing object; the fields the
            // other manager owns with other values make it a conflict. (Providers built after
            // pulumi-kubernetes#4278 refuse any existing object: "already exists".)
            const r = stack.pulumi(["up", "-s", "adopt", "--yes", "--skip-preview"]);
            assert.notStrictEqual(r.status, 0, "pulumi up took over another team's Service");
            assert.match(r.stdout + r.stderr, /Server-Side Apply field conflict detected/);
            ok(
                stack.pulumi(["destroy", "-s", "adopt", "--yes", "--skip-preview"]),
                "destroy adopt",
            );
            const service = stack.kubeGet(servicePath);
            assert.ok(service, "destroy deleted a Service the stack never created");
            assert.strictEqual(service.metadata.labels.owner, "another-team");
            assert.strictEqual(service.spec.type, "ClusterIP");
            assert.deepStrictEqual(
                service.spec.ports.map((p: { port: number }) => p.port),
                [9000],
            );
        } finally {
            stack.kube("DELETE", `/api/v1/namespaces/${namespace}`);
        }
    });
});
