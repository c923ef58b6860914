/**
 * Stacks deployed by an older revision of the program must update in place with this one. Four
 * stacks (dev and prod as their stack files declare them, each with and without a canary) are
 * deployed to the API server with the code of `BASE`; then the program in the same project copy
 * is swapped for this checkout's, and `pulumi preview` of each must show every resource `same`
 * or updated in place: no create, no delete, no replacement. Where a refactoring moves a resource
 * in the component tree its URN changes, and only a correct `aliases` entry keeps it (without
 * one, the preview deletes the old resource and creates the new one). Updates are allowed: a
 * later change of the training recipe gives new weights, so a new image and pod template.
 *
 * `BASE` is the last revision whose ModelServing built its tracks without a component of their
 * own, so its stacks hold the URNs the ModelTrack aliases point back to. TFK8S_PREVIEW_BASE
 * names another revision (HEAD checks that the preview of an unchanged program is quiet).
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RealStack, ok, realStackEnv } from "../support/realStack";

const ROOT = path.resolve(__dirname, "..", "..");
const BASE = process.env.TFK8S_PREVIEW_BASE ?? "7e551028c634374e5aacf9c256e4c123cce45a6c";

/** A small model, trained once for all four stacks: the preview is what is tested here. */
const QUICK_TRAINING = { epochs: "1", trainSubset: "2000", minAccuracy: "0.5" };
const CANARY = { replicas: "4", canaryVersion: "2", canaryWeight: "25" };

/**
 * The stacks: each stack file's own settings, with a namespace of its own (they share one API
 * server) and the canary variants covering what only a canary creates: the second track with its
 * Service and budget, a Gateway route with weights, the pods' pull Secret. Node ports apart from
 * the other integration suite's 30111, since the stacks stay until the API server goes.
 */
const STACKS: ReadonlyArray<{
    name: string;
    from: "dev" | "prod";
    set: Record<string, string>;
    rm?: string[];
}> = [
    { name: "dev", from: "dev", set: { namespace: "pv-dev", nodePort: "30121" } },
    {
        name: "dev-canary",
        from: "dev",
        set: {
            ...CANARY,
            namespace: "pv-dev-canary",
            nodePort: "30122",
            pdbMinAvailable: "2",
            gatewayParent: "infra/public",
            gatewayHostnames: "mnist.example.com",
        },
    },
    { name: "prod", from: "prod", set: { namespace: "pv-prod" } },
    {
        name: "prod-canary",
        from: "prod",
        // A canary splits a fixed pod count, so prod's autoscaler goes.
        set: { ...CANARY, namespace: "pv-prod-canary", createImagePullSecret: "true" },
        rm: ["autoscaleMaxReplicas", "autoscaleCpuPercent"],
    },
];

/** The files of revision `rev`, written into `dir`. */
function checkOut(rev: string, dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const archive = execFileSync("git", ["archive", rev], { cwd: ROOT, maxBuffer: 1 << 30 });
    execFileSync("tar", ["-x", "-C", dir], { input: archive });
}

describe("the preview of stacks deployed by an older revision", function () {
    this.timeout(20 * 60 * 1000);
    let stack: RealStack;

    before(function () {
        const env = realStackEnv();
        const known = (() => {
            try {
                execFileSync("git", ["cat-file", "-e", `${BASE}^{commit}`], { cwd: ROOT });
                return true;
            } catch {
                return false;
            }
        })();
        const missing =
            typeof env === "string" ? env : known ? undefined : `no revision ${BASE} in git`;
        if (missing !== undefined) {
            if (process.env.CI === "true") throw new Error(`preview test cannot run: ${missing}`);
            console.log(`skipping the preview test: ${missing}`);
            this.skip();
        }
        const base = fs.mkdtempSync(path.join(os.tmpdir(), "tfk8s-preview-base-"));
        checkOut(BASE, base);
        stack = new RealStack(env as Exclude<typeof env, string>, base);
    });

    after(() => stack?.cleanUp());

    it(`deploys dev and prod, each with and without a canary, with the program of ${BASE.slice(0, 12)}`, async () => {
        const baseImage = await stack.pushStandInBaseImage();
        stack.installHttpRouteCrd();
        for (const s of STACKS) {
            stack.initStack(s.name, baseImage, {
                from: s.from,
                push: s.from === "prod",
                renderDir: null,
                set: { ...QUICK_TRAINING, ...s.set },
            });
            if (s.rm !== undefined) stack.setConfig(s.name, {}, { rm: s.rm });
            ok(stack.pulumi(["up", "-s", s.name, "--yes", "--skip-preview"]), `up ${s.name}`);
        }
    });

    it("previews each stack with this checkout's program in place: no create, delete or replacement", () => {
        stack.switchProgram(ROOT);
        const changed: string[] = [];
        for (const s of STACKS) {
            const preview = JSON.parse(
                ok(
                    stack.pulumi(["preview", "-s", s.name, "--json", "--show-sames"]),
                    `preview ${s.name}`,
                ),
            );
            const steps: Array<{ op: string; urn: string }> = preview.steps;
            console.log(`      ${s.name}: ${JSON.stringify(preview.changeSummary)}`);
            assert.ok(
                steps.some((st) => st.urn.endsWith("::serving-deployment")),
                `${s.name}: no step of the stable Deployment among ${steps.length}`,
            );
            for (const step of steps.filter((st) => st.op !== "same" && st.op !== "update")) {
                changed.push(`${s.name}: ${step.op} ${step.urn.split("::").slice(2).join("::")}`);
            }
        }
        assert.deepStrictEqual(changed, []);
    });

    it("an up with this checkout's program keeps the objects: the same Deployments by uid", () => {
        const deployments = "/apis/apps/v1/namespaces/pv-dev-canary/deployments";
        const uids = () =>
            ["mymodel-serving", "mymodel-serving-canary"].map(
                (name) => stack.kubeGet(`${deployments}/${name}`)?.metadata.uid,
            );
        const before = uids();
        assert.ok(
            before.every((uid) => typeof uid === "string"),
            JSON.stringify(before),
        );
        ok(stack.pulumi(["up", "-s", "dev-canary", "--yes", "--skip-preview"]), "up of dev-canary");
        assert.deepStrictEqual(uids(), before);
        ok(
            stack.pulumi(["preview", "-s", "dev-canary", "--expect-no-changes", "--diff"]),
            "a second preview of dev-canary",
        );
    });
});
